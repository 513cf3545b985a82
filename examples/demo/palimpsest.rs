//! One competitor's scrape cycle: its palimpsest (tournaments, events, the soft delete of
//! events that left it), then its capture rounds in change mode.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use competitor_db::store::{
    self, EventUpsert, NewMarket, NewSnapshot, RecordedOdds, TournamentUpsert,
};
use competitor_db::{sportradar, testing};
use sea_orm::DatabaseConnection;

use crate::Error;
use crate::fixtures::Palimpsest;

/// The capture rounds, fixed so a second run finds them stored.
const ROUNDS: [(u32, u32, u32); 2] = [(4, 8, 0), (4, 8, 5)];

/// The fraction of markets whose odds move between the two rounds.
const CHANGE_RATE: f64 = 0.1;

/// Upserts the palimpsest's tournaments and events and soft-deletes the source's events
/// missing from it. SportRadar ids go through [`sportradar`] into the form the Python
/// service stores (the bare number), whichever form the scraper handed over. Returns the
/// event ids by external id.
pub async fn store(
    db: &DatabaseConnection,
    palimpsest: &Palimpsest,
    sports: &HashMap<String, i32>,
) -> Result<HashMap<String, i32>, Error> {
    let mut tournaments = Vec::new();
    for t in &palimpsest.tournaments {
        let sport_id = *sports
            .get(&t.sport)
            .ok_or_else(|| format!("tournament {} names unknown sport {}", t.name, t.sport))?;
        tournaments.push(TournamentUpsert {
            source: palimpsest.source,
            sport_id,
            name: t.name.clone(),
            country_raw: t.country_raw.clone(),
            country_iso: t.country_iso.clone(),
            external_id: t.external_id.clone(),
            sportradar_id: t
                .sportradar_id
                .as_deref()
                .map(sportradar::tournament_id)
                .transpose()
                .map_err(|err| format!("tournament {}: sportradar_id: {err}", t.external_id))?,
        });
    }
    let tournament_ids = store::upsert_tournaments(db, &tournaments).await?;

    let mut events = Vec::new();
    for (t, &tournament_id) in palimpsest.tournaments.iter().zip(&tournament_ids) {
        for e in &t.events {
            events.push(EventUpsert {
                source: palimpsest.source,
                tournament_id,
                name: e.event.name.clone(),
                home_team: e.event.home_team.clone(),
                away_team: e.event.away_team.clone(),
                kickoff: e.event.kickoff,
                external_id: e.external_id.clone(),
                sportradar_id: sportradar::match_id(&e.event.sportradar_id)
                    .map_err(|err| format!("event {}: sportradar_id: {err}", e.external_id))?,
            });
        }
    }
    let event_ids = store::upsert_events(db, &events).await?;
    let seen: Vec<String> = events.into_iter().map(|e| e.external_id).collect();
    store::soft_delete_missing(db, palimpsest.source, &seen).await?;
    Ok(seen.into_iter().zip(event_ids).collect())
}

/// Records the capture rounds with `record_odds`: the first brings every market, the
/// second moves the odds of a few. Rounds already recorded are stale and change nothing.
/// Returns what each round recorded.
pub async fn record_rounds(
    db: &DatabaseConnection,
    palimpsest: &Palimpsest,
    event_ids: &HashMap<String, i32>,
) -> Result<Vec<RecordedOdds>, Error> {
    let mut rounds = Vec::new();
    for (round, &(day, hour, minute)) in ROUNDS.iter().enumerate() {
        let captured_at = capture_time(day, hour, minute)?;
        let mut captures = Vec::new();
        for t in &palimpsest.tournaments {
            for e in &t.events {
                let event_id = event_ids[&e.external_id];
                captures.push(NewSnapshot {
                    competitor_event_id: event_id,
                    captured_at,
                    scrape_run_id: None,
                    raw_response: None,
                    markets: e
                        .markets
                        .iter()
                        .enumerate()
                        .map(|(k, m)| market(m, event_id, k, round))
                        .collect(),
                });
            }
        }
        rounds.push(store::record_odds(db, &captures).await?);
    }
    Ok(rounds)
}

fn capture_time(day: u32, hour: u32, minute: u32) -> Result<DateTime<Utc>, Error> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, minute, 0)
        .single()
        .ok_or_else(|| "capture time".into())
}

/// A fixture market as captured in `round`: from the second round on, a few markets
/// (`CHANGE_RATE`, a fixed choice) have new odds, the way prices drift between scrapes.
fn market(m: &NewMarket, event_id: i32, k: usize, round: usize) -> NewMarket {
    let mut market = m.clone();
    if round > 0 && testing::changes(event_id, k, round, CHANGE_RATE) {
        market.outcomes = testing::reprice(&m.outcomes, event_id, k, round);
    }
    market
}
