//! `store::retention`: old snapshots and long soft-deleted rows, in batches.

use chrono::{Duration, Utc};
use competitor_db::store;
use entity::prelude::*;
use entity::{CompetitorSource, competitor_tournament};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

use super::{at, palimpsest, round};
use crate::both;
use crate::fixtures::{event_ids, sport};
use crate::sql::{count, execute};

async fn purging_old_snapshots_cascades_to_markets_in_batches(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    for version in 0..4 {
        let batch = round(&events, version, 5, at(10 * i64::from(version)));
        store::write_snapshots(db, &batch).await.unwrap();
    }
    // Rounds at 0 and 10 are older than the cutoff at 15; each market's newest row before
    // it (round 10) stays: 3 snapshots, 15 markets go.
    let purged = store::purge_snapshots_before(db, at(15), 4).await.unwrap();
    assert_eq!((purged.snapshots, purged.market_odds), (3, 15));
    assert_eq!(count(db, "competitor_odds_snapshots").await, 9);
    assert_eq!(count(db, "competitor_market_odds").await, 45);
    let remaining = CompetitorOddsSnapshot::find().all(db).await.unwrap();
    assert!(
        remaining.iter().all(|s| s.captured_at >= at(10)),
        "round 0 went, nothing newer"
    );
    let again = store::purge_snapshots_before(db, at(15), 4).await.unwrap();
    assert_eq!((again.snapshots, again.market_odds), (0, 0));
}
both!(purging_old_snapshots_cascades_to_markets_in_batches);

/// Each event's newest snapshot stays, however old: its freshness and the change mode's
/// state hang on it; the current odds are never touched.
async fn purging_keeps_each_events_newest_snapshot(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    for version in 0..3 {
        let batch = round(&events, version, 4, at(10 * i64::from(version)));
        store::record_odds(db, &batch).await.unwrap();
    }
    let before = store::current_odds(db, &events).await.unwrap();
    let purged = store::purge_snapshots_before(db, at(1_000), 10)
        .await
        .unwrap();
    assert_eq!((purged.snapshots, purged.market_odds), (4, 16));
    let left = CompetitorOddsSnapshot::find().all(db).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|s| s.captured_at == at(20)));
    assert_eq!(store::current_odds(db, &events).await.unwrap(), before);
    assert_eq!(count(db, "competitor_market_odds_current").await, 8);
}
both!(purging_keeps_each_events_newest_snapshot);

