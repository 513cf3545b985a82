//! The repair entry point: the current odds computed anew from history.

use entity::competitor_event;
use migration::fold::{self, Events};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use tracing::field::Empty;

use super::TRACING_TARGET;
use super::backend::{is_in_ids, lock_events};
use super::connection::StoreConnection;
use super::error::StoreError;
use super::retry::in_transaction;

/// What [`rebuild_current_odds`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebuiltOdds {
    /// Competitor events whose current odds were recomputed.
    pub events: u64,
    /// Current markets they hold now.
    pub markets: u64,
}

/// Events rebuilt per transaction: each holds one advisory lock per event, and
/// PostgreSQL's lock table is shared and bounded (`max_locks_per_transaction`).
const EVENTS_PER_TRANSACTION: usize = 1_000;

/// Recomputes the current odds (`competitor_market_odds_current`) of `events` (`None`:
/// every competitor event) from their history, for an operator who wrote history by hand
/// or restored a backup: deletes their current rows, then folds their snapshots in capture
/// order, as writing them one capture at a time does (the migration crate's `fold`
/// module). Idempotent: on history the store and the other writers kept, it changes
/// nothing.
///
/// Batches of 1,000 events, each its own transaction holding the events' locks, so writes
/// of those events wait for it and it waits for them; other events are not held up.
///
/// # Errors
/// [`StoreError::Contention`] when a batch was refused for lock contention on every
/// attempt; [`StoreError::Db`] for other database errors. Batches committed before the
/// error stay rebuilt, the failing one is rolled back whole.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        events = events.map(<[i32]>::len),
        rebuilt = Empty,
        markets = Empty,
    )
)]
pub async fn rebuild_current_odds<C>(
    db: &C,
    events: Option<&[i32]>,
) -> Result<RebuiltOdds, StoreError>
where
    C: StoreConnection,
{
    let events: Vec<i32> = match events {
        Some(events) => {
            let mut events = events.to_vec();
            events.sort_unstable();
            events.dedup();
            events
        }
        None => {
            competitor_event::Entity::find()
                .select_only()
                .column(competitor_event::Column::Id)
                .order_by_asc(competitor_event::Column::Id)
                .into_tuple::<i32>()
                .all(db)
                .await?
        }
    };
    let mut rebuilt = RebuiltOdds::default();
    for batch in events.chunks(EVENTS_PER_TRANSACTION) {
        let markets = in_transaction!(db, |txn| rebuild_batch(&txn, batch)).await?;
        rebuilt.events += batch.len() as u64;
        rebuilt.markets += markets;
    }
    let span = tracing::Span::current();
    span.record("rebuilt", rebuilt.events);
    span.record("markets", rebuilt.markets);
    Ok(rebuilt)
}

/// Rebuilds `events` (ascending) in `txn`; returns their current markets.
async fn rebuild_batch(txn: &DatabaseTransaction, events: &[i32]) -> Result<u64, StoreError> {
    lock_events(txn, events).await?;
    fold::rebuild(txn, Events::Only(events)).await?;
    let ids: Vec<i64> = events.iter().map(|id| i64::from(*id)).collect();
    let markets = entity::competitor_market_odds_current::Entity::find()
        .filter(is_in_ids(
            txn.get_database_backend(),
            "competitor_event_id",
            &ids,
        ))
        .count(txn)
        .await?;
    Ok(markets)
}
