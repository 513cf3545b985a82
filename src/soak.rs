//! A day of service life in minutes (features `testing` and `postgres`): the soak
//! benchmark's logic, run by `examples/soak.rs` (`scripts/soak.sh`) and, at its smallest
//! sizes, by a test.
//!
//! Every task runs at once on one pool, as a service would:
//! - **two scrapers**, SportyBet and Bet9ja, each a round of [`store::upsert_events`],
//!   [`store::soft_delete_missing`], [`store::link_betpawa_events`] and
//!   [`store::record_odds`] over its palimpsest, both rounds of a simulated time started
//!   together, then a short pause (`idle_ms`) before the next: the readers' idle baseline.
//!   Between rounds a fraction `change_rate` of the markets gets new odds, a few markets
//!   are suspended for a round, a few events vanish for a round and come back, and
//!   `turnover` events a round leave the palimpsest as their kickoff passes while as many
//!   new ones enter it;
//! - **one foreign writer**, the Python service: full captures of a fraction
//!   `foreign_share` of the events, each written as that service writes it (one `INSERT`
//!   for the snapshot, one per market, in one transaction, naming no `kind`), half a round
//!   after the scrapers' capture, as fast as it can keep up;
//! - **readers**, each calling [`store::current_odds_for_betpawa_events`] for random
//!   pages of `page_size` Betpawa events in a loop, and [`store::odds_history`] every
//!   `history_every` reads; each page read's latency is recorded as *busy* when a scraper
//!   round was in flight at any moment of it, else *idle*;
//! - **retention**, every `purge_every` rounds: [`store::purge_snapshots_before`] keeping
//!   the last `keep_rounds` rounds of simulated time, and [`store::purge_deleted_before`]
//!   for events soft-deleted that long ago;
//! - with `autovacuum`, **autovacuum's rule** after every round, for a server where it is
//!   off: each competitor table whose dead tuples, inserts or changes since its last
//!   `VACUUM` or `ANALYZE` pass the thresholds of its settings (its own, else the server's)
//!   is vacuumed or analyzed, as the autovacuum launcher, which looks at each database at
//!   least once a minute, would do between two real 5-minute rounds.
//!
//! Errors of any task are counted, the first few printed to stderr, and the soak goes on.
//! At the end, with every task stopped, [`run`] measures the current table's dead tuples
//! and checks that the store stayed true (see [`SoakReport::invariant_ok`]).
//!
//! PostgreSQL only: the foreign writer's captures reach the current table through
//! migration 4's triggers, which SQLite does not have.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::CompetitorSource;
use entity::outcome::Outcomes;
use sea_orm::sqlx::{self, PgPool, Row as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

use crate::store::snapshots::copy::db_err;
use crate::store::{self, NewMarket, NewSnapshot, StoreError};
use crate::testing;

/// What a soak runs: sizes, rates and the rhythm of its tasks. [`Default`] suits a
/// 2-core machine and about ten minutes of wall time: 144 rounds of 5 simulated minutes,
/// half a day (`rounds: 288` is the whole day; on the 2-core machine this was written on,
/// shared with another build, it took 19 minutes).
#[derive(Clone, Debug, PartialEq)]
pub struct SoakConfig {
    /// Events in each competitor's palimpsest (linked to as many shared Betpawa events).
    pub events: usize,
    /// Markets of each event.
    pub markets: usize,
    /// Rounds of each scraper.
    pub rounds: usize,
    /// Simulated minutes between two rounds.
    pub round_minutes: i64,
    /// Reader tasks.
    pub readers: usize,
    /// Betpawa events per page read.
    pub page_size: usize,
    /// Every `history_every`-th read of a reader is followed by an
    /// [`store::odds_history`] call (0: never).
    pub history_every: usize,
    /// Pause of a reader after each read, in milliseconds (0: a tight loop).
    pub read_pause_ms: u64,
    /// Fraction of the events (the same slots of both competitors) that the foreign writer
    /// also captures.
    pub foreign_share: f64,
    /// Fraction of the markets that get new odds in a round.
    pub change_rate: f64,
    /// Fraction of the markets missing from a round's capture (suspended for that round).
    pub suspend_rate: f64,
    /// Fraction of the events missing from a round's palimpsest (soft-deleted, then
    /// revived by the next round's upsert).
    pub vanish_rate: f64,
    /// Events whose kickoff passes in each round, leaving the palimpsest for good, and as
    /// many new events entering it.
    pub turnover: usize,
    /// Retention runs every `purge_every` rounds (0: never).
    pub purge_every: usize,
    /// Rounds of simulated time retention keeps: snapshots captured earlier and events
    /// soft-deleted earlier are purged.
    pub keep_rounds: usize,
    /// `batch_size` of [`store::purge_snapshots_before`].
    pub purge_batch: usize,
    /// After every round, `VACUUM` and `ANALYZE` of the competitor tables that
    /// autovacuum's thresholds (`autovacuum_vacuum_threshold`,
    /// `autovacuum_vacuum_scale_factor`, the insert and analyze ones; the table's settings,
    /// else the server's) say are due: what autovacuum does where the server runs it.
    pub autovacuum: bool,
    /// Pause after both scrapers' round, in milliseconds, before the next round starts:
    /// the time the readers' idle latencies are measured in.
    pub idle_ms: u64,
    /// Seed of the odds, the changes, the vanishings and the pages read.
    pub seed: u64,
    /// Whether a progress line per round goes to stderr.
    pub progress: bool,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            events: 1_000,
            markets: 60,
            rounds: 144,
            round_minutes: 5,
            readers: 4,
            page_size: 50,
            history_every: 20,
            read_pause_ms: 0,
            foreign_share: 0.10,
            change_rate: 0.05,
            suspend_rate: 0.002,
            vanish_rate: 0.002,
            turnover: 3,
            purge_every: 12,
            keep_rounds: 12,
            purge_batch: 5_000,
            autovacuum: false,
            idle_ms: 300,
            seed: 17,
            progress: true,
        }
    }
}

impl SoakConfig {
    /// The configuration's refusal, if any: sizes of zero, fractions outside 0..=1.
    fn check(&self) -> Result<(), String> {
        if self.events == 0 || self.markets == 0 || self.rounds == 0 || self.page_size == 0 {
            return Err("events, markets, rounds and page_size must be at least 1".to_owned());
        }
        if self.keep_rounds == 0 || self.round_minutes <= 0 {
            return Err("keep_rounds and round_minutes must be at least 1".to_owned());
        }
        for (name, rate) in [
            ("foreign_share", self.foreign_share),
            ("change_rate", self.change_rate),
            ("suspend_rate", self.suspend_rate),
            ("vanish_rate", self.vanish_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be a fraction in 0..=1, not {rate}"));
            }
        }
        Ok(())
    }
}

