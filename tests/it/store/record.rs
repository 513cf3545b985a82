//! `store::snapshots::record`: the change mode and the current odds it keeps.

use chrono::{DateTime, Utc};
use competitor_db::store::{self, NewMarket, NewSnapshot, RecordedOdds, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use entity::competitor_market_odds_current::Model as Current;
use entity::outcome::{Outcome, Outcomes};
use entity::prelude::*;
use sea_orm::{DatabaseConnection, DbBackend, EntityTrait, QueryOrder, TransactionTrait};

use super::{at, palimpsest};
use crate::both;
use crate::sql::count;

/// Market `k` of the sample palimpsest at odds `version`.
fn market(event: i32, k: usize, version: u32) -> NewMarket {
    testing::market(event, k, version)
}

/// Markets `0..n` of the sample palimpsest at odds `version`.
fn sample_markets(event: i32, n: usize, version: u32) -> Vec<NewMarket> {
    (0..n).map(|k| market(event, k, version)).collect()
}

fn capture(event: i32, markets: Vec<NewMarket>, minutes: i64) -> NewSnapshot {
    NewSnapshot {
        competitor_event_id: event,
        captured_at: at(minutes),
        scrape_run_id: None,
        raw_response: None,
        markets,
    }
}

/// Records one capture of `event`'s `markets`, taken `minutes` after the first.
async fn record(
    db: &DatabaseConnection,
    event: i32,
    markets: Vec<NewMarket>,
    minutes: i64,
) -> RecordedOdds {
    store::record_odds(db, &[capture(event, markets, minutes)])
        .await
        .unwrap()
}

/// The current rows of `event`, by id.
async fn current(db: &DatabaseConnection, event: i32) -> Vec<Current> {
    let odds = store::current_odds(db, &[event]).await.unwrap();
    odds.get(&event)
        .map(|o| o.markets.clone())
        .unwrap_or_default()
}

async fn freshness(db: &DatabaseConnection, event: i32) -> Option<DateTime<Utc>> {
    store::current_odds(db, &[event]).await.unwrap()[&event].freshness
}

async fn new_changed_unchanged_vanished_and_returning_markets(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let e = events[0];

    // The first capture: every market is new.
    let recorded = record(db, e, sample_markets(e, 4, 0), 0).await;
    assert_eq!(
        recorded,
        RecordedOdds {
            snapshots: 1,
            markets_written: 4,
            ..Default::default()
        }
    );
    assert_eq!(current(db, e).await.len(), 4);
    assert_eq!(count(db, "competitor_market_odds").await, 4);

    // Market 1 changes, 3 vanishes, 4 is new, 0 and 2 stay as they were.
    let after_change = |k: usize| market(e, k, u32::from(k == 1));
    let second = [0, 1, 2, 4].map(after_change).to_vec();
    let recorded = record(db, e, second, 5).await;
    assert_eq!(
        recorded,
        RecordedOdds {
            snapshots: 1,
            markets_written: 2,
            markets_unchanged: 2,
            markets_unavailable: 1,
            ..Default::default()
        }
    );
    let rows = current(db, e).await;
    assert_eq!(rows.len(), 5);
    let by_k = |k: usize| {
        let m = market(e, k, 0);
        rows.iter()
            .find(|r| {
                r.betpawa_market_id == m.betpawa_market_id
                    && r.line == m.line
                    && r.handicap_home == m.handicap_home
            })
            .cloned()
            .expect("a current row")
    };
    assert_eq!(by_k(1).outcomes, market(e, 1, 1).outcomes);
    assert_eq!(by_k(1).changed_at, at(5));
    assert_eq!(by_k(0).changed_at, at(0), "unchanged keeps its change time");
    assert_eq!(by_k(3).unavailable_at, Some(at(5)));
    assert_eq!(
        by_k(3).outcomes,
        market(e, 3, 0).outcomes,
        "last known odds kept"
    );
    assert!(by_k(4).is_available());
    assert_eq!(count(db, "competitor_market_odds").await, 7);
    let newest = CompetitorOddsSnapshot::find()
        .order_by_desc(entity::competitor_odds_snapshot::Column::Id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.kind, entity::SnapshotKind::Change);
    let written: Vec<NewMarket> = super::stored_markets(db, newest.id).await;
    let withdrawn = NewMarket {
        outcomes: Outcomes::default(),
        ..market(e, 3, 0)
    };
    assert_eq!(
        written,
        vec![market(e, 1, 1), market(e, 4, 0), withdrawn],
        "only the changes, and the market gone missing with no outcomes"
    );

    // Market 3 comes back with its old odds: a change all the same.
    let third = (0..5).map(after_change).collect();
    let recorded = record(db, e, third, 10).await;
    assert_eq!(
        recorded,
        RecordedOdds {
            snapshots: 1,
            markets_written: 1,
            markets_unchanged: 4,
            markets_returned: 1,
            ..Default::default()
        }
    );
    let rows = current(db, e).await;
    assert!(rows.iter().all(Current::is_available));
    assert_eq!(freshness(db, e).await, Some(at(10)));
    assert_eq!(count(db, "competitor_odds_snapshots").await, 3);
}
both!(new_changed_unchanged_vanished_and_returning_markets);

async fn a_capture_without_changes_only_confirms(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 2).await;
    let round = |minutes| {
        events
            .iter()
            .map(|&e| capture(e, sample_markets(e, 6, 0), minutes))
            .collect::<Vec<_>>()
    };
    store::record_odds(db, &round(0)).await.unwrap();
    let (snapshots, rows) = (
        count(db, "competitor_odds_snapshots").await,
        count(db, "competitor_market_odds").await,
    );

    let recorded = store::record_odds(db, &round(5)).await.unwrap();
    assert_eq!(
        recorded,
        RecordedOdds {
            markets_unchanged: 12,
            events_confirmed: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        count(db, "competitor_odds_snapshots").await,
        snapshots,
        "no row"
    );
    assert_eq!(count(db, "competitor_market_odds").await, rows, "no row");
    for &e in &events {
        assert_eq!(freshness(db, e).await, Some(at(5)));
        let latest = store::latest_snapshots(db, &[e]).await.unwrap();
        assert_eq!(latest[&e].snapshot.captured_at, at(0));
        assert_eq!(latest[&e].snapshot.last_confirmed_at, Some(at(5)));
    }
    // The history of a market holds its change points only.
    let history = store::odds_history(db, events[0], "3743", at(-10))
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].captured_at, at(0));
}
both!(a_capture_without_changes_only_confirms);

