//! `sports`: a base table owned by the Python service.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::validation::{Checker, ValidationError};

/// A sport, e.g. Football.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sports")]
pub struct Model {
    /// Surrogate key (`serial`).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Display name, unique (`uq_sports_name`).
    #[sea_orm(column_type = "String(StringLen::N(100))", unique)]
    pub name: String,
    /// URL slug, unique (`uq_sports_slug`).
    #[sea_orm(column_type = "String(StringLen::N(100))", unique)]
    pub slug: String,
}

/// Relations of a sport.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Betpawa's tournaments of this sport.
    #[sea_orm(has_many = "super::tournament::Entity")]
    Tournament,
    /// Competitor tournaments of this sport.
    #[sea_orm(has_many = "super::competitor_tournament::Entity")]
    CompetitorTournament,
}

impl Related<super::tournament::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tournament.def()
    }
}

impl Related<super::competitor_tournament::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompetitorTournament.def()
    }
}

impl ActiveModel {
    /// Checks the values being written against the column lengths.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("sports");
        check.text("name", &self.name, 100, true)?;
        check.text("slug", &self.slug, 100, true)
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