/// What a soak measured, and whether the store stayed true.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SoakReport {
    /// Rounds run (each scraper ran this many).
    pub rounds: usize,
    /// Errors of every task, counted; the first few went to stderr.
    pub errors: u64,
    /// Median wall time of one scraper round (upsert, soft delete, link, record odds), ms.
    pub write_ms_p50: f64,
    /// 99th percentile of the same, ms.
    pub write_ms_p99: f64,
    /// Median page read with no scraper round in flight, ms.
    pub read_ms_p50_idle: f64,
    /// 99th percentile of the same, ms.
    pub read_ms_p99_idle: f64,
    /// Median page read during a scraper round, ms.
    pub read_ms_p50_busy: f64,
    /// 99th percentile of the same, ms.
    pub read_ms_p99_busy: f64,
    /// Page reads ([`store::current_odds_for_betpawa_events`] calls) that succeeded.
    pub reads: u64,
    /// Of them, those with no scraper round in flight.
    pub reads_idle: u64,
    /// [`store::odds_history`] calls that succeeded.
    pub history_reads: u64,
    /// The process's peak resident set (`VmHWM`, Linux; 0 elsewhere) at the end of the
    /// first quarter of the rounds, MB.
    pub rss_mb_first_quarter: f64,
    /// The same after the last round, MB.
    pub rss_mb_end: f64,
    /// Rows of `competitor_market_odds` at the end.
    pub history_rows: u64,
    /// Rows of `competitor_market_odds_current` at the end.
    pub current_rows: u64,
    /// `n_dead_tup / (n_live_tup + n_dead_tup)` of `competitor_market_odds_current` at the
    /// end (`pg_stat_user_tables`, after every connection flushed its statistics).
    pub dead_tuple_ratio: f64,
    /// Rows updated in the current table during the soak (`n_tup_upd`).
    pub current_updates: u64,
    /// Of them, HOT updates (`n_tup_hot_upd`): no index entry written, the page's own
    /// free space reused.
    pub current_hot_updates: u64,
    /// Size of the current table's heap at the end, bytes.
    pub current_table_bytes: u64,
    /// Full captures the foreign writer committed.
    pub foreign_captures: u64,
    /// Median time of a foreign capture's `BEGIN` and `INSERT`s, ms.
    pub foreign_insert_ms_p50: f64,
    /// 99th percentile of the same, ms.
    pub foreign_insert_ms_p99: f64,
    /// Median time of a foreign capture's `COMMIT`, which folds it into the current odds
    /// under its event's lock (waiting for a scraper's `record_odds` of that event), ms.
    pub foreign_commit_ms_p50: f64,
    /// 99th percentile of the same, ms.
    pub foreign_commit_ms_p99: f64,
    /// Retention runs completed.
    pub purges: u64,
    /// Retention runs skipped because the previous one was still running.
    pub purges_skipped: u64,
    /// `VACUUM`s of competitor tables run by the autovacuum rule.
    pub vacuums: u64,
    /// Of them, `VACUUM`s of the current table.
    pub current_vacuums: u64,
    /// `ANALYZE`s of competitor tables run by the autovacuum rule (with a `VACUUM` or alone).
    pub analyzes: u64,
    /// Rounds whose autovacuum check was skipped because the previous one still ran.
    pub autovacuum_skipped: u64,
    /// The longest retention run (both purges), ms.
    pub retention_ms_max: f64,
    /// How long the final check's rebuild of the current table took, s.
    pub rebuild_seconds: f64,
    /// Wall time of the rounds, from the first round's start to the last one's end, s.
    pub seconds: f64,
    /// Whether every check held: the current table equals its rebuild from history, row
    /// for row; every snapshot a task reported is stored unless a purge explains its
    /// absence; every count `record_odds` reported matches the rows stored; no current
    /// market stands on a snapshot that is gone; no orphan rows.
    pub invariant_ok: bool,
    /// What failed, one line each (at most [`MAX_FAILURES`] kept).
    pub invariant_failures: Vec<String>,
}

/// Invariant failures kept in a [`SoakReport`] (the count says how many there were).
pub const MAX_FAILURES: usize = 20;

/// Errors printed to stderr as they happen; the rest are only counted.
const ERRORS_SHOWN: u64 = 5;

impl SoakReport {
    /// The one line a script reads:
    /// `soak rounds=R errors=E write_ms_p50= .. dead_tuple_ratio= invariant=ok|fail`.
    pub fn line(&self) -> String {
        format!(
            "soak rounds={} errors={} write_ms_p50={:.1} write_ms_p99={:.1} \
             read_ms_p50_idle={:.1} read_ms_p99_idle={:.1} read_ms_p50_busy={:.1} \
             read_ms_p99_busy={:.1} reads={} rss_mb_first_quarter={:.1} rss_mb_end={:.1} \
             history_rows={} current_rows={} dead_tuple_ratio={:.3} invariant={}",
            self.rounds,
            self.errors,
            self.write_ms_p50,
            self.write_ms_p99,
            self.read_ms_p50_idle,
            self.read_ms_p99_idle,
            self.read_ms_p50_busy,
            self.read_ms_p99_busy,
            self.reads,
            self.rss_mb_first_quarter,
            self.rss_mb_end,
            self.history_rows,
            self.current_rows,
            self.dead_tuple_ratio,
            if self.invariant_ok { "ok" } else { "fail" },
        )
    }

    /// The figures beside the line: idle and busy read counts, odds history calls, the
    /// current table's updates and HOT updates, its size, the foreign writer's captures,
    /// retention runs, autovacuum's work, wall time.
    pub fn details(&self) -> String {
        let hot = if self.current_updates == 0 {
            0.0
        } else {
            self.current_hot_updates as f64 / self.current_updates as f64
        };
        format!(
            "soak_details reads_idle={} reads_busy={} history_reads={} current_updates={} \
             current_hot_updates={} hot_update_ratio={hot:.3} current_table_mb={:.1} \
             foreign_captures={} foreign_insert_ms_p50={:.1} foreign_insert_ms_p99={:.1} \
             foreign_commit_ms_p50={:.1} foreign_commit_ms_p99={:.1} purges={} \
             purges_skipped={} vacuums={} current_vacuums={} analyzes={} \
             autovacuum_skipped={} retention_ms_max={:.0} rebuild_seconds={:.1} \
             seconds={:.0}",
            self.reads_idle,
            self.reads - self.reads_idle,
            self.history_reads,
            self.current_updates,
            self.current_hot_updates,
            self.current_table_bytes as f64 / 1_048_576.0,
            self.foreign_captures,
            self.foreign_insert_ms_p50,
            self.foreign_insert_ms_p99,
            self.foreign_commit_ms_p50,
            self.foreign_commit_ms_p99,
            self.purges,
            self.purges_skipped,
            self.vacuums,
            self.current_vacuums,
            self.analyzes,
            self.autovacuum_skipped,
            self.retention_ms_max,
            self.rebuild_seconds,
            self.seconds,
        )
    }
}

/// The two competitors, in the order of the scrapers.
const SOURCES: [CompetitorSource; 2] = [CompetitorSource::Sportybet, CompetitorSource::Bet9ja];

/// Competitor tournaments per source.
const TOURNAMENTS: usize = 20;

/// SportRadar id of slot 0; slot `i` has `SPORTRADAR_BASE + i`.
const SPORTRADAR_BASE: usize = 80_000_000;

/// The Betpawa market every sample event offers (1X2), whose history the readers chart.
const CHARTED_MARKET: &str = "3743";

