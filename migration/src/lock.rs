//! One migration run at a time per database.
//!
//! sea-orm-migration takes no lock of its own: two replicas running `up` on an empty
//! PostgreSQL database race on `CREATE TABLE IF NOT EXISTS seaql_migrations` and one fails
//! (`duplicate key value violates unique constraint "pg_type_typname_nsp_index"`), or both
//! apply the same migration. [`Migrator`](crate::Migrator) therefore runs `up`, `down`,
//! `fresh`, `refresh` and `reset` through [`run_locked`]:
//!
//! - PostgreSQL, given a pool: a session-level `pg_advisory_lock(`[`MIGRATION_LOCK_KEY`]`)`
//!   held on a dedicated connection opened from the pool's own connect options, for the
//!   whole run. A pool may hand each statement another connection, so the lock cannot live
//!   on a pooled one; being outside the pool, it cannot deadlock a pool of one connection.
//!   It is released when the run ends, on success or error, and by the server if the
//!   process dies (the session ends). (The flip side: should that one connection break
//!   mid-run, the server frees the lock while the run goes on.)
//! - PostgreSQL, given a transaction: `pg_advisory_xact_lock` inside it, held until the
//!   caller commits or rolls back.
//! - SQLite, given a pool: the run happens inside one `BEGIN EXCLUSIVE` transaction, each
//!   migration in a savepoint of it. A run that finds the file locked retries for at most
//!   [`SQLITE_LOCK_WAIT`]. `fresh` there is all or nothing, and drops referencing tables
//!   first (see `fresh_sqlite`).
//!
//! Every run begins, under the lock, by moving this crate's records out of
//! `seaql_migrations` (see [`crate::records`]).

#[cfg(feature = "postgres")]
use std::future::Future;
#[cfg(feature = "postgres")]
use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "sqlite")]
use std::time::Instant;

#[cfg(feature = "postgres")]
use sea_orm::sqlx::postgres::{PgConnection, PgPool};
#[cfg(feature = "postgres")]
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnectionType, DatabaseExecutor, DatabaseTransaction, DbBackend,
    DbErr, RuntimeErr, Statement,
};
#[cfg(feature = "sqlite")]
use sea_orm::{DatabaseConnection, SqliteTransactionMode, TransactionOptions, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use crate::m20261126_000002_create_competitor_tables::check_up;
use crate::records::move_legacy_records;

/// The PostgreSQL advisory lock key every migration run of this crate holds: the ASCII
/// bytes of `cdb_migr` read as a big-endian `i64` (`0x6364_625f_6d69_6772`). Advisory locks
/// are per database, so runs against different databases of one server do not wait for
/// each other. Another tool that must not run beside these migrations can take the same
/// key (`SELECT pg_advisory_lock(7161957469422970738)`).
pub const MIGRATION_LOCK_KEY: i64 = 0x6364_625f_6d69_6772;

/// How long a run on SQLite keeps retrying to begin its exclusive transaction while
/// another run holds the file. Each attempt itself waits for the connection's busy timeout
/// (sqlx's default: 5 s).
pub const SQLITE_LOCK_WAIT: Duration = Duration::from_secs(300);

/// A migrator operation that changes the schema.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operation {
    Up(Option<u32>),
    Down(Option<u32>),
    Fresh,
    Refresh,
    Reset,
}

impl Operation {
    /// Whether the operation applies migrations (and so may meet the Python service's
    /// tables).
    pub(crate) fn applies_migrations(self) -> bool {
        matches!(self, Self::Up(_) | Self::Fresh | Self::Refresh)
    }

