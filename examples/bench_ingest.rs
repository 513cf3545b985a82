//! Ingest benchmark: the store's writes and reads against same-run baselines.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/bench \
//!     cargo run --release --example bench_ingest -- \
//!     --mode both --events 1000 --markets 60 --rounds 48 --change-rate 0.05
//! ```
//!
//! The database must be empty of competitor odds (a fresh one); the benchmark migrates it.
//! Every line is one measurement, values as plain numbers (progress goes to stderr):
//!
//! - `store` / `copy`: one full round through `write_snapshots` given the pool (a new
//!   capture of events it holds, a fraction `--change-rate` of the markets repriced, so
//!   the write keeps the current odds as a scrape cycle's does), and the same rows through
//!   the same `COPY .. FROM STDIN` without the store's checks or the current odds' upkeep
//!   (the baseline), three times each, taking turns; the medians, over plain TCP
//!   (`tls=off`) and over TLS (`tls=on`); with
//!   `--in-transaction` the store writes inside a transaction of the benchmark's own, the
//!   path that cannot use COPY (`store_in_transaction`).
//! - `rounds mode=full|change`: `--rounds` rounds of every event, in which a fraction
//!   `--change-rate` of the markets gets new odds (a fixed seed), written with
//!   `write_snapshots` (full) or `record_odds` (change) on events of their own. Per
//!   round, averaged over rounds 2..R: market-history rows appended, growth of
//!   `pg_total_relation_size` over the five competitor tables, and the write's time.
//!   Autovacuum is off on the machine this was written on, so each round ends with
//!   `VACUUM (ANALYZE)` of those tables, untimed, as autovacuum would do on a live
//!   database.
//! - `read fn=current_odds|latest_snapshots`: the read for all events of its mode after
//!   round 1 and after round R, over both connections, the median of seven calls; beside
//!   each `current_odds` line, `read fn=current_rows_raw`: the same current rows through a
//!   plain sqlx `fetch_all` decoded into the same model, its baseline.
//! - `ratio_change_round_to_copy`: the change mode's write time per round over the bare
//!   COPY of the same full capture (the `copy tls=off` line).
//! - `upsert fn=upsert_events`: the `--events` events of the first line's round upserted
//!   again (every row updated), over both connections, the median of seven calls.
//!
//! - `tracing fn=upsert_events|current_odds|latest_snapshots` (without `--tracing info`):
//!   the calls above over plain TCP, nine times each of three ways, taking turns: with no
//!   subscriber, inside a `request` span under an `info` subscriber, and the same with the
//!   store's spans filtered out; the medians and their ratios.
//!
//! `--tracing info` installs a `tracing-subscriber` `fmt` subscriber at `info` for the
//! whole run, as a service would, writing one line per store call to stderr as its span
//! closes; `--tracing off` (the default) installs none. `scripts/bench.sh --tracing both`
//! runs both and prints the ratio of each figure.

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use competitor_db::store::{self, NewSnapshot};
use competitor_db::testing;
use competitor_db::{Migrator, MigratorTrait};
use entity::CompetitorSource;
use entity::competitor_market_odds_current as current;
use entity::outcome::Outcomes;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set, SqlxPostgresConnector, Statement,
    TransactionTrait,
};
use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Instrument};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What to measure.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Full,
    Change,
    Both,
}

struct Options {
    mode: Mode,
    events: usize,
    markets: usize,
    rounds: usize,
    change_rate: f64,
    in_transaction: bool,
    /// Whether a subscriber at `info` is installed.
    tracing: bool,
}

const USAGE: &str = "--mode full|change|both --events E --markets M --rounds R \
                     --change-rate P [--in-transaction] [--tracing off|info]";

