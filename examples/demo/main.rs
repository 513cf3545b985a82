//! The main job, end to end, on the sample palimpsests in `fixtures/`:
//!
//! ```sh
//! cargo run --example demo                              # a SQLite file in the working directory
//! DATABASE_URL=postgres://.. cargo run --example demo   # the same on PostgreSQL
//! ```
//!
//! It migrates the database, stores Betpawa's base events ([`betpawa`]), upserts the
//! SportyBet and Bet9ja palimpsests and records two capture rounds of each in change
//! mode ([`palimpsest`]), links their events to Betpawa's by SportRadar id, and prints,
//! per Betpawa event, both competitors' current 1X2 and Over/Under 2.5 odds side by side
//! with each one's margin ([`report`]). Run again, it changes nothing: rows are upserted
//! and rounds already recorded are stale.
//!
//! With `RUST_LOG` set it also writes, to stderr, what a service's subscriber would see:
//! `RUST_LOG=competitor_db=info cargo run --example demo` prints one line per store call
//! as its span closes, with its fields (docs/design.md, "Tracing").

mod betpawa;
mod fixtures;
mod palimpsest;
mod report;

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use competitor_db::store::{self, RecordedOdds};
use sea_orm::sqlx::Connection;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Errors end the demo with one `demo: ...` line.
pub type Error = Box<dyn std::error::Error>;

/// Where the demo keeps its data when `DATABASE_URL` is not set.
const SQLITE_FILE: &str = "competitor-odds-demo.sqlite";

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
    trace_to_stderr()?;
    let db = connect().await?;
    competitor_db::migrate(&db)
        .await
        .map_err(|err| format!("migrating the database: {err}"))?;

    let betpawa: fixtures::BetpawaFixture = fixtures::load("betpawa.json")?;
    let palimpsests: [fixtures::Palimpsest; 2] = [
        fixtures::load("sportybet.json")?,
        fixtures::load("bet9ja.json")?,
    ];
    let sports = betpawa::store(&db, &betpawa)
        .await
        .map_err(|err| format!("{}: {err}", fixtures::dir().join("betpawa.json").display()))?;

    // What each capture round recorded, both competitors together.
    let mut rounds: Vec<RecordedOdds> = Vec::new();
    for palimpsest in &palimpsests {
        let file = fixtures::dir().join(format!("{}.json", palimpsest.source));
        let file = file.display();
        let events = palimpsest::store(&db, palimpsest, &sports)
            .await
            .map_err(|err| format!("{file}: {err}"))?;
        let recorded = palimpsest::record_rounds(&db, palimpsest, &events)
            .await
            .map_err(|err| format!("{file}: {err}"))?;
        rounds.resize(recorded.len(), RecordedOdds::default());
        for (round, recorded) in rounds.iter_mut().zip(recorded) {
            round.snapshots += recorded.snapshots;
            round.markets_written += recorded.markets_written;
            round.markets_unchanged += recorded.markets_unchanged;
            round.events_confirmed += recorded.events_confirmed;
            round.stale_captures += recorded.stale_captures;
        }
    }
    let links_changed = store::link_betpawa_events(&db).await?;

    report::comparison(&db).await?;
    report::counts(&db, &rounds, links_changed).await?;
    Ok(())
}

/// With `RUST_LOG` set, a subscriber that writes the spans it lets through to stderr, one
/// line each as it closes, with its fields and its time; without, none, so stdout and
/// stderr stay as they are.
fn trace_to_stderr() -> Result<(), Error> {
    if std::env::var_os(EnvFilter::DEFAULT_ENV).is_none() {
        return Ok(());
    }
    let filter = EnvFilter::try_from_default_env().map_err(|err| format!("RUST_LOG: {err}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|err| format!("RUST_LOG: {err}"))?;
    Ok(())
}

/// The database of `DATABASE_URL` (PostgreSQL or SQLite), else a SQLite file here; the
/// first line says which, without a password.
async fn connect() -> Result<DatabaseConnection, Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let timeout = Duration::from_secs(5);
    if url.is_empty() || url.starts_with("sqlite:") {
        let options = if url.is_empty() {
            println!("Database: SQLite file ./{SQLITE_FILE} (set DATABASE_URL to use PostgreSQL)");
            SqliteConnectOptions::new()
                .filename(SQLITE_FILE)
                .create_if_missing(true)
        } else {
            let options = SqliteConnectOptions::from_str(&url)
                .map_err(|err| format!("DATABASE_URL: {err}"))?;
            println!(
                "Database: SQLite file {} (from DATABASE_URL)",
                options.get_filename().display()
            );
            options
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options.foreign_keys(true))
            .await
            .map_err(|err| format!("cannot open the SQLite database: {err}"))?;
        return Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool));
    }
    let options = PgConnectOptions::from_str(&url).map_err(|err| format!("DATABASE_URL: {err}"))?;
    let server = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    println!("Database: {server} (from DATABASE_URL)");
    // One connection first: the pool would only report that it timed out.
    PgConnection::connect_with(&options)
        .await
        .map_err(|err| format!("cannot connect to {server}: {err}"))?
        .close()
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(|err| format!("cannot connect to {server}: {err}"))?;
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}