    /// The operation through `M`'s provided (unlocked) trait methods, once this crate's
    /// records are where `M` reads them.
    async fn run_unlocked<M: MigratorTrait>(self, db: DatabaseExecutor<'_>) -> Result<(), DbErr> {
        // Under the lock, before anything reads the applied migrations.
        move_legacy_records::<M>(&db).await?;
        match self {
            Self::Up(steps) => {
                // Under the lock: another run may be creating the tables it checks.
                check_up::<M>(&db, steps).await?;
                M::up(db, steps).await
            }
            Self::Down(steps) => M::down(db, steps).await,
            Self::Fresh => M::fresh(db).await,
            Self::Refresh => M::refresh(db).await,
            Self::Reset => M::reset(db).await,
        }
    }
}

/// Runs `operation` of the migrator `M` while holding the migration lock of `db`'s
/// database (see the module docs).
pub(crate) async fn run_locked<M: MigratorTrait>(
    operation: Operation,
    db: DatabaseExecutor<'_>,
) -> Result<(), DbErr> {
    match db {
        DatabaseExecutor::Connection(conn) => match &conn.inner {
            #[cfg(feature = "postgres")]
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let pool = conn.get_postgres_connection_pool();
                with_session_lock(
                    pool,
                    operation.run_unlocked::<M>(DatabaseExecutor::Connection(conn)),
                )
                .await
            }
            #[cfg(feature = "sqlite")]
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                in_exclusive_transaction::<M>(operation, conn).await
            }
            // A backend this build does not lock for (MySQL, a mock): refused rather than
            // migrated without the lock.
            _ => Err(DbErr::BackendNotSupported {
                db: "other than PostgreSQL and SQLite (or built without its feature)",
                ctx: "the competitor odds migrations: build `migration` (or `competitor-db`) \
                      with the `postgres` or `sqlite` feature of the backend",
            }),
        },
        DatabaseExecutor::Transaction(txn) => {
            take_transaction_lock(txn).await?;
            operation
                .run_unlocked::<M>(DatabaseExecutor::Transaction(txn))
                .await
        }
        DatabaseExecutor::OwnedTransaction(txn) => {
            take_transaction_lock(&txn).await?;
            operation
                .run_unlocked::<M>(DatabaseExecutor::OwnedTransaction(txn))
                .await
        }
    }
}

/// Runs `run` while a dedicated connection to `pool`'s database holds the session-level
/// advisory lock.
#[cfg(feature = "postgres")]
async fn with_session_lock(
    pool: &PgPool,
    run: impl Future<Output = Result<(), DbErr>>,
) -> Result<(), DbErr> {
    let options = pool.connect_options();
    let mut lock = PgConnection::connect_with(&options)
        .await
        .map_err(connection_error)?;
    // On an error here `lock` is dropped, which closes its session and so any lock on it.
    acquire_session_lock(&mut lock).await?;
    let result = run.await;
    let released: Result<bool, DbErr> = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .fetch_one(&mut lock)
        .await
        .map_err(connection_error);
    // Ending the session frees the lock too, also where the unlock above failed.
    let _ = lock.close().await;
    result.and(released.map(|_| ()))
}

#[cfg(feature = "postgres")]
async fn acquire_session_lock(lock: &mut PgConnection) -> Result<(), DbErr> {
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .fetch_one(&mut *lock)
        .await
        .map_err(connection_error)?;
    if !taken {
        tracing::info!(
            target: "sea_orm_migration",
            "Waiting for another migration run on this database to finish \
             (PostgreSQL advisory lock {MIGRATION_LOCK_KEY})"
        );
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *lock)
            .await
            .map_err(connection_error)?;
    }
    Ok(())
}

/// In a caller's transaction on PostgreSQL: the transaction-level lock, released by the
/// caller's commit or rollback. On SQLite the caller's transaction is left as it is.
async fn take_transaction_lock(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [MIGRATION_LOCK_KEY.into()],
        ))
        .await?;
    }
    Ok(())
}

