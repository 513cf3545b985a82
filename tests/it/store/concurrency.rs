//! Concurrent scrape cycles, bounded and with no timing assertion: they neither fail nor
//! deadlock, and leave exact rows.
//!
//! The stress runs on a pool of its own whose connections flush their statistics each
//! time they are released, so `pg_stat_database.deadlocks` counts every deadlock the
//! server detected, including ones a retry hid from the caller.

use std::sync::Arc;

use competitor_db::store::{self, EventUpsert, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use sea_orm::sqlx::Executor;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{DatabaseConnection, SqlxPostgresConnector};

use super::{at, sportradar_id};
use crate::fixtures::{betpawa_event, kickoff, sport};
use crate::postgres;
use crate::sql::{count, count_where, scalar};

const ITERATIONS: usize = 8;

/// A pool on the test's database whose connections report their statistics on release.
pub fn stress_pool(db: &DatabaseConnection) -> DatabaseConnection {
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = PgPoolOptions::new()
        .max_connections(12)
        .after_release(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SELECT pg_stat_force_next_flush()").await?;
                Ok(true)
            })
        })
        .connect_lazy_with((*options).clone());
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

pub async fn deadlocks(db: &DatabaseConnection) -> i64 {
    crate::sql::execute(db, "SELECT pg_stat_clear_snapshot()", vec![])
        .await
        .expect("clear the stats snapshot");
    scalar(
        db,
        "SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()",
        vec![],
    )
    .await
}

/// Competitor events linked to a Betpawa event.
async fn linked_events(db: &DatabaseConnection) -> i64 {
    count_where(
        db,
        "competitor_events",
        "betpawa_event_id IS NOT NULL",
        vec![],
    )
    .await
}

/// Betpawa events for the SportRadar ids of sample events `0..n`, every other one, so
/// linking has work.
async fn betpawa_events(db: &DatabaseConnection, n: usize) -> usize {
    let football = sport(db, "football").await;
    let mut linked = 0;
    for i in (0..n).step_by(2) {
        betpawa_event(db, football.id, &sportradar_id(i)).await;
        linked += 1;
    }
    linked
}

/// Event `i` of `source` in iteration `r`: every fifth event moves to a SportRadar id no
/// Betpawa event has on odd iterations, so every iteration links and unlinks rows.
fn cycle_event(source: CompetitorSource, tournament: i32, i: usize, r: usize) -> EventUpsert {
    let sportradar = if r % 2 == 1 && i.is_multiple_of(5) {
        sportradar_id(i + 100_000)
    } else {
        sportradar_id(i)
    };
    testing::event(
        source,
        tournament,
        &format!("{source}-{i}"),
        &sportradar,
        kickoff(5, 15),
    )
}

/// Whether event `i` is missing from the palimpsest of iteration `r`.
fn missing(i: usize, r: usize) -> bool {
    (i + r).is_multiple_of(7)
}

/// `ITERATIONS` full cycles of one competitor: tournaments, events (some missing each
/// time, in another order each time), soft delete of the missing, linking, snapshots.
/// Returns the snapshots written.
async fn cycles(
    db: Arc<DatabaseConnection>,
    source: CompetitorSource,
    sport_id: i32,
    events: usize,
) -> Result<usize, StoreError> {
    let mut written = 0;
    for r in 0..ITERATIONS {
        let tournaments: Vec<_> = (0..5)
            .map(|t| testing::tournament(source, sport_id, &format!("{source}-t-{t}")))
            .collect();
        let tournament_ids = store::upsert_tournaments(&*db, &tournaments).await?;
        let mut palimpsest: Vec<_> = (0..events)
            .filter(|&i| !missing(i, r))
            .map(|i| cycle_event(source, tournament_ids[i % 5], i, r))
            .collect();
        if r % 2 == 1 {
            palimpsest.reverse();
        }
        let ids = store::upsert_events(&*db, &palimpsest).await?;
        let seen: Vec<String> = palimpsest.iter().map(|e| e.external_id.clone()).collect();
        store::soft_delete_missing(&*db, source, &seen).await?;
        store::link_betpawa_events(&*db).await?;
        let snapshots: Vec<_> = ids
            .iter()
            .map(|&id| testing::snapshot(id, 3, at(r as i64)))
            .collect();
        written += store::write_snapshots(&*db, &snapshots).await?.len();
    }
    Ok(written)
}

