//! Store futures dropped at an await point, as axum drops a handler's future when its
//! client goes away: the pooled connection answers the next query correctly, and a
//! caller's transaction stays whole or fails whole.
//!
//! Each test drops the future after `k` polls for a range of `k`, a short real wait
//! between polls so that I/O progresses: whatever await point a drop meets, the
//! assertions after it must hold. One drop is forced where the COPY path waits in
//! `finish`: another transaction holds the event's row, so the foreign key check at
//! `CopyDone` waits for it.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use competitor_db::store;
use entity::CompetitorSource;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    SqlxPostgresConnector, TransactionTrait,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::{at, palimpsest, round, sample_events};
use crate::harness::{Backend, TestDb};
use crate::sql::{count, count_where, execute, scalar};
use crate::{both, postgres, sqlite};

/// Polls `future` up to `polls` times, letting the runtime run for a millisecond after
/// each poll that found it pending; drops it unfinished if it still is. Returns its output
/// if it finished.
async fn poll_then_drop<F: Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    for _ in 0..polls {
        if let Ok(output) = tokio::time::timeout(Duration::ZERO, future.as_mut()).await {
            return Some(output);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// A pool of one connection on the test's database, so the connection a dropped future
/// used is the one the next query gets.
fn one_connection(db: &DatabaseConnection) -> DatabaseConnection {
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with((*options).clone());
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// A pool of one connection on the test's database through a relay that hands the
/// server's bytes on 8 KiB at a time, a millisecond apart: a reply of a few megabytes
/// arrives over hundreds of polls, so a drop after a few of them falls part of the way
/// through its rows (on a connection to the server itself, the client reads the whole reply
/// as fast as it arrives, in one poll). TLS, when negotiated, passes through untouched.
async fn one_slow_connection(db: &DatabaseConnection) -> DatabaseConnection {
    let options = (*db.get_postgres_connection_pool().connect_options()).clone();
    let server = (options.get_host().to_owned(), options.get_port());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay");
    let relay = listener.local_addr().expect("relay address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect((server.0.as_str(), server.1)).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::io::copy(&mut client_read, &mut server_write);
                let down = async {
                    let mut chunk = vec![0; 8 * 1024];
                    loop {
                        let read = server_read.read(&mut chunk).await?;
                        if read == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        client_write.write_all(&chunk[..read]).await?;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                };
                // Either side closing ends both.
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(options.host("127.0.0.1").port(relay));
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// The pool's one connection answers a query with its own reply, and the store's reads
/// see what was committed: `snapshots` snapshots of `event`.
async fn assert_answers_in_step(pool: &DatabaseConnection, event: i32, snapshots: i64) {
    let one = scalar(pool, "SELECT CAST(1 AS bigint) AS n", vec![]).await;
    assert_eq!(one, 1, "SELECT 1 answered with another query's reply");
    let stored = count_where(
        pool,
        "competitor_odds_snapshots",
        "competitor_event_id = $1",
        vec![event.into()],
    )
    .await;
    assert_eq!(stored, snapshots, "snapshots of event {event}");
    let latest = store::latest_snapshots(pool, &[event])
        .await
        .expect("latest");
    assert_eq!(latest.len(), usize::from(snapshots > 0));
}

/// `write_snapshots` on the pool (COPY), dropped after 1 to 12 polls: the connection goes
/// back to the pool in step (or is closed), and a write either committed whole or not at
/// all.
async fn a_dropped_copy_write_leaves_the_pool_in_step(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 200).await;
    let pool = one_connection(db);
    let mut committed = 0;
    for polls in 1..=12 {
        let batch = round(&events, 0, 40, at(polls as i64));
        let finished = poll_then_drop(store::write_snapshots(&pool, &batch), polls).await;
        if let Some(written) = finished {
            written.expect("a write that finished succeeds");
            committed += 1;
        }
        assert_answers_in_step(&pool, events[0], committed).await;
    }
}
postgres!(a_dropped_copy_write_leaves_the_pool_in_step);

/// The drop the reproduction found: the COPY path waits in `finish` (another transaction
/// holds the event's row, which the foreign key check at `CopyDone` needs), a timeout
/// drops it, the other transaction commits; the one pooled connection then answers the
/// next queries with their own replies.
async fn a_copy_write_dropped_while_finish_waits_leaves_the_pool_in_step(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 2).await;
    let pool = one_connection(db);
    let holder = db.begin().await.expect("begin");
    holder
        .execute_unprepared(&format!(
            "SELECT id FROM competitor_events WHERE id = {} FOR UPDATE",
            events[0]
        ))
        .await
        .expect("hold the event");
    let batch = round(&events, 0, 30, at(0));
    let write = store::write_snapshots(&pool, &batch);
    let dropped = tokio::time::timeout(Duration::from_millis(500), write).await;
    assert!(dropped.is_err(), "the write waits for the held row");
    holder.commit().await.expect("release");
    assert_answers_in_step(&pool, events[0], 0).await;
    store::write_snapshots(&pool, &round(&events, 1, 30, at(5)))
        .await
        .expect("the next write");
    assert_answers_in_step(&pool, events[0], 1).await;
}
postgres!(a_copy_write_dropped_while_finish_waits_leaves_the_pool_in_step);

/// The caller's own write inside its transaction `txn`: a sport whose name and slug are
/// `slug`.
async fn callers_write(txn: &DatabaseTransaction, slug: &str) -> Result<ExecResult, DbErr> {
    execute(
        txn,
        "INSERT INTO sports (name, slug) VALUES ($1, $2)",
        vec![slug.into(), slug.into()],
    )
    .await
}

/// How many of the caller's writes named `slug` were committed.
async fn callers_writes(db: &DatabaseConnection, slug: &str) -> i64 {
    count_where(db, "sports", "slug = $1", vec![slug.into()]).await
}

/// Each of the caller's writes `slugs` was committed once, around a store call dropped
/// after `polls` polls.
async fn assert_callers_writes_committed(db: &DatabaseConnection, slugs: &[String], polls: usize) {
    for slug in slugs {
        let stored = callers_writes(db, slug).await;
        assert_eq!(stored, 1, "{slug}, dropped after {polls} polls");
    }
}

/// A store call dropped inside the caller's transaction, after 1 to 10 polls and then
/// again and again after 1 and 2 (where it opens its savepoint): the caller then writes
/// again and commits. Its transaction stays whole (the rows it wrote before and after the
/// call both commit) or fails whole (neither does, and it is told); never one without the
/// other.
async fn a_store_call_dropped_in_a_callers_transaction_leaves_it_whole(db: &DatabaseConnection) {
    let (tournament, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let again = sample_events(CompetitorSource::Sportybet, tournament, 0..3);
    let drops = (1..=10)
        .chain(std::iter::repeat_n(1, 40))
        .chain(std::iter::repeat_n(2, 40));
    for (round, polls) in drops.enumerate() {
        let marker = |step: &str| format!("{step}-{round}");
        let txn = db.begin().await.expect("begin");
        callers_write(&txn, &marker("before"))
            .await
            .expect("the caller's write before");
        let finished = poll_then_drop(store::upsert_events(&txn, &again), polls).await;
        let after = callers_write(&txn, &marker("after")).await;
        let committed = match after {
            Ok(_) => txn.commit().await,
            Err(err) => {
                let _ = txn.rollback().await;
                Err(err)
            }
        };
        let (before, after) = (
            callers_writes(db, &marker("before")).await,
            callers_writes(db, &marker("after")).await,
        );
        assert_eq!(
            before,
            after,
            "dropped after {polls} polls (finished: {}): the caller's writes before and after \
             the call commit together or not at all",
            finished.is_some()
        );
        if before == 0 {
            assert!(
                committed.is_err(),
                "dropped after {polls} polls: the caller's writes are lost, and it was not told"
            );
        }
        assert_eq!(count(db, "competitor_events").await, events.len() as i64);
    }
}
sqlite!(a_store_call_dropped_in_a_callers_transaction_leaves_it_whole);

/// The same on PostgreSQL, from a multi-threaded runtime as a service's: the store opens
/// its savepoint in `block_in_place`, so no drop splits it (on a current-thread runtime
/// it cannot; docs/design.md, "Cancellation").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_call_dropped_in_a_callers_postgres_transaction_leaves_it_whole() {
    let db = TestDb::migrated(Backend::Postgres, module_path!()).await;
    a_store_call_dropped_in_a_callers_transaction_leaves_it_whole(&db).await;
    db.pass().await;
}

/// The current odds of `events` after two full rounds, read to the end: what every read
/// after a dropped one must return.
async fn current_odds_of_two_rounds(
    db: &DatabaseConnection,
    events: &[i32],
) -> std::collections::HashMap<i32, store::CurrentOdds> {
    store::write_snapshots(db, &round(events, 0, 40, at(0)))
        .await
        .expect("round 0");
    store::write_snapshots(db, &round(events, 1, 40, at(5)))
        .await
        .expect("round 1");
    let odds = store::current_odds(db, events).await.expect("current odds");
    assert_eq!(odds.len(), events.len());
    odds
}

/// `current_odds` streams its rows (6,000 here, about a megabyte); dropped after 1 to 8
/// polls of a read that arrives slowly ([`one_slow_connection`]), part of the way through
/// them, it leaves the pool's one connection in step: the next query gets its own reply and
/// the next read the whole answer.
async fn a_current_odds_read_dropped_mid_stream_leaves_the_pool_in_step(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 150).await;
    let expected = current_odds_of_two_rounds(db, &events).await;
    let pool = one_slow_connection(db).await;
    for polls in 1..=8 {
        let dropped = poll_then_drop(store::current_odds(&pool, &events), polls).await;
        assert!(dropped.is_none(), "the read finished in {polls} polls");
        let one = scalar(&pool, "SELECT CAST(1 AS bigint) AS n", vec![]).await;
        assert_eq!(one, 1, "SELECT 1 answered with the dropped read's rows");
        let again = store::current_odds(&pool, &events).await.expect("again");
        assert_eq!(again, expected, "dropped after {polls} polls");
    }
}
postgres!(a_current_odds_read_dropped_mid_stream_leaves_the_pool_in_step);

/// The same read dropped inside a caller's transaction (on PostgreSQL through the slow
/// relay, part of the way through its rows): the transaction reads the whole answer next,
/// and its writes before and after the dropped read commit together.
async fn a_current_odds_read_dropped_in_a_callers_transaction_leaves_it_whole(
    db: &DatabaseConnection,
) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 150).await;
    let expected = current_odds_of_two_rounds(db, &events).await;
    let slow = db.get_database_backend() == DbBackend::Postgres;
    let conn = if slow {
        one_slow_connection(db).await
    } else {
        db.clone()
    };
    let mut dropped = 0;
    for polls in 1..=8 {
        let marker = |step: &str| format!("{step}-{polls}");
        let txn = conn.begin().await.expect("begin");
        callers_write(&txn, &marker("before"))
            .await
            .expect("the caller's write before");
        if poll_then_drop(store::current_odds(&txn, &events), polls)
            .await
            .is_none()
        {
            dropped += 1;
        }
        let again = store::current_odds(&txn, &events).await.expect("again");
        assert_eq!(again, expected, "dropped after {polls} polls");
        callers_write(&txn, &marker("after"))
            .await
            .expect("the caller's write after");
        txn.commit().await.expect("commit");
        assert_callers_writes_committed(db, &[marker("before"), marker("after")], polls).await;
    }
    if slow {
        assert_eq!(dropped, 8, "every read was dropped before its end");
    } else {
        assert!(dropped > 0, "no read was dropped unfinished");
    }
}
both!(a_current_odds_read_dropped_in_a_callers_transaction_leaves_it_whole);

/// `record_odds` in a caller's PostgreSQL transaction reads the current markets as a
/// stream too; dropped after 1 to 8 polls, through the slow relay (so during that read or
/// before), its savepoint goes and the caller's transaction goes on: the caller's writes
/// before and after commit, and the current odds are as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_write_dropped_in_a_callers_postgres_transaction_leaves_it_whole() {
    let db = TestDb::migrated(Backend::Postgres, module_path!()).await;
    let (_, events) = palimpsest(&db, CompetitorSource::Sportybet, 150).await;
    let expected = current_odds_of_two_rounds(&db, &events).await;
    let conn = one_slow_connection(&db).await;
    for polls in 1..=8 {
        let marker = |step: &str| format!("record-{step}-{polls}");
        let txn = conn.begin().await.expect("begin");
        callers_write(&txn, &marker("before"))
            .await
            .expect("the caller's write before");
        let capture = round(&events, 2 + polls as u32, 40, at(10 + polls as i64));
        let dropped = poll_then_drop(store::record_odds(&txn, &capture), polls).await;
        assert!(dropped.is_none(), "the write finished in {polls} polls");
        callers_write(&txn, &marker("after"))
            .await
            .expect("the caller's write after");
        txn.commit().await.expect("commit");
        assert_callers_writes_committed(&db, &[marker("before"), marker("after")], polls).await;
        let odds = store::current_odds(&*db, &events)
            .await
            .expect("current odds");
        assert_eq!(odds, expected, "dropped after {polls} polls");
    }
    db.pass().await;
}
