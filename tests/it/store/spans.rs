//! The store's `tracing` contract (docs/design.md, "Tracing"): each public call opens one
//! `info` span named after it, target `competitor_db::store`, whose fields are the sizes
//! of its input and of what it wrote or read (ids and competitors, never odds or names);
//! a retry after a real deadlock or serialization failure is a `warn` event with the
//! SQLSTATE and the attempt, and retries that run out an `error` event.

use std::collections::BTreeMap;

use competitor_db::store::{self, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, IsolationLevel, SqlxPostgresConnector, TransactionTrait,
};
use tracing::Level;

use super::{at, backend_waiting_in, palimpsest, round, sample_events, sportradar_id};
use crate::fixtures::{betpawa_event, sport};
use crate::sql::count;
use crate::traces::{Fields, STORE, SpanRecord, Trace, traced};
use crate::{both, postgres};

/// `trace` holds one span `name`: an `info` span of the store whose fields are exactly
/// `fields`, and whose values are numbers or competitors only.
fn assert_span<'t>(trace: &'t Trace, name: &str, fields: &[(&str, &str)]) -> &'t SpanRecord {
    let span = trace.span(name);
    assert_eq!(
        (span.target.as_str(), span.level),
        (STORE, Level::INFO),
        "{span:?}"
    );
    let expected: BTreeMap<&str, String> = fields
        .iter()
        .map(|(field, value)| (*field, (*value).to_owned()))
        .collect();
    let recorded: BTreeMap<&str, String> = span
        .fields
        .iter()
        .map(|(field, value)| (*field, value.clone()))
        .collect();
    assert_eq!(recorded, expected, "fields of {name}");
    assert_sizes_and_ids_only(&span.fields);
    span
}

/// Every value is a count, an id, a competitor, a write path or a time: nothing a trace
/// backend should not keep (odds, team or tournament names, credentials).
fn assert_sizes_and_ids_only(fields: &Fields) {
    for (field, value) in fields {
        let is_number = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        let is_name =
            ["sportybet", "bet9ja", "mixed", "copy", "unnest", "sqlite"].contains(&value.as_str());
        let is_time = chrono::DateTime::parse_from_rfc3339(value).is_ok();
        assert!(is_number || is_name || is_time, "{field} = {value:?}");
    }
}

async fn palimpsest_writes_open_a_span_with_their_sizes(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let tournaments = vec![
        testing::tournament(CompetitorSource::Sportybet, football.id, "t-1"),
        testing::tournament(CompetitorSource::Bet9ja, football.id, "t-1"),
    ];
    let (ids, trace) = traced(store::upsert_tournaments(db, &tournaments)).await;
    let tournament = ids.expect("tournaments")[0];
    assert_span(
        &trace,
        "upsert_tournaments",
        &[
            ("source", "mixed"),
            ("tournaments", "2"),
            ("rows_written", "2"),
            ("attempts", "1"),
        ],
    );

    let events = sample_events(CompetitorSource::Sportybet, tournament, 0..3);
    let (ids, trace) = traced(store::upsert_events(db, &events)).await;
    assert_eq!(ids.expect("events").len(), 3);
    assert_span(
        &trace,
        "upsert_events",
        &[
            ("source", "sportybet"),
            ("events", "3"),
            ("rows_written", "3"),
            ("attempts", "1"),
        ],
    );
    assert!(trace.events(STORE, Level::WARN).is_empty(), "no retry");

    // Event 2 is missing from the next palimpsest.
    let seen: Vec<String> = events[..2].iter().map(|e| e.external_id.clone()).collect();
    let (deleted, trace) = traced(store::soft_delete_missing(
        db,
        CompetitorSource::Sportybet,
        &seen,
    ))
    .await;
    assert_eq!(deleted.expect("soft delete"), 1);
    assert_span(
        &trace,
        "soft_delete_missing",
        &[
            ("source", "sportybet"),
            ("seen", "2"),
            ("rows_changed", "1"),
            ("attempts", "1"),
        ],
    );

    betpawa_event(db, football.id, &sportradar_id(0)).await;
    let (linked, trace) = traced(store::link_betpawa_events(db)).await;
    assert_eq!(linked.expect("link"), 1);
    assert_span(
        &trace,
        "link_betpawa_events",
        &[("rows_changed", "1"), ("attempts", "1")],
    );

    // A refused call keeps the fields it knew when it opened; nothing was written.
    let (refused, trace) = traced(store::soft_delete_missing(
        db,
        CompetitorSource::Bet9ja,
        &[],
    ))
    .await;
    assert!(matches!(refused, Err(StoreError::EmptyPalimpsest { .. })));
    assert_span(
        &trace,
        "soft_delete_missing",
        &[("source", "bet9ja"), ("seen", "0")],
    );
}
both!(palimpsest_writes_open_a_span_with_their_sizes);