async fn two_competitors_cycles_side_by_side_neither_fail_nor_deadlock(db: &DatabaseConnection) {
    const EVENTS: usize = 300;
    let betpawa = betpawa_events(db, EVENTS).await;
    let sport_id = sport(db, "football-competitors").await.id;
    let stress = Arc::new(stress_pool(db));
    let sportybet = tokio::spawn(cycles(
        stress.clone(),
        CompetitorSource::Sportybet,
        sport_id,
        EVENTS,
    ));
    let bet9ja = tokio::spawn(cycles(
        stress.clone(),
        CompetitorSource::Bet9ja,
        sport_id,
        EVENTS,
    ));
    let sportybet = sportybet.await.expect("task").expect("SportyBet's cycles");
    let bet9ja = bet9ja.await.expect("task").expect("Bet9ja's cycles");

    let present: usize = (0..ITERATIONS)
        .map(|r| (0..EVENTS).filter(|&i| !missing(i, r)).count())
        .sum();
    assert_eq!((sportybet, bet9ja), (present, present));
    assert_eq!(count(db, "competitor_events").await, 2 * EVENTS as i64);
    assert_eq!(count(db, "competitor_tournaments").await, 10);
    assert_eq!(
        count(db, "competitor_odds_snapshots").await,
        2 * present as i64
    );
    assert_eq!(
        count(db, "competitor_market_odds").await,
        6 * present as i64
    );
    let last = ITERATIONS - 1;
    let deleted = (0..EVENTS).filter(|&i| missing(i, last)).count();
    let soft_deleted = count_where(db, "competitor_events", "deleted_at IS NOT NULL", vec![]).await;
    assert_eq!(soft_deleted, 2 * deleted as i64);
    // The last iteration is odd: every fifth event it upserted points at no Betpawa
    // event; of the rest (and of the events it left out, as the iteration before left
    // them), the even ones are linked, both competitors' alike.
    let linked = (0..EVENTS)
        .step_by(2)
        .filter(|&i| i % 5 != 0 || missing(i, last))
        .count();
    assert!(linked < betpawa);
    assert_eq!(linked_events(db).await, 2 * linked as i64);
    stress.as_ref().clone().close().await.expect("close");
    assert_eq!(deadlocks(db).await, 0, "deadlocks the server detected");
}
postgres!(two_competitors_cycles_side_by_side_neither_fail_nor_deadlock);

