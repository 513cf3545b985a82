//! The sample data: Betpawa's own rows and the two competitors' palimpsests, read from
//! `fixtures/` (or `DEMO_FIXTURES`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use competitor_db::store::NewMarket;
use entity::CompetitorSource;
use serde::Deserialize;

use crate::Error;

/// Betpawa's sports, tournaments and events (`betpawa.json`).
#[derive(Deserialize)]
pub struct BetpawaFixture {
    pub sports: Vec<SportFixture>,
    pub tournaments: Vec<BetpawaTournamentFixture>,
    pub events: Vec<BetpawaEventFixture>,
}

#[derive(Deserialize)]
pub struct SportFixture {
    pub name: String,
    pub slug: String,
}

#[derive(Deserialize)]
pub struct BetpawaTournamentFixture {
    pub sport: String,
    pub name: String,
    pub country: Option<String>,
    pub sportradar_id: String,
}

#[derive(Deserialize)]
pub struct BetpawaEventFixture {
    pub tournament_sportradar_id: String,
    #[serde(flatten)]
    pub event: EventFields,
}

/// What every event carries, Betpawa's and the competitors' alike.
#[derive(Deserialize)]
pub struct EventFields {
    pub name: String,
    pub home_team: String,
    pub away_team: String,
    pub kickoff: DateTime<Utc>,
    pub sportradar_id: String,
}

/// One competitor's palimpsest as its scraper hands it over.
#[derive(Deserialize)]
pub struct Palimpsest {
    pub source: CompetitorSource,
    pub tournaments: Vec<TournamentFixture>,
}

#[derive(Deserialize)]
pub struct TournamentFixture {
    pub external_id: String,
    pub sport: String,
    pub name: String,
    pub country_raw: Option<String>,
    pub country_iso: Option<String>,
    pub sportradar_id: Option<String>,
    pub events: Vec<EventFixture>,
}

#[derive(Deserialize)]
pub struct EventFixture {
    pub external_id: String,
    #[serde(flatten)]
    pub event: EventFields,
    pub markets: Vec<NewMarket>,
}

/// The sample data directory: the repository's `fixtures/`, or `DEMO_FIXTURES` if set.
pub fn dir() -> PathBuf {
    std::env::var_os("DEMO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
}

/// The fixture file `name`, parsed; errors name the file.
pub fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Result<T, Error> {
    let path = dir().join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()).into())
}
