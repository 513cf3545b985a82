//! The palimpsest store: upserts, SportRadar linking, snapshot writes, reads, retention.

use chrono::{DateTime, Duration, Utc};
use competitor_db::store::{
    self, EventUpsert, NewMarket, NewSnapshot, StoreError, TournamentUpsert,
};
use entity::outcome::{Outcome, Outcomes};
use entity::prelude::*;
use entity::{CompetitorSource, competitor_event, competitor_market_odds, competitor_tournament};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use crate::db_test;
use crate::fixtures::{betpawa_event, kickoff, sport};
use crate::harness::TestDb;
use crate::sql::{count, execute};

fn tournament_upsert(
    sport_id: i32,
    source: CompetitorSource,
    external_id: &str,
) -> TournamentUpsert {
    TournamentUpsert {
        source,
        sport_id,
        name: format!("League {external_id}"),
        country_raw: Some("England".to_owned()),
        country_iso: Some("ENG".to_owned()),
        external_id: external_id.to_owned(),
        sportradar_id: None,
    }
}

fn event_upsert(tournament_id: i32, source: CompetitorSource, external_id: &str) -> EventUpsert {
    EventUpsert {
        source,
        tournament_id,
        name: format!("Home {external_id} vs Away {external_id}"),
        home_team: format!("Home {external_id}"),
        away_team: format!("Away {external_id}"),
        kickoff: kickoff(5, 15),
        external_id: external_id.to_owned(),
        sportradar_id: format!("sr:match:{external_id}"),
    }
}

/// One tournament of `source` and its events `e-0..e-{n}`; returns (tournament id, event ids).
async fn palimpsest(db: &TestDb, source: CompetitorSource, n: usize) -> (i32, Vec<i32>) {
    let football = sport(&**db, &format!("football-{source}")).await;
    let tournaments =
        store::upsert_tournaments(&**db, &[tournament_upsert(football.id, source, "t-1")])
            .await
            .unwrap();
    let tournament = tournaments["t-1"];
    let events: Vec<EventUpsert> = (0..n)
        .map(|i| event_upsert(tournament, source, &format!("{source}-e-{i}")))
        .collect();
    let ids = store::upsert_events(&**db, &events).await.unwrap();
    (
        tournament,
        events.iter().map(|e| ids[&e.external_id]).collect(),
    )
}

db_test!(both, async fn upserting_tournaments_inserts_updates_and_revives(db) {
    let football = sport(&**db, "football").await;
    let batch = vec![
        tournament_upsert(football.id, CompetitorSource::Sportybet, "t-1"),
        tournament_upsert(football.id, CompetitorSource::Sportybet, "t-2"),
    ];
    let first = store::upsert_tournaments(&**db, &batch).await.unwrap();
    let stored = CompetitorTournament::find().all(&**db).await.unwrap();
    assert_eq!(stored.len(), 2);
    for row in &stored {
        assert_eq!(first[&row.external_id], row.id);
    }

    assert!(CompetitorTournament::soft_delete_by_id(&**db, first["t-2"]).await.unwrap());
    let mut changed = batch.clone();
    changed[0].name = "Premier League".to_owned();
    changed[0].country_iso = None;
    changed.push(tournament_upsert(football.id, CompetitorSource::Sportybet, "t-3"));
    let second = store::upsert_tournaments(&**db, &changed).await.unwrap();
    assert_eq!(second["t-1"], first["t-1"], "same row, same id");
    assert_eq!(second["t-2"], first["t-2"], "revived with its id");
    let t1 = CompetitorTournament::find_by_id(first["t-1"]).one(&**db).await.unwrap().unwrap();
    assert_eq!((t1.name.as_str(), t1.country_iso), ("Premier League", None));
    let t2 = CompetitorTournament::find_by_id(first["t-2"]).one(&**db).await.unwrap().unwrap();
    assert!(!t2.is_deleted(), "revived");
    assert_eq!(CompetitorTournament::find().count(&**db).await.unwrap(), 3);
});