/// Runs a soak on `db`, a migrated PostgreSQL database holding no competitor events (a
/// fresh one), and returns what it measured. Writes a table of its own,
/// `soak_reported_snapshots` (the snapshots its tasks reported, for the final check), so
/// the client's memory does not grow with them.
///
/// # Errors
/// [`StoreError::Db`] when `db` is not PostgreSQL, holds competitor events already, the
/// configuration is refused, or a statement of the setup, of the final measurements or of
/// the checks fails. Errors of the tasks themselves are counted in
/// [`SoakReport::errors`], not returned.
pub async fn run(db: &DatabaseConnection, config: &SoakConfig) -> Result<SoakReport, StoreError> {
    config.check().map_err(refusal)?;
    if db.get_database_backend() != DbBackend::Postgres {
        return Err(refusal("the soak runs on PostgreSQL only".to_owned()));
    }
    let pool = db.get_postgres_connection_pool().clone();
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM competitor_events")
        .fetch_one(&pool)
        .await
        .map_err(db_err)?;
    if existing > 0 {
        return Err(refusal(format!(
            "the database holds {existing} competitor events already; use a fresh one"
        )));
    }
    let ctx = Arc::new(setup(db, pool, config.clone()).await?);
    let mut report = SoakReport::default();

    let started = Instant::now();
    let mut writes = Vec::with_capacity(2 * config.rounds);
    let mut readers = Vec::new();
    let mut foreign = None;
    let mut retention: Option<tokio::task::JoinHandle<()>> = None;
    let mut autovacuum: Option<tokio::task::JoinHandle<()>> = None;
    let quarter = config.rounds.div_ceil(4).max(1);
    for r in 1..=config.rounds {
        ctx.round.store(r, Ordering::SeqCst);
        lock(&ctx.round_started_at).push(entity::clock::now());
        let scrapers: Vec<_> = (0..SOURCES.len())
            .map(|s| tokio::spawn(scraper_round(Arc::clone(&ctx), s, r)))
            .collect();
        let mut round_ms = Vec::with_capacity(SOURCES.len());
        for scraper in scrapers {
            match scraper.await {
                Ok(Some(ms)) => round_ms.push(ms),
                Ok(None) => {}
                Err(err) => ctx.error(format!("scraper task of round {r}: {err}")),
            }
        }
        writes.extend(&round_ms);
        if r == 1 {
            // The other tasks start once there is something to read and write over.
            for reader in 0..config.readers {
                readers.push(tokio::spawn(read_loop(Arc::clone(&ctx), reader)));
            }
            if config.foreign_share > 0.0 {
                foreign = Some(tokio::spawn(foreign_writer(Arc::clone(&ctx))));
            }
        }
        if config.purge_every > 0 && r.is_multiple_of(config.purge_every) {
            if retention.as_ref().is_some_and(|task| !task.is_finished()) {
                ctx.purges_skipped.fetch_add(1, Ordering::Relaxed);
                eprintln!("soak: round {r}: retention still running, this run skipped");
            } else {
                retention = Some(tokio::spawn(purge(Arc::clone(&ctx), r)));
            }
        }
        if config.autovacuum {
            if autovacuum.as_ref().is_some_and(|task| !task.is_finished()) {
                ctx.autovacuum_skipped.fetch_add(1, Ordering::Relaxed);
            } else {
                autovacuum = Some(tokio::spawn(autovacuum_rule(Arc::clone(&ctx), r)));
            }
        }
        let rss = peak_rss_mb();
        if r == quarter {
            report.rss_mb_first_quarter = rss;
        }
        if config.progress {
            eprintln!(
                "soak round {r}/{} sim={} write_ms={} reads={} errors={} peak_rss_mb={rss:.1} \
                 rss_mb={:.1} \
                 foreign_captures={} purges={} elapsed_s={:.0}",
                config.rounds,
                ctx.at(r).format("%d %H:%M"),
                round_ms
                    .iter()
                    .map(|ms| format!("{ms:.0}"))
                    .collect::<Vec<_>>()
                    .join("/"),
                ctx.reads.load(Ordering::Relaxed),
                ctx.errors.load(Ordering::Relaxed),
                rss_mb(),
                ctx.foreign_captures.load(Ordering::Relaxed),
                ctx.purges.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64(),
            );
        }
        if r < config.rounds && config.idle_ms > 0 {
            tokio::time::sleep(StdDuration::from_millis(config.idle_ms)).await;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.rounds = config.rounds;
    let ended = Instant::now();

    // Everything stops before anything is measured or checked.
    ctx.stop.store(true, Ordering::SeqCst);
    let (mut idle, mut busy) = (Histogram::new(), Histogram::new());
    for reader in readers {
        match reader.await {
            Ok((reader_idle, reader_busy)) => {
                idle.merge(&reader_idle);
                busy.merge(&reader_busy);
            }
            Err(err) => ctx.error(format!("reader task: {err}")),
        }
    }
    if let Some(foreign) = foreign {
        match foreign.await {
            Ok(times) => {
                report.foreign_insert_ms_p50 = times.inserts.percentile(0.50);
                report.foreign_insert_ms_p99 = times.inserts.percentile(0.99);
                report.foreign_commit_ms_p50 = times.commits.percentile(0.50);
                report.foreign_commit_ms_p99 = times.commits.percentile(0.99);
            }
            Err(err) => ctx.error(format!("foreign writer task: {err}")),
        }
    }
    for task in retention.into_iter().chain(autovacuum) {
        if let Err(err) = task.await {
            ctx.error(format!("retention or autovacuum task: {err}"));
        }
    }
    let stopped = Instant::now();
    report.rss_mb_end = peak_rss_mb();
    report.write_ms_p50 = percentile(&mut writes, 0.50);
    report.write_ms_p99 = percentile(&mut writes, 0.99);
    report.read_ms_p50_idle = idle.percentile(0.50);
    report.read_ms_p99_idle = idle.percentile(0.99);
    report.read_ms_p50_busy = busy.percentile(0.50);
    report.read_ms_p99_busy = busy.percentile(0.99);
    report.reads = idle.count + busy.count;
    report.reads_idle = idle.count;
    report.history_reads = ctx.history_reads.load(Ordering::Relaxed);
    report.foreign_captures = ctx.foreign_captures.load(Ordering::Relaxed);
    report.purges = ctx.purges.load(Ordering::Relaxed);
    report.purges_skipped = ctx.purges_skipped.load(Ordering::Relaxed);
    report.vacuums = ctx.vacuums.load(Ordering::Relaxed);
    report.current_vacuums = ctx.current_vacuums.load(Ordering::Relaxed);
    report.analyzes = ctx.analyzes.load(Ordering::Relaxed);
    report.autovacuum_skipped = ctx.autovacuum_skipped.load(Ordering::Relaxed);
    report.retention_ms_max = ctx.retention_ms_max.load(Ordering::Relaxed) as f64;

    // The table's statistics first: the check below rebuilds the current table in a
    // transaction it rolls back, which leaves every row it wrote dead.
    flush_statistics(&ctx.pool).await?;
    let stats = sqlx::query(
        "SELECT n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, \
             pg_relation_size(relid) AS bytes \
         FROM pg_stat_user_tables WHERE relname = 'competitor_market_odds_current'",
    )
    .fetch_one(&ctx.pool)
    .await
    .map_err(db_err)?;
    let (live, dead): (i64, i64) = (
        stats.try_get(0).map_err(db_err)?,
        stats.try_get(1).map_err(db_err)?,
    );
    report.dead_tuple_ratio = if live + dead > 0 {
        dead as f64 / (live + dead) as f64
    } else {
        0.0
    };
    report.current_updates = count(stats.try_get::<i64, _>(2).map_err(db_err)?);
    report.current_hot_updates = count(stats.try_get::<i64, _>(3).map_err(db_err)?);
    report.current_table_bytes = count(stats.try_get::<i64, _>(4).map_err(db_err)?);
    report.history_rows = scalar(&ctx.pool, "SELECT COUNT(*) FROM competitor_market_odds").await?;
    report.current_rows = scalar(
        &ctx.pool,
        "SELECT COUNT(*) FROM competitor_market_odds_current",
    )
    .await?;

    let measured = Instant::now();

    // Statistics for the planner before the rebuild: where autovacuum is off the tables
    // were never analyzed, and the fold's statements then pick plans that take minutes per
    // hundred events (docs/performance.md, "Soak: a compressed day").
    analyze(&ctx.pool).await?;
    let analyzed = Instant::now();
    let mut failures = std::mem::take(&mut *lock(&ctx.failures));
    let found_during_run = ctx.failure_count.load(Ordering::Relaxed);
    for divergence in current_odds_divergences(db).await? {
        failures.push(format!("current table vs rebuild: {divergence}"));
    }
    let rebuilt = Instant::now();
    report.rebuild_seconds = ms_between(analyzed, rebuilt) / 1000.0;
    let last_cutoff = *lock(&ctx.last_cutoff);
    failures.extend(snapshot_failures(&ctx.pool, last_cutoff).await?);
    if config.progress {
        eprintln!(
            "soak: tasks stopped in {:.1} s, table statistics in {:.1} s, the rebuild \
             compared in {:.1} s, snapshots checked in {:.1} s",
            ms_between(ended, stopped) / 1000.0,
            ms_between(stopped, measured) / 1000.0,
            ms_between(measured, rebuilt) / 1000.0,
            rebuilt.elapsed().as_secs_f64(),
        );
    }
    report.errors = ctx.errors.load(Ordering::Relaxed);
    report.invariant_ok = failures.is_empty() && found_during_run == 0;
    for failure in failures.iter().take(MAX_FAILURES) {
        eprintln!("soak: invariant: {failure}");
    }
    failures.truncate(MAX_FAILURES);
    report.invariant_failures = failures;
    Ok(report)
}

/// The rows where `competitor_market_odds_current` and its rebuild from history
/// ([`store::rebuild_current_odds`] of every event) differ, compared on every column but
/// the surrogate id: the event, the market's identity, name, outcomes as stored,
/// `changed_at` and `unavailable_at`. Each line starts with the side the row is found on
/// only (`table` or `rebuild`); at most [`MAX_FAILURES`] lines, the last one giving the
/// total when there are more. Runs the rebuild in a transaction it rolls back, so nothing
/// changes; run it with no writer active.
///
/// # Errors
/// The [`StoreError`] of the rebuild or of a statement.
pub async fn current_odds_divergences(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    const COLUMNS: &str = "competitor_event_id, betpawa_market_id, line, handicap_type, \
        handicap_home, handicap_away, betpawa_market_name, CAST(outcomes AS text) AS outcomes, \
        changed_at, unavailable_at";
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "CREATE TEMPORARY TABLE soak_current_before ON COMMIT DROP AS \
         SELECT {COLUMNS} FROM competitor_market_odds_current"
    ))
    .await?;
    store::rebuild_current_odds(&txn, None).await?;
    txn.execute_unprepared(&format!(
        "CREATE TEMPORARY TABLE soak_current_rebuilt ON COMMIT DROP AS \
         SELECT {COLUMNS} FROM competitor_market_odds_current"
    ))
    .await?;
    let rows = txn
        .query_all_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT side, CAST(row_to_json(d) AS text) AS row, COUNT(*) OVER () AS total FROM (\
                 (SELECT 'table' AS side, * FROM soak_current_before \
                  EXCEPT ALL SELECT 'table', * FROM soak_current_rebuilt) \
                 UNION ALL \
                 (SELECT 'rebuild', * FROM soak_current_rebuilt \
                  EXCEPT ALL SELECT 'rebuild', * FROM soak_current_before)) d \
             ORDER BY competitor_event_id, betpawa_market_id, line, handicap_home, side \
             LIMIT 20",
        ))
        .await?;
    txn.rollback().await?;
    let mut lines = Vec::with_capacity(rows.len());
    let mut total = 0i64;
    for row in &rows {
        let side: String = row.try_get("", "side")?;
        let json: String = row.try_get("", "row")?;
        total = row.try_get("", "total")?;
        lines.push(format!("{side} only: {json}"));
    }
    if total > rows.len() as i64 {
        lines.truncate(MAX_FAILURES - 1);
        lines.push(format!("{total} rows differ in all"));
    }
    Ok(lines)
}

