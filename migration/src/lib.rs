//! Migrations of the competitor odds schema.
//!
//! Run them with `cargo run -p migration -- up` (or `sea-orm-cli migrate up -d migration`),
//! or from code with [`Migrator::up`](MigratorTrait::up). Each migration runs inside a
//! transaction of its own, on PostgreSQL and on SQLite.

#![warn(missing_docs, clippy::missing_errors_doc)]

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_base_tables;
mod m20261126_000002_create_competitor_tables;
mod m20261127_000003_add_current_odds;
mod portable;

pub use m20261126_000001_create_base_tables::BASE_TABLES;
pub use m20261126_000002_create_competitor_tables::{COMPETITOR_TABLES, planned_indexes};
pub use m20261127_000003_add_current_odds::{CURRENT_ODDS_TABLE, SQLITE_CURRENT_MARKET_KEY};

/// The migrator of the competitor odds schema: base tables first (adopted when present),
/// then the competitor tables with their planned indexes, then the current odds.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_base_tables::Migration),
            Box::new(m20261126_000002_create_competitor_tables::Migration),
            Box::new(m20261127_000003_add_current_odds::Migration),
        ]
    }
}