async fn reads_open_a_span_with_what_they_found(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let (full, changes) = (events[0], &events[1..]);
    store::write_snapshots(db, &[testing::snapshot(full, 4, at(0))])
        .await
        .expect("full mode");
    let captures = [
        testing::snapshot(changes[0], 3, at(0)),
        testing::snapshot(changes[1], 2, at(0)),
    ];
    store::record_odds(db, &captures)
        .await
        .expect("change mode");
    let unknown = 999_999;

    let (odds, trace) = traced(store::current_odds(db, &[changes[0], changes[1], unknown])).await;
    assert_eq!(odds.expect("current odds").len(), 2);
    assert_span(
        &trace,
        "current_odds",
        &[("events", "3"), ("found", "2"), ("markets", "5")],
    );

    let (latest, trace) = traced(store::latest_snapshots(db, &[full, unknown])).await;
    assert_eq!(latest.expect("latest snapshots").len(), 1);
    assert_span(
        &trace,
        "latest_snapshots",
        &[("events", "2"), ("snapshots", "1"), ("markets", "4")],
    );

    // Market 0 of the sample palimpsests is 1X2, Betpawa's market 3743.
    let (points, trace) = traced(store::odds_history(db, full, "3743", at(-60))).await;
    assert_eq!(points.expect("history").len(), 1);
    let event = full.to_string();
    assert_span(
        &trace,
        "odds_history",
        &[("event", &event), ("market", "3743"), ("points", "1")],
    );

    let football = sport(db, "football").await;
    let betpawa = betpawa_event(db, football.id, &sportradar_id(1)).await;
    store::link_betpawa_events(db).await.expect("link");
    let (compared, trace) = traced(store::current_odds_for_betpawa_events(
        db,
        &[betpawa.id, unknown],
    ))
    .await;
    assert_eq!(compared.expect("comparison").len(), 1);
    assert_span(
        &trace,
        "current_odds_for_betpawa_events",
        &[("betpawa_events", "2"), ("events", "1"), ("markets", "3")],
    );
    // Its odds come from `current_odds`, whose span opens inside it.
    let inner = assert_span(
        &trace,
        "current_odds",
        &[("events", "1"), ("found", "1"), ("markets", "3")],
    );
    assert_eq!(inner.parent, Some("current_odds_for_betpawa_events"));

    // No input, no query: the sizes are zero all the same.
    let (odds, trace) = traced(store::current_odds(db, &[])).await;
    assert!(odds.expect("no events").is_empty());
    assert_span(
        &trace,
        "current_odds",
        &[("events", "0"), ("found", "0"), ("markets", "0")],
    );
}
both!(reads_open_a_span_with_what_they_found);