/// What every task shares: the pool, the configuration, the sample's ids, the simulated
/// clock and the counters.
struct Ctx {
    db: DatabaseConnection,
    pool: PgPool,
    config: SoakConfig,
    /// Simulated time of round 0.
    start: DateTime<Utc>,
    /// Competitor tournament ids per source.
    tournaments: [Vec<i32>; 2],
    /// Betpawa event id per slot.
    betpawa: Vec<i32>,
    /// The current round: the simulated clock.
    round: AtomicUsize,
    /// Real time at the start of each round (index `r - 1`), what `deleted_at` is set to.
    round_started_at: Mutex<Vec<DateTime<Utc>>>,
    /// Scraper rounds started so far.
    rounds_started: AtomicUsize,
    /// Scraper rounds in flight now.
    in_flight: AtomicUsize,
    stop: AtomicBool,
    errors: AtomicU64,
    reads: AtomicU64,
    history_reads: AtomicU64,
    foreign_captures: AtomicU64,
    purges: AtomicU64,
    purges_skipped: AtomicU64,
    vacuums: AtomicU64,
    current_vacuums: AtomicU64,
    analyzes: AtomicU64,
    autovacuum_skipped: AtomicU64,
    retention_ms_max: AtomicU64,
    /// The latest cutoff a snapshot purge started with.
    last_cutoff: Mutex<Option<DateTime<Utc>>>,
    /// Invariant failures found while the soak ran, and how many.
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
}

impl Ctx {
    /// Simulated capture time of round `r`.
    fn at(&self, r: usize) -> DateTime<Utc> {
        self.start + Duration::minutes(r as i64 * self.config.round_minutes)
    }

    /// The slots in round `r`'s palimpsest window (before vanishings).
    fn window(&self, r: usize) -> std::ops::Range<usize> {
        let first = r * self.config.turnover;
        first..first + self.config.events
    }

    /// Kickoff of the event of `slot`: it leaves the palimpsest in the first round at or
    /// after it.
    fn kickoff(&self, slot: usize) -> DateTime<Utc> {
        match self.config.turnover {
            0 => self.at(self.config.rounds + self.config.keep_rounds + 1),
            turnover => self.at(slot / turnover + 1),
        }
    }

    /// The seed of the odds of `slot`'s event of source `s`.
    fn event_seed(&self, s: usize, slot: usize) -> i32 {
        let seed = (self.config.seed % 100) as i32;
        seed * 20_000_000 + (s as i32) * 10_000_000 + slot as i32
    }

