//! `competitor_tournaments`: a competitor's tournaments, soft-deletable.

use sea_orm::entity::prelude::*;
use sea_orm::{ExprTrait, LoaderTrait, Set};
use serde::{Deserialize, Serialize};

use crate::competitor_event;
use crate::competitor_source::CompetitorSource;
use crate::soft_delete::SoftDelete;
use crate::validation::{Checker, ValidationError};

/// A tournament as one competitor publishes it, unique by `(source, external_id)`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "competitor_tournaments")]
pub struct Model {
    /// Surrogate key (`serial`).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The competitor (`ck_competitor_tournaments_source`).
    #[sea_orm(unique_key = "source_external")]
    pub source: CompetitorSource,
    /// The sport; a sport in use cannot be deleted (ON DELETE RESTRICT).
    pub sport_id: i32,
    /// The competitor's name for the tournament.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    /// Country as the competitor spells it.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub country_raw: Option<String>,
    /// Normalised country code: three ASCII capitals.
    #[sea_orm(column_type = "String(StringLen::N(3))", nullable)]
    pub country_iso: Option<String>,
    /// The competitor's own tournament id; with `source`, the natural key
    /// (`uq_competitor_tournaments_source_external`).
    #[sea_orm(
        column_type = "String(StringLen::N(100))",
        unique_key = "source_external"
    )]
    pub external_id: String,
    /// SportRadar tournament id as the bare number (`17`, not `sr:tournament:17`), when
    /// the competitor publishes one.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub sportradar_id: Option<String>,
    /// When the row was first written.
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub created_at: DateTimeUtc,
    /// Set while the tournament is soft-deleted (gone from the competitor's palimpsest).
    pub deleted_at: Option<DateTimeUtc>,
}

/// Relations of a competitor tournament.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its sport.
    #[sea_orm(
        belongs_to = "super::sport::Entity",
        from = "Column::SportId",
        to = "super::sport::Column::Id",
        on_delete = "Restrict",
        fk_name = "fk_competitor_tournaments_sport_id_sports"
    )]
    Sport,
    /// All its events, soft-deleted ones included; see [`ActiveEvents`] for the others.
    #[sea_orm(has_many = "super::competitor_event::Entity")]
    CompetitorEvent,
}

impl Related<super::sport::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sport.def()
    }
}

impl Related<super::competitor_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorEvent.def()
    }
}

/// Tournament -> its events that are not soft-deleted, for joins and
/// `find_with_linked` / `find_also_linked` (one query).
///
/// The condition is built on the join's alias, so it also holds where the events table is
/// aliased (`r0`) inside linked queries.
#[derive(Clone, Copy, Debug)]
pub struct ActiveEvents;

impl Linked for ActiveEvents {
    type FromEntity = Entity;
    type ToEntity = competitor_event::Entity;

    fn link(&self) -> Vec<RelationDef> {
        vec![Relation::CompetitorEvent.def().on_condition(|_, events| {
            Expr::col((events, competitor_event::Column::DeletedAt))
                .is_null()
                .into()
        })]
    }
}

impl Model {
    /// `true` while the tournament is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// A select of all this tournament's events, soft-deleted ones included.
    pub fn find_events(&self) -> Select<competitor_event::Entity> {
        self.find_related(competitor_event::Entity)
    }

    /// A select of this tournament's events that are not soft-deleted.
    pub fn find_active_events(&self) -> Select<competitor_event::Entity> {
        self.find_events()
            .filter(competitor_event::Column::DeletedAt.is_null())
    }
}

/// Loads the events of many tournaments at once (one query for all of them, no N+1), in
/// the order of `tournaments`.
///
/// # Errors
/// The database error of the query.
pub async fn load_events<C>(
    tournaments: &[Model],
    db: &C,
) -> Result<Vec<Vec<competitor_event::Model>>, DbErr>
where
    C: ConnectionTrait,
{
    tournaments.load_many(competitor_event::Entity, db).await
}

/// As [`load_events`], keeping only events that are not soft-deleted.
///
/// # Errors
/// The database error of the query.
pub async fn load_active_events<C>(
    tournaments: &[Model],
    db: &C,
) -> Result<Vec<Vec<competitor_event::Model>>, DbErr>
where
    C: ConnectionTrait,
{
    tournaments
        .load_many(competitor_event::Entity::find_active(), db)
        .await
}

impl ActiveModel {
    /// Checks the values being written: lengths of every string, no NUL character,
    /// non-empty `name`, `external_id` and `sportradar_id`, `country_iso` of three ASCII
    /// capitals, timestamps in years 1..=9999.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("competitor_tournaments");
        check.text("name", &self.name, 255, true)?;
        check.optional_text("country_raw", &self.country_raw, 100, false)?;
        check.country_iso("country_iso", &self.country_iso)?;
        check.text("external_id", &self.external_id, 100, true)?;
        check.optional_text("sportradar_id", &self.sportradar_id, 100, true)?;
        check.timestamp("created_at", &self.created_at)?;
        check.optional_timestamp("deleted_at", &self.deleted_at)
    }
}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        self.validate()?;
        if insert && self.created_at.is_not_set() {
            self.created_at = Set(crate::clock::now());
        }
        Ok(self)
    }
}