fn options() -> Result<Options, Error> {
    let mut options = Options {
        mode: Mode::Both,
        events: 1000,
        markets: 60,
        rounds: 2,
        change_rate: 0.05,
        in_transaction: false,
        tracing: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--in-transaction" {
            options.in_transaction = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value ({USAGE})"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: not a whole number: {value}"))
        };
        match flag.as_str() {
            "--mode" => {
                options.mode = match value.as_str() {
                    "full" => Mode::Full,
                    "change" => Mode::Change,
                    "both" => Mode::Both,
                    _ => return Err(format!("--mode: full, change or both, not {value}").into()),
                }
            }
            "--tracing" => {
                options.tracing = match value.as_str() {
                    "off" => false,
                    "info" => true,
                    _ => return Err(format!("--tracing: off or info, not {value}").into()),
                }
            }
            "--events" => options.events = number()?,
            "--markets" => options.markets = number()?,
            "--rounds" => options.rounds = number()?,
            "--change-rate" => {
                options.change_rate = value
                    .parse()
                    .ok()
                    .filter(|rate: &f64| (0.0..=1.0).contains(rate))
                    .ok_or_else(|| format!("--change-rate: a fraction in 0..=1, not {value}"))?
            }
            _ => return Err(format!("unknown option {flag} ({USAGE})").into()),
        }
    }
    if options.events == 0 || options.markets == 0 || options.rounds < 2 {
        return Err("--events and --markets must be at least 1, --rounds at least 2".into());
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
    if options.tracing {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        tracing::subscriber::set_global_default(info_subscriber(filter))?;
    }
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to an empty PostgreSQL database")?;
    let server: PgConnectOptions = url
        .parse()
        .map_err(|err| format!("DATABASE_URL must be PostgreSQL (the baseline is COPY): {err}"))?;
    let connect = |mode| {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(server.clone().ssl_mode(mode));
        SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
    };
    let plain = connect(PgSslMode::Disable);
    let tls = connect(PgSslMode::Require);
    let connections = [("off", &plain), ("on", &tls)];
    Migrator::up(&plain, None).await?;
    if scalar(&plain, "SELECT COUNT(*) AS n FROM competitor_market_odds").await? > 0 {
        return Err("the database already holds market odds; use an empty database".into());
    }

    let (palimpsest, events) = seed(&plain, 3 * options.events).await?;
    let (baseline, rest) = events.split_at(options.events);
    let (full_events, change_events) = rest.split_at(options.events);
    upserts(&connections, &palimpsest[..options.events]).await?;

    // One full round through the store and through plain COPY, over both connections. The
    // store's rounds are new captures of events it holds (a fraction `--change-rate` of the
    // markets repriced each), so each write folds into current odds as a scrape cycle's
    // does; the first, which fills the current table, is not timed. COPY writes the same
    // rows with no upkeep (the fold triggers told to stand aside).
    let rows = baseline.len() * options.markets;
    let mut versions = vec![0u32; rows];
    let mut next_round = 0;
    let mut next_batch = |versions: &mut Vec<u32>| {
        next_round += 1;
        for (i, &event) in baseline.iter().enumerate() {
            for k in 0..options.markets {
                if testing::changes(event, k, next_round, options.change_rate) {
                    versions[i * options.markets + k] += 1;
                }
            }
        }
        round(baseline, options.markets, versions, next_round)
    };
    store::write_snapshots(&plain, &round(baseline, options.markets, &versions, 0)).await?;
    let store_name = if options.in_transaction {
        "store_in_transaction"
    } else {
        "store"
    };
    let mut copy_ms = 0.0;
    for (tls_mode, db) in connections {
        // Three pairs, the two methods taking turns: the medians compare, not whichever
        // write met a checkpoint.
        let (mut store_times, mut copy_times) = (Vec::new(), Vec::new());
        for pair in 0..PAIRS {
            let batch = next_batch(&mut versions);
            for store_first in [pair % 2 == 0, pair % 2 == 1] {
                let started = Instant::now();
                if !store_first {
                    testing::copy_snapshots(db.get_postgres_connection_pool(), &batch).await?;
                    copy_times.push(started.elapsed().as_secs_f64());
                } else if options.in_transaction {
                    let txn = db.begin().await?;
                    store::write_snapshots(&txn, &batch).await?;
                    txn.commit().await?;
                    store_times.push(started.elapsed().as_secs_f64());
                } else {
                    store::write_snapshots(db, &batch).await?;
                    store_times.push(started.elapsed().as_secs_f64());
                }
            }
        }
        let (store_seconds, copy_seconds) = (median(store_times), median(copy_times));
        write_line(store_name, tls_mode, rows, store_seconds);
        write_line("copy", tls_mode, rows, copy_seconds);
        println!(
            "ratio_{store_name}_to_copy tls={tls_mode} ratio={:.3}",
            copy_seconds / store_seconds
        );
        if tls_mode == "off" {
            copy_ms = copy_seconds * 1000.0;
        }
    }

    if options.mode != Mode::Change {
        rounds(
            &plain,
            &connections,
            &options,
            Mode::Full,
            full_events,
            baseline,
        )
        .await?;
    }
    if options.mode != Mode::Full {
        let (change_ms, paired_copy_ms) = rounds(
            &plain,
            &connections,
            &options,
            Mode::Change,
            change_events,
            baseline,
        )
        .await?;
        // The change mode's round against the bare COPY of the same full capture: each round
        // paired with a COPY of its rows right after it, and against the `copy` line.
        println!(
            "ratio_change_round_to_copy tls=off ratio={:.3} change_ms={change_ms:.0} \
             copy_ms={paired_copy_ms:.0} ratio_to_copy_line={:.3} copy_line_ms={copy_ms:.0}",
            change_ms / paired_copy_ms,
            change_ms / copy_ms
        );
    }
    if !options.tracing {
        let palimpsest = &palimpsest[..options.events];
        tracing_cost(&plain, Call::Upsert(palimpsest)).await?;
        if options.mode != Mode::Full {
            tracing_cost(&plain, Call::CurrentOdds(change_events)).await?;
        }
        if options.mode != Mode::Change {
            tracing_cost(&plain, Call::LatestSnapshots(full_events)).await?;
        }
    }
    Ok(())
}