async fn nulls_in_lines_and_handicaps_are_one_key(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let e = events[0];
    let odds = |o: f64| Outcomes(vec![Outcome::new("1", o), Outcome::new("2", 2.0)]);
    let keyed = |line: Option<f64>, handicap: Option<(&str, f64, f64)>, o: f64| NewMarket {
        betpawa_market_id: "3744".to_owned(),
        betpawa_market_name: "Handicap".to_owned(),
        line,
        handicap_type: handicap.map(|h| h.0.to_owned()),
        handicap_home: handicap.map(|h| h.1),
        handicap_away: handicap.map(|h| h.2),
        outcomes: odds(o),
    };
    let markets = |o: f64| {
        vec![
            keyed(None, None, o),
            keyed(Some(2.5), None, o),
            keyed(None, Some(("asian", -0.5, 0.5)), o),
            keyed(None, Some(("european", -1.0, 1.0)), o),
            keyed(Some(0.0), Some(("asian", 0.0, 0.0)), o),
        ]
    };
    record(db, e, markets(1.5), 0).await;
    assert_eq!(current(db, e).await.len(), 5);
    // The same keys again, one with -0.0 for 0.0: nothing new, nothing changed.
    let mut again = markets(1.5);
    again[4].handicap_home = Some(-0.0);
    let recorded = record(db, e, again, 5).await;
    assert_eq!(
        (recorded.markets_unchanged, recorded.markets_written),
        (5, 0)
    );
    assert_eq!(current(db, e).await.len(), 5, "NULLs compared equal");
    // New odds for every key: five updates, still five rows.
    let recorded = record(db, e, markets(1.6), 10).await;
    assert_eq!(recorded.markets_written, 5);
    let rows = current(db, e).await;
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.outcomes == odds(1.6)));

    let duplicate = vec![
        keyed(None, None, 1.5),
        keyed(Some(2.5), None, 1.5),
        keyed(None, None, 1.7),
    ];
    let err = store::record_odds(db, &[capture(e, duplicate, 15)])
        .await
        .expect_err("one market twice in a capture");
    assert!(
        matches!(
            err,
            StoreError::DuplicateInBatch {
                first: 0,
                second: 2,
                ..
            }
        ),
        "{err:?}"
    );
}
both!(nulls_in_lines_and_handicaps_are_one_key);

