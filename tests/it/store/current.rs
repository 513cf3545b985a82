//! `store::current`: the current odds of many events and the comparison read.

use competitor_db::store::{self, NewSnapshot};
use competitor_db::testing;
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::DatabaseConnection;

use super::{at, palimpsest, sportradar_id};
use crate::both;
use crate::fixtures::{betpawa_event, sport};

fn capture(event: i32, markets: usize, version: u32, minutes: i64) -> NewSnapshot {
    NewSnapshot {
        competitor_event_id: event,
        captured_at: at(minutes),
        scrape_run_id: None,
        raw_response: None,
        markets: (0..markets)
            .map(|k| testing::market(event, k, version))
            .collect(),
    }
}

async fn current_odds_hold_every_market_and_the_freshness(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let (captured, confirmed, never) = (events[0], events[1], events[2]);
    store::record_odds(
        db,
        &[capture(captured, 5, 0, 0), capture(confirmed, 5, 0, 0)],
    )
    .await
    .unwrap();
    // `captured` loses market 4 and changes market 0; `confirmed` is seen unchanged.
    let mut changed = capture(captured, 4, 0, 5);
    changed.markets[0] = testing::market(captured, 0, 1);
    store::record_odds(db, &[changed, capture(confirmed, 5, 0, 7)])
        .await
        .unwrap();

    let odds = store::current_odds(db, &events).await.unwrap();
    assert_eq!(odds.len(), 2, "an event never captured is absent");
    assert!(!odds.contains_key(&never));
    let captured_odds = &odds[&captured];
    assert_eq!(captured_odds.freshness, Some(at(5)));
    assert_eq!(
        captured_odds.markets.len(),
        5,
        "unavailable markets included"
    );
    assert_eq!(captured_odds.markets[4].unavailable_at, Some(at(5)));
    assert_eq!(
        captured_odds.markets[0].outcomes,
        testing::market(captured, 0, 1).outcomes
    );
    assert!(captured_odds.markets[..4].iter().all(|m| m.is_available()));
    assert_eq!(odds[&confirmed].freshness, Some(at(7)));
    assert!(store::current_odds(db, &[]).await.unwrap().is_empty());

    // An event written in full mode has its capture's markets as current odds too.
    store::write_snapshots(db, &[capture(never, 2, 0, 9)])
        .await
        .unwrap();
    let full = store::current_odds(db, &[never]).await.unwrap();
    assert_eq!(full[&never].freshness, Some(at(9)));
    let outcomes: Vec<_> = full[&never].markets.iter().map(|m| &m.outcomes).collect();
    assert_eq!(
        outcomes,
        [0, 1]
            .map(|k| testing::market(never, k, 0).outcomes)
            .iter()
            .collect::<Vec<_>>()
    );
}
both!(current_odds_hold_every_market_and_the_freshness);

async fn the_comparison_read_gives_each_competitors_linked_active_event(db: &DatabaseConnection) {
    let (_, sporty) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let (_, bet9ja) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    let football = sport(db, "football").await;
    let first = betpawa_event(db, football.id, &sportradar_id(0)).await;
    let second = betpawa_event(db, football.id, &sportradar_id(1)).await;
    let unmatched = betpawa_event(db, football.id, "99999999").await;
    store::link_betpawa_events(db).await.unwrap();
    let all: Vec<NewSnapshot> = sporty
        .iter()
        .chain(&bet9ja)
        .map(|&e| capture(e, 3, 0, 0))
        .collect();
    store::record_odds(db, &all).await.unwrap();
    // Bet9ja drops its event 1 from the palimpsest: soft-deleted, so not compared.
    assert!(
        CompetitorEvent::soft_delete_by_id(db, bet9ja[1])
            .await
            .unwrap()
    );

    let ids = [first.id, second.id, unmatched.id];
    let comparison = store::current_odds_for_betpawa_events(db, &ids)
        .await
        .unwrap();
    assert_eq!(
        comparison.len(),
        2,
        "no competitor event links to the third"
    );
    let both: Vec<(CompetitorSource, i32)> = comparison[&first.id]
        .iter()
        .map(|c| (c.event.source, c.event.id))
        .collect();
    assert_eq!(
        both,
        [
            (CompetitorSource::Sportybet, sporty[0]),
            (CompetitorSource::Bet9ja, bet9ja[0])
        ]
    );
    for competitor in &comparison[&first.id] {
        assert_eq!(competitor.odds.freshness, Some(at(0)));
        assert_eq!(competitor.odds.markets.len(), 3);
        assert_eq!(
            competitor.odds.markets[0].outcomes,
            testing::market(competitor.event.id, 0, 0).outcomes
        );
    }
    let one: Vec<i32> = comparison[&second.id].iter().map(|c| c.event.id).collect();
    assert_eq!(
        one,
        [sporty[1]],
        "the soft-deleted Bet9ja event is left out"
    );
    assert!(
        store::current_odds_for_betpawa_events(db, &[])
            .await
            .unwrap()
            .is_empty()
    );
}
both!(the_comparison_read_gives_each_competitors_linked_active_event);