db_test!(both, async fn upserting_events_inserts_updates_revives_and_moves_updated_at(db) {
    let (tournament, ids) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    let before = CompetitorEvent::find_by_id(ids[1]).one(&**db).await.unwrap().unwrap();
    assert!(CompetitorEvent::soft_delete_by_id(&**db, ids[1]).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;

    let mut revived = event_upsert(tournament, CompetitorSource::Bet9ja, "bet9ja-e-1");
    revived.kickoff = kickoff(6, 18);
    let again = store::upsert_events(&**db, &[revived]).await.unwrap();
    assert_eq!(again["bet9ja-e-1"], ids[1]);
    let after = CompetitorEvent::find_by_id(ids[1]).one(&**db).await.unwrap().unwrap();
    assert!(!after.is_deleted());
    assert_eq!(after.kickoff, kickoff(6, 18));
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(CompetitorEvent::find().count(&**db).await.unwrap(), 3);
});

db_test!(both, async fn an_upsert_keeps_the_betpawa_link(db) {
    let (tournament, ids) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let football = sport(&**db, "football").await;
    let betpawa = betpawa_event(&**db, football.id, "sr:match:sportybet-e-0").await;
    assert_eq!(store::link_betpawa_events(&**db).await.unwrap(), 1);
    store::upsert_events(&**db, &[event_upsert(tournament, CompetitorSource::Sportybet, "sportybet-e-0")])
        .await
        .unwrap();
    let event = CompetitorEvent::find_by_id(ids[0]).one(&**db).await.unwrap().unwrap();
    assert_eq!(event.betpawa_event_id, Some(betpawa.id));
});

db_test!(both, async fn upserts_of_any_size_stay_under_the_bind_limit(db) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Sportybet, 0).await;
    let events: Vec<EventUpsert> = (0..20_000)
        .map(|i| event_upsert(tournament, CompetitorSource::Sportybet, &format!("big-{i}")))
        .collect();
    let ids = store::upsert_events(&**db, &events).await.unwrap();
    assert_eq!(ids.len(), 20_000);
    assert_eq!(count(db, "competitor_events").await, 20_000);
    let again = store::upsert_events(&**db, &events).await.unwrap();
    assert_eq!(again, ids, "the same ids the second time");
    assert_eq!(count(db, "competitor_events").await, 20_000);
});

db_test!(both, async fn a_bad_row_rejects_the_whole_batch(db) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let mut batch: Vec<EventUpsert> = (0..5)
        .map(|i| event_upsert(tournament, CompetitorSource::Sportybet, &format!("new-{i}")))
        .collect();
    batch[3].sportradar_id = String::new();
    let err = store::upsert_events(&**db, &batch).await.expect_err("invalid row");
    match &err {
        StoreError::InvalidRow { index: 3, error } => assert_eq!(error.field, "sportradar_id"),
        other => panic!("expected row 3, got {other:?}"),
    }
    assert!(err.to_string().starts_with("row 3 of the batch: competitor_events.sportradar_id"), "{err}");
    assert_eq!(count(db, "competitor_events").await, 2, "nothing written");

    batch[3].sportradar_id = "sr:match:9".to_owned();
    batch[4].external_id = "new-1".to_owned();
    let err = store::upsert_events(&**db, &batch).await.expect_err("duplicate");
    assert!(matches!(err, StoreError::DuplicateInBatch { field: "external_id", first: 1, second: 4, .. }), "{err:?}");

    batch[4].external_id = "new-4".to_owned();
    batch[2].tournament_id = 999_999;
    let err = store::upsert_events(&**db, &batch).await.expect_err("unknown tournament");
    let StoreError::ForeignKeyViolation { constraint, .. } = &err else { panic!("{err:?}") };
    if db.get_database_backend() == DbBackend::Postgres {
        assert_eq!(constraint.as_deref(), Some("fk_competitor_events_tournament_id_competitor_tournaments"));
    }
    assert_eq!(count(db, "competitor_events").await, 2, "nothing written");
});

db_test!(both, async fn concurrent_upserts_of_one_palimpsest_neither_fail_nor_duplicate(db) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Bet9ja, 0).await;
    let events: Vec<EventUpsert> = (0..500)
        .map(|i| event_upsert(tournament, CompetitorSource::Bet9ja, &format!("c-{i}")))
        .collect();
    let (a, b) = tokio::join!(store::upsert_events(&**db, &events), store::upsert_events(&**db, &events));
    let (a, b) = (a.expect("first task"), b.expect("second task"));
    assert_eq!(a, b);
    assert_eq!(count(db, "competitor_events").await, 500);
});

