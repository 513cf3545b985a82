//! The store's public data types as JSON: what an axum handler returns (`Json(..)` of a
//! read) and what a scraper hands over (the inputs, deserialized).

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use competitor_db::store::{
    self, CompetitorOdds, EventUpsert, LatestSnapshot, NewSnapshot, OddsPoint, TournamentUpsert,
};
use competitor_db::testing;
use entity::CompetitorSource;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::{at, palimpsest, sportradar_id};
use crate::both;
use crate::fixtures::{betpawa_event, sport};

/// `value` through JSON text and back.
fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_string(value).expect("serialize");
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("deserialize {text}: {err}"))
}

/// The comparison read after a real write: keyed by the Betpawa event id (a JSON object
/// key is text), each competitor's event with its source as stored, its current markets
/// with their outcomes, and freshness as RFC 3339; and back to equal values.
async fn the_comparison_read_serializes_to_json_and_back(db: &DatabaseConnection) {
    let (_, sporty) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let (_, bet9ja) = palimpsest(db, CompetitorSource::Bet9ja, 1).await;
    let football = sport(db, "football").await;
    let betpawa = betpawa_event(db, football.id, &sportradar_id(0)).await;
    store::link_betpawa_events(db).await.unwrap();
    let captures: Vec<NewSnapshot> = [sporty[0], bet9ja[0]]
        .iter()
        .map(|&event| testing::snapshot(event, 2, at(0)))
        .collect();
    let recorded = store::record_odds(db, &captures).await.unwrap();

    let comparison = store::current_odds_for_betpawa_events(db, &[betpawa.id])
        .await
        .unwrap();
    let json = serde_json::to_value(&comparison).expect("serialize the comparison");
    let Value::Object(by_betpawa) = &json else {
        panic!("an object keyed by Betpawa event id: {json}")
    };
    assert_eq!(
        by_betpawa.keys().collect::<Vec<_>>(),
        [&betpawa.id.to_string()]
    );
    let competitors = json[betpawa.id.to_string()]
        .as_array()
        .expect("an array of competitors");
    assert_eq!(competitors.len(), 2);
    for (competitor, (source, event)) in competitors
        .iter()
        .zip([("sportybet", sporty[0]), ("bet9ja", bet9ja[0])])
    {
        assert_eq!(competitor["event"]["id"], json!(event));
        assert_eq!(competitor["event"]["source"], json!(source));
        assert_eq!(competitor["event"]["betpawa_event_id"], json!(betpawa.id));
        assert_eq!(
            competitor["event"]["sportradar_id"],
            json!(sportradar_id(0))
        );
        assert_eq!(competitor["event"]["deleted_at"], Value::Null);
        assert_eq!(
            competitor["odds"]["freshness"],
            json!("2026-12-01T08:00:00Z")
        );
        let markets = competitor["odds"]["markets"].as_array().expect("markets");
        assert_eq!(markets.len(), 2);
        let written = testing::market(event, 0, 0);
        assert_eq!(markets[0]["competitor_event_id"], json!(event));
        assert_eq!(markets[0]["betpawa_market_id"], json!("3743"));
        assert_eq!(markets[0]["betpawa_market_name"], json!("1X2"));
        assert_eq!(markets[0]["line"], Value::Null);
        assert_eq!(markets[0]["changed_at"], json!("2026-12-01T08:00:00Z"));
        assert_eq!(markets[0]["unavailable_at"], Value::Null);
        let outcomes: Vec<Value> = written
            .outcomes
            .0
            .iter()
            .map(|o| json!({"name": o.name, "odds": o.odds, "is_active": true}))
            .collect();
        assert_eq!(markets[0]["outcomes"], Value::Array(outcomes));
        assert_eq!(markets[1]["line"], json!(1.5), "Over/Under 1.5");
    }
    let back: HashMap<i32, Vec<CompetitorOdds>> =
        serde_json::from_value(json).expect("deserialize the comparison");
    assert_eq!(back, comparison);

    assert_eq!(
        serde_json::to_value(recorded).unwrap(),
        json!({
            "snapshots": 2, "markets_written": 4, "markets_unchanged": 0,
            "markets_unavailable": 0, "markets_returned": 0, "events_confirmed": 0,
            "stale_captures": 0
        })
    );
}
both!(the_comparison_read_serializes_to_json_and_back);

