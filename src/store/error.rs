//! [`StoreError`]: what a store operation can fail with.

use entity::validation::ValidationError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Why a store operation wrote nothing.
///
/// Input errors name the row (its index in the batch) and the field or constraint;
/// [`StoreError::Db`] carries any other database error unchanged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Row `index` of the batch breaks a write rule of the entity crate.
    #[error("row {index} of the batch: {error}")]
    InvalidRow {
        /// Position of the row in the batch (0-based).
        index: usize,
        /// The rule broken, naming table and field.
        error: ValidationError,
    },
    /// A market of a snapshot breaks a write rule of the entity crate.
    #[error(
        "snapshot {snapshot}, market {market} (market {position} of the batch, 0-based): {error}"
    )]
    InvalidMarket {
        /// Position of the snapshot in the batch (0-based).
        snapshot: usize,
        /// Position of the market within its snapshot (0-based).
        market: usize,
        /// Position of the market among all markets of the batch (0-based).
        position: usize,
        /// The rule broken, naming table and field.
        error: ValidationError,
    },
    /// The same key appears twice in one batch; an upsert could not tell which row wins.
    #[error("{key} {value} appears twice in the batch, at rows {first} and {second}")]
    DuplicateInBatch {
        /// The key's columns, e.g. `(source, external_id)`.
        key: &'static str,
        /// The duplicated value, e.g. `(sportybet, 61300417)`.
        value: String,
        /// Row of its first occurrence (0-based).
        first: usize,
        /// Row of its second occurrence.
        second: usize,
    },
    /// `soft_delete_missing` was given an empty palimpsest.
    #[error(
        "refusing to soft-delete every {competitor} event: the palimpsest given is empty \
         (an empty scrape is far likelier a failed one than a competitor with no events)"
    )]
    EmptyPalimpsest {
        /// The competitor whose palimpsest was empty.
        competitor: entity::CompetitorSource,
    },
    /// A row points at a row that does not exist (a foreign key constraint refused it).
    #[error("foreign key violation{}: {message}", constraint_suffix(.constraint))]
    ForeignKeyViolation {
        /// The constraint's name, where the database reports it (PostgreSQL does).
        constraint: Option<String>,
        /// The database's message.
        message: String,
    },
    /// Capture `capture` of a snapshot write names a competitor event that does not exist
    /// (never written, or purged since): the foreign key of
    /// `competitor_odds_snapshots.competitor_event_id` refused it. The first such capture
    /// of the batch is named; nothing of the batch was written.
    #[error(
        "capture {capture} of the batch (0-based): competitor event {competitor_event_id} \
         does not exist; write the event with `upsert_events` first"
    )]
    UnknownEvent {
        /// Position of the capture in the batch (0-based).
        capture: usize,
        /// The `competitor_event_id` it gave.
        competitor_event_id: i32,
    },
    /// A row repeats a unique key (a unique constraint refused it).
    #[error("unique violation{}: {message}", constraint_suffix(.constraint))]
    UniqueViolation {
        /// The constraint's name, where the database reports it (PostgreSQL does).
        constraint: Option<String>,
        /// The database's message.
        message: String,
    },
    /// The database refused the write for lock contention on every one of `attempts`
    /// attempts: a deadlock (`40P01`), a serialization failure (`40001`) or, on SQLite, a
    /// database that stayed busy. Each attempt was rolled back whole, so nothing was
    /// written; the call can be repeated later. The store's own calls take their locks in
    /// one order and do not deadlock one another: this comes from other clients' locks.
    #[error("refused for lock contention {attempts} times, nothing written: {last}")]
    Contention {
        /// Attempts made, [`ATTEMPTS`](super::ATTEMPTS).
        attempts: u32,
        /// The last refusal.
        last: DbErr,
    },
    /// A table the store uses does not exist: the database has not been migrated to this
    /// version's schema (PostgreSQL's `42P01 undefined_table`, SQLite's `no such table`).
    #[error(
        "table `{table}` does not exist: the database is not migrated to this version of \
         competitor-db; run `competitor_db::migrate(&db)` at start-up, or \
         `cargo run -p migration -- up` (see the README, \"Migrations\")"
    )]
    NotMigrated {
        /// The missing table, as the database names it (`competitor_events`).
        table: String,
        /// The database's own error.
        source: DbErr,
    },
    /// Inside the caller's own transaction, the database refused the store's write for
    /// contention: a deadlock (`40P01`) or a serialization failure (`40001`, under
    /// `REPEATABLE READ` or `SERIALIZABLE`). The store does not retry it: a retry inside
    /// the same transaction meets the same snapshot and locks, and on PostgreSQL the
    /// transaction is aborted anyway. Roll the transaction back and run it again, whole;
    /// given the pool instead, the store retries on its own (see
    /// [`StoreError::Contention`]).
    #[error(
        "refused for lock contention inside the caller's transaction ({last}); roll it back \
         and run the transaction again"
    )]
    RetryTransaction {
        /// The refusal.
        last: DbErr,
    },
    /// Any other database error.
    #[error(transparent)]
    Db(DbErr),
}

fn constraint_suffix(constraint: &Option<String>) -> String {
    constraint
        .as_ref()
        .map(|name| format!(" on {name}"))
        .unwrap_or_default()
}

impl From<DbErr> for StoreError {
    /// Classifies missing tables and constraint violations; everything else stays a
    /// [`StoreError::Db`].
    fn from(err: DbErr) -> Self {
        if let Some(table) = missing_table(&err) {
            return StoreError::NotMigrated { table, source: err };
        }
        let constraint = constraint_name(&err);
        match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(message)) => {
                StoreError::ForeignKeyViolation {
                    constraint,
                    message,
                }
            }
            Some(SqlErr::UniqueConstraintViolation(message)) => StoreError::UniqueViolation {
                constraint,
                message,
            },
            _ => StoreError::Db(err),
        }
    }
}

/// The table a statement names and the database does not have: PostgreSQL's
/// `undefined_table` (`relation "competitor_events" does not exist`), SQLite's
/// `no such table: competitor_events` (its generic error code, told apart by the message).
fn missing_table(err: &DbErr) -> Option<String> {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) =
        err
    else {
        return None;
    };
    let database = sqlx.as_database_error()?;
    let message = database.message();
    if database.code().as_deref() == Some("42P01") {
        let table = message
            .split('"')
            .nth(1)
            .filter(|_| message.starts_with("relation \""));
        return Some(table.unwrap_or(message).to_owned());
    }
    let table = message.strip_prefix("no such table: ")?;
    Some(table.strip_prefix("main.").unwrap_or(table).to_owned())
}

/// The violated constraint's name, which PostgreSQL reports and SQLite does not.
#[cfg(feature = "postgres")]
fn constraint_name(err: &DbErr) -> Option<String> {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) =
        err
    else {
        return None;
    };
    let database = sqlx.as_database_error()?;
    let postgres = database.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()?;
    postgres.constraint().map(str::to_owned)
}

/// Without PostgreSQL, no error names its constraint.
#[cfg(not(feature = "postgres"))]
fn constraint_name(_err: &DbErr) -> Option<String> {
    None
}
