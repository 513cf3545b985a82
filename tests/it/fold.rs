//! The current odds are the fold of the history, whoever writes it (`migration::fold`):
//! full captures (`write_snapshots`), change mode (`record_odds`), the Python service's
//! INSERTs, in any mix; stale and rolled-back captures change nothing; and after every
//! step a rebuild from history gives the same rows.

use chrono::{DateTime, Utc};
use competitor_db::store::{self, NewMarket, NewSnapshot, RecordedOdds};
use competitor_db::testing;
use entity::competitor_market_odds_current::Model as Current;
use entity::outcome::Outcomes;
use entity::{CompetitorSource, SnapshotKind};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, TransactionTrait};

use crate::fixtures::stored_row;
use crate::sql::{count, execute, insert_id};
use crate::store::concurrency::{deadlocks, stress_pool};
use crate::store::{at, palimpsest};
use crate::{both, postgres};

/// Markets `ks` of the sample palimpsest, each at its odds `version`.
pub fn markets(event: i32, ks: &[(usize, u32)]) -> Vec<NewMarket> {
    ks.iter()
        .map(|&(k, version)| testing::market(event, k, version))
        .collect()
}

fn capture(event: i32, minutes: i64, markets: Vec<NewMarket>) -> NewSnapshot {
    NewSnapshot {
        competitor_event_id: event,
        captured_at: at(minutes),
        scrape_run_id: None,
        raw_response: None,
        markets,
    }
}