/// The full-mode reads and the retention counts serialize too.
async fn latest_snapshots_history_and_purges_serialize(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let event = events[0];
    store::write_snapshots(
        db,
        &[
            testing::snapshot(event, 1, at(0)),
            testing::snapshot(event, 1, at(5)),
        ],
    )
    .await
    .unwrap();

    let latest = store::latest_snapshots(db, &[event]).await.unwrap();
    let json = serde_json::to_value(&latest).unwrap();
    let newest = &json[event.to_string()];
    assert_eq!(newest["snapshot"]["competitor_event_id"], json!(event));
    assert_eq!(
        newest["snapshot"]["captured_at"],
        json!("2026-12-01T08:05:00Z")
    );
    assert_eq!(newest["markets"][0]["betpawa_market_name"], json!("1X2"));
    let back: HashMap<i32, LatestSnapshot> = serde_json::from_value(json).unwrap();
    assert_eq!(back, latest);

    let history = store::odds_history(db, event, "3743", at(0)).await.unwrap();
    assert_eq!(history.len(), 2);
    let json = serde_json::to_value(&history).unwrap();
    assert_eq!(json[1]["captured_at"], json!("2026-12-01T08:05:00Z"));
    assert_eq!(json[1]["outcomes"][0]["name"], json!("1"));
    let back: Vec<OddsPoint> = serde_json::from_value(json).unwrap();
    assert_eq!(back, history);

    // A third capture with new odds: then the one at 0, where the current odds were
    // last set no more, goes; the one at 5, the market's newest before 7, stays.
    let mut newer = testing::snapshot(event, 1, at(10));
    newer.markets[0] = testing::market(event, 0, 1);
    store::write_snapshots(db, &[newer]).await.unwrap();
    let purged = store::purge_snapshots_before(db, at(7), 10).await.unwrap();
    assert_eq!(
        serde_json::to_value(purged).unwrap(),
        json!({"snapshots": 1, "market_odds": 1})
    );
    let purged = store::purge_deleted_before(db, at(5)).await.unwrap();
    assert_eq!(
        serde_json::to_value(purged).unwrap(),
        json!({"tournaments": 0, "events": 0, "snapshots": 0, "market_odds": 0})
    );
}
both!(latest_snapshots_history_and_purges_serialize);

#[test]
fn competitor_sources_serialize_as_stored() {
    assert_eq!(
        serde_json::to_value(CompetitorSource::Sportybet).unwrap(),
        json!("sportybet")
    );
    assert_eq!(
        serde_json::to_value(CompetitorSource::Bet9ja).unwrap(),
        json!("bet9ja")
    );
    assert_eq!(
        serde_json::from_value::<CompetitorSource>(json!("bet9ja")).unwrap(),
        CompetitorSource::Bet9ja
    );
    assert!(serde_json::from_value::<CompetitorSource>(json!("betking")).is_err());
}

#[test]
fn the_inputs_round_trip_through_json() {
    let tournament = TournamentUpsert {
        sportradar_id: Some("17".to_owned()),
        ..testing::tournament(CompetitorSource::Bet9ja, 3, "sr:tournament:17")
    };
    assert_eq!(round_trip(&tournament), tournament);

    let kickoff = Utc
        .with_ymd_and_hms(2026, 12, 5, 15, 0, 0)
        .single()
        .unwrap();
    let event = testing::event(
        CompetitorSource::Sportybet,
        7,
        "sr:match:61300421",
        "61300421",
        kickoff,
    );
    assert_eq!(round_trip(&event), event);

    let mut capture = testing::snapshot(42, 12, at(0) + chrono::Duration::nanoseconds(123_456_789));
    capture.scrape_run_id = Some(9);
    capture.raw_response =
        Some(json!({"event": 42, "text": "tab\tnewline\n", "odds": [1.85, 2.1]}));
    assert_eq!(round_trip(&capture), capture);
}

/// What a scraper sends: the inputs read from JSON as a scraper in another language
/// writes it.
#[test]
fn the_inputs_read_a_scrapers_json() {
    let event: EventUpsert = serde_json::from_value(json!({
        "source": "sportybet",
        "tournament_id": 7,
        "name": "Arsenal vs Chelsea",
        "home_team": "Arsenal",
        "away_team": "Chelsea",
        "kickoff": "2026-12-05T15:00:00Z",
        "external_id": "sr:match:61300421",
        "sportradar_id": "61300421"
    }))
    .expect("an event");
    assert_eq!(event.source, CompetitorSource::Sportybet);
    assert_eq!(
        event.kickoff,
        Utc.with_ymd_and_hms(2026, 12, 5, 15, 0, 0)
            .single()
            .unwrap()
    );

    let capture: NewSnapshot = serde_json::from_value(json!({
        "competitor_event_id": 42,
        "captured_at": "2026-12-05T08:00:00.5+01:00",
        "scrape_run_id": null,
        "raw_response": null,
        "markets": [{
            "betpawa_market_id": "3743", "betpawa_market_name": "1X2",
            "line": null, "handicap_type": null, "handicap_home": null, "handicap_away": null,
            "outcomes": [{"name": "1", "odds": 2.05}, {"name": "X", "odds": 3.4, "is_active": false}]
        }]
    }))
    .expect("a capture");
    assert_eq!(
        capture.captured_at,
        Utc.with_ymd_and_hms(2026, 12, 5, 7, 0, 0).single().unwrap()
            + chrono::Duration::milliseconds(500)
    );
    let outcomes = &capture.markets[0].outcomes.0;
    assert!(outcomes[0].is_active, "a missing is_active reads as true");
    assert!(!outcomes[1].is_active);
}
