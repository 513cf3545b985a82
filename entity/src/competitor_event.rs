//! `competitor_events`: a competitor's events, soft-deletable, linked to Betpawa's events
//! by SportRadar id.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{LockType, Order, Query, UpdateStatement};
use sea_orm::{Condition, DbBackend, ExprTrait, Set};
use serde::{Deserialize, Serialize};

use crate::competitor_source::CompetitorSource;
use crate::validation::{Checker, ValidationError};

/// An event as one competitor publishes it, unique by `(source, external_id)`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "competitor_events")]
pub struct Model {
    /// Surrogate key (`serial`).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The competitor (`ck_competitor_events_source`).
    #[sea_orm(unique_key = "source_external")]
    pub source: CompetitorSource,
    /// Its competitor tournament; deleting the tournament deletes the event (CASCADE).
    pub tournament_id: i32,
    /// The Betpawa event with the same SportRadar id, once linked; `None` for
    /// competitor-only events (set to NULL when the Betpawa event is deleted).
    pub betpawa_event_id: Option<i32>,
    /// The competitor's display name.
    #[sea_orm(column_type = "String(StringLen::N(500))")]
    pub name: String,
    /// Home team.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub home_team: String,
    /// Away team.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub away_team: String,
    /// Scheduled start.
    pub kickoff: DateTimeUtc,
    /// The competitor's own event id; with `source`, the natural key
    /// (`uq_competitor_events_source_external`).
    #[sea_orm(
        column_type = "String(StringLen::N(100))",
        unique_key = "source_external"
    )]
    pub external_id: String,
    /// SportRadar match id as the bare number (`61300417`, not `sr:match:61300417`), the
    /// cross-platform matching key.
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub sportradar_id: String,
    /// When the row was first written.
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub created_at: DateTimeUtc,
    /// When the row last changed; moved by every update the crates make.
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub updated_at: DateTimeUtc,
    /// Set while the event is soft-deleted (gone from the competitor's palimpsest).
    pub deleted_at: Option<DateTimeUtc>,
}

/// Relations of a competitor event.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its competitor tournament.
    #[sea_orm(
        belongs_to = "super::competitor_tournament::Entity",
        from = "Column::TournamentId",
        to = "super::competitor_tournament::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_competitor_events_tournament_id_competitor_tournaments"
    )]
    CompetitorTournament,
    /// The linked Betpawa event, if any.
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::BetpawaEventId",
        to = "super::event::Column::Id",
        on_delete = "SetNull",
        fk_name = "fk_competitor_events_betpawa_event_id_events"
    )]
    BetpawaEvent,
    /// Its odds snapshots.
    #[sea_orm(has_many = "super::competitor_odds_snapshot::Entity")]
    CompetitorOddsSnapshot,
    /// Its current odds, one row per market.
    #[sea_orm(has_many = "super::competitor_market_odds_current::Entity")]
    CompetitorMarketOddsCurrent,
}

impl Related<super::competitor_tournament::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorTournament.def()
    }
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BetpawaEvent.def()
    }
}

impl Related<super::competitor_odds_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorOddsSnapshot.def()
    }
}

impl Related<super::competitor_market_odds_current::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorMarketOddsCurrent.def()
    }
}

/// Competitor event -> its sport, through its competitor tournament.
#[derive(Clone, Copy, Debug)]
pub struct ToSport;

impl Linked for ToSport {
    type FromEntity = Entity;
    type ToEntity = super::sport::Entity;

    fn link(&self) -> Vec<RelationDef> {
        vec![
            Relation::CompetitorTournament.def(),
            super::competitor_tournament::Relation::Sport.def(),
        ]
    }
}

impl Entity {
    /// An `UPDATE` of the events matching `condition` (its `SET` values still to add)
    /// that takes their row locks in key order: `source`, then `external_id`, compared
    /// byte-wise (`COLLATE "C"`).
    ///
    /// Every writer of this workspace locks competitor events in that order (the store's
    /// upserts write their rows sorted the same way), so concurrent scrape cycles,
    /// linking and soft deletes wait for one another instead of deadlocking. A plain
    /// `UPDATE` would lock rows in table order. The locks are `FOR NO KEY UPDATE`, which
    /// do not block the key-share locks that snapshot inserts take through their foreign
    /// key. On SQLite, which locks the whole database, it is a plain `UPDATE`.
    pub fn update_in_key_order(backend: DbBackend, condition: Condition) -> UpdateStatement {
        let mut rows = Query::select();
        rows.column(Column::Id).from(Entity).cond_where(condition);
        if backend == DbBackend::Postgres {
            rows.order_by_expr(Expr::cust(r#""source" COLLATE "C""#), Order::Asc)
                .order_by_expr(Expr::cust(r#""external_id" COLLATE "C""#), Order::Asc)
                .lock(LockType::NoKeyUpdate);
        }
        Query::update()
            .table(Entity)
            .and_where(Expr::col(Column::Id).in_subquery(rows))
            .to_owned()
    }
}

impl Model {
    /// `true` while the event is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

impl ActiveModel {
    /// Checks the values being written: lengths of every string, no NUL character,
    /// non-empty `name`, `external_id` and `sportradar_id`, timestamps in years 1..=9999.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("competitor_events");
        check.text("name", &self.name, 500, true)?;
        check.text("home_team", &self.home_team, 255, false)?;
        check.text("away_team", &self.away_team, 255, false)?;
        check.text("external_id", &self.external_id, 100, true)?;
        check.text("sportradar_id", &self.sportradar_id, 100, true)?;
        check.timestamp("kickoff", &self.kickoff)?;
        check.timestamp("created_at", &self.created_at)?;
        check.timestamp("updated_at", &self.updated_at)?;
        check.optional_timestamp("deleted_at", &self.deleted_at)
    }
}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// Validates, then stamps `updated_at` on every update (and both timestamps on insert
    /// when unset), from one clock.
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        self.validate()?;
        let now = crate::clock::now();
        if insert {
            if self.created_at.is_not_set() {
                self.created_at = Set(now);
            }
            if self.updated_at.is_not_set() {
                self.updated_at = Set(now);
            }
        } else {
            self.updated_at = Set(now);
        }
        Ok(self)
    }
}
