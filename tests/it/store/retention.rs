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
    // Rounds at 0 and 10 are older than the cutoff at 15: 6 snapshots, 30 markets.
    let purged = store::purge_snapshots_before(db, at(15), 4).await.unwrap();
    assert_eq!((purged.snapshots, purged.market_odds), (6, 30));
    assert_eq!(count(db, "competitor_odds_snapshots").await, 6);
    assert_eq!(count(db, "competitor_market_odds").await, 30);
    let remaining = CompetitorOddsSnapshot::find().all(db).await.unwrap();
    assert!(
        remaining.iter().all(|s| s.captured_at >= at(20)),
        "nothing newer touched"
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