async fn purging_deleted_rows_keeps_whatever_is_newer_or_active(db: &DatabaseConnection) {
    let (tournament, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let football = sport(db, "football").await;
    let other = competitor_tournament::ActiveModel {
        source: Set(CompetitorSource::Sportybet),
        sport_id: Set(football.id),
        name: Set("Cup".to_owned()),
        external_id: Set("t-cup".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    store::write_snapshots(db, &round(&events, 0, 3, at(0)))
        .await
        .unwrap();

    // Long ago: e-0 deleted and the empty cup. Just now: e-1. e-2 stays active, so its
    // tournament stays even though deleted long ago.
    let long_ago = Utc::now() - Duration::days(30);
    for (table, id) in [
        ("competitor_events", events[0]),
        ("competitor_tournaments", other.id),
        ("competitor_tournaments", tournament),
    ] {
        let sql = format!("UPDATE {table} SET deleted_at = $1 WHERE id = $2");
        execute(db, &sql, vec![long_ago.into(), id.into()])
            .await
            .unwrap();
    }
    assert!(
        CompetitorEvent::soft_delete_by_id(db, events[1])
            .await
            .unwrap()
    );

    let purged = store::purge_deleted_before(db, Utc::now() - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(
        (
            purged.tournaments,
            purged.events,
            purged.snapshots,
            purged.market_odds
        ),
        (1, 1, 1, 3)
    );
    let left = event_ids(db, CompetitorEvent::find()).await;
    assert_eq!(left, [events[1], events[2]]);
    assert!(
        CompetitorTournament::find_by_id(other.id)
            .one(db)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        CompetitorTournament::find_by_id(tournament)
            .one(db)
            .await
            .unwrap()
            .is_some(),
        "still holds events"
    );
    assert_eq!(count(db, "competitor_odds_snapshots").await, 2);
    assert_eq!(count(db, "competitor_market_odds").await, 6);
}
both!(purging_deleted_rows_keeps_whatever_is_newer_or_active);

/// After a purge, each market's history still answers "what were the odds at the cutoff":
/// its newest row before it stays, and `odds_history` from the cutoff starts with it.
async fn history_answers_the_odds_at_the_cutoff_after_a_purge(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 1).await;
    let e = events[0];
    // Market 0 (1X2) is priced once; market 1 (Over/Under 0.5) changes every round.
    for (minutes, version) in [(0, 0), (10, 1), (20, 2), (30, 3)] {
        let markets = vec![
            competitor_db::testing::market(e, 0, 0),
            competitor_db::testing::market(e, 1, version),
        ];
        let capture = store::NewSnapshot {
            competitor_event_id: e,
            captured_at: at(minutes),
            scrape_run_id: None,
            raw_response: None,
            markets,
        };
        store::record_odds(db, &[capture]).await.unwrap();
    }
    let one_x_two = competitor_db::testing::market(e, 0, 0);
    let over_under = competitor_db::testing::market(e, 1, 0);
    store::purge_snapshots_before(db, at(25), 100)
        .await
        .unwrap();

    let history = store::odds_history(db, e, &one_x_two.betpawa_market_id, at(25))
        .await
        .unwrap();
    let points: Vec<_> = history
        .iter()
        .map(|p| (p.captured_at, &p.outcomes))
        .collect();
    assert_eq!(
        points,
        [(at(0), &one_x_two.outcomes)],
        "the odds in effect at 25"
    );
    let history = store::odds_history(db, e, &over_under.betpawa_market_id, at(25))
        .await
        .unwrap();
    let times: Vec<_> = history.iter().map(|p| p.captured_at).collect();
    assert_eq!(
        times,
        [at(20), at(30)],
        "in effect at 25, then the change at 30"
    );
    crate::fold::assert_rebuild_agrees(db, &[e], "after the purge").await;
}
both!(history_answers_the_odds_at_the_cutoff_after_a_purge);

/// After purges at several cutoffs of a history written in every mode (change, full, the
/// Python service's INSERTs, markets going and coming back), a rebuild from what is left
/// gives the current odds the table holds.
async fn a_rebuild_after_purges_gives_the_current_odds(db: &DatabaseConnection) {
    use crate::fold::{assert_rebuild_agrees, markets, service_capture};
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    for &e in &events {
        let steps: [(&str, i64, Vec<store::NewMarket>); 8] = [
            ("change", 0, markets(e, &[(0, 0), (1, 0), (2, 0)])),
            ("full", 5, markets(e, &[(0, 1), (1, 0), (3, 0)])),
            ("change", 10, markets(e, &[(0, 1), (1, 2), (2, 0), (3, 0)])),
            ("service", 15, markets(e, &[(1, 2), (2, 0)])),
            ("full", 20, markets(e, &[(0, 1), (1, 2), (2, 0)])),
            ("change", 25, markets(e, &[(0, 3), (1, 2), (2, 0)])),
            ("full", 30, markets(e, &[(0, 3), (1, 0), (2, 0)])),
            ("change", 35, markets(e, &[(0, 3), (1, 0)])),
        ];
        for (mode, minutes, offered) in steps {
            let batch = [store::NewSnapshot {
                competitor_event_id: e,
                captured_at: at(minutes),
                scrape_run_id: None,
                raw_response: None,
                markets: offered.clone(),
            }];
            match mode {
                "change" => {
                    store::record_odds(db, &batch).await.unwrap();
                }
                "full" => {
                    store::write_snapshots(db, &batch).await.unwrap();
                }
                _ => service_capture(db, e, minutes, &offered).await,
            }
        }
    }
    for cutoff in [3, 12, 18, 22, 28, 33, 40] {
        store::purge_snapshots_before(db, at(cutoff), 3)
            .await
            .unwrap();
        assert_rebuild_agrees(db, &events, &format!("after a purge before {cutoff}")).await;
    }
}
both!(a_rebuild_after_purges_gives_the_current_odds);

/// A market withdrawn by a change-mode capture and brought back, same odds, by a full
/// capture (the soak's foreign writer met it): the full capture changed it, so its
/// `changed_at` is the full capture's time. A purge whose cutoff falls after the full
/// capture keeps the withdrawal it came back from, so a rebuild still sees it come back;
/// without it the rebuild kept the market's first odds and time. Likewise for a market a
/// full capture withdrew by not offering it: the row it was withdrawn from stays.
async fn a_rebuild_after_a_purge_sees_what_a_full_capture_changed_from(db: &DatabaseConnection) {
    use crate::fold::{assert_rebuild_agrees, markets, service_capture};
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let (back, gone) = (events[0], events[1]);
    let capture = |e: i32, minutes: i64, offered: Vec<store::NewMarket>| store::NewSnapshot {
        competitor_event_id: e,
        captured_at: at(minutes),
        scrape_run_id: None,
        raw_response: None,
        markets: offered,
    };
    // `back`: market 0 withdrawn at 5 by change mode, back at 10 in a full capture.
    store::record_odds(db, &[capture(back, 0, markets(back, &[(0, 0), (1, 0)]))])
        .await
        .unwrap();
    store::record_odds(db, &[capture(back, 5, markets(back, &[(1, 0)]))])
        .await
        .unwrap();
    store::write_snapshots(db, &[capture(back, 10, markets(back, &[(0, 0), (1, 0)]))])
        .await
        .unwrap();
    // `gone`: market 1 repriced at 5 by change mode, withdrawn at 10 by the Python
    // service's full capture not offering it.
    store::record_odds(db, &[capture(gone, 0, markets(gone, &[(0, 0), (1, 0)]))])
        .await
        .unwrap();
    store::record_odds(db, &[capture(gone, 5, markets(gone, &[(0, 0), (1, 1)]))])
        .await
        .unwrap();
    service_capture(db, gone, 10, &markets(gone, &[(0, 0)])).await;
    // A later round that changes nothing.
    store::record_odds(
        db,
        &[
            capture(back, 15, markets(back, &[(0, 0), (1, 0)])),
            capture(gone, 15, markets(gone, &[(0, 0)])),
        ],
    )
    .await
    .unwrap();
    assert_rebuild_agrees(db, &events, "before any purge").await;
    for cutoff in [12, 20] {
        store::purge_snapshots_before(db, at(cutoff), 10)
            .await
            .unwrap();
        assert_rebuild_agrees(db, &events, &format!("after a purge before {cutoff}")).await;
    }
}
both!(a_rebuild_after_a_purge_sees_what_a_full_capture_changed_from);

/// An upsert that revives a long soft-deleted event is held uncommitted while the purge
/// of deleted rows runs: the purge leaves the event (its row is locked: skipped), and
/// after the upsert commits the event, its history and the scraper's next write stand.
/// The same for a tournament revived with a brand-new event inside it.
async fn a_purge_never_deletes_what_a_concurrent_upsert_revives(db: &DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let source = CompetitorSource::Sportybet;
    let (tournament, events) = palimpsest(db, source, 2).await;
    store::write_snapshots(db, &round(&events, 0, 3, at(0)))
        .await
        .unwrap();
    let football = sport(db, "football-cup").await;
    let cup = store::upsert_tournaments(
        db,
        &[competitor_db::testing::tournament(
            source,
            football.id,
            "cup",
        )],
    )
    .await
    .unwrap()[0];
    let long_ago = Utc::now() - Duration::days(30);
    for (table, id) in [
        ("competitor_events", events[0]),
        ("competitor_tournaments", cup),
    ] {
        let sql = format!("UPDATE {table} SET deleted_at = $1 WHERE id = $2");
        execute(db, &sql, vec![long_ago.into(), id.into()])
            .await
            .unwrap();
    }

    // The scraper's cycle, held uncommitted: event 0 revived, the cup revived with a new
    // event in it.
    let scraper = db.begin().await.unwrap();
    let revived = store::upsert_events(&scraper, &[super::sample_event(source, tournament, 0)])
        .await
        .unwrap();
    assert_eq!(revived, [events[0]], "same id");
    store::upsert_tournaments(
        &scraper,
        &[competitor_db::testing::tournament(
            source,
            football.id,
            "cup",
        )],
    )
    .await
    .unwrap();
    let in_cup = store::upsert_events(&scraper, &[super::sample_event(source, cup, 9)])
        .await
        .unwrap()[0];

    let purge = tokio::spawn({
        let db = db.clone();
        async move { store::purge_deleted_before(&db, Utc::now() - Duration::days(7)).await }
    });
    // Either the purge finishes (it skips the locked rows) or it waits for them; the
    // scraper commits in both cases, and what the purge did is checked after.
    for _ in 0..1_200 {
        let waiting = crate::sql::count_where(
            db,
            "pg_stat_activity",
            "datname = current_database() AND wait_event_type = 'Lock'",
            vec![],
        )
        .await;
        if purge.is_finished() || waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    scraper.commit().await.unwrap();
    let purged = purge.await.expect("task").expect("purge");
    assert_eq!((purged.events, purged.tournaments), (0, 0), "{purged:?}");
    let left = event_ids(db, CompetitorEvent::find()).await;
    assert!(
        left.contains(&events[0]) && left.contains(&in_cup),
        "{left:?}"
    );
    assert_eq!(
        count(db, "competitor_odds_snapshots").await,
        2,
        "history kept"
    );
    store::write_snapshots(db, &round(&events[..1], 1, 3, at(5)))
        .await
        .expect("the scraper's next write for the id it was given");
}
crate::postgres!(a_purge_never_deletes_what_a_concurrent_upsert_revives);
