//! `scrape_runs`: the run log of the scrapers, a base table owned by the Python service.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::validation::{Checker, ValidationError};

/// One scraper run. Snapshots point at the run that captured them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "scrape_runs")]
pub struct Model {
    /// Surrogate key (`serial`).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Run state as the Python service writes it (`pending`, `running`, `completed`, ...).
    #[sea_orm(column_type = "String(StringLen::N(20))", default_value = "pending")]
    pub status: String,
    /// Start of the run (database default `now()`).
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub started_at: DateTimeUtc,
    /// End of the run, once it ended.
    pub completed_at: Option<DateTimeUtc>,
    /// Events scraped.
    #[sea_orm(default_value = 0)]
    pub events_scraped: i32,
    /// Events that failed.
    #[sea_orm(default_value = 0)]
    pub events_failed: i32,
    /// What started the run, e.g. `scheduler`.
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub trigger: Option<String>,
}

/// Relations of a scrape run.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Competitor snapshots the run captured.
    #[sea_orm(has_many = "super::competitor_odds_snapshot::Entity")]
    CompetitorOddsSnapshot,
}

impl Related<super::competitor_odds_snapshot::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorOddsSnapshot.def()
    }
}

impl ActiveModel {
    /// Checks the values being written against the column lengths.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("scrape_runs");
        check.text("status", &self.status, 20, true)?;
        check.optional_text("trigger", &self.trigger, 50, false)
    }
}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        self.validate()?;
        if insert && self.started_at.is_not_set() {
            self.started_at = Set(crate::clock::now());
        }
        Ok(self)
    }
}