/// The outcomes as the Python service's `json.dumps` writes them: spaces after `:` and `,`,
/// and, as in its rows, no `is_active` where the outcome is active.
fn python_json(outcomes: &Outcomes) -> String {
    let items: Vec<String> = outcomes
        .0
        .iter()
        .map(|o| {
            let name = serde_json::to_string(&o.name).expect("a name");
            match o.is_active {
                true => format!("{{\"name\": {name}, \"odds\": {}}}", o.odds),
                false => format!(
                    "{{\"name\": {name}, \"odds\": {}, \"is_active\": false}}",
                    o.odds
                ),
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// One capture written as the Python service writes it: an INSERT for the snapshot and
/// one per market (outcomes as `json.dumps` writes them), naming no `kind`, in one
/// transaction. Returns the snapshot's id.
pub async fn insert_capture(
    db: &DatabaseConnection,
    event: i32,
    minutes: i64,
    markets: &[NewMarket],
) -> i64 {
    let outcomes = match db.get_database_backend() {
        DbBackend::Sqlite => "$8",
        _ => "CAST($8 AS json)",
    };
    let txn = db.begin().await.expect("begin");
    let snapshot = insert_id(
        &txn,
        "INSERT INTO competitor_odds_snapshots (competitor_event_id, captured_at) \
         VALUES ($1, $2) RETURNING id",
        vec![event.into(), at(minutes).into()],
    )
    .await;
    for market in markets {
        execute(
            &txn,
            &format!(
                "INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, \
                     betpawa_market_name, line, handicap_type, handicap_home, handicap_away, \
                     outcomes) VALUES ($1, $2, $3, $4, $5, $6, $7, {outcomes})"
            ),
            vec![
                snapshot.into(),
                market.betpawa_market_id.clone().into(),
                market.betpawa_market_name.clone().into(),
                market.line.into(),
                market.handicap_type.clone().into(),
                market.handicap_home.into(),
                market.handicap_away.into(),
                python_json(&market.outcomes).into(),
            ],
        )
        .await
        .expect("a market as the service inserts it");
    }
    txn.commit().await.expect("commit");
    snapshot
}

/// [`insert_capture`], the Python service's writer. On SQLite nothing folds another
/// client's rows: [`store::rebuild_current_odds`] brings them in, as the docs say.
pub async fn service_capture(
    db: &DatabaseConnection,
    event: i32,
    minutes: i64,
    markets: &[NewMarket],
) {
    insert_capture(db, event, minutes, markets).await;
    if db.get_database_backend() == DbBackend::Sqlite {
        store::rebuild_current_odds(db, Some(&[event]))
            .await
            .expect("rebuild after another client's writes");
    }
}

/// The current rows of `event` in key order, without their ids.
pub async fn current_rows(db: &DatabaseConnection, event: i32) -> Vec<Current> {
    let mut rows = store::current_odds(db, &[event])
        .await
        .expect("current_odds")
        .remove(&event)
        .map(|odds| odds.markets)
        .unwrap_or_default();
    for row in &mut rows {
        row.id = 0;
    }
    rows.sort_by(|a, b| {
        (&a.betpawa_market_id, a.line, a.handicap_home)
            .partial_cmp(&(&b.betpawa_market_id, b.line, b.handicap_home))
            .expect("comparable keys")
    });
    rows
}

pub fn same_market(row: &Current, market: &NewMarket) -> bool {
    row.betpawa_market_id == market.betpawa_market_id
        && row.line == market.line
        && row.handicap_type == market.handicap_type
        && row.handicap_home == market.handicap_home
        && row.handicap_away == market.handicap_away
}

/// The current odds of `event` are those of its last capture, `offered`: each market
/// offered is available with its name and outcomes, every other current market is not.
async fn assert_offers(db: &DatabaseConnection, event: i32, offered: &[NewMarket], step: &str) {
    let rows = current_rows(db, event).await;
    for market in offered {
        let row = rows
            .iter()
            .find(|row| same_market(row, market))
            .unwrap_or_else(|| panic!("{step}: no current row for {market:?}"));
        assert!(row.is_available(), "{step}: {row:?} is offered");
        assert_eq!(row.outcomes, market.outcomes, "{step}: outcomes of {row:?}");
        assert_eq!(
            row.betpawa_market_name, market.betpawa_market_name,
            "{step}"
        );
    }
    for row in rows
        .iter()
        .filter(|row| !offered.iter().any(|m| same_market(row, m)))
    {
        assert!(!row.is_available(), "{step}: {row:?} is not offered");
    }
}

/// Rebuilding the current odds of `events` from history gives the rows they hold.
pub async fn assert_rebuild_agrees(db: &DatabaseConnection, events: &[i32], step: &str) {
    let mut before = Vec::new();
    for &event in events {
        before.push(current_rows(db, event).await);
    }
    store::rebuild_current_odds(db, Some(events))
        .await
        .expect("rebuild");
    for (&event, before) in events.iter().zip(before) {
        assert_eq!(
            current_rows(db, event).await,
            before,
            "{step}: a rebuild of event {event} from history differs"
        );
    }
}

async fn freshness(db: &DatabaseConnection, event: i32) -> Option<DateTime<Utc>> {
    store::current_odds(db, &[event])
        .await
        .expect("current_odds")[&event]
        .freshness
}

/// `record_odds` then a full capture that reprices A and no longer offers C: the current
/// odds show the full capture's, C unavailable from its time, and a freshness that is
/// its time.
async fn a_full_capture_after_change_mode_moves_the_current_odds(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let e = events[0];
    store::record_odds(db, &[capture(e, 0, markets(e, &[(0, 0), (1, 0), (2, 0)]))])
        .await
        .expect("record_odds");
    let full = markets(e, &[(0, 1), (1, 0)]);
    store::write_snapshots(db, &[capture(e, 5, full.clone())])
        .await
        .expect("write_snapshots");

    assert_offers(db, e, &full, "full after change").await;
    let rows = current_rows(db, e).await;
    let row = |k: usize| {
        let market = testing::market(e, k, 0);
        rows.iter()
            .find(|row| same_market(row, &market))
            .expect("a row")
            .clone()
    };
    assert_eq!(row(0).changed_at, at(5), "A repriced at 10:05");
    assert_eq!(row(1).changed_at, at(0), "B unchanged since 10:00");
    assert_eq!(row(2).unavailable_at, Some(at(5)), "C missing from 10:05");
    assert_eq!(row(2).outcomes, testing::market(e, 2, 0).outcomes);
    assert_eq!(freshness(db, e).await, Some(at(5)));
    assert_rebuild_agrees(db, &[e], "full after change").await;
}
both!(a_full_capture_after_change_mode_moves_the_current_odds);

/// The Python service's own writer (INSERTs naming no `kind`) keeps the current odds as a
/// full capture does, and the change mode then compares with what it left.
async fn the_python_service_inserts_reach_the_current_odds(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 1).await;
    let e = events[0];
    let first = markets(e, &[(0, 0), (1, 0), (2, 0)]);
    service_capture(db, e, 0, &first).await;
    assert_offers(db, e, &first, "the service's first capture").await;
    assert_eq!(freshness(db, e).await, Some(at(0)));

    let second = markets(e, &[(0, 1), (1, 0)]);
    service_capture(db, e, 5, &second).await;
    assert_offers(db, e, &second, "the service's second capture").await;
    let b = current_rows(db, e)
        .await
        .into_iter()
        .find(|row| same_market(row, &second[1]))
        .expect("B");
    assert_eq!(b.changed_at, at(0), "the same text again is no change");

    let recorded = store::record_odds(db, &[capture(e, 10, first.clone())])
        .await
        .expect("record_odds");
    assert_eq!(
        recorded,
        RecordedOdds {
            snapshots: 1,
            markets_written: 2,
            markets_unchanged: 1,
            markets_returned: 1,
            ..Default::default()
        },
        "A back at its first odds, C back; B compares equal to the service's JSON"
    );
    assert_offers(db, e, &first, "change mode after the service").await;
    assert_rebuild_agrees(db, &[e], "the service's captures").await;
}
postgres!(the_python_service_inserts_reach_the_current_odds);

/// Full mode alone fills the current odds, and the same odds recorded in change mode
/// afterwards write no market and confirm the event.
async fn full_mode_alone_keeps_the_current_odds(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let round = |minutes| {
        events
            .iter()
            .map(|&e| capture(e, minutes, markets(e, &[(0, 0), (1, 0), (2, 0)])))
            .collect::<Vec<_>>()
    };
    store::write_snapshots(db, &round(0))
        .await
        .expect("write_snapshots");
    for &e in &events {
        let offered = markets(e, &[(0, 0), (1, 0), (2, 0)]);
        assert_offers(db, e, &offered, "full mode").await;
        assert_eq!(freshness(db, e).await, Some(at(0)));
    }
    let rows = count(db, "competitor_market_odds").await;

    let recorded = store::record_odds(db, &round(5))
        .await
        .expect("record_odds");
    assert_eq!(
        recorded,
        RecordedOdds {
            markets_unchanged: 6,
            events_confirmed: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        count(db, "competitor_market_odds").await,
        rows,
        "no row written"
    );
    for &e in &events {
        assert_eq!(freshness(db, e).await, Some(at(5)));
    }
    assert_rebuild_agrees(db, &events, "full then change").await;
}
both!(full_mode_alone_keeps_the_current_odds);

/// One event through change, full, change, the service's INSERTs, change and full again:
/// after each step its current odds are those of the last capture, and a rebuild agrees
/// (markets the service wrote compare by value with the store's, spacing and a missing
/// `is_active` aside).
async fn a_mixed_sequence_shows_the_last_capture_after_each_step(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let e = events[0];
    let steps: [(&str, i64, Vec<NewMarket>); 6] = [
        ("change", 0, markets(e, &[(0, 0), (1, 0), (2, 0)])),
        ("full", 5, markets(e, &[(0, 1), (1, 0), (3, 0)])),
        ("change", 10, markets(e, &[(0, 1), (1, 2), (2, 0), (3, 0)])),
        ("service", 15, markets(e, &[(1, 2), (2, 0)])),
        ("change", 20, markets(e, &[(0, 3), (1, 2), (2, 0)])),
        ("full", 25, markets(e, &[(0, 3), (1, 2), (2, 0)])),
    ];
    for (mode, minutes, offered) in &steps {
        let step = format!("{mode} at {minutes}");
        let batch = [capture(e, *minutes, offered.clone())];
        match *mode {
            "change" => {
                store::record_odds(db, &batch).await.expect("record_odds");
            }
            "full" => {
                store::write_snapshots(db, &batch)
                    .await
                    .expect("write_snapshots");
            }
            _ => service_capture(db, e, *minutes, offered).await,
        }
        assert_offers(db, e, offered, &step).await;
        assert_eq!(freshness(db, e).await, Some(at(*minutes)), "{step}");
        assert_rebuild_agrees(db, &[e], &step).await;
    }
}
both!(a_mixed_sequence_shows_the_last_capture_after_each_step);

/// A full capture older than (or as old as) the event's state, and one rolled back, change
/// nothing; the stale one is kept as history, marked so, and a rebuild skips it.
async fn stale_and_rolled_back_full_captures_change_nothing(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 1).await;
    let e = events[0];
    store::write_snapshots(db, &[capture(e, 10, markets(e, &[(0, 0), (1, 0)]))])
        .await
        .expect("write_snapshots");
    store::record_odds(db, &[capture(e, 20, markets(e, &[(0, 1), (1, 0)]))])
        .await
        .expect("record_odds");
    let before = current_rows(db, e).await;

    for minutes in [15, 20] {
        let late = capture(e, minutes, markets(e, &[(0, 2), (2, 0)]));
        let ids = store::write_snapshots(db, &[late])
            .await
            .expect("a late capture is stored");
        let snapshot = stored_row(db, entity::prelude::CompetitorOddsSnapshot, ids[0]).await;
        assert_eq!(snapshot.kind, SnapshotKind::Stale, "captured at {minutes}");
        assert_eq!(current_rows(db, e).await, before, "captured at {minutes}");
        assert_eq!(freshness(db, e).await, Some(at(20)));
    }

    let txn = db.begin().await.expect("begin");
    store::write_snapshots(&txn, &[capture(e, 30, markets(e, &[(0, 3)]))])
        .await
        .expect("write_snapshots in a transaction");
    let newer = testing::market(e, 0, 3);
    let seen = current_rows_in(&txn, e).await;
    assert!(
        seen.iter()
            .any(|row| same_market(row, &newer) && row.outcomes == newer.outcomes),
        "folded within the transaction, so reads in it see the capture: {seen:?}"
    );
    txn.rollback().await.expect("rollback");
    assert_eq!(current_rows(db, e).await, before, "rolled back");
    assert_eq!(freshness(db, e).await, Some(at(20)));

    if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await.expect("begin");
        let snapshot = insert_id(
            &txn,
            "INSERT INTO competitor_odds_snapshots (competitor_event_id, captured_at) \
             VALUES ($1, $2) RETURNING id",
            vec![e.into(), at(40).into()],
        )
        .await;
        assert!(snapshot > 0);
        txn.rollback().await.expect("rollback");
        assert_eq!(
            current_rows(db, e).await,
            before,
            "the service's, rolled back"
        );
    }
    assert_rebuild_agrees(db, &[e], "after stale and rolled-back captures").await;
    assert_eq!(current_rows(db, e).await, before);
}
both!(stale_and_rolled_back_full_captures_change_nothing);

/// The current markets of `event` as `txn` sees them.
pub async fn current_rows_in(txn: &impl ConnectionTrait, event: i32) -> Vec<Current> {
    use entity::competitor_market_odds_current::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    entity::prelude::CompetitorMarketOddsCurrent::find()
        .filter(Column::CompetitorEventId.eq(event))
        .order_by_asc(Column::Id)
        .all(txn)
        .await
        .expect("current rows")
}

/// Two writers of one event at once, one in each mode, captures interleaved in time and
/// markets coming and going: no error, no deadlock, and the current odds end equal to a
/// rebuild from the history they left.
async fn two_writers_of_one_event_in_both_modes_end_as_a_rebuild(db: &DatabaseConnection) {
    const ROUNDS: i64 = 12;
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let pool = match db.get_database_backend() {
        DbBackend::Postgres => stress_pool(db),
        _ => db.clone(),
    };
    let before = match db.get_database_backend() {
        DbBackend::Postgres => deadlocks(db).await,
        _ => 0,
    };
    let offered = |e: i32, round: i64, writer: u32| {
        // Market 2 comes and goes; the others change now and then.
        let mut ks = vec![(0, (round / 3) as u32 + writer), (1, (round / 2) as u32)];
        if round % 3 != 0 {
            ks.push((2, 0));
        }
        markets(e, &ks)
    };
    let mut tasks = Vec::new();
    for &e in &events {
        for writer in 0..2u32 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let batch = [capture(
                        e,
                        2 * round + i64::from(writer),
                        offered(e, round, writer),
                    )];
                    if writer == 0 {
                        store::record_odds(&pool, &batch).await.map(|_| ())?;
                    } else {
                        store::write_snapshots(&pool, &batch).await.map(|_| ())?;
                    }
                }
                Ok::<_, store::StoreError>(())
            }));
        }
    }
    for task in tasks {
        task.await.expect("task").expect("every write succeeds");
    }
    if db.get_database_backend() == DbBackend::Postgres {
        assert_eq!(deadlocks(db).await, before, "deadlocks the server detected");
    }
    assert_rebuild_agrees(db, &events, "after two writers").await;
    for &e in &events {
        assert!(!current_rows(db, e).await.is_empty());
    }
}
both!(two_writers_of_one_event_in_both_modes_end_as_a_rebuild);
