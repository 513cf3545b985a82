//! `store::latest`: the newest snapshot of many events, one market's history.

use chrono::{DateTime, Utc};
use competitor_db::store;
use competitor_db::testing;
use entity::CompetitorSource;
use entity::outcome::Outcomes;
use sea_orm::DatabaseConnection;

use super::{at, palimpsest, round};
use crate::both;

async fn latest_snapshots_and_odds_history_over_several_rounds(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 4).await;
    let quiet = events[3]; // never captured
    let captured = &events[..3];
    let mut written = Vec::new();
    for version in 0..3 {
        let batch = round(captured, version, 4, at(10 * i64::from(version)));
        let ids = store::write_snapshots(db, &batch).await.unwrap();
        written.push((batch, ids));
    }
    // A late correction of round 1 for event 0 carries an older capture time: not newest,
    // stored as a stale capture that changed nothing.
    let late = round(&captured[..1], 9, 4, at(15));
    let late_id = store::write_snapshots(db, &late).await.unwrap()[0];
    let late_row =
        crate::fixtures::stored_row(db, entity::prelude::CompetitorOddsSnapshot, late_id).await;
    assert_eq!(late_row.kind, entity::SnapshotKind::Stale);

    let latest = store::latest_snapshots(db, &events).await.unwrap();
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
    assert!(store::latest_snapshots(db, &[]).await.unwrap().is_empty());

    let history = store::odds_history(db, captured[0], "3743", at(5))
        .await
        .unwrap();
    let times: Vec<DateTime<Utc>> = history.iter().map(|p| p.captured_at).collect();
    // The point in effect at 5 (round 0), then rounds 10 and 20; the stale capture at 15
    // changed nothing and is left out. One 1X2 market each.
    assert_eq!(times, [at(0), at(10), at(20)]);
    assert!(history.iter().all(|p| p.line.is_none()));
    assert_eq!(
        history[2].outcomes,
        testing::market(captured[0], 0, 2).outcomes
    );
    let over_under = store::odds_history(db, captured[1], "5000", at(0))
        .await
        .unwrap();
    let lines: Vec<Option<f64>> = over_under.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        [
            Some(0.5),
            Some(1.5),
            Some(0.5),
            Some(1.5),
            Some(0.5),
            Some(1.5)
        ]
    );
}
both!(latest_snapshots_and_odds_history_over_several_rounds);
