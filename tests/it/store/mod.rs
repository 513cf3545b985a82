//! The palimpsest store, one file per module of `src/store`: upserts, SportRadar linking,
//! snapshot writes, reads, retention; then what holds across them: `Send` futures,
//! concurrent cycles, killed connections and one behaviour on every write path.

mod cancel;
pub mod concurrency;
mod current;
mod edge_inputs;
mod error;
mod faults;
mod latest;
mod link;
mod rebuild;
mod record;
mod retention;
mod send;
mod serde;
mod snapshots;
mod spans;
mod upsert;

use std::ops::Range;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use competitor_db::store::{self, NewMarket, NewSnapshot, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::fixtures::{kickoff, sport, stored_row};
use crate::sql::query_all;

/// The SportRadar id of sample event `i` (the bare number, as the Python service stores
/// it); both competitors' event `i` share it.
pub fn sportradar_id(i: usize) -> String {
    (61_300_000 + i).to_string()
}

/// One tournament `t-1` of `source` and its events `{source}-e-{i}`, `i < n`; returns
/// (tournament id, event ids).
pub async fn palimpsest(
    db: &DatabaseConnection,
    source: CompetitorSource,
    n: usize,
) -> (i32, Vec<i32>) {
    let football = sport(db, &format!("football-{source}")).await;
    let tournament =
        store::upsert_tournaments(db, &[testing::tournament(source, football.id, "t-1")])
            .await
            .unwrap()[0];
    let events = sample_events(source, tournament, 0..n);
    (tournament, store::upsert_events(db, &events).await.unwrap())
}

/// Sample event `i` of `source`.
pub fn sample_event(source: CompetitorSource, tournament: i32, i: usize) -> store::EventUpsert {
    testing::event(
        source,
        tournament,
        &format!("{source}-e-{i}"),
        &sportradar_id(i),
        kickoff(5, 15),
    )
}

/// Sample events `indices` of `source`.
pub fn sample_events(
    source: CompetitorSource,
    tournament: i32,
    indices: Range<usize>,
) -> Vec<store::EventUpsert> {
    indices
        .map(|i| sample_event(source, tournament, i))
        .collect()
}

/// Upserts sample event `i` of `source` (again); returns its id.
pub async fn upsert_sample_event(
    db: &DatabaseConnection,
    source: CompetitorSource,
    tournament: i32,
    i: usize,
) -> i32 {
    let event = sample_event(source, tournament, i);
    store::upsert_events(db, &[event]).await.unwrap()[0]
}

/// A round of snapshots of `events`, `markets` markets each at odds `version`, captured
/// `at`; the first version carries a raw response with a tab and a newline in it.
pub fn round(events: &[i32], version: u32, markets: usize, at: DateTime<Utc>) -> Vec<NewSnapshot> {
    events
        .iter()
        .map(|&event| NewSnapshot {
            competitor_event_id: event,
            captured_at: at,
            scrape_run_id: None,
            raw_response: (version == 0)
                .then(|| serde_json::json!({"event": event, "text": "tab\tnewline\n"})),
            markets: (0..markets)
                .map(|k| testing::market(event, k, version))
                .collect(),
        })
        .collect()
}

/// `minutes` after the first capture of the tests.
pub fn at(minutes: i64) -> DateTime<Utc> {
    kickoff(1, 8) + Duration::minutes(minutes)
}

/// `err` is the store's foreign key refusal; on PostgreSQL it names `constraint`.
pub fn assert_foreign_key_refusal(db: &DatabaseConnection, err: &StoreError, constraint: &str) {
    let StoreError::ForeignKeyViolation {
        constraint: named, ..
    } = err
    else {
        panic!("{err:?}")
    };
    if db.get_database_backend() == DbBackend::Postgres {
        assert_eq!(named.as_deref(), Some(constraint));
    }
}

/// Every snapshot of `ids` stored as written, markets in order.
pub async fn assert_stored(db: &impl ConnectionTrait, written: &[NewSnapshot], ids: &[i64]) {
    assert_eq!(ids.len(), written.len());
    for (new, id) in written.iter().zip(ids) {
        let snapshot = stored_row(db, CompetitorOddsSnapshot, *id).await;
        assert_eq!(
            snapshot.competitor_event_id, new.competitor_event_id,
            "ids in input order"
        );
        assert_eq!(snapshot.captured_at, new.captured_at);
        assert_eq!(snapshot.raw_response, new.raw_response);
        assert_eq!(stored_markets(db, *id).await, new.markets);
    }
}

/// The markets of snapshot `id`, in the order they were written.
pub async fn stored_markets(db: &impl ConnectionTrait, id: i64) -> Vec<NewMarket> {
    use entity::competitor_market_odds::Column;
    CompetitorMarketOdds::find()
        .filter(Column::SnapshotId.eq(id))
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| NewMarket {
            betpawa_market_id: m.betpawa_market_id,
            betpawa_market_name: m.betpawa_market_name,
            line: m.line,
            handicap_type: m.handicap_type,
            handicap_home: m.handicap_home,
            handicap_away: m.handicap_away,
            outcomes: m.outcomes,
        })
        .collect()
}

/// The PostgreSQL backend whose statement starts with `statement`, once it waits for a
/// lock (`pg_stat_activity`); fails the test if none does within a minute.
pub async fn backend_waiting_in(db: &DatabaseConnection, statement: &str) -> i32 {
    let pattern = format!("{statement}%");
    for _ in 0..1_200 {
        let waiting = query_all(
            db,
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE $1",
            vec![pattern.clone().into()],
        )
        .await;
        if let Some(row) = waiting.first() {
            return row.try_get("", "pid").expect("pid");
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("no backend waited in {statement:?}");
}