/// What a service's `info` subscriber does: filter, keep the spans' fields, and format
/// and write one line per store call to stderr as its span closes.
fn info_subscriber(filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .finish()
}

/// A store call whose tracing cost is measured.
#[derive(Clone, Copy)]
enum Call<'a> {
    Upsert(&'a [store::EventUpsert]),
    CurrentOdds(&'a [i32]),
    LatestSnapshots(&'a [i32]),
}

impl Call<'_> {
    fn name(self) -> &'static str {
        match self {
            Call::Upsert(_) => "upsert_events",
            Call::CurrentOdds(_) => "current_odds",
            Call::LatestSnapshots(_) => "latest_snapshots",
        }
    }

    async fn run(self, db: &DatabaseConnection) -> Result<(), Error> {
        match self {
            Call::Upsert(events) => drop(store::upsert_events(db, events).await?),
            Call::CurrentOdds(events) => drop(store::current_odds(db, events).await?),
            Call::LatestSnapshots(events) => drop(store::latest_snapshots(db, events).await?),
        }
        Ok(())
    }
}

/// `call` three ways, taking turns, [`TRACING_ROUNDS`] times each, in one process so the
/// machine's drift between runs stays out of the ratios: with no subscriber (`off`); in
/// a service's `request` span under an `info` subscriber (`info`); and the same with the
/// store's own spans filtered out (`competitor_db=off`), which is what `info` would cost
/// without them (`no_store_spans`).
async fn tracing_cost(db: &DatabaseConnection, call: Call<'_>) -> Result<(), Error> {
    let info = Dispatch::new(info_subscriber(EnvFilter::new("info")));
    let no_store_spans = Dispatch::new(info_subscriber(EnvFilter::new("info,competitor_db=off")));
    let in_request = |dispatch: &Dispatch| {
        async move {
            call.run(db)
                .instrument(tracing::info_span!("request"))
                .await
        }
        .with_subscriber(dispatch.clone())
    };
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..TRACING_ROUNDS {
        for turn in 0..3 {
            let way = (round + turn) % 3;
            let started = Instant::now();
            match way {
                0 => call.run(db).await?,
                1 => in_request(&info).await?,
                _ => in_request(&no_store_spans).await?,
            }
            times[way].push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let [off, info, no_store_spans] = times.map(median);
    println!(
        "tracing fn={} calls={TRACING_ROUNDS} off_ms={off:.1} info_ms={info:.1} \
         no_store_spans_ms={no_store_spans:.1} info_to_off={:.3} \
         info_to_no_store_spans={:.3} tls=off",
        call.name(),
        info / off,
        info / no_store_spans
    );
    Ok(())
}

/// Calls of each way in the tracing-cost comparison.
const TRACING_ROUNDS: usize = 9;

/// `--rounds` rounds of `events` in `mode`; prints the `rounds` line and the reads after
/// round 1 and round R; returns the write time per round and, per round, the time of a
/// bare COPY of the same rows into `copy_events` (the fold triggers told to stand aside),
/// taken right after it.
async fn rounds(
    db: &DatabaseConnection,
    connections: &[(&str, &DatabaseConnection)],
    options: &Options,
    mode: Mode,
    events: &[i32],
    copy_events: &[i32],
) -> Result<(f64, f64), Error> {
    let name = if mode == Mode::Full { "full" } else { "change" };
    let mut versions = vec![0u32; events.len() * options.markets];
    let (mut rows, mut bytes, mut millis, mut copy_millis) = (0i64, 0i64, 0f64, 0f64);
    for r in 1..=options.rounds {
        // Round 1 prices every market; later rounds reprice a fraction of them.
        if r > 1 {
            for (i, &event) in events.iter().enumerate() {
                for k in 0..options.markets {
                    if testing::changes(event, k, r, options.change_rate) {
                        versions[i * options.markets + k] += 1;
                    }
                }
            }
        }
        let batch = round(events, options.markets, &versions, r);
        let (rows_before, bytes_before) = (history_rows(db).await?, table_bytes(db).await?);
        let started = Instant::now();
        if mode == Mode::Full {
            store::write_snapshots(db, &batch).await?;
        } else {
            store::record_odds(db, &batch).await?;
        }
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        db.execute_unprepared(
            "VACUUM (ANALYZE) competitor_tournaments, competitor_events, \
             competitor_odds_snapshots, competitor_market_odds, competitor_market_odds_current",
        )
        .await?;
        if r > 1 {
            rows += history_rows(db).await? - rows_before;
            bytes += table_bytes(db).await? - bytes_before;
            millis += elapsed;
            // The same rows through bare COPY, after the figures above were taken.
            let copied = round(copy_events, options.markets, &versions, r);
            let started = Instant::now();
            testing::copy_snapshots(db.get_postgres_connection_pool(), &copied).await?;
            copy_millis += started.elapsed().as_secs_f64() * 1000.0;
        }
        eprintln!("{name}: round {r}/{} in {elapsed:.0} ms", options.rounds);
        if r == 1 || r == options.rounds {
            read(connections, mode, events, r).await?;
        }
    }
    let averaged = (options.rounds - 1) as f64;
    println!(
        "rounds mode={name} events={} markets={} rounds={} change_rate={} rows_per_round={:.0} \
         bytes_per_round={:.0} write_ms_per_round={:.0}",
        events.len(),
        options.markets,
        options.rounds,
        options.change_rate,
        rows as f64 / averaged,
        bytes as f64 / averaged,
        millis / averaged
    );
    Ok((millis / averaged, copy_millis / averaged))
}

/// The read of `mode` for all `events` over each connection: the median of [`READS`] calls.
/// In change mode, each `current_odds` call takes turns with a call of its baseline,
/// [`current_rows_raw`], so that both see the same moments of a noisy machine.
async fn read(
    connections: &[(&str, &DatabaseConnection)],
    mode: Mode,
    events: &[i32],
    after_rounds: usize,
) -> Result<(), Error> {
    for (tls_mode, db) in connections {
        let function = if mode == Mode::Full {
            "latest_snapshots"
        } else {
            "current_odds"
        };
        let mut times = Vec::new();
        let mut raw_times = Vec::new();
        for _ in 0..READS {
            let started = Instant::now();
            let found = if mode == Mode::Full {
                store::latest_snapshots(*db, events).await?.len()
            } else {
                store::current_odds(*db, events).await?.len()
            };
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if found != events.len() {
                return Err(format!("{function} found {found} of {} events", events.len()).into());
            }
            if mode == Mode::Change {
                // The baseline of `current_odds`: the same current rows through a plain
                // sqlx `fetch_all`, decoded into the same Rust types, nothing else.
                let started = Instant::now();
                let rows = current_rows_raw(db.get_postgres_connection_pool(), events).await?;
                raw_times.push(started.elapsed().as_secs_f64() * 1000.0);
                if rows.is_empty() {
                    return Err("current_rows_raw found no row".into());
                }
            }
        }
        println!(
            "read fn={function} events={} after_rounds={after_rounds} ms={:.0} tls={tls_mode}",
            events.len(),
            median(times)
        );
        if mode == Mode::Change {
            println!(
                "read fn=current_rows_raw events={} after_rounds={after_rounds} ms={:.0} \
                 tls={tls_mode}",
                events.len(),
                median(raw_times)
            );
        }
    }
    Ok(())
}

/// The current rows of `events` through sqlx alone, decoded into SeaORM's model.
async fn current_rows_raw(
    pool: &sea_orm::sqlx::PgPool,
    events: &[i32],
) -> Result<Vec<current::Model>, Error> {
    use sea_orm::sqlx::{self, Row as _, types::Json};
    let rows = sqlx::query(
        "SELECT id, competitor_event_id, betpawa_market_id, betpawa_market_name, line, \
             handicap_type, handicap_home, handicap_away, outcomes, changed_at, unavailable_at \
         FROM competitor_market_odds_current WHERE competitor_event_id = ANY($1)",
    )
    .bind(events)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(current::Model {
                id: row.try_get(0)?,
                competitor_event_id: row.try_get(1)?,
                betpawa_market_id: row.try_get(2)?,
                betpawa_market_name: row.try_get(3)?,
                line: row.try_get(4)?,
                handicap_type: row.try_get(5)?,
                handicap_home: row.try_get(6)?,
                handicap_away: row.try_get(7)?,
                outcomes: row.try_get::<Json<Outcomes>, _>(8)?.0,
                changed_at: row.try_get(9)?,
                unavailable_at: row.try_get(10)?,
            })
        })
        .collect()
}