    /// A number in [0, 1) fixed by `s`, `slot`, `k`, `r` and `what`.
    fn unit(&self, what: u64, s: usize, slot: usize, k: usize, r: usize) -> f64 {
        let x = mix(&[
            self.config.seed,
            what,
            s as u64,
            slot as u64,
            k as u64,
            r as u64,
        ]);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether `slot`'s event is in source `s`'s palimpsest of round `r`.
    fn listed(&self, s: usize, slot: usize, r: usize) -> bool {
        self.unit(1, s, slot, 0, r) >= self.config.vanish_rate
    }

    /// Whether market `k` of `slot`'s event of `s` is offered in round `r`.
    fn offered(&self, s: usize, slot: usize, k: usize, r: usize) -> bool {
        self.unit(2, s, slot, k, r) >= self.config.suspend_rate
    }

    /// Whether the foreign writer captures `slot`'s events.
    fn foreign(&self, slot: usize) -> bool {
        self.unit(3, 0, slot, 0, 0) < self.config.foreign_share
    }

    /// The odds version of market `k` of `slot`'s event of `s` in round `r`: the last
    /// round at or before `r` that changed it (0 when none did).
    fn version(&self, s: usize, slot: usize, k: usize, r: usize) -> u32 {
        let seed = self.event_seed(s, slot);
        (1..=r)
            .rev()
            .find(|&j| testing::changes(seed, k, j, self.config.change_rate))
            .map_or(0, |j| j as u32)
    }

    /// The markets of `slot`'s event of `s` as offered in round `r`.
    fn markets(&self, s: usize, slot: usize, r: usize) -> Vec<NewMarket> {
        let seed = self.event_seed(s, slot);
        (0..self.config.markets)
            .filter(|&k| self.offered(s, slot, k, r))
            .map(|k| testing::market(seed, k, self.version(s, slot, k, r)))
            .collect()
    }

    /// Counts an error; prints the first few.
    fn error(&self, what: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= ERRORS_SHOWN {
            eprintln!("soak: error {n}: {what}");
        }
    }

    /// Records an invariant failure found while the soak runs.
    fn failure(&self, what: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        eprintln!("soak: invariant: {what}");
        let mut failures = lock(&self.failures);
        if failures.len() < MAX_FAILURES {
            failures.push(what);
        }
    }
}

/// `mutex`'s guard, also when a task panicked holding it (the data is counters and lists,
/// still meaningful).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn refusal(message: String) -> StoreError {
    StoreError::Db(DbErr::Custom(format!("soak: {message}")))
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

async fn scalar(pool: &PgPool, sql: &'static str) -> Result<u64, StoreError> {
    let value: i64 = sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok(count(value))
}

/// The sport, Betpawa's tournament and an event per slot (every event the soak will list,
/// so links are made as events enter), the competitors' tournaments, and the table of
/// reported snapshots.
async fn setup(
    db: &DatabaseConnection,
    pool: PgPool,
    config: SoakConfig,
) -> Result<Ctx, StoreError> {
    let start = Utc
        .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| refusal("no start time".to_owned()))?;
    let slots = config.events + config.turnover * (config.rounds + 2);
    let sport: i32 = sqlx::query_scalar(
        "INSERT INTO sports (name, slug) VALUES ('Football (soak)', 'football-soak') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .map_err(db_err)?;
    let tournament: i32 = sqlx::query_scalar(
        "INSERT INTO tournaments (sport_id, name, country) VALUES ($1, 'Soak League', 'England') \
         RETURNING id",
    )
    .bind(sport)
    .fetch_one(&pool)
    .await
    .map_err(db_err)?;
    let mut ctx = Ctx {
        db: db.clone(),
        pool: pool.clone(),
        config,
        start,
        tournaments: [Vec::new(), Vec::new()],
        betpawa: Vec::with_capacity(slots),
        round: AtomicUsize::new(0),
        round_started_at: Mutex::new(Vec::new()),
        rounds_started: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        errors: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        history_reads: AtomicU64::new(0),
        foreign_captures: AtomicU64::new(0),
        purges: AtomicU64::new(0),
        purges_skipped: AtomicU64::new(0),
        vacuums: AtomicU64::new(0),
        current_vacuums: AtomicU64::new(0),
        analyzes: AtomicU64::new(0),
        autovacuum_skipped: AtomicU64::new(0),
        retention_ms_max: AtomicU64::new(0),
        last_cutoff: Mutex::new(None),
        failures: Mutex::new(Vec::new()),
        failure_count: AtomicU64::new(0),
    };
    lock(&ctx.round_started_at).reserve(ctx.config.rounds);
    let sportradar: Vec<String> = (0..slots).map(sportradar_id).collect();
    let kickoffs: Vec<DateTime<Utc>> = (0..slots).map(|slot| ctx.kickoff(slot)).collect();
    let rows = sqlx::query(
        "INSERT INTO events (tournament_id, name, home_team, away_team, kickoff, sportradar_id) \
         SELECT $1, 'Home ' || sr || ' - Away ' || sr, 'Home ' || sr, 'Away ' || sr, k, sr \
         FROM UNNEST($2::text[], $3::timestamptz[]) AS e(sr, k) \
         RETURNING id, sportradar_id",
    )
    .bind(tournament)
    .bind(&sportradar)
    .bind(&kickoffs)
    .fetch_all(&pool)
    .await
    .map_err(db_err)?;
    let mut by_sportradar = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: i32 = row.try_get(0).map_err(db_err)?;
        let sr: String = row.try_get(1).map_err(db_err)?;
        by_sportradar.insert(sr, id);
    }
    for sr in &sportradar {
        let id = by_sportradar
            .get(sr)
            .copied()
            .ok_or_else(|| refusal(format!("Betpawa event {sr} was not written")))?;
        ctx.betpawa.push(id);
    }
    for (s, &source) in SOURCES.iter().enumerate() {
        let tournaments: Vec<_> = (0..TOURNAMENTS)
            .map(|t| testing::tournament(source, sport, &format!("soak-{t}")))
            .collect();
        ctx.tournaments[s] = store::upsert_tournaments(db, &tournaments).await?;
    }
    sqlx::query(
        "CREATE UNLOGGED TABLE IF NOT EXISTS soak_reported_snapshots (\
             id bigint PRIMARY KEY, competitor_event_id integer NOT NULL, \
             captured_at timestamptz NOT NULL, writer text NOT NULL)",
    )
    .execute(&pool)
    .await
    .map_err(db_err)?;
    sqlx::query("TRUNCATE soak_reported_snapshots")
        .execute(&pool)
        .await
        .map_err(db_err)?;
    Ok(ctx)
}

fn sportradar_id(slot: usize) -> String {
    (SPORTRADAR_BASE + slot).to_string()
}

/// The competitor's own id of `slot`'s event: SportyBet's `sr:match:` URN, Bet9ja's number.
fn external_id(source: CompetitorSource, slot: usize) -> String {
    match source {
        CompetitorSource::Sportybet => format!("sr:match:{}", sportradar_id(slot)),
        CompetitorSource::Bet9ja => (40_000_000 + slot).to_string(),
    }
}

/// Marks a scraper round in flight until dropped.
struct InFlight<'a>(&'a Ctx);

