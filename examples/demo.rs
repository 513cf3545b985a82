//! The main job, end to end, on the sample palimpsests in `fixtures/`:
//!
//! ```sh
//! cargo run --example demo                      # a SQLite file in the working directory
//! DATABASE_URL=postgres://.. cargo run --example demo   # the same on PostgreSQL
//! ```
//!
//! It migrates the database, stores Betpawa's base events, upserts the SportyBet and Bet9ja
//! palimpsests, links their events to Betpawa's by SportRadar id, writes two rounds of
//! snapshots and prints, per linked event, the 1X2 and Over/Under 2.5 odds of both
//! competitors side by side with each one's margin. Run again, it changes nothing: rows
//! are upserted and rounds already stored are not written twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use competitor_db::Migrator;
use competitor_db::store::{self, EventUpsert, NewMarket, NewSnapshot, TournamentUpsert};
use entity::outcome::{Outcome, Outcomes};
use entity::prelude::*;
use entity::{
    CompetitorSource, competitor_event, competitor_odds_snapshot, event, sport, tournament,
};
use migration::MigratorTrait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectOptions, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use serde::Deserialize;

type Error = Box<dyn std::error::Error>;

/// Where the demo keeps its data when `DATABASE_URL` is not set.
const SQLITE_FILE: &str = "competitor-odds-demo.sqlite";

/// The two capture rounds, fixed so a second run finds them stored.
const ROUNDS: [(i32, u32, u32); 2] = [(4, 8, 0), (4, 8, 5)];

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let db = connect().await?;
    Migrator::up(&db, None)
        .await
        .map_err(|err| format!("migrating the database: {err}"))?;

    let betpawa: BetpawaFixture = fixture("betpawa.json")?;
    let palimpsests: [Palimpsest; 2] = [fixture("sportybet.json")?, fixture("bet9ja.json")?];
    let sports = store_betpawa(&db, &betpawa)
        .await
        .map_err(|err| format!("{}: {err}", fixtures_dir().join("betpawa.json").display()))?;

    let mut written = 0;
    let mut already_stored = 0;
    for palimpsest in &palimpsests {
        let file = fixtures_dir().join(format!("{}.json", palimpsest.source));
        let file = file.display();
        let events = store_palimpsest(&db, palimpsest, &sports)
            .await
            .map_err(|err| format!("{file}: {err}"))?;
        let (new, old) = store_rounds(&db, palimpsest, &events)
            .await
            .map_err(|err| format!("{file}: {err}"))?;
        written += new;
        already_stored += old;
    }
    let linked = store::link_betpawa_events(&db).await?;

    print_comparison(&db).await?;
    print_counts(&db, written, already_stored, linked).await?;
    Ok(())
}

async fn connect() -> Result<DatabaseConnection, Error> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            println!("Database: {} (from DATABASE_URL)", without_password(&url));
            url
        }
        _ => {
            println!("Database: SQLite file ./{SQLITE_FILE} (set DATABASE_URL to use PostgreSQL)");
            format!("sqlite://{SQLITE_FILE}?mode=rwc")
        }
    };
    let mut options = ConnectOptions::new(url.clone());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|err| format!("cannot connect to {}: {err}", without_password(&url)).into())
}

fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

// --- The sample data -------------------------------------------------------------------

#[derive(Deserialize)]
struct BetpawaFixture {
    sports: Vec<SportFixture>,
    tournaments: Vec<BetpawaTournamentFixture>,
    events: Vec<BetpawaEventFixture>,
}

#[derive(Deserialize)]
struct SportFixture {
    name: String,
    slug: String,
}

#[derive(Deserialize)]
struct BetpawaTournamentFixture {
    sport: String,
    name: String,
    country: Option<String>,
    sportradar_id: String,
}

#[derive(Deserialize)]
struct BetpawaEventFixture {
    tournament_sportradar_id: String,
    name: String,
    home_team: String,
    away_team: String,
    kickoff: DateTime<Utc>,
    sportradar_id: String,
}

/// One competitor's palimpsest as its scraper hands it over.
#[derive(Deserialize)]
struct Palimpsest {
    source: CompetitorSource,
    tournaments: Vec<TournamentFixture>,
}

#[derive(Deserialize)]
struct TournamentFixture {
    external_id: String,
    sport: String,
    name: String,
    country_raw: Option<String>,
    country_iso: Option<String>,
    sportradar_id: Option<String>,
    events: Vec<EventFixture>,
}