/// `events` upserted again, every row updated, over each connection: the median of
/// [`READS`] calls.
async fn upserts(
    connections: &[(&str, &DatabaseConnection)],
    events: &[store::EventUpsert],
) -> Result<(), Error> {
    for (tls_mode, db) in connections {
        let mut times = Vec::new();
        for _ in 0..READS {
            let started = Instant::now();
            store::upsert_events(*db, events).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "upsert fn=upsert_events events={} ms={:.0} tls={tls_mode}",
            events.len(),
            median(times)
        );
    }
    Ok(())
}

/// Writes of each method in the one-round comparison.
const PAIRS: usize = 3;

/// Calls of each read whose median is printed: seven, so that one slow call on a shared
/// machine does not move the figure.
const READS: usize = 7;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn write_line(method: &str, tls: &str, rows: usize, seconds: f64) {
    println!(
        "{method} tls={tls} market_rows={rows} seconds={seconds:.3} market_rows_per_sec={:.0}",
        rows as f64 / seconds
    );
}

/// One sport, 50 tournaments and `events` SportyBet events, through the store; returns the
/// events as upserted and their ids.
async fn seed(
    db: &DatabaseConnection,
    events: usize,
) -> Result<(Vec<store::EventUpsert>, Vec<i32>), Error> {
    let started = Instant::now();
    let sport = entity::sport::ActiveModel {
        name: Set("Football".to_owned()),
        slug: Set("football".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let tournaments: Vec<_> = (0..50)
        .map(|t| {
            testing::tournament(
                CompetitorSource::Sportybet,
                sport.id,
                &(1000 + t).to_string(),
            )
        })
        .collect();
    let tournament_ids = store::upsert_tournaments(db, &tournaments).await?;
    let kickoff = Utc
        .with_ymd_and_hms(2026, 12, 5, 12, 0, 0)
        .single()
        .ok_or("kickoff")?;
    let rows: Vec<_> = (0..events)
        .map(|e| {
            let sportradar = (50_000_000 + e).to_string();
            testing::event(
                CompetitorSource::Sportybet,
                tournament_ids[e % 50],
                &format!("sr:match:{sportradar}"),
                &sportradar,
                kickoff + Duration::minutes(15 * (e % 500) as i64),
            )
        })
        .collect();
    let ids = store::upsert_events(db, &rows).await?;
    eprintln!(
        "seeded {events} events in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok((rows, ids))
}

/// Round `r` of `events`: every market `k` of event `i` at odds `versions[i * markets + k]`.
fn round(events: &[i32], markets: usize, versions: &[u32], r: usize) -> Vec<NewSnapshot> {
    events
        .iter()
        .enumerate()
        .map(|(i, &event)| NewSnapshot {
            competitor_event_id: event,
            captured_at: captured_at(r),
            scrape_run_id: None,
            raw_response: None,
            markets: (0..markets)
                .map(|k| testing::market(event, k, versions[i * markets + k]))
                .collect(),
        })
        .collect()
}

/// Round `r` is captured 5 minutes after round `r - 1`.
fn captured_at(r: usize) -> DateTime<Utc> {
    let first = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).single();
    first.unwrap_or_default() + Duration::minutes(5 * r as i64)
}

async fn history_rows(db: &DatabaseConnection) -> Result<i64, Error> {
    scalar(db, "SELECT COUNT(*) AS n FROM competitor_market_odds").await
}

/// Bytes of the five competitor tables with their indexes and TOAST.
async fn table_bytes(db: &DatabaseConnection) -> Result<i64, Error> {
    scalar(
        db,
        "SELECT CAST(SUM(pg_total_relation_size(t)) AS bigint) AS n FROM unnest(ARRAY[\
             'competitor_tournaments', 'competitor_events', 'competitor_odds_snapshots', \
             'competitor_market_odds', 'competitor_market_odds_current']::regclass[]) AS t",
    )
    .await
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> Result<i64, Error> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or("no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}
