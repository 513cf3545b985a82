//! Ingest benchmark: one synthetic palimpsest through the store, then the same rows through
//! `COPY .. FROM STDIN` as the same-run baseline.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/bench \
//!     cargo run --release --example bench_ingest -- --events 2000 --markets 60 [--rounds 1]
//! ```
//!
//! The database must be empty of competitor odds (a fresh one); the benchmark migrates it.
//! It prints one line per measurement (`store`, `copy`, `latest`) and `ratio_store_to_copy`.
//! Progress goes to stderr. `--in-transaction` calls `write_snapshots` inside a transaction
//! of the caller's, the path that cannot use COPY; its lines say `store_in_transaction`.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use competitor_db::Migrator;
use competitor_db::store::{self, EventUpsert, NewSnapshot, TournamentUpsert, write_snapshots};
use competitor_db::testing;
use entity::CompetitorSource;
use migration::MigratorTrait;
use sea_orm::{ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, Set, TransactionTrait};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    events: usize,
    markets: usize,
    rounds: usize,
    in_transaction: bool,
}

fn options() -> Result<Options, Error> {
    let mut options = Options {
        events: 2000,
        markets: 60,
        rounds: 1,
        in_transaction: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--in-transaction" {
            options.in_transaction = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: usize = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--events" => options.events = number,
            "--markets" => options.markets = number,
            "--rounds" => options.rounds = number,
            _ => {
                return Err(format!(
                    "unknown option {flag} (--events, --markets, --rounds, --in-transaction)"
                )
                .into());
            }
        }
    }
    if options.events == 0 || options.markets == 0 || options.rounds == 0 {
        return Err("--events, --markets and --rounds must be at least 1".into());
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("bench_ingest: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let options = options()?;
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to an empty PostgreSQL database")?;
    if !url.starts_with("postgres") {
        return Err("the benchmark compares with COPY: DATABASE_URL must be PostgreSQL".into());
    }
    let mut connect = ConnectOptions::new(url);
    connect.max_connections(4).sqlx_logging(false);
    let db = Database::connect(connect).await?;
    Migrator::up(&db, None).await?;
    let existing = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM competitor_market_odds",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if existing > 0 {
        return Err(format!(
            "the database already holds {existing} market odds rows; use an empty database"
        )
        .into());
    }

    let event_ids = seed_palimpsest(&db, options.events).await?;
    let market_rows = options.events * options.markets * options.rounds;

    let store = if options.in_transaction {
        "store_in_transaction"
    } else {
        "store"
    };
    let started = Instant::now();
    for round in 0..options.rounds {
        let batch = snapshots(&event_ids, options.markets, round);
        if options.in_transaction {
            let txn = db.begin().await?;
            write_snapshots(&txn, &batch).await?;
            txn.commit().await?;
        } else {
            write_snapshots(&db, &batch).await?;
        }
        progress(store, round, options.rounds, started);
    }
    let store_seconds = started.elapsed().as_secs_f64();
    report(store, market_rows, store_seconds);

    let pool = db.get_postgres_connection_pool();
    let started = Instant::now();
    for round in 0..options.rounds {
        let batch = snapshots(&event_ids, options.markets, round);
        testing::copy_snapshots(pool, &batch).await?;
        progress("copy", round, options.rounds, started);
    }
    let copy_seconds = started.elapsed().as_secs_f64();
    report("copy", market_rows, copy_seconds);

    // Fresh statistics, as autovacuum keeps them on a live database: without any, the
    // planner reads the whole market table instead of its snapshot index.
    db.execute_unprepared("ANALYZE").await?;
    let started = Instant::now();
    let latest = store::latest_snapshots(&db, &event_ids).await?;
    let latest_seconds = started.elapsed().as_secs_f64();
    if latest.len() != event_ids.len() {
        return Err(format!(
            "latest_snapshots returned {} of {} events",
            latest.len(),
            event_ids.len()
        )
        .into());
    }
    println!("latest events={} seconds={latest_seconds:.3}", latest.len());
    println!("ratio_{store}_to_copy={:.3}", copy_seconds / store_seconds);
    Ok(())
}

fn report(method: &str, rows: usize, seconds: f64) {
    println!(
        "{method} market_rows={rows} seconds={seconds:.3} market_rows_per_sec={:.0}",
        rows as f64 / seconds
    );
}

fn progress(method: &str, round: usize, rounds: usize, started: Instant) {
    if rounds > 1 {
        eprintln!(
            "{method}: round {}/{rounds} after {:.1}s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
}

/// One sport, 50 tournaments and `events` events of SportyBet, through the store.
async fn seed_palimpsest(
    db: &sea_orm::DatabaseConnection,
    events: usize,
) -> Result<Vec<i32>, Error> {
    let started = Instant::now();
    let sport = entity::sport::ActiveModel {
        name: Set("Football".to_owned()),
        slug: Set("football".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let tournaments: Vec<TournamentUpsert> = (0..50)
        .map(|t| TournamentUpsert {
            source: CompetitorSource::Sportybet,
            sport_id: sport.id,
            name: format!("League {t}"),
            country_raw: Some("England".to_owned()),
            country_iso: Some("ENG".to_owned()),
            external_id: (1000 + t).to_string(),
            sportradar_id: Some((1000 + t).to_string()),
        })
        .collect();
    let tournament_ids = store::upsert_tournaments(db, &tournaments).await?;
    let kickoff = Utc
        .with_ymd_and_hms(2026, 12, 5, 12, 0, 0)
        .single()
        .ok_or("kickoff")?;
    let rows: Vec<EventUpsert> = (0..events)
        .map(|e| EventUpsert {
            source: CompetitorSource::Sportybet,
            tournament_id: tournament_ids[e % 50],
            name: format!("Home {e} vs Away {e}"),
            home_team: format!("Home {e}"),
            away_team: format!("Away {e}"),
            kickoff: kickoff + Duration::minutes(15 * (e % 500) as i64),
            external_id: format!("sr:match:{}", 50_000_000 + e),
            sportradar_id: (50_000_000 + e).to_string(),
        })
        .collect();
    let event_ids = store::upsert_events(db, &rows).await?;
    eprintln!(
        "seeded {events} events in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(event_ids)
}

/// A round of snapshots: every event with `markets` markets, deterministic per round.
fn snapshots(event_ids: &[i32], markets: usize, round: usize) -> Vec<NewSnapshot> {
    let captured_at = Utc
        .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::minutes(5 * round as i64);
    event_ids
        .iter()
        .map(|&event| NewSnapshot {
            competitor_event_id: event,
            captured_at,
            scrape_run_id: None,
            raw_response: None,
            markets: (0..markets)
                .map(|k| testing::market(event, k, round as u32))
                .collect(),
        })
        .collect()
}
