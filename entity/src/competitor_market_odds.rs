//! `competitor_market_odds`: the odds of one market in one snapshot.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::outcome::Outcomes;
use crate::validation::{Checker, ValidationError};

/// One market of a snapshot, mapped onto Betpawa's market ids, with its outcomes.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "competitor_market_odds")]
pub struct Model {
    /// Surrogate key (`bigserial`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The snapshot; deleting it deletes its markets (CASCADE).
    pub snapshot_id: i64,
    /// Betpawa's id of the market, e.g. `3743` for 1X2.
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub betpawa_market_id: String,
    /// Betpawa's name of the market, e.g. `1X2`, `Over/Under`.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub betpawa_market_name: String,
    /// The market's line, e.g. `2.5` for Over/Under 2.5 goals.
    #[sea_orm(column_type = "Double", nullable)]
    pub line: Option<f64>,
    /// Handicap kind, e.g. `asian`, `european`.
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub handicap_type: Option<String>,
    /// Handicap of the home side.
    #[sea_orm(column_type = "Double", nullable)]
    pub handicap_home: Option<f64>,
    /// Handicap of the away side.
    #[sea_orm(column_type = "Double", nullable)]
    pub handicap_away: Option<f64>,
    /// The outcomes with their odds (json).
    #[sea_orm(column_type = "Json")]
    pub outcomes: Outcomes,
}

/// Relations of a market.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its snapshot.
    #[sea_orm(
        belongs_to = "super::competitor_odds_snapshot::Entity",
        from = "Column::SnapshotId",
        to = "super::competitor_odds_snapshot::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_competitor_market_odds_snapshot_id_competitor_odds_snapshots"
    )]
    CompetitorOddsSnapshot,
}

impl Related<super::competitor_odds_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorOddsSnapshot.def()
    }
}

/// Market odds -> the competitor event they were captured for, through the snapshot.
#[derive(Clone, Copy, Debug)]
pub struct ToCompetitorEvent;

impl Linked for ToCompetitorEvent {
    type FromEntity = Entity;
    type ToEntity = super::competitor_event::Entity;

    fn link(&self) -> Vec<RelationDef> {
        vec![
            Relation::CompetitorOddsSnapshot.def(),
            super::competitor_odds_snapshot::Relation::CompetitorEvent.def(),
        ]
    }
}

impl ActiveModel {
    /// Checks the values being written: lengths, a non-empty `betpawa_market_id` and
    /// `handicap_type` (no handicap is `None`, not an empty string), finite
    /// `line` and handicaps, outcome odds finite and at least 1.0.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("competitor_market_odds");
        check.text("betpawa_market_id", &self.betpawa_market_id, 50, true)?;
        check.text("betpawa_market_name", &self.betpawa_market_name, 255, false)?;
        check.finite("line", &self.line)?;
        check.optional_text("handicap_type", &self.handicap_type, 50, true)?;
        check.finite("handicap_home", &self.handicap_home)?;
        check.finite("handicap_away", &self.handicap_away)?;
        check.outcomes("outcomes", &self.outcomes)
    }
}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(self, _db: &C, _insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        self.validate()?;
        Ok(self)
    }
}
