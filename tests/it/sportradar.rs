//! `sportradar`: SportRadar ids in the form the Python service stores, so the two writers
//! of the competitor tables agree on every row.

use std::path::Path;

use competitor_db::store::{self, TournamentUpsert};
use competitor_db::{sportradar, testing};
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::both;
use crate::fixtures::{betpawa_event, kickoff, sport, stored_row};
use crate::sql::insert_id;

/// Every SportRadar id in `value` as (kind, id): `sportradar_id` of an object in a
/// `tournaments` list and `tournament_sportradar_id` are tournament ids, any other
/// `sportradar_id` a match id.
fn sportradar_ids(value: &Value, list: &str, found: &mut Vec<(&'static str, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let kind = match key.as_str() {
                    "tournament_sportradar_id" => Some("tournament"),
                    "sportradar_id" if list == "tournaments" => Some("tournament"),
                    "sportradar_id" => Some("match"),
                    _ => None,
                };
                match (kind, field) {
                    (Some(kind), Value::String(id)) => found.push((kind, id.clone())),
                    (Some(_), Value::Null) => {}
                    (Some(kind), other) => panic!("{key}: a {kind} id that is not text: {other}"),
                    (None, _) => sportradar_ids(field, key, found),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                sportradar_ids(item, list, found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_sample_data_holds_sportradar_ids_in_the_stored_form() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut found = Vec::new();
    for file in ["betpawa.json", "sportybet.json", "bet9ja.json"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).expect("read a fixture");
        let json: Value = serde_json::from_str(&text).expect("a fixture is JSON");
        sportradar_ids(&json, "", &mut found);
    }
    for (kind, id) in &found {
        let stored = match *kind {
            "match" => sportradar::match_id(id),
            _ => sportradar::tournament_id(id),
        };
        assert_eq!(stored.as_ref(), Ok(id), "{kind} id {id:?}");
    }
    // The walk saw them all: 28 Betpawa, 28 SportyBet and 27 Bet9ja events; 5 Betpawa
    // tournaments, 5 SportyBet ones (Bet9ja publishes none) and 28 events' tournaments.
    let of = |kind: &str| found.iter().filter(|(k, _)| *k == kind).count();
    assert_eq!((of("match"), of("tournament")), (83, 38));
}

/// The Python service scraped and linked an event; the store's next scrape of it, from
/// the URN SportyBet publishes, updates the same row and leaves its SportRadar id and its
/// Betpawa link as they were.
async fn a_rescrape_keeps_the_python_services_sportradar_id_and_link(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let betpawa = betpawa_event(db, football.id, "61300417").await;
    let published_tournament = "sr:tournament:17";
    let tournament = store::upsert_tournaments(
        db,
        &[TournamentUpsert {
            sportradar_id: Some(sportradar::tournament_id(published_tournament).unwrap()),
            ..testing::tournament(
                CompetitorSource::Sportybet,
                football.id,
                published_tournament,
            )
        }],
    )
    .await
    .unwrap()[0];
    let published = "sr:match:61300417";
    let by_the_service = insert_id(
        db,
        "INSERT INTO competitor_events (source, tournament_id, betpawa_event_id, name, \
         home_team, away_team, kickoff, external_id, sportradar_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        vec![
            "sportybet".into(),
            tournament.into(),
            betpawa.id.into(),
            "Manchester City vs Tottenham Hotspur".into(),
            "Manchester City".into(),
            "Tottenham Hotspur".into(),
            kickoff(5, 12).into(),
            published.into(),
            "61300417".into(),
        ],
    )
    .await;

    let rescrape = testing::event(
        CompetitorSource::Sportybet,
        tournament,
        published,
        &sportradar::match_id(published).unwrap(),
        kickoff(5, 12),
    );
    let ids = store::upsert_events(db, &[rescrape]).await.unwrap();
    assert_eq!(i64::from(ids[0]), by_the_service, "the same row");
    assert_eq!(
        store::link_betpawa_events(db).await.unwrap(),
        0,
        "the service's link stands"
    );
    let stored = stored_row(db, CompetitorEvent, ids[0]).await;
    assert_eq!(
        (stored.sportradar_id.as_str(), stored.betpawa_event_id),
        ("61300417", Some(betpawa.id))
    );
    let tournament = stored_row(db, CompetitorTournament, tournament).await;
    assert_eq!(tournament.sportradar_id.as_deref(), Some("17"));
}
both!(a_rescrape_keeps_the_python_services_sportradar_id_and_link);
