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

use chrono::{DateTime, Duration, TimeZone, Utc};
use competitor_db::Migrator;
use competitor_db::store::{
    self, EventUpsert, NewMarket, NewSnapshot, TournamentUpsert, write_snapshots,
};
use entity::CompetitorSource;
use entity::outcome::{Outcome, Outcomes};
use migration::MigratorTrait;
use sea_orm::sqlx::postgres::PgPool;
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
        copy_snapshots(pool, &batch).await?;
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
            external_id: format!("sr:tournament:{}", 1000 + t),
            sportradar_id: Some(format!("sr:tournament:{}", 1000 + t)),
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
            tournament_id: tournament_ids[&format!("sr:tournament:{}", 1000 + e % 50)],
            name: format!("Home {e} vs Away {e}"),
            home_team: format!("Home {e}"),
            away_team: format!("Away {e}"),
            kickoff: kickoff + Duration::minutes(15 * (e % 500) as i64),
            external_id: format!("sr:match:{}", 50_000_000 + e),
            sportradar_id: format!("sr:match:{}", 50_000_000 + e),
        })
        .collect();
    let event_ids = store::upsert_events(db, &rows).await?;
    eprintln!(
        "seeded {events} events in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(rows.iter().map(|e| event_ids[&e.external_id]).collect())
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
            markets: (0..markets).map(|k| market(event, round, k)).collect(),
        })
        .collect()
}

/// Market `k` of an event: the kinds of a real football palimpsest, with varying lines.
fn market(event: i32, round: usize, k: usize) -> NewMarket {
    let mut seed = (event as u64) * 1_000_003 + (round as u64) * 7_919 + k as u64;
    let mut odds = |low: f64, high: f64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let unit = (seed % 10_000) as f64 / 10_000.0;
        ((low + unit * (high - low)) * 100.0).round() / 100.0
    };
    let two = |a: &str, b: &str, odds: &mut dyn FnMut(f64, f64) -> f64| {
        Outcomes(vec![
            Outcome::new(a, odds(1.3, 3.2)),
            Outcome::new(b, odds(1.3, 3.2)),
        ])
    };
    let (id, name, line, handicap, outcomes) = match k % 10 {
        0 => (
            "3743",
            "1X2",
            None,
            None,
            Outcomes(vec![
                Outcome::new("1", odds(1.2, 6.0)),
                Outcome::new("X", odds(2.8, 4.5)),
                Outcome::new("2", odds(1.2, 9.0)),
            ]),
        ),
        1 | 2 => (
            "5000",
            "Over/Under",
            Some(0.5 + (k % 7) as f64),
            None,
            two("Over", "Under", &mut odds),
        ),
        3 => (
            "3795",
            "Both Teams To Score",
            None,
            None,
            two("Yes", "No", &mut odds),
        ),
        4 => (
            "4693",
            "Double Chance",
            None,
            None,
            Outcomes(vec![
                Outcome::new("1X", odds(1.05, 1.8)),
                Outcome::new("12", odds(1.05, 1.6)),
                Outcome::new("X2", odds(1.05, 2.5)),
            ]),
        ),
        5 | 6 => (
            "3744",
            "Asian Handicap",
            None,
            Some(-2.5 + (k % 11) as f64 * 0.5),
            two("1", "2", &mut odds),
        ),
        7 => (
            "5007",
            "1st Half - Over/Under",
            Some(0.5 + (k % 3) as f64),
            None,
            two("Over", "Under", &mut odds),
        ),
        8 => ("3747", "Draw No Bet", None, None, two("1", "2", &mut odds)),
        _ => (
            "3769",
            "Odd/Even",
            None,
            None,
            two("Odd", "Even", &mut odds),
        ),
    };
    NewMarket {
        betpawa_market_id: id.to_owned(),
        betpawa_market_name: name.to_owned(),
        line,
        handicap_type: handicap.map(|_| "asian".to_owned()),
        handicap_home: handicap,
        handicap_away: handicap.map(|h: f64| -h),
        outcomes,
    }
}

/// The baseline: the same snapshots and markets through `COPY .. FROM STDIN` (text format)
/// in one transaction, snapshot ids taken from the sequence first.
async fn copy_snapshots(pool: &PgPool, batch: &[NewSnapshot]) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sea_orm::sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('competitor_odds_snapshots', 'id')) \
         FROM generate_series(1, $1)",
    )
    .bind(batch.len() as i64)
    .fetch_all(&mut *tx)
    .await?;

    let mut snapshots = String::new();
    for (snapshot, id) in batch.iter().zip(&ids) {
        snapshots.push_str(&format!(
            "{id}\t{}\t{}\t{}\n",
            snapshot.competitor_event_id,
            timestamp(snapshot.captured_at),
            snapshot
                .scrape_run_id
                .map_or("\\N".to_owned(), |r| r.to_string()),
        ));
    }
    let mut copy = tx
        .copy_in_raw("COPY competitor_odds_snapshots (id, competitor_event_id, captured_at, scrape_run_id) FROM STDIN")
        .await?;
    copy.send(snapshots.into_bytes()).await?;
    copy.finish().await?;

    let mut copy = tx
        .copy_in_raw(
            "COPY competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, \
             line, handicap_type, handicap_home, handicap_away, outcomes) FROM STDIN",
        )
        .await?;
    let mut buffer = String::with_capacity(1 << 20);
    for (snapshot, id) in batch.iter().zip(&ids) {
        for market in &snapshot.markets {
            let number = |value: Option<f64>| value.map_or("\\N".to_owned(), |v| v.to_string());
            buffer.push_str(&format!(
                "{id}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                escape(&market.betpawa_market_id),
                escape(&market.betpawa_market_name),
                number(market.line),
                market
                    .handicap_type
                    .as_deref()
                    .map_or("\\N".to_owned(), escape),
                number(market.handicap_home),
                number(market.handicap_away),
                escape(&serde_json::to_string(&market.outcomes)?),
            ));
            if buffer.len() > 1 << 20 {
                copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
            }
        }
    }
    copy.send(buffer.into_bytes()).await?;
    copy.finish().await?;
    tx.commit().await?;
    Ok(())
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}
