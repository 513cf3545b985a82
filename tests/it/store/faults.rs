//! Killed connections: a backend terminated in the middle of a write (COPY given the
//! pool, the `UNNEST` insert inside a caller's transaction, an upsert) writes nothing,
//! and the same pool serves the next call.
//!
//! Each write is held at a row lock another transaction owns, so the test knows the
//! write is under way, finds its backend in `pg_stat_activity` and terminates it.

use chrono::{DateTime, Utc};
use competitor_db::store::{self, NewSnapshot};
use competitor_db::testing;
use entity::CompetitorSource;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};

use super::{at, backend_waiting_in, palimpsest, sample_event};
use crate::postgres;
use crate::sql::{count, scalar};

/// Locks competitor event `id` `FOR UPDATE` in a transaction of its own: inserts that
/// point at it (their foreign key check) and upserts of it wait until it ends.
async fn hold_event(db: &DatabaseConnection, id: i32) -> DatabaseTransaction {
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared(&format!(
        "SELECT id FROM competitor_events WHERE id = {id} FOR UPDATE"
    ))
    .await
    .expect("lock the event");
    txn
}

/// Terminates the backend whose statement starts with `statement` once it waits for a
/// lock; fails the test if none does within a minute.
async fn terminate_waiting(db: &DatabaseConnection, statement: &str) {
    let pid = backend_waiting_in(db, statement).await;
    let killed = scalar(
        db,
        "SELECT CAST(pg_terminate_backend($1) AS integer) AS n",
        vec![pid.into()],
    )
    .await;
    assert_eq!(killed, 1, "terminated backend {pid}");
}

/// Runs `write` on a clone of the pool while competitor event `held` is locked, kills its
/// backend once it waits in `statement`, releases the lock, and checks that the write
/// failed with a database error.
async fn kill_mid_write<W, F, T>(db: &DatabaseConnection, held: i32, statement: &str, write: W)
where
    W: FnOnce(DatabaseConnection) -> F,
    F: Future<Output = Result<T, store::StoreError>> + Send + 'static,
    T: std::fmt::Debug + Send + 'static,
{
    let holder = hold_event(db, held).await;
    let write = tokio::spawn(write(db.clone()));
    terminate_waiting(db, statement).await;
    let err = write
        .await
        .expect("task")
        .expect_err("the backend was killed");
    holder.rollback().await.expect("release");
    assert!(matches!(err, store::StoreError::Db(_)), "{err:?}");
}

/// Five markets of each of `events`, captured `at`.
fn captures(events: &[i32], at: DateTime<Utc>) -> Vec<NewSnapshot> {
    events
        .iter()
        .map(|&e| testing::snapshot(e, 5, at))
        .collect()
}

async fn a_backend_killed_during_copy_writes_nothing(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 50).await;
    let batch = captures(&events, at(0));
    let statement = "COPY competitor_odds_snapshots";
    kill_mid_write(db, events[49], statement, |pool| async move {
        store::write_snapshots(&pool, &batch).await
    })
    .await;
    assert_eq!(count(db, "competitor_odds_snapshots").await, 0);
    assert_eq!(count(db, "competitor_market_odds").await, 0);

    let ids = store::write_snapshots(db, &captures(&events, at(5)))
        .await
        .expect("the pool serves the next call");
    assert_eq!(ids.len(), 50);
    assert_eq!(count(db, "competitor_market_odds").await, 250);
}
postgres!(a_backend_killed_during_copy_writes_nothing);

async fn a_backend_killed_during_the_unnest_insert_writes_nothing(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 50).await;
    let batch = captures(&events, at(0));
    let statement = "INSERT INTO competitor_odds_snapshots";
    kill_mid_write(db, events[49], statement, |pool| async move {
        let txn = pool.begin().await?;
        store::write_snapshots(&txn, &batch).await?;
        txn.commit().await?;
        Ok(())
    })
    .await;
    assert_eq!(count(db, "competitor_odds_snapshots").await, 0);

    let txn = db
        .begin()
        .await
        .expect("the pool serves the next transaction");
    store::write_snapshots(&txn, &captures(&events, at(5)))
        .await
        .expect("the next call");
    txn.commit().await.expect("commit");
    assert_eq!(count(db, "competitor_market_odds").await, 250);
}
postgres!(a_backend_killed_during_the_unnest_insert_writes_nothing);

async fn a_backend_killed_during_an_upsert_writes_nothing(db: &DatabaseConnection) {
    let (tournament, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    // 399 new rows sort before the existing event `sportybet-e-0` and are inserted
    // before the upsert waits for it.
    let mut batch: Vec<_> = (1..400)
        .map(|i| {
            let mut event = sample_event(CompetitorSource::Sportybet, tournament, i);
            event.external_id = format!("sportybet-a-{i}");
            event
        })
        .collect();
    batch.push(sample_event(CompetitorSource::Sportybet, tournament, 0));
    let statement = "INSERT INTO \"competitor_events\"";
    kill_mid_write(db, events[0], statement, |pool| async move {
        store::upsert_events(&pool, &batch).await
    })
    .await;
    assert_eq!(count(db, "competitor_events").await, 1, "nothing written");

    let ids = store::upsert_events(
        db,
        &[sample_event(CompetitorSource::Sportybet, tournament, 7)],
    )
    .await
    .expect("the pool serves the next call");
    assert_eq!(ids.len(), 1);
    assert_eq!(count(db, "competitor_events").await, 2);
}
postgres!(a_backend_killed_during_an_upsert_writes_nothing);