#[derive(Deserialize)]
struct EventFixture {
    external_id: String,
    name: String,
    home_team: String,
    away_team: String,
    kickoff: DateTime<Utc>,
    sportradar_id: String,
    markets: Vec<MarketFixture>,
}

#[derive(Clone, Deserialize)]
struct MarketFixture {
    betpawa_market_id: String,
    betpawa_market_name: String,
    line: Option<f64>,
    handicap_type: Option<String>,
    handicap_home: Option<f64>,
    handicap_away: Option<f64>,
    outcomes: Outcomes,
}

/// The sample data directory: the repository's `fixtures/`, or `DEMO_FIXTURES` if set.
fn fixtures_dir() -> PathBuf {
    std::env::var_os("DEMO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
}

fn fixture<T: for<'de> Deserialize<'de>>(name: &str) -> Result<T, Error> {
    let path = fixtures_dir().join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()).into())
}

// --- Storing -----------------------------------------------------------------------------

/// Betpawa's own sports, tournaments and events, which the Python service writes in
/// production: inserted or updated by their natural keys. Returns sport ids by slug.
async fn store_betpawa(
    db: &DatabaseConnection,
    fixture: &BetpawaFixture,
) -> Result<HashMap<String, i32>, Error> {
    let sports = Sport::insert_many(fixture.sports.iter().map(|s| sport::ActiveModel {
        name: Set(s.name.clone()),
        slug: Set(s.slug.clone()),
        ..Default::default()
    }))
    .on_conflict(
        OnConflict::column(sport::Column::Slug)
            .update_column(sport::Column::Name)
            .to_owned(),
    )
    .exec_with_returning(db)
    .await?;
    let sports: HashMap<String, i32> = sports.into_iter().map(|s| (s.slug, s.id)).collect();

    let mut tournaments = Vec::new();
    for t in &fixture.tournaments {
        let sport_id = *sports
            .get(&t.sport)
            .ok_or_else(|| format!("tournament {} names unknown sport {}", t.name, t.sport))?;
        tournaments.push(tournament::ActiveModel {
            sport_id: Set(sport_id),
            name: Set(t.name.clone()),
            country: Set(t.country.clone()),
            sportradar_id: Set(Some(t.sportradar_id.clone())),
            ..Default::default()
        });
    }
    let tournaments = Tournament::insert_many(tournaments)
        .on_conflict(
            OnConflict::column(tournament::Column::SportradarId)
                .update_columns([tournament::Column::Name, tournament::Column::Country])
                .to_owned(),
        )
        .exec_with_returning(db)
        .await?;
    let tournaments: HashMap<String, i32> = tournaments
        .into_iter()
        .filter_map(|t| Some((t.sportradar_id?, t.id)))
        .collect();

    let mut events = Vec::new();
    for e in &fixture.events {
        let tournament_id = *tournaments
            .get(&e.tournament_sportradar_id)
            .ok_or_else(|| {
                format!(
                    "event {} names unknown tournament {}",
                    e.name, e.tournament_sportradar_id
                )
            })?;
        let event = event::ActiveModel {
            tournament_id: Set(tournament_id),
            name: Set(e.name.clone()),
            home_team: Set(e.home_team.clone()),
            away_team: Set(e.away_team.clone()),
            kickoff: Set(e.kickoff),
            sportradar_id: Set(e.sportradar_id.clone()),
            created_at: Set(entity::clock::now()),
            ..Default::default()
        };
        event.validate()?;
        events.push(event);
    }
    Event::insert_many(events)
        .on_conflict(
            OnConflict::column(event::Column::SportradarId)
                .update_columns([
                    event::Column::TournamentId,
                    event::Column::Name,
                    event::Column::HomeTeam,
                    event::Column::AwayTeam,
                    event::Column::Kickoff,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(sports)
}

/// One scrape cycle of a competitor: tournaments, events, and the soft delete of events
/// that left the palimpsest. Returns the event ids by external id.
async fn store_palimpsest(
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
            sportradar_id: t.sportradar_id.clone(),
        });
    }
    let tournament_ids = store::upsert_tournaments(db, &tournaments).await?;

    let mut events = Vec::new();
    for (t, &tournament_id) in palimpsest.tournaments.iter().zip(&tournament_ids) {
        for e in &t.events {
            events.push(EventUpsert {
                source: palimpsest.source,
                tournament_id,
                name: e.name.clone(),
                home_team: e.home_team.clone(),
                away_team: e.away_team.clone(),
                kickoff: e.kickoff,
                external_id: e.external_id.clone(),
                sportradar_id: e.sportradar_id.clone(),
            });
        }
    }
    let event_ids = store::upsert_events(db, &events).await?;
    let seen: Vec<String> = events.into_iter().map(|e| e.external_id).collect();
    store::soft_delete_missing(db, palimpsest.source, &seen).await?;
    Ok(seen.into_iter().zip(event_ids).collect())
}