db_test!(both, async fn linking_follows_sportradar_ids(db) {
    let (_, ids) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let football = sport(&**db, "football").await;
    let first = betpawa_event(&**db, football.id, "sr:match:sportybet-e-0").await;
    let second = betpawa_event(&**db, football.id, "sr:match:sportybet-e-1").await;
    betpawa_event(&**db, football.id, "sr:match:nobody").await;

    assert_eq!(store::link_betpawa_events(&**db).await.unwrap(), 2);
    let link = |id: i32| async move {
        CompetitorEvent::find_by_id(id).one(&**db).await.unwrap().unwrap().betpawa_event_id
    };
    assert_eq!(link(ids[0]).await, Some(first.id));
    assert_eq!(link(ids[1]).await, Some(second.id));
    assert_eq!(link(ids[2]).await, None, "no Betpawa event with its SportRadar id");
    assert_eq!(store::link_betpawa_events(&**db).await.unwrap(), 0, "nothing left to change");

    // Betpawa corrects its SportRadar ids: the first event now matches e-2 and e-1 none.
    execute(db, "UPDATE events SET sportradar_id = $1 WHERE id = $2", vec!["sr:match:sportybet-e-2".into(), first.id.into()]).await.unwrap();
    execute(db, "UPDATE events SET sportradar_id = $1 WHERE id = $2", vec!["sr:match:other".into(), second.id.into()]).await.unwrap();
    assert_eq!(store::link_betpawa_events(&**db).await.unwrap(), 3);
    assert_eq!(link(ids[0]).await, None);
    assert_eq!(link(ids[1]).await, None);
    assert_eq!(link(ids[2]).await, Some(first.id));
});

db_test!(both, async fn soft_delete_missing_touches_only_that_sources_active_events(db) {
    let (tournament, sporty) = palimpsest(db, CompetitorSource::Sportybet, 4).await;
    let (_, bet9ja) = palimpsest(db, CompetitorSource::Bet9ja, 2).await;
    assert!(CompetitorEvent::soft_delete_by_id(&**db, sporty[3]).await.unwrap());
    let earlier = CompetitorEvent::find_by_id(sporty[3]).one(&**db).await.unwrap().unwrap().deleted_at;

    let seen = vec!["sportybet-e-0".to_owned(), "sportybet-e-2".to_owned(), "bet9ja-e-0".to_owned()];
    assert_eq!(store::soft_delete_missing(&**db, CompetitorSource::Sportybet, &seen).await.unwrap(), 1);
    let deleted: Vec<i32> = CompetitorEvent::find_deleted()
        .order_by_asc(competitor_event::Column::Id)
        .all(&**db)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(deleted, [sporty[1], sporty[3]]);
    let kept = CompetitorEvent::find_by_id(sporty[3]).one(&**db).await.unwrap().unwrap();
    assert_eq!(kept.deleted_at, earlier, "an already deleted event is not touched");
    for id in bet9ja {
        assert!(!CompetitorEvent::find_by_id(id).one(&**db).await.unwrap().unwrap().is_deleted());
    }

    store::upsert_events(&**db, &[event_upsert(tournament, CompetitorSource::Sportybet, "sportybet-e-1")])
        .await
        .unwrap();
    assert!(!CompetitorEvent::find_by_id(sporty[1]).one(&**db).await.unwrap().unwrap().is_deleted());

    let err = store::soft_delete_missing(&**db, CompetitorSource::Sportybet, &[]).await.expect_err("empty");
    assert!(matches!(err, StoreError::EmptyPalimpsest { competitor: CompetitorSource::Sportybet }));
    assert_eq!(CompetitorEvent::find_deleted().count(&**db).await.unwrap(), 1);
});

/// `n` markets whose contents identify `(event, round, k)`.
fn markets(event: i32, round: usize, n: usize) -> Vec<NewMarket> {
    (0..n)
        .map(|k| {
            let base = 1.01 + (event as f64) / 100.0 + round as f64 / 10.0 + k as f64 / 1000.0;
            NewMarket {
                betpawa_market_id: if k % 2 == 0 {
                    "3743".to_owned()
                } else {
                    "5000".to_owned()
                },
                betpawa_market_name: if k % 2 == 0 {
                    "1X2".to_owned()
                } else {
                    "Over/Under".to_owned()
                },
                line: (k % 2 == 1).then_some(0.5 + k as f64),
                handicap_type: (k % 3 == 0).then(|| "asian".to_owned()),
                handicap_home: (k % 3 == 0).then_some(-0.25),
                handicap_away: (k % 3 == 0).then_some(0.25),
                outcomes: Outcomes(vec![
                    Outcome::new("1", base),
                    Outcome {
                        name: "X\t\"\\".to_owned(),
                        odds: base + 1.0,
                        is_active: k % 5 != 0,
                    },
                ]),
            }
        })
        .collect()
}