impl<'a> InFlight<'a> {
    fn enter(ctx: &'a Ctx) -> Self {
        ctx.in_flight.fetch_add(1, Ordering::SeqCst);
        ctx.rounds_started.fetch_add(1, Ordering::SeqCst);
        InFlight(ctx)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Round `r` of scraper `s`; returns its wall time in ms, `None` when a step failed (the
/// error counted, the rest of the round skipped).
async fn scraper_round(ctx: Arc<Ctx>, s: usize, r: usize) -> Option<f64> {
    let source = SOURCES[s];
    let at = ctx.at(r);
    let slots: Vec<usize> = ctx
        .window(r)
        .filter(|&slot| ctx.listed(s, slot, r))
        .collect();
    let tournaments = &ctx.tournaments[s];
    let upserts: Vec<_> = slots
        .iter()
        .map(|&slot| {
            testing::event(
                source,
                tournaments[slot % tournaments.len()],
                &external_id(source, slot),
                &sportradar_id(slot),
                ctx.kickoff(slot),
            )
        })
        .collect();
    let seen: Vec<String> = upserts.iter().map(|u| u.external_id.clone()).collect();
    // The capture is parsed before the round writes anything, as a scraper's is.
    let markets: Vec<Vec<NewMarket>> = slots.iter().map(|&slot| ctx.markets(s, slot, r)).collect();

    let flight = InFlight::enter(&ctx);
    let started = Instant::now();
    let failed = |what: &'static str, err: StoreError| -> Option<f64> {
        ctx.error(format!("{source} round {r}: {what}: {err}"));
        None
    };
    let ids = match store::upsert_events(&ctx.db, &upserts).await {
        Ok(ids) => ids,
        Err(err) => return failed("upsert_events", err),
    };
    if let Err(err) = store::soft_delete_missing(&ctx.db, source, &seen).await {
        return failed("soft_delete_missing", err);
    }
    if let Err(err) = store::link_betpawa_events(&ctx.db).await {
        return failed("link_betpawa_events", err);
    }
    let captures: Vec<NewSnapshot> = ids
        .iter()
        .zip(markets)
        .map(|(&id, markets)| NewSnapshot {
            competitor_event_id: id,
            captured_at: at,
            scrape_run_id: None,
            raw_response: None,
            markets,
        })
        .collect();
    let recorded = match store::record_odds(&ctx.db, &captures).await {
        Ok(recorded) => recorded,
        Err(err) => return failed("record_odds", err),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(flight);

    // Bookkeeping, untimed: the snapshots this round wrote, for the final check, and their
    // number against what `record_odds` reported.
    let reported = sqlx::query(
        "INSERT INTO soak_reported_snapshots (id, competitor_event_id, captured_at, writer) \
         SELECT id, competitor_event_id, captured_at, $3 FROM competitor_odds_snapshots \
         WHERE competitor_event_id = ANY($1) AND captured_at = $2 AND kind = 'change'",
    )
    .bind(&ids)
    .bind(at)
    .bind(source.as_str())
    .execute(&ctx.pool)
    .await;
    match reported {
        Ok(done) if done.rows_affected() != recorded.snapshots => ctx.failure(format!(
            "{source} round {r}: record_odds reported {} snapshots, {} are stored",
            recorded.snapshots,
            done.rows_affected()
        )),
        Ok(_) => {}
        Err(err) => ctx.error(format!("{source} round {r}: bookkeeping: {err}")),
    }
    Some(ms)
}

/// A reader: random pages of Betpawa events of the current window, until the soak stops
/// (at least one read); returns its idle and busy latencies.
async fn read_loop(ctx: Arc<Ctx>, reader: usize) -> (Histogram, Histogram) {
    let (mut idle, mut busy) = (Histogram::new(), Histogram::new());
    let mut rng = mix(&[ctx.config.seed, 0x5ead, reader as u64]) | 1;
    let page = ctx.config.page_size;
    let mut reads = 0usize;
    loop {
        let r = ctx.round.load(Ordering::SeqCst).max(1);
        let window = ctx.window(r);
        let pages = window.len().div_ceil(page);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let first = window.start + page * (rng % pages as u64) as usize;
        let ids = &ctx.betpawa[first..(first + page).min(window.end)];

        let generation = ctx.rounds_started.load(Ordering::SeqCst);
        let busy_before = ctx.in_flight.load(Ordering::SeqCst) > 0;
        let started = Instant::now();
        let result = store::current_odds_for_betpawa_events(&ctx.db, ids).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let was_busy = busy_before
            || ctx.in_flight.load(Ordering::SeqCst) > 0
            || ctx.rounds_started.load(Ordering::SeqCst) != generation;
        match result {
            Ok(odds) => {
                if was_busy {
                    busy.record(ms);
                } else {
                    idle.record(ms);
                }
                ctx.reads.fetch_add(1, Ordering::Relaxed);
                reads += 1;
                let charted = odds.values().flatten().next().map(|c| c.event.id);
                if let Some(event) = charted.filter(|_| {
                    ctx.config.history_every > 0 && reads.is_multiple_of(ctx.config.history_every)
                }) {
                    let since = ctx.at(r) - Duration::minutes(history_minutes(&ctx.config));
                    match store::odds_history(&ctx.db, event, CHARTED_MARKET, since).await {
                        Ok(_) => drop(ctx.history_reads.fetch_add(1, Ordering::Relaxed)),
                        Err(err) => ctx.error(format!("reader {reader}: odds_history: {err}")),
                    }
                }
            }
            Err(err) => ctx.error(format!(
                "reader {reader}: current_odds_for_betpawa_events: {err}"
            )),
        }
        if ctx.stop.load(Ordering::SeqCst) {
            return (idle, busy);
        }
        if ctx.config.read_pause_ms > 0 {
            tokio::time::sleep(StdDuration::from_millis(ctx.config.read_pause_ms)).await;
        }
    }
}

/// The span of history retention keeps, in simulated minutes.
fn history_minutes(config: &SoakConfig) -> i64 {
    config.keep_rounds as i64 * config.round_minutes
}

/// The foreign writer: full captures of its share of the listed events, one event after
/// the other in a loop, each captured half a round after the scrapers' capture of the
/// current round and with the odds of the next round (it scrapes later), as the Python
/// service writes them; as fast as it goes, so it never falls behind the simulated clock.
async fn foreign_writer(ctx: Arc<Ctx>) -> ForeignTimes {
    let mut times = ForeignTimes {
        inserts: Histogram::new(),
        commits: Histogram::new(),
    };
    let (mut events, mut listed_for) = (Vec::new(), 0);
    let mut written = Written::default();
    let mut next = 0usize;
    while !ctx.stop.load(Ordering::SeqCst) {
        let r = ctx.round.load(Ordering::SeqCst);
        if r != listed_for {
            if let Err(err) = written.report(&ctx).await {
                ctx.error(format!("foreign writer, round {r}: bookkeeping: {err}"));
            }
            match foreign_events(&ctx, r).await {
                Ok(listed) => (events, listed_for) = (listed, r),
                Err(err) => {
                    ctx.error(format!("foreign writer, round {r}: its events: {err}"));
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(&(event, s, slot)) = events.get(next % events.len().max(1)) else {
            tokio::time::sleep(StdDuration::from_millis(10)).await;
            continue;
        };
        next = next.wrapping_add(1);
        let at = ctx.at(r) + Duration::minutes(ctx.config.round_minutes) / 2;
        let markets = ctx.markets(s, slot, r + 1);
        match python_service_capture(&ctx.pool, event, at, &markets, &mut times).await {
            Ok(id) => {
                written.push(id, event, at);
                ctx.foreign_captures.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => ctx.error(format!("foreign writer, event {event}: {err}")),
        }
    }
    if let Err(err) = written.report(&ctx).await {
        ctx.error(format!("foreign writer: bookkeeping: {err}"));
    }
    times
}

/// The foreign writer's events of round `r`: (competitor event id, source, slot) of the
/// active events in its share of the window's slots.
async fn foreign_events(ctx: &Ctx, r: usize) -> Result<Vec<(i32, usize, usize)>, StoreError> {
    let sportradar: Vec<String> = ctx
        .window(r)
        .filter(|&slot| ctx.foreign(slot))
        .map(sportradar_id)
        .collect();
    let rows = sqlx::query(
        "SELECT id, source, sportradar_id FROM competitor_events \
         WHERE deleted_at IS NULL AND sportradar_id = ANY($1) ORDER BY id",
    )
    .bind(&sportradar)
    .fetch_all(&ctx.pool)
    .await
    .map_err(db_err)?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let event: i32 = row.try_get(0).map_err(db_err)?;
        let source: String = row.try_get(1).map_err(db_err)?;
        let sr: String = row.try_get(2).map_err(db_err)?;
        let s = SOURCES
            .iter()
            .position(|known| known.as_str() == source)
            .ok_or_else(|| refusal(format!("unknown source {source}")))?;
        let slot = sr
            .parse::<usize>()
            .ok()
            .and_then(|sr| sr.checked_sub(SPORTRADAR_BASE))
            .ok_or_else(|| refusal(format!("unknown SportRadar id {sr}")))?;
        events.push((event, s, slot));
    }
    Ok(events)
}

/// The foreign writer's snapshots not yet in `soak_reported_snapshots`.
#[derive(Default)]
struct Written {
    ids: Vec<i64>,
    events: Vec<i32>,
    at: Vec<DateTime<Utc>>,
}

impl Written {
    fn push(&mut self, id: i64, event: i32, at: DateTime<Utc>) {
        self.ids.push(id);
        self.events.push(event);
        self.at.push(at);
    }

    /// Writes them into `soak_reported_snapshots`, one statement, and forgets them.
    async fn report(&mut self, ctx: &Ctx) -> Result<(), StoreError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO soak_reported_snapshots (id, competitor_event_id, captured_at, writer) \
             SELECT id, event, at, 'python' \
             FROM UNNEST($1::bigint[], $2::integer[], $3::timestamptz[]) AS w(id, event, at)",
        )
        .bind(&self.ids)
        .bind(&self.events)
        .bind(&self.at)
        .execute(&ctx.pool)
        .await
        .map_err(db_err)?;
        self.ids.clear();
        self.events.clear();
        self.at.clear();
        Ok(())
    }
}

/// One full capture as the Python service writes it: an `INSERT` for the snapshot (no
/// `kind`: the column's default, a full capture), one per market with the outcomes as its
/// `json.dumps` writes them, in one transaction; returns the snapshot's id.
async fn python_service_capture(
    pool: &PgPool,
    event: i32,
    at: DateTime<Utc>,
    markets: &[NewMarket],
    times: &mut ForeignTimes,
) -> Result<i64, StoreError> {
    let started = Instant::now();
    let mut tx = pool.begin().await.map_err(db_err)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO competitor_odds_snapshots (competitor_event_id, captured_at) \
         VALUES ($1, $2) RETURNING id",
    )
    .bind(event)
    .bind(at)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    for market in markets {
        sqlx::query(
            "INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, \
                 betpawa_market_name, line, handicap_type, handicap_home, handicap_away, \
                 outcomes) VALUES ($1, $2, $3, $4, $5, $6, $7, CAST($8 AS json))",
        )
        .bind(id)
        .bind(&market.betpawa_market_id)
        .bind(&market.betpawa_market_name)
        .bind(market.line)
        .bind(&market.handicap_type)
        .bind(market.handicap_home)
        .bind(market.handicap_away)
        .bind(python_json(&market.outcomes))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    let inserted = Instant::now();
    tx.commit().await.map_err(db_err)?;
    times.inserts.record(ms_between(started, inserted));
    times
        .commits
        .record(inserted.elapsed().as_secs_f64() * 1000.0);
    Ok(id)
}

/// Milliseconds from `from` to `to`.
fn ms_between(from: Instant, to: Instant) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0
}

/// How long the foreign writer's captures took: the `INSERT`s (with `BEGIN`), and the
/// `COMMIT`, which folds the capture into the current odds (migration 4's trigger, under
/// the event's lock).
#[derive(Clone)]
struct ForeignTimes {
    inserts: Histogram,
    commits: Histogram,
}

/// The outcomes as Python's `json.dumps` writes them: spaces after `:` and `,`, floats
/// with a decimal point, and, as in the service's rows, no `is_active` where it is true.
fn python_json(outcomes: &Outcomes) -> String {
    let items: Vec<String> = outcomes
        .0
        .iter()
        .map(|o| {
            let name = serde_json::Value::String(o.name.clone());
            if o.is_active {
                format!("{{\"name\": {name}, \"odds\": {:?}}}", o.odds)
            } else {
                format!(
                    "{{\"name\": {name}, \"odds\": {:?}, \"is_active\": false}}",
                    o.odds
                )
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Retention after round `r`: old snapshots, then long soft-deleted events.
async fn purge(ctx: Arc<Ctx>, r: usize) {
    let started = Instant::now();
    {
        let cutoff = ctx.at(r) - Duration::minutes(history_minutes(&ctx.config));
        {
            let mut last = lock(&ctx.last_cutoff);
            *last = Some(last.map_or(cutoff, |last| last.max(cutoff)));
        }
        if let Err(err) =
            store::purge_snapshots_before(&ctx.db, cutoff, ctx.config.purge_batch).await
        {
            ctx.error(format!(
                "retention, round {r}: purge_snapshots_before: {err}"
            ));
        }
        // Events soft-deleted before round `r - keep_rounds + 1` started: `deleted_at` is
        // the real time of the scraper round that deleted them.
        let deleted_cutoff = r
            .checked_sub(ctx.config.keep_rounds)
            .and_then(|first_kept| lock(&ctx.round_started_at).get(first_kept).copied());
        if let Some(deleted_cutoff) = deleted_cutoff
            && let Err(err) = store::purge_deleted_before(&ctx.db, deleted_cutoff).await
        {
            ctx.error(format!("retention, round {r}: purge_deleted_before: {err}"));
        }
        ctx.purges.fetch_add(1, Ordering::Relaxed);
    }
    let ms = (started.elapsed().as_secs_f64() * 1000.0) as u64;
    ctx.retention_ms_max.fetch_max(ms, Ordering::Relaxed);
}

/// The competitor tables, which autovacuum's rule looks at.
const COMPETITOR_TABLES: [&str; 5] = [
    "competitor_tournaments",
    "competitor_events",
    "competitor_odds_snapshots",
    "competitor_market_odds",
    "competitor_market_odds_current",
];

/// Autovacuum's decision for each competitor table (PostgreSQL's
/// `relation_needs_vacanalyze`): a `VACUUM` when its dead tuples pass
/// `autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor * reltuples`, or its
/// inserts since the last one pass the insert threshold and scale factor; an `ANALYZE`
/// when its changes since the last one pass `autovacuum_analyze_threshold +
/// autovacuum_analyze_scale_factor * reltuples`. The table's own settings win over the
/// server's, as they do for autovacuum.
const AUTOVACUUM_DUE: &str = "\
WITH t AS (
    SELECT c.relname, GREATEST(c.reltuples, 0) AS tuples, s.n_dead_tup, s.n_ins_since_vacuum,
        s.n_mod_since_analyze,
        (SELECT jsonb_object_agg(option_name, option_value) FROM pg_options_to_table(c.reloptions))
            AS own
    FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.relname = ANY($1)),
setting AS (
    SELECT relname, tuples, n_dead_tup, n_ins_since_vacuum, n_mod_since_analyze,
        CAST(COALESCE(own ->> 'autovacuum_vacuum_threshold',
            current_setting('autovacuum_vacuum_threshold')) AS float8) AS vt,
        CAST(COALESCE(own ->> 'autovacuum_vacuum_scale_factor',
            current_setting('autovacuum_vacuum_scale_factor')) AS float8) AS vs,
        CAST(COALESCE(own ->> 'autovacuum_vacuum_insert_threshold',
            current_setting('autovacuum_vacuum_insert_threshold')) AS float8) AS it,
        CAST(COALESCE(own ->> 'autovacuum_vacuum_insert_scale_factor',
            current_setting('autovacuum_vacuum_insert_scale_factor')) AS float8) AS ins,
        CAST(COALESCE(own ->> 'autovacuum_analyze_threshold',
            current_setting('autovacuum_analyze_threshold')) AS float8) AS at,
        CAST(COALESCE(own ->> 'autovacuum_analyze_scale_factor',
            current_setting('autovacuum_analyze_scale_factor')) AS float8) AS ans
    FROM t)
SELECT relname,
    n_dead_tup > vt + vs * tuples
        OR (it >= 0 AND n_ins_since_vacuum > it + ins * tuples) AS vacuum,
    n_mod_since_analyze > at + ans * tuples AS analyze
FROM setting ORDER BY relname";

/// After round `r`: what autovacuum would do now (see [`AUTOVACUUM_DUE`]), one table after
/// the other, as one autovacuum worker does.
async fn autovacuum_rule(ctx: Arc<Ctx>, r: usize) {
    let tables: Vec<String> = COMPETITOR_TABLES.iter().map(|t| (*t).to_owned()).collect();
    let due = match sqlx::query(AUTOVACUUM_DUE)
        .bind(&tables)
        .fetch_all(&ctx.pool)
        .await
    {
        Ok(due) => due,
        Err(err) => return ctx.error(format!("autovacuum, round {r}: {err}")),
    };
    for row in due {
        let (Ok(table), Ok(vacuum), Ok(analyze)) = (
            row.try_get::<String, _>(0),
            row.try_get::<bool, _>(1),
            row.try_get::<bool, _>(2),
        ) else {
            return ctx.error(format!("autovacuum, round {r}: an unreadable row"));
        };
        let Some(table) = COMPETITOR_TABLES.iter().find(|t| **t == table) else {
            continue;
        };
        let command = match (vacuum, analyze) {
            (true, true) => format!("VACUUM (ANALYZE) {table}"),
            (true, false) => format!("VACUUM {table}"),
            (false, true) => format!("ANALYZE {table}"),
            (false, false) => continue,
        };
        match ctx.db.execute_unprepared(&command).await {
            Ok(_) => {
                if vacuum {
                    ctx.vacuums.fetch_add(1, Ordering::Relaxed);
                    if *table == "competitor_market_odds_current" {
                        ctx.current_vacuums.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if analyze {
                    ctx.analyzes.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(err) => ctx.error(format!("autovacuum, round {r}: {command}: {err}")),
        }
    }
}

/// `ANALYZE` of the competitor tables: the planner's statistics, which autovacuum keeps up
/// to date where it runs.
async fn analyze(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query(
        "ANALYZE competitor_tournaments, competitor_events, competitor_odds_snapshots, \
         competitor_market_odds, competitor_market_odds_current",
    )
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Makes every idle connection of `pool` flush its table statistics, so
/// `pg_stat_user_tables` counts all the soak did (PostgreSQL 15 and later flush them at
/// most once a second, and an idle connection only after ten; earlier servers send them
/// to the collector within half a second, so there a second's wait does).
async fn flush_statistics(pool: &PgPool) -> Result<(), StoreError> {
    let version: i32 =
        sqlx::query_scalar("SELECT CAST(current_setting('server_version_num') AS integer)")
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
    if version < 150_000 {
        tokio::time::sleep(StdDuration::from_secs(1)).await;
        return Ok(());
    }
    let mut held = Vec::new();
    while let Some(conn) = pool.try_acquire() {
        held.push(conn);
    }
    for conn in &mut held {
        sqlx::query("SELECT pg_stat_force_next_flush()")
            .execute(&mut **conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// The final checks of the snapshots the tasks reported and of orphan rows; one line per
/// kind of failure found.
async fn snapshot_failures(
    pool: &PgPool,
    last_cutoff: Option<DateTime<Utc>>,
) -> Result<Vec<String>, StoreError> {
    // A reported snapshot may be missing only when a purge explains it: captured before
    // the latest cutoff, or its event hard-deleted.
    let missing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM soak_reported_snapshots r \
         WHERE NOT EXISTS (SELECT 1 FROM competitor_odds_snapshots s WHERE s.id = r.id) \
           AND ($1::timestamptz IS NULL OR r.captured_at >= $1) \
           AND EXISTS (SELECT 1 FROM competitor_events e WHERE e.id = r.competitor_event_id)",
    )
    .bind(last_cutoff)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let mut failures = Vec::new();
    if missing > 0 {
        failures.push(format!(
            "{missing} reported snapshots missing though no purge explains it"
        ));
    }
    let checks: [(&str, &str); 5] = [
        (
            "reported snapshots stored with another event or capture time",
            "SELECT COUNT(*) FROM soak_reported_snapshots r JOIN competitor_odds_snapshots s \
                 ON s.id = r.id \
             WHERE s.competitor_event_id <> r.competitor_event_id \
                 OR s.captured_at <> r.captured_at",
        ),
        (
            "current markets whose changed_at has no snapshot of their event",
            "SELECT COUNT(*) FROM competitor_market_odds_current c WHERE NOT EXISTS (\
                 SELECT 1 FROM competitor_odds_snapshots s \
                 WHERE s.competitor_event_id = c.competitor_event_id \
                   AND s.captured_at = c.changed_at AND s.kind <> 'stale')",
        ),
        (
            "current markets whose unavailable_at has no snapshot of their event",
            "SELECT COUNT(*) FROM competitor_market_odds_current c \
             WHERE c.unavailable_at IS NOT NULL AND NOT EXISTS (\
                 SELECT 1 FROM competitor_odds_snapshots s \
                 WHERE s.competitor_event_id = c.competitor_event_id \
                   AND s.captured_at = c.unavailable_at AND s.kind <> 'stale')",
        ),
        (
            "market odds rows without their snapshot",
            "SELECT COUNT(*) FROM competitor_market_odds m WHERE NOT EXISTS (\
                 SELECT 1 FROM competitor_odds_snapshots s WHERE s.id = m.snapshot_id)",
        ),
        (
            "current markets or snapshots without their event",
            "SELECT (SELECT COUNT(*) FROM competitor_market_odds_current c WHERE NOT EXISTS (\
                     SELECT 1 FROM competitor_events e WHERE e.id = c.competitor_event_id)) \
                 + (SELECT COUNT(*) FROM competitor_odds_snapshots s WHERE NOT EXISTS (\
                     SELECT 1 FROM competitor_events e WHERE e.id = s.competitor_event_id))",
        ),
    ];
    for (what, sql) in checks {
        let found: i64 = sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
        if found > 0 {
            failures.push(format!("{found} {what}"));
        }
    }
    Ok(failures)
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), MB; 0 where that
/// file does not exist.
pub fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

/// The process's resident set now (`VmRSS`), MB; 0 where `/proc/self/status` does not
/// exist.
pub fn rss_mb() -> f64 {
    proc_status_mb("VmRSS:")
}

/// The field `name` of `/proc/self/status` (in kB there), MB.
fn proc_status_mb(name: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The `p` quantile (nearest rank) of `values`, 0 when empty.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Latencies in buckets 1% wide, so a reader's memory does not grow with its reads.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    count: u64,
}

/// The lowest bucket's upper bound, ms.
const HISTOGRAM_MIN_MS: f64 = 0.001;
/// Each bucket's upper bound over the one before.
const HISTOGRAM_GROWTH: f64 = 1.01;
/// Buckets: up to 0.001 ms x 1.01^2400, about 6 hours.
const HISTOGRAM_BUCKETS: usize = 2_400;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; HISTOGRAM_BUCKETS],
            count: 0,
        }
    }

    fn record(&mut self, ms: f64) {
        let bucket = if ms <= HISTOGRAM_MIN_MS {
            0
        } else {
            ((ms / HISTOGRAM_MIN_MS).ln() / HISTOGRAM_GROWTH.ln()).ceil() as usize
        };
        self.counts[bucket.min(HISTOGRAM_BUCKETS - 1)] += 1;
        self.count += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
    }

    /// The `p` quantile (nearest rank), as its bucket's upper bound (at most 1% high); 0
    /// when empty.
    fn percentile(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return HISTOGRAM_MIN_MS * HISTOGRAM_GROWTH.powi(bucket as i32);
            }
        }
        0.0
    }
}

/// A 64-bit mix of `values` (splitmix64 steps).
fn mix(values: &[u64]) -> u64 {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for &value in values {
        x = x.wrapping_add(value).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
    }
    x
}