/// Writes the rounds not stored yet; returns (snapshots written, snapshots already there).
async fn store_rounds(
    db: &DatabaseConnection,
    palimpsest: &Palimpsest,
    event_ids: &HashMap<String, i32>,
) -> Result<(usize, usize), Error> {
    let ids: Vec<i32> = event_ids.values().copied().collect();
    let mut written = 0;
    let mut already_stored = 0;
    for (round, &(day, hour, minute)) in ROUNDS.iter().enumerate() {
        let captured_at = Utc
            .with_ymd_and_hms(2026, 12, day as u32, hour, minute, 0)
            .single()
            .ok_or("capture time")?;
        let stored: HashSet<i32> = CompetitorOddsSnapshot::find()
            .filter(competitor_odds_snapshot::Column::CompetitorEventId.is_in(ids.clone()))
            .filter(competitor_odds_snapshot::Column::CapturedAt.eq(captured_at))
            .all(db)
            .await?
            .into_iter()
            .map(|s| s.competitor_event_id)
            .collect();
        let mut snapshots = Vec::new();
        for t in &palimpsest.tournaments {
            for e in &t.events {
                let event_id = event_ids[&e.external_id];
                if stored.contains(&event_id) {
                    already_stored += 1;
                    continue;
                }
                snapshots.push(NewSnapshot {
                    competitor_event_id: event_id,
                    captured_at,
                    scrape_run_id: None,
                    raw_response: None,
                    markets: e
                        .markets
                        .iter()
                        .enumerate()
                        .map(|(k, m)| market(m, round, event_id, k))
                        .collect(),
                });
            }
        }
        written += store::write_snapshots(db, &snapshots).await?.len();
    }
    Ok((written, already_stored))
}

/// A market of round `round`: the fixture's odds, moved a little in later rounds the way
/// prices drift between two scrapes.
fn market(m: &MarketFixture, round: usize, event_id: i32, k: usize) -> NewMarket {
    let outcomes = m
        .outcomes
        .0
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let step = ((event_id as usize * 7 + k * 3 + i) % 5) as f64 - 2.0; // -2..=2
            let drift = 1.0 + 0.01 * step * round as f64;
            let odds = ((o.odds * drift * 100.0).round() / 100.0).max(1.01);
            Outcome {
                name: o.name.clone(),
                odds,
                is_active: o.is_active,
            }
        })
        .collect();
    NewMarket {
        betpawa_market_id: m.betpawa_market_id.clone(),
        betpawa_market_name: m.betpawa_market_name.clone(),
        line: m.line,
        handicap_type: m.handicap_type.clone(),
        handicap_home: m.handicap_home,
        handicap_away: m.handicap_away,
        outcomes: Outcomes(outcomes),
    }
}

// --- Reporting ---------------------------------------------------------------------------

fn display_name(source: CompetitorSource) -> &'static str {
    match source {
        CompetitorSource::Sportybet => "SportyBet",
        CompetitorSource::Bet9ja => "Bet9ja",
    }
}

const ONE_X_TWO: &str = "3743";
const OVER_UNDER: &str = "5000";