fn round_of_snapshots(
    event_ids: &[i32],
    round: usize,
    n_markets: usize,
    at: DateTime<Utc>,
) -> Vec<NewSnapshot> {
    event_ids
        .iter()
        .map(|&event| NewSnapshot {
            competitor_event_id: event,
            captured_at: at,
            scrape_run_id: None,
            raw_response: (round == 0)
                .then(|| serde_json::json!({"event": event, "text": "tab\tnewline\n"})),
            markets: markets(event, round, n_markets),
        })
        .collect()
}

fn at(minutes: i64) -> DateTime<Utc> {
    kickoff(1, 8) + Duration::minutes(minutes)
}

/// Every snapshot of `ids` stored as written, markets in order.
async fn assert_stored(db: &impl sea_orm::ConnectionTrait, written: &[NewSnapshot], ids: &[i64]) {
    assert_eq!(ids.len(), written.len());
    for (new, id) in written.iter().zip(ids) {
        let snapshot = CompetitorOddsSnapshot::find_by_id(*id)
            .one(db)
            .await
            .unwrap()
            .expect("snapshot");
        assert_eq!(
            snapshot.competitor_event_id, new.competitor_event_id,
            "ids in input order"
        );
        assert_eq!(snapshot.captured_at, new.captured_at);
        assert_eq!(snapshot.raw_response, new.raw_response);
        let markets = CompetitorMarketOdds::find()
            .filter(competitor_market_odds::Column::SnapshotId.eq(*id))
            .order_by_asc(competitor_market_odds::Column::Id)
            .all(db)
            .await
            .unwrap();
        let read: Vec<NewMarket> = markets
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
            .collect();
        assert_eq!(read, new.markets);
    }
}

db_test!(both, async fn write_snapshots_returns_ids_in_order_with_every_market(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 4).await;
    let mut batch = round_of_snapshots(&events, 0, 7, at(0));
    batch.reverse();
    batch[1].markets.clear();
    let ids = store::write_snapshots(&**db, &batch).await.unwrap();
    assert_stored(&**db, &batch, &ids).await;
    assert_eq!(count(db, "competitor_market_odds").await, 21);
    assert_eq!(store::write_snapshots(&**db, &[]).await.unwrap(), Vec::<i64>::new());
});

db_test!(both, async fn write_snapshots_joins_the_callers_transaction(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let run = crate::fixtures::scrape_run(&**db).await;
    let mut batch = round_of_snapshots(&events, 0, 5, at(0));
    batch[0].scrape_run_id = Some(run.id);
    let txn = db.begin().await.unwrap();
    let ids = store::write_snapshots(&txn, &batch).await.unwrap();
    assert_stored(&txn, &batch, &ids).await;
    txn.rollback().await.unwrap();
    assert_eq!(count(db, "competitor_odds_snapshots").await, 0, "rolled back with the caller");

    let txn = db.begin().await.unwrap();
    let ids = store::write_snapshots(&txn, &batch).await.unwrap();
    txn.commit().await.unwrap();
    assert_stored(&**db, &batch, &ids).await;
    assert_eq!(CompetitorOddsSnapshot::find_by_id(ids[0]).one(&**db).await.unwrap().unwrap().scrape_run_id, Some(run.id));
});

db_test!(both, async fn an_invalid_market_writes_nothing_and_is_named(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 10).await;
    let mut batch = round_of_snapshots(&events, 0, 60, at(0));
    // The 500th market of the batch: snapshot 8, market 19.
    batch[8].markets[19].outcomes.0[1].odds = 0.5;
    let err = store::write_snapshots(&**db, &batch).await.expect_err("invalid odds");
    match &err {
        StoreError::InvalidMarket { snapshot: 8, market: 19, position: 499, error } => {
            assert_eq!((error.table, error.field), ("competitor_market_odds", "outcomes"));
        }
        other => panic!("expected the 500th market, got {other:?}"),
    }
    assert!(err.to_string().contains("market 499 of the batch"), "{err}");
    assert_eq!(count(db, "competitor_odds_snapshots").await, 0);
    assert_eq!(count(db, "competitor_market_odds").await, 0);
});

