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
    let select = "SELECT id FROM competitor_odds_snapshots WHERE captured_at < $1 \
                  ORDER BY captured_at, id LIMIT $2";
    let mut purged = PurgedSnapshots::default();
    loop {
        let txn = db.begin().await?;
        let ids = ids(&txn, select, cutoff, batch_size).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(purged);
        }
        let batch = delete_snapshots(&txn, &ids).await?;
        txn.commit().await?;
        purged.snapshots += batch.snapshots;
        purged.market_odds += batch.market_odds;
    }
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
    let backend = db.get_database_backend();
    let mut purged = PurgedDeleted::default();

    let snapshots_of_deleted = "SELECT s.id FROM competitor_odds_snapshots s \
        JOIN competitor_events e ON e.id = s.competitor_event_id \
        WHERE e.deleted_at < $1 ORDER BY s.id LIMIT $2";
    loop {
        let txn = db.begin().await?;
        let ids = ids(&txn, snapshots_of_deleted, cutoff, DELETED_PER_BATCH).await?;
        if ids.is_empty() {
            txn.commit().await?;
            break;
        }
        let batch = delete_snapshots(&txn, &ids).await?;
        txn.commit().await?;
        purged.snapshots += batch.snapshots;
        purged.market_odds += batch.market_odds;
    }

    let deleted_events =
        "SELECT id FROM competitor_events WHERE deleted_at < $1 ORDER BY id LIMIT $2";
    loop {
        let txn = db.begin().await?;
        let ids = ids(&txn, deleted_events, cutoff, DELETED_PER_BATCH).await?;
        if ids.is_empty() {
            txn.commit().await?;
            break;
        }
        purged.events += delete_where_id_in(&txn, backend, "competitor_events", &ids).await?;
        txn.commit().await?;
    }

    let empty_deleted_tournaments = "SELECT id FROM competitor_tournaments t \
        WHERE deleted_at < $1 AND NOT EXISTS \
            (SELECT 1 FROM competitor_events e WHERE e.tournament_id = t.id) \
        ORDER BY id LIMIT $2";
    loop {
        let txn = db.begin().await?;
        let ids = ids(&txn, empty_deleted_tournaments, cutoff, DELETED_PER_BATCH).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(purged);
        }
        purged.tournaments +=
            delete_where_id_in(&txn, backend, "competitor_tournaments", &ids).await?;
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

/// Deletes the snapshots `ids` and their market odds (explicitly, to count them; the
/// CASCADE would remove them as well).
async fn delete_snapshots<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<PurgedSnapshots, StoreError> {
    let backend = db.get_database_backend();
    let market_odds =
        delete_where(db, backend, "competitor_market_odds", "snapshot_id", ids).await?;
    let snapshots = delete_where_id_in(db, backend, "competitor_odds_snapshots", ids).await?;
    Ok(PurgedSnapshots {
        snapshots,
        market_odds,
    })
}

async fn delete_where_id_in<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    table: &str,
    ids: &[i64],
) -> Result<u64, StoreError> {
    delete_where(db, backend, table, "id", ids).await
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
