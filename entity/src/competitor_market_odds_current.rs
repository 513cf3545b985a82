//! `competitor_market_odds_current`: the current odds of every market of a competitor
//! event, one row per market, kept by the store's change mode (`record_odds`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::outcome::Outcomes;

/// The latest known odds of one market of a competitor event.
///
/// A market is identified by `betpawa_market_id`, `line`, `handicap_type`,
/// `handicap_home` and `handicap_away`, NULLs comparing equal
/// (`uq_competitor_market_odds_current_market`, `UNIQUE NULLS NOT DISTINCT`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "competitor_market_odds_current")]
pub struct Model {
    /// Surrogate key (`bigserial`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The competitor event; deleting it deletes its current odds (CASCADE).
    #[sea_orm(unique_key = "market")]
    pub competitor_event_id: i32,
    /// Betpawa's id of the market, e.g. `3743` for 1X2.
    #[sea_orm(column_type = "String(StringLen::N(50))", unique_key = "market")]
    pub betpawa_market_id: String,
    /// Betpawa's name of the market, as last captured.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub betpawa_market_name: String,
    /// The market's line, e.g. `2.5` for Over/Under 2.5 goals.
    #[sea_orm(column_type = "Double", nullable, unique_key = "market")]
    pub line: Option<f64>,
    /// Handicap kind, e.g. `asian`.
    #[sea_orm(
        column_type = "String(StringLen::N(50))",
        nullable,
        unique_key = "market"
    )]
    pub handicap_type: Option<String>,
    /// Handicap of the home side.
    #[sea_orm(column_type = "Double", nullable, unique_key = "market")]
    pub handicap_home: Option<f64>,
    /// Handicap of the away side.
    #[sea_orm(column_type = "Double", nullable, unique_key = "market")]
    pub handicap_away: Option<f64>,
    /// The latest outcomes with their odds (json).
    #[sea_orm(column_type = "Json")]
    pub outcomes: Outcomes,
    /// When the outcomes or the availability last changed: the capture that wrote them.
    pub changed_at: DateTimeUtc,
    /// Since when the market is missing from the event's captures; `None` while offered.
    pub unavailable_at: Option<DateTimeUtc>,
}

/// Relations of a current market.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The competitor event.
    #[sea_orm(
        belongs_to = "super::competitor_event::Entity",
        from = "Column::CompetitorEventId",
        to = "super::competitor_event::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_competitor_market_odds_current_competitor_event_id_competito"
    )]
    CompetitorEvent,
}

impl Related<super::competitor_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorEvent.def()
    }
}

impl Model {
    /// `true` while the market is offered (present in the event's latest capture).
    pub fn is_available(&self) -> bool {
        self.unavailable_at.is_none()
    }
}

impl ActiveModelBehavior for ActiveModel {}
