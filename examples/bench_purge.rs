//! How fast `purge_snapshots_before` deletes change-mode history, against a bare `DELETE`
//! of the same kind in the same run.
//!
//! On the database of `DATABASE_URL` (fresh: `scripts/bench_purge.sh` makes one), migrated
//! here: `--events` SportyBet events of `--markets` markets recorded in change mode for
//! `--rounds` rounds five minutes apart, a fraction `--change-rate` of markets repriced
//! per round (the benchmark's fixed hash). Then, with the cutoff at the middle round:
//!
//! - `baseline`: one `DELETE` of every snapshot captured before the cutoff except each
//!   event's newest (their market odds by `ON DELETE CASCADE`), timed and rolled back;
//! - `purge`: `purge_snapshots_before(cutoff, --batch)`, timed.
//!
//! Prints `purge events= rounds= snapshots_before_cutoff= deleted_snapshots=
//! deleted_market_odds= ms= baseline_ms= baseline_snapshots= ratio_purge_to_baseline=`.
//! Uses only the public API, so the same file runs against an earlier commit of the crate.

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use competitor_db::entity::CompetitorSource;
use competitor_db::store::{self, NewSnapshot};
use competitor_db::testing;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    events: usize,
    markets: usize,
    rounds: usize,
    change_rate: f64,
    batch: usize,
}

fn options() -> Result<Options, Error> {
    let mut options = Options {
        events: 1000,
        markets: 60,
        rounds: 24,
        change_rate: 0.05,
        batch: 1000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--events" => options.events = value.parse()?,
            "--markets" => options.markets = value.parse()?,
            "--rounds" => options.rounds = value.parse()?,
            "--change-rate" => options.change_rate = value.parse()?,
            "--batch" => options.batch = value.parse()?,
            _ => {
                return Err(format!(
                    "unknown option {flag} (--events E --markets M --rounds R \
                     --change-rate P --batch B)"
                )
                .into());
            }
        }
    }
    if options.rounds < 2 {
        return Err("--rounds: at least 2".into());
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let options = options()?;
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let db = Database::connect(&url).await?;
    competitor_db::migrate(&db).await?;

    db.execute_unprepared(
        "INSERT INTO sports (name, slug) VALUES ('Football', 'football') ON CONFLICT DO NOTHING",
    )
    .await?;
    let sport: i32 = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT min(id) AS id FROM sports",
        ))
        .await?
        .ok_or("no sport")?
        .try_get("", "id")?;
    let tournaments = store::upsert_tournaments(
        &db,
        &[testing::tournament(
            CompetitorSource::Sportybet,
            sport,
            "t-purge",
        )],
    )
    .await?;
    let kickoff = Utc
        .with_ymd_and_hms(2026, 12, 31, 15, 0, 0)
        .single()
        .ok_or("kickoff")?;
    let upserts: Vec<_> = (0..options.events)
        .map(|i| {
            testing::event(
                CompetitorSource::Sportybet,
                tournaments[0],
                &format!("p-{i}"),
                &(70_000_000 + i).to_string(),
                kickoff,
            )
        })
        .collect();
    let events = store::upsert_events(&db, &upserts).await?;

    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
        .single()
        .ok_or("start")?;
    let at = |round: usize| start + Duration::minutes(5 * round as i64);
    let mut captures: Vec<NewSnapshot> = events
        .iter()
        .map(|&event| testing::snapshot(event, options.markets, at(0)))
        .collect();
    for round in 0..options.rounds {
        if round > 0 {
            for capture in &mut captures {
                capture.captured_at = at(round);
                let event = capture.competitor_event_id;
                for (k, market) in capture.markets.iter_mut().enumerate() {
                    if testing::changes(event, k, round, options.change_rate) {
                        market.outcomes = testing::reprice(&market.outcomes, event, k, round);
                    }
                }
            }
        }
        store::record_odds(&db, &captures).await?;
        eprintln!("round {}/{}", round + 1, options.rounds);
    }
    db.execute_unprepared("VACUUM ANALYZE").await?;

    let cutoff = at(options.rounds / 2);
    let before: i64 = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM competitor_odds_snapshots WHERE captured_at < $1",
            [cutoff.into()],
        ))
        .await?
        .ok_or("no count")?
        .try_get("", "n")?;

    // The baseline: one statement, rolled back.
    let txn = db.begin().await?;
    let started = Instant::now();
    let baseline = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM competitor_odds_snapshots s WHERE s.captured_at < $1 \
             AND s.id <> (SELECT n.id FROM competitor_odds_snapshots n \
                          WHERE n.competitor_event_id = s.competitor_event_id \
                          ORDER BY n.captured_at DESC, n.id DESC LIMIT 1)",
            [cutoff.into()],
        ))
        .await?
        .rows_affected();
    let baseline_ms = started.elapsed().as_secs_f64() * 1000.0;
    txn.rollback().await?;

    let started = Instant::now();
    let purged = store::purge_snapshots_before(&db, cutoff, options.batch).await?;
    let purge_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "purge events={} rounds={} snapshots_before_cutoff={before} deleted_snapshots={} \
         deleted_market_odds={} ms={purge_ms:.0} baseline_ms={baseline_ms:.0} \
         baseline_snapshots={baseline} ratio_purge_to_baseline={:.2}",
        options.events,
        options.rounds,
        purged.snapshots,
        purged.market_odds,
        purge_ms / baseline_ms
    );
    Ok(())
}
