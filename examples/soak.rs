//! Soak benchmark: a day of service life in minutes (`competitor_db::soak`).
//!
//! ```sh
//! scripts/soak.sh                     # a fresh database, the defaults, then dropped
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/soak \
//!     cargo run --release --example soak -- --rounds 288 --autovacuum
//! ```
//!
//! Two scrapers, the Python service's full captures, readers and retention run together on
//! one pool of a fresh PostgreSQL database (the example migrates it); a progress line per
//! round goes to stderr, then the figures beside the result (`soak_details ..`) and any
//! invariant failure; stdout gets one line:
//!
//! ```text
//! soak rounds=R errors=E write_ms_p50= .. dead_tuple_ratio= invariant=ok|fail
//! ```
//!
//! Flags (defaults in parentheses, those of `SoakConfig::default()`): `--events` (1000) per
//! competitor, `--markets` (60) per event, `--rounds` (144, half a day; 288 is the whole
//! day), `--round-minutes` (5), `--readers` (4), `--page-size` (50), `--history-every`
//! (20), `--read-pause-ms` (0), `--foreign-share` (0.1), `--change-rate` (0.05),
//! `--suspend-rate` (0.002), `--vanish-rate` (0.002), `--turnover` (3), `--purge-every`
//! (12), `--keep-rounds` (12), `--purge-batch` (5000), `--idle-ms` (300), `--seed` (17),
//! `--pool-size` (readers + 8), `--autovacuum` (autovacuum's rule after every round, for a
//! server where it is off), `--quiet` (no progress lines). Exit code 1 on a setup error, 2
//! when the soak ran with errors or a failed invariant.

use std::time::Duration;

use competitor_db::soak::{self, SoakConfig};
use sea_orm::{ConnectOptions, Database};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "[--events N] [--markets N] [--rounds N] [--round-minutes N] [--readers N] \
    [--page-size N] [--history-every N] [--read-pause-ms N] [--foreign-share F] \
    [--change-rate F] [--suspend-rate F] [--vanish-rate F] [--turnover N] [--purge-every N] \
    [--keep-rounds N] [--purge-batch N] [--idle-ms N] [--seed N] [--pool-size N] \
    [--autovacuum] [--quiet]";

fn options() -> Result<(SoakConfig, Option<u32>), Error> {
    let mut config = SoakConfig::default();
    let mut pool_size = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--quiet" {
            config.progress = false;
            continue;
        }
        if flag == "--autovacuum" {
            config.autovacuum = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(format!("usage: soak {USAGE}").into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value (usage: soak {USAGE})"))?;
        let whole = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a whole number: {value}"))
        };
        let fraction = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|f| (0.0..=1.0).contains(f))
                .ok_or_else(|| format!("{flag}: a fraction in 0..=1, not {value}"))
        };
        match flag.as_str() {
            "--events" => config.events = whole()? as usize,
            "--markets" => config.markets = whole()? as usize,
            "--rounds" => config.rounds = whole()? as usize,
            "--round-minutes" => config.round_minutes = whole()? as i64,
            "--readers" => config.readers = whole()? as usize,
            "--page-size" => config.page_size = whole()? as usize,
            "--history-every" => config.history_every = whole()? as usize,
            "--read-pause-ms" => config.read_pause_ms = whole()?,
            "--foreign-share" => config.foreign_share = fraction()?,
            "--change-rate" => config.change_rate = fraction()?,
            "--suspend-rate" => config.suspend_rate = fraction()?,
            "--vanish-rate" => config.vanish_rate = fraction()?,
            "--turnover" => config.turnover = whole()? as usize,
            "--purge-every" => config.purge_every = whole()? as usize,
            "--keep-rounds" => config.keep_rounds = whole()? as usize,
            "--purge-batch" => config.purge_batch = whole()? as usize,
            "--idle-ms" => config.idle_ms = whole()?,
            "--seed" => config.seed = whole()?,
            "--pool-size" => pool_size = Some(u32::try_from(whole()?)?),
            _ => return Err(format!("unknown option {flag} (usage: soak {USAGE})").into()),
        }
    }
    Ok((config, pool_size))
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        Err(err) => {
            eprintln!("soak: {err}");
            std::process::exit(1);
        }
    }
}

/// Whether the soak ran with no error and every invariant held.
async fn run() -> Result<bool, Error> {
    let (config, pool_size) = options()?;
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a fresh PostgreSQL database")?;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool_size.unwrap_or(config.readers as u32 + 8))
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(60))
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    competitor_db::migrate(&db).await?;
    eprintln!(
        "soak: {} events x {} markets per competitor, {} rounds of {} simulated minutes, \
         {} readers, foreign share {}, retention every {} rounds keeping {}, autovacuum's rule {}",
        config.events,
        config.markets,
        config.rounds,
        config.round_minutes,
        config.readers,
        config.foreign_share,
        config.purge_every,
        config.keep_rounds,
        if config.autovacuum { "on" } else { "off" },
    );
    let report = soak::run(&db, &config).await?;
    eprintln!("{}", report.details());
    println!("{}", report.line());
    Ok(report.errors == 0 && report.invariant_ok)
}
