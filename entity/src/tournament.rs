//! `tournaments`: Betpawa's tournaments, a base table owned by the Python service.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::validation::{Checker, ValidationError};

/// A Betpawa tournament.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tournaments")]
pub struct Model {
    /// Surrogate key (`serial`).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The sport (`fk_tournaments_sport_id_sports`).
    pub sport_id: i32,
    /// Display name.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    /// Country name as Betpawa shows it.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub country: Option<String>,
    /// SportRadar tournament id as the bare number (`17`, not `sr:tournament:17`), unique
    /// when present.
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable, unique)]
    pub sportradar_id: Option<String>,
}

/// Relations of a Betpawa tournament.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its sport.
    #[sea_orm(
        belongs_to = "super::sport::Entity",
        from = "Column::SportId",
        to = "super::sport::Column::Id",
        on_delete = "NoAction",
        fk_name = "fk_tournaments_sport_id_sports"
    )]
    Sport,
    /// Its Betpawa events.
    #[sea_orm(has_many = "super::event::Entity")]
    Event,
}

impl Related<super::sport::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sport.def()
    }
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModel {
    /// Checks the values being written against the column lengths.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let check = Checker::new("tournaments");
        check.text("name", &self.name, 255, true)?;
        check.optional_text("country", &self.country, 100, false)?;
        check.optional_text("sportradar_id", &self.sportradar_id, 100, true)
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
