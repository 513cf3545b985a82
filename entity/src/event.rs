//! `events`: Betpawa's events, a base table owned by the Python service.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::validation::{Checker, ValidationError};

/// A Betpawa event. Competitor events link to it when their SportRadar ids agree.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// Surrogate key (`serial`).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Its tournament (`fk_events_tournament_id_tournaments`).
    pub tournament_id: i32,
    /// Display name, e.g. `Arsenal - Chelsea`.
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
    /// SportRadar match id as the bare number (`61300417`, not `sr:match:61300417`),
    /// unique: the cross-platform matching key.
    #[sea_orm(column_type = "String(StringLen::N(100))", unique)]
    pub sportradar_id: String,
    /// When the row was written (database default `now()`).
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub created_at: DateTimeUtc,
}

/// Relations of a Betpawa event.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its tournament.
    #[sea_orm(
        belongs_to = "super::tournament::Entity",
        from = "Column::TournamentId",
        to = "super::tournament::Column::Id",
        on_delete = "NoAction",
        fk_name = "fk_events_tournament_id_tournaments"
    )]
    Tournament,
    /// Competitor events linked to it.
    #[sea_orm(has_many = "super::competitor_event::Entity")]
    CompetitorEvent,
}

impl Related<super::tournament::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tournament.def()
    }
}

impl Related<super::competitor_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorEvent.def()
    }
}

impl ActiveModel {
    /// Checks the values being written against the column lengths.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("events");
        check.text("name", &self.name, 500, true)?;
        check.text("home_team", &self.home_team, 255, false)?;
        check.text("away_team", &self.away_team, 255, false)?;
        check.text("sportradar_id", &self.sportradar_id, 100, true)
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
