//! Retention: purging old snapshots and long soft-deleted rows, in bounded batches.

use chrono::{DateTime, Utc};
use entity::{competitor_event, competitor_odds_snapshot, competitor_tournament};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait, Select,
};

use super::backend::is_in_ids;
use super::connection::StoreConnection;
use super::error::StoreError;
use super::retry::in_transaction;

/// What [`purge_snapshots_before`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgedSnapshots {
    /// Snapshots deleted.
    pub snapshots: u64,
    /// Their market odds deleted with them.
    pub market_odds: u64,
}

/// What [`purge_deleted_before`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
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
const BATCH: u64 = 1_000;

/// Deletes snapshots captured before `cutoff`, with their market odds, oldest first, in
/// batches of `batch_size` snapshots (at least 1), except each event's newest snapshot,
/// which its freshness and the change mode's state hang on. The current odds table is
/// never touched. Each batch is its own transaction, so writers wait for one batch at
/// most.
///
/// # Errors
/// [`StoreError::Contention`] when a batch was refused for lock contention on every
/// attempt; [`StoreError::Db`] for other database errors. Batches committed before the
/// error stay deleted, the failing batch is rolled back whole.
pub async fn purge_snapshots_before<C>(
    db: &C,
    cutoff: DateTime<Utc>,
    batch_size: usize,
) -> Result<PurgedSnapshots, StoreError>
where
    C: StoreConnection,
{
    use competitor_odds_snapshot::Column;
    // The newest snapshot of an event stays, however old: its event's freshness and the
    // change mode's current state hang on it.
    let newer = Query::select()
        .expr(Expr::val(1))
        .from_as(competitor_odds_snapshot::Entity, Alias::new("newer"))
        .and_where(Expr::cust(
            "newer.competitor_event_id = competitor_odds_snapshots.competitor_event_id \
             AND (newer.captured_at, newer.id) > \
                 (competitor_odds_snapshots.captured_at, competitor_odds_snapshots.id)",
        ))
        .to_owned();
    let old = competitor_odds_snapshot::Entity::find()
        .filter(Column::CapturedAt.lt(cutoff))
        .filter(Expr::exists(newer))
        .order_by_asc(Column::CapturedAt)
        .order_by_asc(Column::Id);
    let limit = u64::try_from(batch_size.max(1)).unwrap_or(u64::MAX);
    let deleted = purge_in_batches(db, old, limit, Target::Snapshots).await?;
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
/// As [`purge_snapshots_before`]; batches committed before the error stay deleted, the
/// failing batch is rolled back whole.
pub async fn purge_deleted_before<C>(
    db: &C,
    cutoff: DateTime<Utc>,
) -> Result<PurgedDeleted, StoreError>
where
    C: StoreConnection,
{
    use competitor_event::Column as Event;
    use competitor_odds_snapshot::Column as Snapshot;
    use competitor_tournament::Column as Tournament;

    let of_deleted_events = competitor_odds_snapshot::Entity::find()
        .join(
            sea_orm::JoinType::InnerJoin,
            competitor_odds_snapshot::Relation::CompetitorEvent.def(),
        )
        .filter(Event::DeletedAt.lt(cutoff))
        .order_by_asc(Snapshot::Id);
    let odds = purge_in_batches(db, of_deleted_events, BATCH, Target::Snapshots).await?;

    let deleted_events = competitor_event::Entity::find()
        .filter(Event::DeletedAt.lt(cutoff))
        .order_by_asc(Event::Id);
    let events = purge_in_batches(db, deleted_events, BATCH, Target::Events).await?;

    let holds_an_event = Query::select()
        .expr(Expr::val(1))
        .from(competitor_event::Entity)
        .and_where(
            Expr::col((competitor_event::Entity, Event::TournamentId))
                .equals((competitor_tournament::Entity, Tournament::Id)),
        )
        .to_owned();
    let empty_deleted_tournaments = competitor_tournament::Entity::find()
        .filter(Tournament::DeletedAt.lt(cutoff))
        .filter(Expr::exists(holds_an_event).not())
        .order_by_asc(Tournament::Id);
    let tournaments =
        purge_in_batches(db, empty_deleted_tournaments, BATCH, Target::Tournaments).await?;

    Ok(PurgedDeleted {
        tournaments: tournaments.rows,
        events: events.rows,
        snapshots: odds.rows,
        market_odds: odds.market_odds,
    })
}

/// The first `limit` primary keys `select` finds, as one `bigint` column (competitor
/// events and tournaments have `integer` ids).
fn ids_of<E: EntityTrait>(select: Select<E>, limit: u64) -> Select<E> {
    let id = Expr::col((E::default(), Alias::new("id"))).cast_as(Alias::new("bigint"));
    select.select_only().column_as(id, "id").limit(limit)
}

/// What one purge deletes by id (the dependants of events and tournaments, if any are
/// left, go by CASCADE).
#[derive(Clone, Copy)]
enum Target {
    /// Snapshots and their market odds.
    Snapshots,
    /// Competitor events.
    Events,
    /// Competitor tournaments.
    Tournaments,
}

/// Rows one purge deleted: of its target table, and market odds with snapshots.
#[derive(Default)]
struct Deleted {
    rows: u64,
    market_odds: u64,
}

/// Deletes the rows `rows` selects, `limit` per transaction, until it selects none.
async fn purge_in_batches<C, E>(
    db: &C,
    rows: Select<E>,
    limit: u64,
    target: Target,
) -> Result<Deleted, StoreError>
where
    C: StoreConnection,
    E: EntityTrait,
{
    let batch = ids_of(rows, limit);
    let mut purged = Deleted::default();
    loop {
        let batch = in_transaction!(db, |txn| purge_batch(&txn, &batch, target)).await?;
        match batch {
            None => return Ok(purged),
            Some(batch) => {
                purged.rows += batch.rows;
                purged.market_odds += batch.market_odds;
            }
        }
    }
}

/// Deletes the ids `batch` selects in `txn`; `None` when it selects none.
async fn purge_batch<E: EntityTrait>(
    txn: &DatabaseTransaction,
    batch: &Select<E>,
    target: Target,
) -> Result<Option<Deleted>, StoreError> {
    let ids: Vec<i64> = batch.clone().into_tuple::<i64>().all(txn).await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let mut deleted = Deleted::default();
    match target {
        Target::Snapshots => {
            deleted.market_odds =
                delete_where(txn, "competitor_market_odds", "snapshot_id", &ids).await?;
            deleted.rows = delete_where(txn, "competitor_odds_snapshots", "id", &ids).await?;
        }
        Target::Events => {
            deleted.rows = delete_where(txn, "competitor_events", "id", &ids).await?;
        }
        Target::Tournaments => {
            deleted.rows = delete_where(txn, "competitor_tournaments", "id", &ids).await?;
        }
    }
    Ok(Some(deleted))
}

async fn delete_where<C: ConnectionTrait>(
    db: &C,
    table: &'static str,
    column: &str,
    ids: &[i64],
) -> Result<u64, StoreError> {
    let delete = Query::delete()
        .from_table(Alias::new(table))
        .and_where(is_in_ids(db.get_database_backend(), column, ids))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}