async fn stale_captures_leave_the_current_odds_alone(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let e = events[0];
    let markets = |v| sample_markets(e, 3, v);
    record(db, e, markets(0), 10).await;
    record(db, e, markets(1), 20).await;
    let before = current(db, e).await;
    let rows = count(db, "competitor_market_odds").await;

    // A late capture from 15 and the 20 one again: both older than or as old as the state.
    for (v, minutes) in [(2, 15), (1, 20), (3, 20)] {
        let recorded = record(db, e, markets(v), minutes).await;
        assert_eq!(
            recorded,
            RecordedOdds {
                stale_captures: 1,
                ..Default::default()
            }
        );
    }
    assert_eq!(current(db, e).await, before);
    assert_eq!(count(db, "competitor_market_odds").await, rows);
    assert_eq!(freshness(db, e).await, Some(at(20)));

    // Captures of one event in one batch apply in time order, whatever the input order.
    let batch = vec![capture(e, markets(5), 40), capture(e, markets(4), 30)];
    let recorded = store::record_odds(db, &batch).await.unwrap();
    assert_eq!((recorded.snapshots, recorded.markets_written), (2, 6));
    assert!(
        current(db, e)
            .await
            .iter()
            .zip(markets(5))
            .all(|(r, m)| r.outcomes == m.outcomes)
    );
    assert_eq!(freshness(db, e).await, Some(at(40)));
}
both!(stale_captures_leave_the_current_odds_alone);

async fn a_second_competitor_is_kept_apart(db: &DatabaseConnection) {
    let (_, sporty) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let (_, bet9ja) = palimpsest(db, CompetitorSource::Bet9ja, 2).await;
    let round = |events: &[i32], v, minutes| {
        events
            .iter()
            .map(|&e| capture(e, sample_markets(e, 5, v), minutes))
            .collect::<Vec<_>>()
    };
    store::record_odds(db, &round(&sporty, 0, 0)).await.unwrap();
    store::record_odds(db, &round(&bet9ja, 0, 1)).await.unwrap();
    // Bet9ja changes; SportyBet's current odds and freshness stay.
    let recorded = store::record_odds(db, &round(&bet9ja, 1, 6)).await.unwrap();
    assert_eq!(recorded.markets_written, 10);
    for &e in &sporty {
        assert_eq!(freshness(db, e).await, Some(at(0)));
        assert!(
            current(db, e)
                .await
                .iter()
                .zip(0..)
                .all(|(r, k)| r.outcomes == market(e, k, 0).outcomes)
        );
    }
    for &e in &bet9ja {
        assert_eq!(freshness(db, e).await, Some(at(6)));
    }
    assert_eq!(count(db, "competitor_market_odds_current").await, 20);
}
both!(a_second_competitor_is_kept_apart);