/// Per Betpawa event that a competitor event links to: 1X2 and Over/Under 2.5 of both
/// competitors from their latest snapshots, with each one's margin.
async fn print_comparison(db: &DatabaseConnection) -> Result<(), Error> {
    let linked = CompetitorEvent::find_active()
        .filter(competitor_event::Column::BetpawaEventId.is_not_null())
        .all(db)
        .await?;
    let ids: Vec<i32> = linked.iter().map(|e| e.id).collect();
    let latest = store::latest_snapshots(db, &ids).await?;

    // Betpawa event -> (competitor -> markets of its latest snapshot)
    let mut by_event: BTreeMap<
        i32,
        BTreeMap<CompetitorSource, Vec<entity::competitor_market_odds::Model>>,
    > = BTreeMap::new();
    for competitor_event in &linked {
        let (Some(betpawa_id), Some(latest)) = (
            competitor_event.betpawa_event_id,
            latest.get(&competitor_event.id),
        ) else {
            continue;
        };
        by_event
            .entry(betpawa_id)
            .or_default()
            .insert(competitor_event.source, latest.markets.clone());
    }
    let mut events = Event::find()
        .filter(event::Column::Id.is_in(by_event.keys().copied()))
        .all(db)
        .await?;
    events.sort_by(|a, b| (a.kickoff, &a.name).cmp(&(b.kickoff, &b.name)));

    let sources = [CompetitorSource::Sportybet, CompetitorSource::Bet9ja];
    let mut out = String::new();
    let header = format!(
        "  {:<22}{:>10}{:>10}",
        "",
        display_name(sources[0]),
        display_name(sources[1])
    );
    for event in &events {
        let odds = &by_event[&event.id];
        let _ = writeln!(
            out,
            "\n{}  {}  [{}]",
            event.kickoff.format("%a %d %b %H:%M UTC"),
            event.name,
            event.sportradar_id
        );
        let _ = writeln!(out, "{header}");
        let pick = |source: &CompetitorSource, id: &str, line: Option<f64>| {
            odds.get(source).and_then(|markets| {
                markets
                    .iter()
                    .find(|m| m.betpawa_market_id == id && m.line == line)
                    .map(|m| &m.outcomes)
            })
        };
        for (label, id, line, names) in [
            ("1X2", ONE_X_TWO, None, ["1", "X", "2"].as_slice()),
            (
                "Over/Under 2.5",
                OVER_UNDER,
                Some(2.5),
                ["Over", "Under"].as_slice(),
            ),
        ] {
            let markets: Vec<Option<&Outcomes>> =
                sources.iter().map(|s| pick(s, id, line)).collect();
            for (row, name) in names.iter().enumerate() {
                let label = if row == 0 { label } else { "" };
                let _ = write!(out, "  {label:<15}{name:<7}");
                for outcomes in &markets {
                    let cell = outcomes
                        .and_then(|o| o.get(name))
                        .map_or("-".to_owned(), |o| {
                            if o.is_active {
                                format!("{:.2}", o.odds)
                            } else {
                                "susp.".to_owned()
                            }
                        });
                    let _ = write!(out, "{cell:>10}");
                }
                out.push('\n');
            }
            let _ = write!(out, "  {:<15}{:<7}", "", "margin");
            for outcomes in &markets {
                let cell = outcomes
                    .and_then(Outcomes::margin)
                    .map_or("-".to_owned(), |m| format!("{:.1}%", m * 100.0));
                let _ = write!(out, "{cell:>10}");
            }
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}

async fn print_counts(
    db: &DatabaseConnection,
    written: usize,
    already_stored: usize,
    linked_now: u64,
) -> Result<(), Error> {
    println!(
        "\nStored: {} competitor tournaments, {} competitor events ({} soft-deleted), {} snapshots, {} market odds",
        CompetitorTournament::find().count(db).await?,
        CompetitorEvent::find().count(db).await?,
        CompetitorEvent::find_deleted().count(db).await?,
        CompetitorOddsSnapshot::find().count(db).await?,
        CompetitorMarketOdds::find().count(db).await?,
    );
    let mut linked_by_source = Vec::new();
    for source in [CompetitorSource::Sportybet, CompetitorSource::Bet9ja] {
        let of_source =
            CompetitorEvent::find_active().filter(competitor_event::Column::Source.eq(source));
        let all = of_source.clone().count(db).await?;
        let linked = of_source
            .filter(competitor_event::Column::BetpawaEventId.is_not_null())
            .count(db)
            .await?;
        linked_by_source.push(format!("{} {linked} of {all} events", display_name(source)));
    }
    println!(
        "Linked to Betpawa by SportRadar id: {}",
        linked_by_source.join(", ")
    );

    let mut matched: HashMap<i32, HashSet<CompetitorSource>> = HashMap::new();
    for e in CompetitorEvent::find_active().all(db).await? {
        if let Some(betpawa) = e.betpawa_event_id {
            matched.entry(betpawa).or_default().insert(e.source);
        }
    }
    let betpawa_events = Event::find().count(db).await? as usize;
    let both = matched.values().filter(|s| s.len() == 2).count();
    let one = matched.values().filter(|s| s.len() == 1).count();
    println!(
        "Betpawa events: {betpawa_events}; matched by both competitors {both}, by one {one}, by none {}",
        betpawa_events - both - one
    );
    println!(
        "This run: {written} snapshots written, {already_stored} already stored, {linked_now} links changed"
    );
    Ok(())
}
