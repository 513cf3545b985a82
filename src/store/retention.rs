//! Retention: purging old snapshots and long soft-deleted rows, in bounded batches.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, TransactionSession, TransactionTrait};

use super::backend::{in_ids, statement};
use super::error::StoreError;

/// What [`purge_snapshots_before`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgedSnapshots {
    /// Snapshots deleted.
    pub snapshots: u64,
    /// Their market odds deleted with them.
    pub market_odds: u64,
}

/// What [`purge_deleted_before`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgedDeleted {
    /// Competitor tournaments hard-deleted.
    pub tournaments: u64,
    /// Competitor events hard-deleted.
    pub events: u64,
    /// Snapshots of those events.
    pub snapshots: u64,
    /// Market odds of those snapshots.
    pub market_odds: u64,
}

/// Rows per batch of [`purge_deleted_before`].
const DELETED_PER_BATCH: usize = 1_000;

/// Snapshots captured before `$1`, oldest first.
const OLD_SNAPSHOTS: &str = "SELECT id FROM competitor_odds_snapshots WHERE captured_at < $1 \
    ORDER BY captured_at, id LIMIT $2";

/// Snapshots of events soft-deleted before `$1`.
const SNAPSHOTS_OF_DELETED_EVENTS: &str = "SELECT s.id FROM competitor_odds_snapshots s \
    JOIN competitor_events e ON e.id = s.competitor_event_id \
    WHERE e.deleted_at < $1 ORDER BY s.id LIMIT $2";

/// Events soft-deleted before `$1`.
const DELETED_EVENTS: &str =
    "SELECT id FROM competitor_events WHERE deleted_at < $1 ORDER BY id LIMIT $2";

/// Tournaments soft-deleted before `$1` that hold no event any more.
const EMPTY_DELETED_TOURNAMENTS: &str = "SELECT id FROM competitor_tournaments t \
    WHERE deleted_at < $1 AND NOT EXISTS \
        (SELECT 1 FROM competitor_events e WHERE e.tournament_id = t.id) \
    ORDER BY id LIMIT $2";

/// Deletes snapshots captured before `cutoff`, with their market odds, oldest first, in
/// batches of `batch_size` snapshots (at least 1). Each batch is its own transaction, so
/// writers wait for one batch at most.
///
/// # Errors
/// [`StoreError::Db`] for database errors; batches committed before the error stay
/// deleted, the failing batch is rolled back whole.
pub async fn purge_snapshots_before<C>(
    db: &C,
    cutoff: DateTime<Utc>,
    batch_size: usize,
) -> Result<PurgedSnapshots, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let deleted =
        purge_in_batches(db, OLD_SNAPSHOTS, cutoff, batch_size, Target::Snapshots).await?;
    Ok(PurgedSnapshots {
        snapshots: deleted.rows,
        market_odds: deleted.market_odds,
    })
}

/// Hard-deletes what was soft-deleted before `cutoff`: competitor events (with their
/// snapshots and market odds), then competitor tournaments that no longer hold any event.
/// A tournament deleted before `cutoff` that still holds an event (active, or deleted
/// after `cutoff`) is kept until that event goes. Batches of 1000 rows, each its own
/// transaction.
///
/// # Errors
/// [`StoreError::Db`] for database errors; batches committed before the error stay
/// deleted, the failing batch is rolled back whole.
pub async fn purge_deleted_before<C>(
    db: &C,
    cutoff: DateTime<Utc>,
) -> Result<PurgedDeleted, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let odds = purge_in_batches(
        db,
        SNAPSHOTS_OF_DELETED_EVENTS,
        cutoff,
        DELETED_PER_BATCH,
        Target::Snapshots,
    )
    .await?;
    let events = purge_in_batches(
        db,
        DELETED_EVENTS,
        cutoff,
        DELETED_PER_BATCH,
        Target::Table("competitor_events"),
    )
    .await?;
    let tournaments = purge_in_batches(
        db,
        EMPTY_DELETED_TOURNAMENTS,
        cutoff,
        DELETED_PER_BATCH,
        Target::Table("competitor_tournaments"),
    )
    .await?;
    Ok(PurgedDeleted {
        tournaments: tournaments.rows,
        events: events.rows,
        snapshots: odds.rows,
        market_odds: odds.market_odds,
    })
}

/// What one purge deletes by id.
#[derive(Clone, Copy)]
enum Target {
    /// Snapshots and their market odds.
    Snapshots,
    /// Rows of a table (its dependants, if any are left, go by CASCADE).
    Table(&'static str),
}

/// Rows one purge deleted: of its target table, and market odds with snapshots.
#[derive(Default)]
struct Deleted {
    rows: u64,
    market_odds: u64,
}

/// Deletes the ids `select` picks (`$1` the cutoff, `$2` the batch size), a batch per
/// transaction, until it picks none.
async fn purge_in_batches<C>(
    db: &C,
    select: &str,
    cutoff: DateTime<Utc>,
    batch_size: usize,
    target: Target,
) -> Result<Deleted, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let mut purged = Deleted::default();
    loop {
        let txn = db.begin().await?;
        let ids = ids(&txn, select, cutoff, batch_size).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(purged);
        }
        match target {
            Target::Snapshots => {
                purged.market_odds +=
                    delete_where(&txn, backend, "competitor_market_odds", "snapshot_id", &ids)
                        .await?;
                purged.rows +=
                    delete_where(&txn, backend, "competitor_odds_snapshots", "id", &ids).await?;
            }
            Target::Table(table) => {
                purged.rows += delete_where(&txn, backend, table, "id", &ids).await?;
            }
        }
        txn.commit().await?;
    }
}

/// The `id`s a `$1 = cutoff, $2 = limit` query selects.
async fn ids<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    cutoff: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            sql,
            vec![cutoff.into(), limit.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            row.try_get::<i64>("", "id")
                .or_else(|_| row.try_get::<i32>("", "id").map(i64::from))
                .map_err(StoreError::from)
        })
        .collect()
}

async fn delete_where<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    table: &str,
    column: &str,
    ids: &[i64],
) -> Result<u64, StoreError> {
    let (condition, ids) = in_ids(backend, column, "$1", ids);
    let sql = format!("DELETE FROM {table} WHERE {condition}");
    Ok(db
        .execute_raw(statement(backend, &sql, vec![ids]))
        .await?
        .rows_affected())
}
