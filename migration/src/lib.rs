//! Migrations of the competitor odds schema.
//!
//! Run them with `cargo run -p migration -- up` (or `sea-orm-cli migrate up -d migration`),
//! or from code with [`Migrator::up`](MigratorTrait::up). Both migrations run inside one
//! transaction each, on PostgreSQL and on SQLite.

#![warn(missing_docs, clippy::missing_errors_doc)]

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_base_tables;
mod m20261126_000002_create_competitor_tables;
mod portable;

pub use m20261126_000001_create_base_tables::BASE_TABLES;
pub use m20261126_000002_create_competitor_tables::{COMPETITOR_TABLES, planned_indexes};

/// The migrator of the competitor odds schema: base tables first (adopted when present),
/// then the competitor tables with their planned indexes.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_base_tables::Migration),
            Box::new(m20261126_000002_create_competitor_tables::Migration),
        ]
    }
}