/// A pool on the test's database whose sessions look for a deadlock after `timeout`
/// (PostgreSQL's `deadlock_timeout`, which the tests' superuser may set per session).
fn pool_with_deadlock_timeout(db: &DatabaseConnection, timeout: &str) -> DatabaseConnection {
    let options = db.get_postgres_connection_pool().connect_options();
    let options = (*options).clone().options([("deadlock_timeout", timeout)]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy_with(options);
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// A caller-visible deadlock: another client's transaction locks event 1, the store's
/// upsert locks event 0 and waits for event 1, then that transaction asks for event 0.
/// The store's session looks for deadlocks after 2 s, the other's after 60 s, so the
/// store's attempt is the victim (`40P01`) and its retry, once the other transaction has
/// ended, succeeds.
async fn a_deadlock_is_retried_with_a_warning_and_the_attempts_on_the_span(
    db: &DatabaseConnection,
) {
    let source = CompetitorSource::Sportybet;
    let (tournament, events) = palimpsest(db, source, 2).await;
    let store_pool = pool_with_deadlock_timeout(db, "2s");

    let other = db.begin().await.expect("begin");
    other
        .execute_unprepared("SET LOCAL deadlock_timeout = '60s'")
        .await
        .expect("the other client's deadlock_timeout");
    let lock = |id: i32| format!("SELECT id FROM competitor_events WHERE id = {id} FOR UPDATE");
    other
        .execute_unprepared(&lock(events[1]))
        .await
        .expect("lock event 1");

    let mut palimpsest = sample_events(source, tournament, 0..2);
    for event in &mut palimpsest {
        event.name = format!("{} (renamed)", event.name);
    }
    let upsert = {
        let store_pool = store_pool.clone();
        tokio::spawn(async move { traced(store::upsert_events(&store_pool, &palimpsest)).await })
    };
    backend_waiting_in(db, "INSERT INTO \"competitor_events\"").await;
    other.execute_unprepared(&lock(events[0])).await.expect(
        "event 0 once the store's attempt was chosen as the deadlock victim and rolled back",
    );
    other.rollback().await.expect("release");

    let (ids, trace) = upsert.await.expect("task");
    assert_eq!(ids.expect("the retry succeeds"), events);
    let warnings = trace.events(STORE, Level::WARN);
    assert_eq!(warnings.len(), 1, "{:#?}", trace.events);
    let warning = &warnings[0];
    assert_eq!(warning.span, Some("upsert_events"));
    assert_eq!(warning.fields["code"], "40P01");
    assert_eq!(warning.fields["attempt"], "1");
    assert!(warning.fields.contains_key("retry_in_ms"), "{warning:?}");
    assert!(trace.events(STORE, Level::ERROR).is_empty());
    assert_span(
        &trace,
        "upsert_events",
        &[
            ("source", "sportybet"),
            ("events", "2"),
            ("rows_written", "2"),
            ("attempts", "2"),
        ],
    );
    let renamed =
        crate::sql::count_where(db, "competitor_events", "name LIKE '%(renamed)'", vec![]).await;
    assert_eq!(renamed, 2);
    store_pool.close().await.expect("close");
}
postgres!(a_deadlock_is_retried_with_a_warning_and_the_attempts_on_the_span);

/// Inside the caller's `REPEATABLE READ` transaction, a write refused for a serialization
/// failure is not retried (the same snapshot would refuse it again): one `warn` event with
/// the code, `RetryTransaction` at once, `attempts` 1 on the span.
async fn a_refusal_inside_a_callers_transaction_is_not_retried(db: &DatabaseConnection) {
    let source = CompetitorSource::Bet9ja;
    let (tournament, events) = palimpsest(db, source, 2).await;
    let txn = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await
        .expect("begin");
    // The snapshot is taken here; then another client renames event 1 and commits.
    assert_eq!(count(&txn, "competitor_events").await, 2);
    crate::sql::execute(
        db,
        "UPDATE competitor_events SET name = 'Renamed elsewhere' WHERE id = $1",
        vec![events[1].into()],
    )
    .await
    .expect("a concurrent update");

    let palimpsest = sample_events(source, tournament, 0..2);
    let (result, trace) = traced(store::upsert_events(&txn, &palimpsest)).await;
    assert!(
        matches!(&result, Err(StoreError::RetryTransaction { .. })),
        "{result:?}"
    );
    txn.rollback().await.expect("rollback");

    let warnings = trace.events(STORE, Level::WARN);
    assert_eq!(warnings.len(), 1, "{:#?}", trace.events);
    assert_eq!(warnings[0].fields["code"], "40001");
    assert!(trace.events(STORE, Level::ERROR).is_empty());
    assert_span(
        &trace,
        "upsert_events",
        &[("source", "bet9ja"), ("events", "2"), ("attempts", "1")],
    );
}
postgres!(a_refusal_inside_a_callers_transaction_is_not_retried);

/// Given the pool, a write refused for contention on every attempt (another connection
/// holds the SQLite file exclusively; the pool's busy timeout is short) is a `warn` event
/// per refusal, then one `error` event and `StoreError::Contention`, the attempts on the
/// span.
async fn exhausted_retries_are_an_error_event_after_a_warning_per_refusal(db: &DatabaseConnection) {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use sea_orm::{SqlxSqliteConnector, TransactionTrait};
    let source = CompetitorSource::Sportybet;
    let (tournament, _) = palimpsest(db, source, 2).await;
    let options = db.get_sqlite_connection_pool().connect_options();
    let impatient = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(
            SqliteConnectOptions::clone(&options).busy_timeout(std::time::Duration::from_millis(5)),
        );
    let impatient = SqlxSqliteConnector::from_sqlx_sqlite_pool(impatient);
    let holder = db
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Exclusive),
            ..Default::default()
        })
        .await
        .expect("hold the file");

    let palimpsest = sample_events(source, tournament, 0..2);
    let (result, trace) = traced(store::upsert_events(&impatient, &palimpsest)).await;
    holder.rollback().await.expect("release");
    assert!(
        matches!(&result, Err(StoreError::Contention { attempts, .. }) if *attempts == store::ATTEMPTS),
        "{result:?}"
    );
    let warnings = trace.events(STORE, Level::WARN);
    let attempts: Vec<&str> = warnings
        .iter()
        .map(|w| w.fields["attempt"].as_str())
        .collect();
    assert_eq!(attempts, ["1", "2", "3", "4"]);
    let errors = trace.events(STORE, Level::ERROR);
    assert_eq!(errors.len(), 1, "{:#?}", trace.events);
    assert_eq!(errors[0].fields["code"], "5", "SQLITE_BUSY");
    assert_eq!(errors[0].fields["attempts"], store::ATTEMPTS.to_string());
    assert_eq!(errors[0].span, Some("upsert_events"));
    let attempts = store::ATTEMPTS.to_string();
    assert_span(
        &trace,
        "upsert_events",
        &[
            ("source", "sportybet"),
            ("events", "2"),
            ("attempts", &attempts),
        ],
    );
}
crate::sqlite!(exhausted_retries_are_an_error_event_after_a_warning_per_refusal);

