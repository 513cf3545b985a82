//! Migrations of the competitor odds schema.
//!
//! Run them with `cargo run -p migration -- up` (or `sea-orm-cli migrate up -d migration`),
//! or from code with [`Migrator::up`](MigratorTrait::up). Each migration runs inside a
//! transaction of its own, on PostgreSQL and on SQLite. `up`, `down`, `fresh`, `refresh`
//! and `reset` hold a lock on the database for the whole run, so replicas that migrate at
//! start-up at the same time run one after the other (see [`MIGRATION_LOCK_KEY`]).
//! Applied migrations are recorded in a table of this crate's own, [`MIGRATION_TABLE`], so
//! a service's own migrator can keep sea-orm-migration's `seaql_migrations`.

#![warn(missing_docs, clippy::missing_errors_doc)]

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseExecutor;
use sea_orm_migration::{Migration, seaql_migrations};

mod converge;
pub mod fold;
mod guard;
mod lock;
mod m20261126_000001_create_base_tables;
mod m20261126_000002_create_competitor_tables;
mod m20261127_000003_add_current_odds;
mod m20261206_000004_fold_current_odds;
mod portable;
mod records;
mod time_zone;

pub use converge::REFERENCE_SCHEMA;
pub use lock::{MIGRATION_LOCK_KEY, SQLITE_LOCK_WAIT};
pub use m20261126_000001_create_base_tables::BASE_TABLES;
pub use m20261126_000002_create_competitor_tables::{COMPETITOR_TABLES, planned_indexes};
pub use m20261127_000003_add_current_odds::{CURRENT_ODDS_TABLE, SQLITE_CURRENT_MARKET_KEY};

use lock::Operation;
pub use records::{LEGACY_MIGRATION_TABLE, MIGRATION_TABLE};

/// The migrator of the competitor odds schema: base tables first (adopted when present),
/// then the competitor tables with their planned indexes, then the current odds, then the
/// fold that keeps them for every writer.
///
/// Its `up`, `down`, `fresh`, `refresh` and `reset` run under the migration lock (see
/// [`MIGRATION_LOCK_KEY`]); so does the CLI, which calls them. On PostgreSQL, `up` (also
/// within `fresh` and `refresh`) logs one warning line when new sessions on the database
/// get a TimeZone other than UTC, as the Python service's would. Where the competitor
/// tables already exist and converging them would lose data, `up` refuses before it
/// applies any migration, so a refused `up` records nothing.
///
/// It records applied migrations in [`MIGRATION_TABLE`]. Each locked run first moves this
/// crate's records from `seaql_migrations`, where earlier versions kept them, leaving a
/// service's own records there alone; `status` (and the other reads of applied
/// migrations) reads both tables, so it is right before that move too.
pub struct Migrator;

/// The same migrations with sea-orm-migration's own, unlocked run methods, which
/// [`Migrator`] calls once it holds the lock.
struct UnlockedMigrator;

#[async_trait::async_trait]
impl MigratorTrait for UnlockedMigrator {
    fn migration_table_name() -> DynIden {
        records::migration_table()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_base_tables::Migration),
            Box::new(m20261126_000002_create_competitor_tables::Migration),
            Box::new(m20261127_000003_add_current_odds::Migration),
            Box::new(m20261206_000004_fold_current_odds::Migration),
        ]
    }
}

/// `operation` under the lock, after the TimeZone check where it applies migrations.
async fn run(operation: Operation, db: DatabaseExecutor<'_>) -> Result<(), DbErr> {
    if operation.applies_migrations() {
        time_zone::warn_unless_utc(&db).await?;
    }
    lock::run_locked::<UnlockedMigrator>(operation, db).await
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        UnlockedMigrator::migrations()
    }

    fn migration_table_name() -> DynIden {
        records::migration_table()
    }

    /// This crate's records from both tables (see [`Migrator`]).
    async fn get_migration_models<C>(db: &C) -> Result<Vec<seaql_migrations::Model>, DbErr>
    where
        C: ConnectionTrait,
    {
        records::applied::<UnlockedMigrator, C>(db, false).await
    }

    /// As [`get_migration_models`](MigratorTrait::get_migration_models), creating no table.
    async fn get_migration_with_status_read_only<C>(db: &C) -> Result<Vec<Migration>, DbErr>
    where
        C: ConnectionTrait,
    {
        records::ReadOnly::get_migration_with_status(db).await
    }

    async fn up<'c, C>(db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        run(Operation::Up(steps), db.into_database_executor()).await
    }

    async fn down<'c, C>(db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        run(Operation::Down(steps), db.into_database_executor()).await
    }

    async fn fresh<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        run(Operation::Fresh, db.into_database_executor()).await
    }

    async fn refresh<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        run(Operation::Refresh, db.into_database_executor()).await
    }

    async fn reset<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        run(Operation::Reset, db.into_database_executor()).await
    }
}