db_test!(both, async fn a_snapshot_of_an_unknown_event_writes_nothing(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    let mut batch = round_of_snapshots(&events, 0, 4, at(0));
    batch[2].competitor_event_id = 999_999;
    for caller_transaction in [false, true] {
        let result = if caller_transaction {
            let txn = db.begin().await.unwrap();
            let result = store::write_snapshots(&txn, &batch).await;
            txn.rollback().await.unwrap();
            result
        } else {
            store::write_snapshots(&**db, &batch).await
        };
        let err = result.expect_err("unknown event");
        let StoreError::ForeignKeyViolation { constraint, .. } = &err else { panic!("{err:?}") };
        if db.get_database_backend() == DbBackend::Postgres {
            assert_eq!(constraint.as_deref(), Some("fk_competitor_odds_snapshots_competitor_event_id_competitor_eve"));
        }
        assert_eq!(count(db, "competitor_odds_snapshots").await, 0);
        assert_eq!(count(db, "competitor_market_odds").await, 0);
    }
});

db_test!(both, async fn a_batch_of_200000_market_rows(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2_000).await;
    let batch = round_of_snapshots(&events, 1, 100, at(0));
    let ids = store::write_snapshots(&**db, &batch).await.unwrap();
    assert_eq!(ids.len(), 2_000);
    assert_eq!(count(db, "competitor_market_odds").await, 200_000);
    assert_stored(&**db, &batch[1_990..], &ids[1_990..]).await;
    if db.get_database_backend() == DbBackend::Postgres {
        // The path a caller's transaction takes: arrays per column, no bind limit either.
        let txn = db.begin().await.unwrap();
        let more = store::write_snapshots(&txn, &round_of_snapshots(&events, 2, 100, at(5))).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(more.len(), 2_000);
        assert_eq!(count(db, "competitor_market_odds").await, 400_000);
    }
});

db_test!(both, async fn latest_snapshots_and_odds_history_over_several_rounds(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 4).await;
    let quiet = events[3]; // never captured
    let captured = &events[..3];
    let mut written = Vec::new();
    for round in 0..3 {
        let batch = round_of_snapshots(captured, round, 4, at(10 * round as i64));
        let ids = store::write_snapshots(&**db, &batch).await.unwrap();
        written.push((batch, ids));
    }
    // A late correction of round 1 for event 0 carries an older capture time: not newest.
    let late = round_of_snapshots(&captured[..1], 9, 4, at(15));
    store::write_snapshots(&**db, &late).await.unwrap();

    let latest = store::latest_snapshots(&**db, &events).await.unwrap();
    assert_eq!(latest.len(), 3, "the event without snapshots is absent");
    assert!(!latest.contains_key(&quiet));
    let (last_round, last_ids) = &written[2];
    for (i, event) in captured.iter().enumerate() {
        let newest = &latest[event];
        assert_eq!(newest.snapshot.id, last_ids[i]);
        assert_eq!(newest.snapshot.captured_at, at(20));
        let outcomes: Vec<&Outcomes> = newest.markets.iter().map(|m| &m.outcomes).collect();
        let expected: Vec<&Outcomes> = last_round[i].markets.iter().map(|m| &m.outcomes).collect();
        assert_eq!(outcomes, expected);
    }
    assert!(store::latest_snapshots(&**db, &[]).await.unwrap().is_empty());

    let history = store::odds_history(&**db, captured[0], "3743", at(5)).await.unwrap();
    let times: Vec<DateTime<Utc>> = history.iter().map(|p| p.captured_at).collect();
    // Rounds at 10 and 20 plus the late one at 15; two 1X2 markets (k = 0, 2) each.
    assert_eq!(times, [at(10), at(10), at(15), at(15), at(20), at(20)]);
    assert!(history.iter().all(|p| p.line.is_none()));
    assert_eq!(history[4].outcomes, markets(captured[0], 2, 4)[0].outcomes);
    let over_under = store::odds_history(&**db, captured[1], "5000", at(0)).await.unwrap();
    let lines: Vec<Option<f64>> = over_under.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(1.5), Some(3.5), Some(1.5), Some(3.5), Some(1.5), Some(3.5)]);
});