/// Snapshot writes name their write path and count what they wrote: `write_snapshots` on
/// the pool (COPY, or SQLite's), inside a caller's transaction (`UNNEST`), and
/// `record_odds` on the pool (COPY too).
async fn snapshot_writes_name_their_path_and_count_what_they_wrote(db: &DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;

    let (written, trace) = traced(store::write_snapshots(db, &round(&events, 0, 3, at(0)))).await;
    written.expect("write_snapshots on the pool");
    let path = if postgres { "copy" } else { "sqlite" };
    let fields = [
        ("snapshots", "2"),
        ("markets", "6"),
        ("path", path),
        ("rows_written", "6"),
        ("markets_changed", "6"),
        ("stale_captures", "0"),
        ("attempts", "1"),
    ];
    assert_span(&trace, "write_snapshots", &fields);

    let txn = db.begin().await.expect("begin");
    let (written, trace) = traced(store::write_snapshots(&txn, &round(&events, 1, 3, at(5)))).await;
    written.expect("write_snapshots in a transaction");
    txn.commit().await.expect("commit");
    let path = if postgres { "unnest" } else { "sqlite" };
    let fields = [
        ("snapshots", "2"),
        ("markets", "6"),
        ("path", path),
        ("rows_written", "6"),
        ("markets_changed", "6"),
        ("stale_captures", "0"),
        ("attempts", "1"),
    ];
    assert_span(&trace, "write_snapshots", &fields);

    let (recorded, trace) = traced(store::record_odds(db, &round(&events, 1, 3, at(10)))).await;
    recorded.expect("record_odds");
    let path = if postgres { "copy" } else { "sqlite" };
    let fields = [
        ("captures", "2"),
        ("markets", "6"),
        ("path", path),
        ("snapshots", "0"),
        ("markets_written", "0"),
        ("markets_unchanged", "6"),
        ("markets_unavailable", "0"),
        ("markets_returned", "0"),
        ("events_confirmed", "2"),
        ("stale_captures", "0"),
        ("attempts", "1"),
    ];
    assert_span(&trace, "record_odds", &fields);
}
both!(snapshot_writes_name_their_path_and_count_what_they_wrote);

/// A purge reports each batch as an `info` event with the totals so far, and the totals
/// on its span.
async fn a_purge_reports_every_batch(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    for version in 0..4 {
        let batch = round(&events, version, 3, at(10 * i64::from(version)));
        store::write_snapshots(db, &batch).await.expect("a round");
    }
    // Before 25: per event, round 20 is each market's newest row and stays with round 30;
    // rounds 0 and 10 go. One event a batch.
    let (purged, trace) = traced(store::purge_snapshots_before(db, at(25), 1)).await;
    let purged = purged.expect("purge");
    assert_eq!((purged.snapshots, purged.market_odds), (6, 18));
    let cutoff = at(25).to_rfc3339();
    let fields = [
        ("cutoff", cutoff.as_str()),
        ("batch_size", "1"),
        ("snapshots", "6"),
        ("market_odds", "18"),
        ("batches", "3"),
    ];
    assert_span(&trace, "purge_snapshots_before", &fields);
    let progress: Vec<(&str, &str)> = trace
        .events(STORE, Level::INFO)
        .iter()
        .map(|e| (e.fields["batch"].as_str(), e.fields["snapshots"].as_str()))
        .collect();
    assert_eq!(progress, [("1", "2"), ("2", "4"), ("3", "6")]);
}
both!(a_purge_reports_every_batch);
