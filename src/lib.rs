//! The competitor odds schema of the Betpawa odds-comparison tool.
//!
//! - [`entity`]: the SeaORM entities of the competitor and base tables.
//! - [`Migrator`]: the migrations that create them (`cargo run -p migration -- up`);
//!   [`migrate`] runs them at a service's start-up.
//! - [`store`]: what services call to store whole competitor palimpsests fast.
//! - [`sportradar`]: SportRadar ids as competitors publish them, turned into the stored form.

#![warn(missing_docs, clippy::missing_errors_doc)]

use sea_orm::{DatabaseConnection, DbErr};

pub use entity;
pub use migration::{Migrator, MigratorTrait};
pub mod sportradar;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

/// Brings `db` to the newest schema: what a service calls at start-up, before serving.
///
/// Runs the pending migrations ([`Migrator::up`](MigratorTrait::up)) under the migration
/// lock, so replicas starting together migrate one after the other and the later ones find
/// nothing left to do (see [`migration::MIGRATION_LOCK_KEY`]). On a database where the
/// Python service created the competitor tables, converges them to this crate's schema,
/// keeping their rows.
///
/// Runs in an `info` span `migrate` (target `competitor_db`; fields `backend` and
/// `migrations`, the number this build knows), around sea-orm-migration's own events
/// (targets under `sea_orm_migration`) naming each migration applied.
///
/// # Errors
///
/// The [`DbErr`] of the lock or of a failing migration; the migrations applied before a
/// failing one stay applied, the failing one leaves nothing behind.
#[tracing::instrument(
    target = "competitor_db",
    level = "info",
    skip_all,
    fields(
        backend = %db.get_database_backend().as_str(),
        migrations = Migrator::migrations().len(),
    )
)]
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The README's Rust example, compiled by `cargo test` so it stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
