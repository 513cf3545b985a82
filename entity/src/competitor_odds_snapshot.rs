//! `competitor_odds_snapshots`: one capture of one competitor event's markets.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SnapshotKind;
use crate::validation::{Checker, ValidationError};

/// One capture of a competitor event's odds; its markets are
/// [`competitor_market_odds`](super::competitor_market_odds) rows.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "competitor_odds_snapshots")]
pub struct Model {
    /// Surrogate key (`bigserial`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event captured; deleting it deletes its snapshots (CASCADE).
    pub competitor_event_id: i32,
    /// When the odds were captured.
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub captured_at: DateTimeUtc,
    /// The scraper run that captured them; set to NULL when the run log is deleted.
    pub scrape_run_id: Option<i32>,
    /// The competitor's raw response, kept for debugging (json).
    #[sea_orm(column_type = "Json", nullable)]
    pub raw_response: Option<Json>,
    /// The latest capture that found the event's odds unchanged since this snapshot; set
    /// by the change mode on the event's newest snapshot instead of writing rows.
    pub last_confirmed_at: Option<DateTimeUtc>,
    /// What the snapshot holds, and so how it folds into the current odds: a whole capture
    /// (the default, also for other clients' INSERTs), the changes of a capture in change
    /// mode, or a stale capture kept as history only (see [`SnapshotKind`]).
    #[sea_orm(default_value = "full")]
    pub kind: SnapshotKind,
}

/// Relations of a snapshot.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The competitor event captured.
    #[sea_orm(
        belongs_to = "super::competitor_event::Entity",
        from = "Column::CompetitorEventId",
        to = "super::competitor_event::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_competitor_odds_snapshots_competitor_event_id_competitor_eve"
    )]
    CompetitorEvent,
    /// The scraper run, if recorded.
    #[sea_orm(
        belongs_to = "super::scrape_run::Entity",
        from = "Column::ScrapeRunId",
        to = "super::scrape_run::Column::Id",
        on_delete = "SetNull",
        fk_name = "fk_competitor_odds_snapshots_scrape_run_id_scrape_runs"
    )]
    ScrapeRun,
    /// Its market odds.
    #[sea_orm(has_many = "super::competitor_market_odds::Entity")]
    CompetitorMarketOdds,
}

impl Related<super::competitor_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorEvent.def()
    }
}

impl Related<super::scrape_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ScrapeRun.def()
    }
}

impl Related<super::competitor_market_odds::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorMarketOdds.def()
    }
}

impl Model {
    /// When the event's odds were last known to hold: `last_confirmed_at`, else
    /// `captured_at`.
    pub fn freshness(&self) -> DateTimeUtc {
        self.last_confirmed_at.unwrap_or(self.captured_at)
    }
}

impl ActiveModel {
    /// Checks the values being written: `captured_at` and `last_confirmed_at` in years
    /// 1..=9999.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("competitor_odds_snapshots");
        check.timestamp("captured_at", &self.captured_at)?;
        check.optional_timestamp("last_confirmed_at", &self.last_confirmed_at)
    }
}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        self.validate()?;
        if insert && self.captured_at.is_not_set() {
            self.captured_at = Set(crate::clock::now());
        }
        Ok(self)
    }
}