/// SQLite: the run inside one exclusive transaction.
#[cfg(feature = "sqlite")]
async fn in_exclusive_transaction<M: MigratorTrait>(
    operation: Operation,
    conn: &DatabaseConnection,
) -> Result<(), DbErr> {
    let txn = begin_exclusive(conn).await?;
    if let Operation::Fresh = operation {
        // All or nothing: a `fresh` that fails leaves the database as it was.
        let result = fresh_sqlite::<M>(&txn).await;
        return match result {
            Ok(()) => txn.commit().await,
            Err(err) => {
                let _ = txn.rollback().await;
                Err(err)
            }
        };
    }
    let result = operation
        .run_unlocked::<M>(DatabaseExecutor::Transaction(&txn))
        .await;
    // Committed after an error too: each migration ran in its own savepoint, and as
    // without the lock, the migrations before a failing one stay applied.
    let committed = txn.commit().await;
    result.and(committed)
}

/// The first table no other table references, if any is left.
#[cfg(feature = "sqlite")]
const SQLITE_UNREFERENCED_TABLE_SQL: &str = "\
    SELECT name FROM sqlite_master AS t \
    WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND NOT EXISTS ( \
        SELECT 1 FROM sqlite_master AS other, pragma_foreign_key_list(other.name) AS fk \
        WHERE other.type = 'table' AND other.name <> t.name \
          AND lower(fk.\"table\") = lower(t.name)) \
    LIMIT 1";

/// `fresh` on SQLite: every table dropped, referencing tables first, then `up`.
///
/// sea-orm-migration's `fresh` switches foreign keys off and drops tables in name order,
/// but inside a transaction SQLite ignores `PRAGMA foreign_keys`: dropping a table runs an
/// implicit `DELETE`, whose `ON DELETE CASCADE` then reaches tables already dropped
/// ("no such table: main.events"). Dropping a table nothing references deletes nothing
/// through a foreign key.
#[cfg(feature = "sqlite")]
async fn fresh_sqlite<M: MigratorTrait>(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    loop {
        let next = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                SQLITE_UNREFERENCED_TABLE_SQL,
            ))
            .await?;
        let Some(row) = next else {
            let left = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT COUNT(*) AS tables FROM sqlite_master \
                     WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "tables"))
                .transpose()?
                .unwrap_or(0);
            if left > 0 {
                return Err(DbErr::Migration(format!(
                    "fresh: {left} tables reference each other in a cycle; drop them by hand"
                )));
            }
            break;
        };
        let table: String = row.try_get("", "name")?;
        txn.execute_unprepared(&format!("DROP TABLE \"{}\"", table.replace('"', "\"\"")))
            .await?;
    }
    M::up(DatabaseExecutor::Transaction(txn), None).await
}

#[cfg(feature = "sqlite")]
async fn begin_exclusive(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let deadline = Instant::now() + SQLITE_LOCK_WAIT;
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Exclusive),
        ..TransactionOptions::default()
    };
    let mut announced = false;
    loop {
        match conn.begin_with_options(options).await {
            Err(err) if is_sqlite_busy(&err) && Instant::now() < deadline => {
                if !announced {
                    tracing::info!(
                        target: "sea_orm_migration",
                        "Waiting for another migration run on this SQLite file to finish"
                    );
                    announced = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// `SQLITE_BUSY` or one of its extended codes.
#[cfg(feature = "sqlite")]
fn is_sqlite_busy(err: &DbErr) -> bool {
    let (DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime)) = err else {
        return false;
    };
    let RuntimeErr::SqlxError(sqlx_err) = runtime else {
        return false;
    };
    sqlx_err
        .as_database_error()
        .and_then(|db_err| db_err.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

#[cfg(feature = "postgres")]
fn connection_error(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}

#[cfg(test)]
mod tests {
    use super::MIGRATION_LOCK_KEY;

    /// The key as its docs (and docs/operations.md) spell it.
    #[test]
    fn the_lock_key_reads_cdb_migr() {
        assert_eq!(&MIGRATION_LOCK_KEY.to_be_bytes(), b"cdb_migr");
        assert_eq!(MIGRATION_LOCK_KEY, 7_161_957_469_422_970_738);
    }
}