db_test!(both, async fn purging_old_snapshots_cascades_to_markets_in_batches(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    for round in 0..4 {
        store::write_snapshots(&**db, &round_of_snapshots(&events, round, 5, at(10 * round as i64))).await.unwrap();
    }
    // Rounds at 0 and 10 are older than the cutoff at 15: 6 snapshots, 30 markets.
    let purged = store::purge_snapshots_before(&**db, at(15), 4).await.unwrap();
    assert_eq!((purged.snapshots, purged.market_odds), (6, 30));
    assert_eq!(count(db, "competitor_odds_snapshots").await, 6);
    assert_eq!(count(db, "competitor_market_odds").await, 30);
    let remaining = CompetitorOddsSnapshot::find().all(&**db).await.unwrap();
    assert!(remaining.iter().all(|s| s.captured_at >= at(20)), "nothing newer touched");
    let again = store::purge_snapshots_before(&**db, at(15), 4).await.unwrap();
    assert_eq!((again.snapshots, again.market_odds), (0, 0));
});

db_test!(both, async fn purging_deleted_rows_keeps_whatever_is_newer_or_active(db) {
    let (tournament, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let football = sport(&**db, "football").await;
    let other = competitor_tournament::ActiveModel {
        source: Set(CompetitorSource::Sportybet),
        sport_id: Set(football.id),
        name: Set("Cup".to_owned()),
        external_id: Set("t-cup".to_owned()),
        ..Default::default()
    }
    .insert(&**db)
    .await
    .unwrap();
    store::write_snapshots(&**db, &round_of_snapshots(&events, 0, 3, at(0))).await.unwrap();

    // Long ago: e-0 deleted and the empty cup. Just now: e-1. e-2 stays active, so its
    // tournament stays even though deleted long ago.
    let long_ago = Utc::now() - Duration::days(30);
    for (table, id) in [("competitor_events", events[0]), ("competitor_tournaments", other.id), ("competitor_tournaments", tournament)] {
        execute(db, &format!("UPDATE {table} SET deleted_at = $1 WHERE id = $2"), vec![long_ago.into(), id.into()]).await.unwrap();
    }
    assert!(CompetitorEvent::soft_delete_by_id(&**db, events[1]).await.unwrap());

    let purged = store::purge_deleted_before(&**db, Utc::now() - Duration::days(7)).await.unwrap();
    assert_eq!(
        (purged.tournaments, purged.events, purged.snapshots, purged.market_odds),
        (1, 1, 1, 3)
    );
    let left: Vec<i32> = CompetitorEvent::find().order_by_asc(competitor_event::Column::Id).all(&**db).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(left, [events[1], events[2]]);
    assert!(CompetitorTournament::find_by_id(other.id).one(&**db).await.unwrap().is_none());
    assert!(CompetitorTournament::find_by_id(tournament).one(&**db).await.unwrap().is_some(), "still holds events");
    assert_eq!(count(db, "competitor_odds_snapshots").await, 2);
    assert_eq!(count(db, "competitor_market_odds").await, 6);
});

db_test!(both, async fn timestamps_written_by_default_and_by_the_crates_share_one_format(db) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    store::write_snapshots(&**db, &round_of_snapshots(&events, 0, 1, at(0))).await.unwrap();
    // A row another client writes, relying on the column defaults.
    execute(db, "INSERT INTO scrape_runs (status) VALUES ($1)", vec!["pending".into()]).await.unwrap();
    if db.get_database_backend() != DbBackend::Sqlite {
        return; // timestamptz has no text form to disagree on
    }
    let texts: Vec<String> = crate::sql::query_all(
        db,
        "SELECT created_at AS t FROM competitor_events UNION ALL SELECT updated_at FROM competitor_events \
         UNION ALL SELECT captured_at FROM competitor_odds_snapshots UNION ALL SELECT started_at FROM scrape_runs",
        vec![],
    )
    .await
    .iter()
    .map(|row| row.try_get("", "t").unwrap())
    .collect();
    assert_eq!(texts.len(), 4);
    for text in &texts {
        // 2026-11-26T14:42:12[.fff[fff]]+00:00: RFC 3339 in UTC, so text order is time order.
        let (date_time, offset) = text.split_at(text.len() - 6);
        assert_eq!(offset, "+00:00", "{text}");
        assert_eq!(&date_time[10..11], "T", "{text}");
        assert!(DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
    }
});