async fn a_failure_mid_batch_writes_nothing_in_either_table(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let round = |v, minutes| {
        events
            .iter()
            .map(|&e| capture(e, sample_markets(e, 4, v), minutes))
            .collect::<Vec<_>>()
    };
    store::record_odds(db, &round(0, 0)).await.unwrap();
    let tables = [
        "competitor_odds_snapshots",
        "competitor_market_odds",
        "competitor_market_odds_current",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(db, table).await);
    }
    let state = current(db, events[0]).await;

    // The last capture names an event that does not exist: the foreign key refuses it
    // after the others were compared and partly written.
    let mut batch = round(1, 5);
    batch.push(capture(999_999, vec![market(1, 0, 0)], 5));
    for in_transaction in [false, true] {
        let err = if in_transaction {
            let txn = db.begin().await.unwrap();
            let err = store::record_odds(&txn, &batch)
                .await
                .expect_err("unknown event");
            txn.rollback().await.unwrap();
            err
        } else {
            store::record_odds(db, &batch)
                .await
                .expect_err("unknown event")
        };
        let position = batch.len() - 1;
        assert!(
            matches!(
                err,
                StoreError::UnknownEvent { capture, competitor_event_id: 999_999 }
                    if capture == position
            ),
            "{err:?}"
        );
        for (table, rows) in tables.iter().zip(&before) {
            assert_eq!(count(db, table).await, *rows, "{table}");
        }
        assert_eq!(current(db, events[0]).await, state);
        assert_eq!(freshness(db, events[0]).await, Some(at(0)));
    }

    // An invalid market is named before anything is written.
    let mut batch = round(1, 5);
    batch[2].markets[3].outcomes.0[0].odds = f64::NAN;
    let err = store::record_odds(db, &batch).await.expect_err("NaN odds");
    assert!(
        matches!(
            err,
            StoreError::InvalidMarket {
                snapshot: 2,
                market: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(db, "competitor_market_odds").await, before[1]);
}
both!(a_failure_mid_batch_writes_nothing_in_either_table);

/// Concurrent calls: for different events none blocks another into an error; for the
/// same event the current odds end at the newest capture, whatever order they commit in.
async fn concurrent_calls_leave_the_newest_capture(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 8).await;
    const ROUNDS: u32 = 6;
    let mut tasks = Vec::new();
    for (task, &e) in events.iter().enumerate() {
        for round in 0..ROUNDS {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let minutes = i64::from(round) * 5 + task as i64 % 2;
                store::record_odds(&db, &[capture(e, sample_markets(e, 10, round), minutes)]).await
            }));
        }
    }
    for task in tasks {
        task.await.expect("task").expect("record_odds");
    }
    for (task, &e) in events.iter().enumerate() {
        let newest = ROUNDS - 1;
        let rows = current(db, e).await;
        assert_eq!(rows.len(), 10);
        for (k, row) in rows.iter().enumerate() {
            assert_eq!(
                row.outcomes,
                market(e, k, newest).outcomes,
                "event {e} market {k}"
            );
        }
        let expected = at(i64::from(newest) * 5 + task as i64 % 2);
        assert_eq!(freshness(db, e).await, Some(expected));
    }
    assert_eq!(count(db, "competitor_market_odds_current").await, 80);
}
both!(concurrent_calls_leave_the_newest_capture);

/// Outcomes another client stored with its own JSON formatting (spaces, key order) are
/// compared as values: equal odds are no change; a new name is one.
async fn outcomes_formatted_by_another_client_compare_as_values(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let e = events[0];
    let markets = sample_markets(e, 3, 0);
    record(db, e, markets.clone(), 0).await;
    let rows = current(db, e).await;
    for row in &rows {
        let reformatted: Vec<String> = row
            .outcomes
            .0
            .iter()
            .map(|o| {
                format!(
                    "{{ \"is_active\" : {}, \"odds\" : {}, \"name\" : \"{}\" }}",
                    o.is_active, o.odds, o.name
                )
            })
            .collect();
        // SQLite keeps json as text (and would cast to NUMERIC).
        let sql = match db.get_database_backend() {
            DbBackend::Sqlite => {
                "UPDATE competitor_market_odds_current SET outcomes = $1 WHERE id = $2"
            }
            _ => {
                "UPDATE competitor_market_odds_current SET outcomes = CAST($1 AS json) WHERE id = $2"
            }
        };
        crate::sql::execute(
            db,
            sql,
            vec![
                format!("[ {} ]", reformatted.join(" , ")).into(),
                row.id.into(),
            ],
        )
        .await
        .unwrap();
    }
    let recorded = record(db, e, markets.clone(), 5).await;
    assert_eq!(
        (recorded.markets_unchanged, recorded.events_confirmed),
        (3, 1)
    );

    let mut renamed = markets;
    renamed[2].betpawa_market_name = "Over/Under (goals)".to_owned();
    let recorded = record(db, e, renamed, 10).await;
    assert_eq!(
        (recorded.markets_unchanged, recorded.markets_written),
        (2, 1)
    );
    let renamed_row = current(db, e).await.into_iter().nth(2).unwrap();
    assert_eq!(renamed_row.betpawa_market_name, "Over/Under (goals)");
    assert_eq!(renamed_row.changed_at, at(10));
}
both!(outcomes_formatted_by_another_client_compare_as_values);
