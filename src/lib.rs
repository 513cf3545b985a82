//! The competitor odds schema of the Betpawa odds-comparison tool.
//!
//! - [`entity`]: the SeaORM entities of the competitor and base tables.
//! - [`Migrator`]: the migrations that create them (`cargo run -p migration -- up`);
//!   [`migrate`] runs them at a service's start-up.
//! - [`store`]: what services call to store whole competitor palimpsests fast.
//! - [`sportradar`]: SportRadar ids as competitors publish them, turned into the stored form.
//! - `soak` (features `testing` and `postgres`): a day of service life in minutes, the
//!   soak benchmark's logic.

#![warn(missing_docs, clippy::missing_errors_doc)]

use sea_orm::{DatabaseConnection, DbErr};

// Inlined, so these docs hold the entities and every link to them resolves, whatever
// order `cargo doc --no-deps` documents the crates in (rustdoc leaves a link into another
// crate as plain text when that crate's docs are not written yet).
#[doc(inline)]
pub use entity;
pub use migration::{MIGRATION_LOCK_KEY, MIGRATION_TABLE, Migrator, MigratorTrait};
#[cfg(all(feature = "testing", feature = "postgres"))]
pub mod soak;
pub mod sportradar;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

/// Brings `db` to the newest schema: what a service calls at start-up, before serving.
///
/// Runs the pending migrations ([`Migrator::up`](MigratorTrait::up)) under the migration
/// lock, so replicas starting together migrate one after the other and the later ones find
/// nothing left to do (see [`MIGRATION_LOCK_KEY`]). On a database where the
/// Python service created the competitor tables, converges them to this crate's schema,
/// keeping their rows.
///
/// Applied migrations are recorded in [`MIGRATION_TABLE`], not in
/// sea-orm-migration's `seaql_migrations`, which stays the service's own migrator's; on a
/// database where an earlier version recorded them in `seaql_migrations`, the first run
/// moves them, leaving the service's records there alone.
/// Runs in an `info` span `migrate` (target `competitor_db`; fields `backend` and
/// `migrations`, the number this build knows), around sea-orm-migration's own events
/// (targets under `sea_orm_migration`) naming each migration applied.
///
/// # Errors
///
/// The [`DbErr`] of the lock or of a failing migration; the migrations applied before a
/// failing one stay applied, the failing one leaves nothing behind.
///
/// [`DbErr`]: https://docs.rs/sea-orm/2.0.4/sea_orm/enum.DbErr.html
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