async fn eight_upserters_of_one_palimpsest_with_linking_between(db: &DatabaseConnection) {
    const EVENTS: usize = 500;
    betpawa_events(db, EVENTS).await;
    let sport_id = sport(db, "football-upserters").await.id;
    let stress = Arc::new(stress_pool(db));
    let source = CompetitorSource::Sportybet;
    let tournament =
        store::upsert_tournaments(&*stress, &[testing::tournament(source, sport_id, "t")])
            .await
            .expect("tournament")[0];

    let mut tasks = Vec::new();
    for task in 0..8 {
        let stress = stress.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ITERATIONS {
                let mut palimpsest: Vec<_> = (0..EVENTS)
                    .map(|i| cycle_event(source, tournament, i, r + task))
                    .collect();
                palimpsest.rotate_left(task * 60);
                store::upsert_events(&*stress, &palimpsest).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    let between = {
        let stress = stress.clone();
        tokio::spawn(async move {
            let seen: Vec<String> = (50..EVENTS).map(|i| format!("{source}-{i}")).collect();
            for _ in 0..2 * ITERATIONS {
                store::link_betpawa_events(&*stress).await?;
                store::soft_delete_missing(&*stress, source, &seen).await?;
            }
            Ok::<_, StoreError>(())
        })
    };
    for task in tasks {
        task.await.expect("task").expect("an upserter");
    }
    between
        .await
        .expect("task")
        .expect("linking and soft deletes");

    assert_eq!(count(db, "competitor_events").await, EVENTS as i64);
    let distinct = scalar(
        db,
        "SELECT COUNT(DISTINCT (source, external_id)) AS n FROM competitor_events",
        vec![],
    )
    .await;
    assert_eq!(distinct, EVENTS as i64, "no duplicates");
    // Settle: one more palimpsest with the plain SportRadar ids, then link.
    let settle: Vec<_> = (0..EVENTS)
        .map(|i| cycle_event(source, tournament, i, 0))
        .collect();
    store::upsert_events(&*stress, &settle)
        .await
        .expect("settle");
    store::link_betpawa_events(&*stress).await.expect("link");
    assert_eq!(linked_events(db).await, EVENTS as i64 / 2);
    stress.as_ref().clone().close().await.expect("close");
    assert_eq!(deadlocks(db).await, 0, "deadlocks the server detected");
}
postgres!(eight_upserters_of_one_palimpsest_with_linking_between);

/// Inside a caller's `REPEATABLE READ` transaction, an upsert that would update a row
/// another transaction changed since the snapshot is refused with a serialization failure
/// (40001), which a retry inside the same transaction would meet again: the store does not
/// retry, returns `StoreError::RetryTransaction` at once, and leaves no row of its own in
/// the caller's transaction, which goes on.
async fn a_refusal_in_a_callers_transaction_writes_nothing_and_is_not_retried(
    db: &DatabaseConnection,
) {
    use sea_orm::{IsolationLevel, TransactionTrait};

    let sport_id = sport(db, "football-serializable").await.id;
    let source = CompetitorSource::Bet9ja;
    let tournament = store::upsert_tournaments(db, &[testing::tournament(source, sport_id, "t")])
        .await
        .expect("tournament")[0];
    let events: Vec<_> = (0..3)
        .map(|i| cycle_event(source, tournament, i, 0))
        .collect();
    store::upsert_events(db, &events).await.expect("events");

    let txn = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await
        .expect("begin");
    // The snapshot is taken here; then another client renames event 1 and commits.
    assert_eq!(count(&txn, "competitor_events").await, 3);
    crate::sql::execute(
        db,
        "UPDATE competitor_events SET name = $1 WHERE external_id = $2",
        vec![
            "Renamed elsewhere".into(),
            events[1].external_id.clone().into(),
        ],
    )
    .await
    .expect("a concurrent update");

    let mut changed = events.clone();
    for event in &mut changed {
        event.name = format!("{} (changed)", event.name);
    }
    changed.push(cycle_event(source, tournament, 3, 0));
    let err = store::upsert_events(&txn, &changed)
        .await
        .expect_err("refused");
    let StoreError::RetryTransaction { last } = &err else {
        panic!("expected RetryTransaction, got {err:?}")
    };
    assert!(last.to_string().contains("could not serialize"), "{last}");
    assert!(
        err.to_string().contains("run the transaction again"),
        "{err}"
    );
    // The caller's transaction goes on, without a row of the store's attempts.
    assert_eq!(count(&txn, "competitor_events").await, 3);
    txn.commit().await.expect("commit");
    let changed_names =
        count_where(db, "competitor_events", "name LIKE '%(changed)'", vec![]).await;
    assert_eq!(changed_names, 0);
    assert_eq!(count(db, "competitor_events").await, 3);
}
postgres!(a_refusal_in_a_callers_transaction_writes_nothing_and_is_not_retried);
