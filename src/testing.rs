//! Sample palimpsests for the tests, the demo and the benchmark (feature `testing`): one
//! builder of tournaments, events and markets, deterministic so runs compare.

use chrono::{DateTime, Utc};
use entity::CompetitorSource;
use entity::outcome::{Outcome, Outcomes};
use sea_orm::{DbBackend, Statement, Value};

use crate::store::{EventUpsert, NewMarket, NewSnapshot, StoreError, TournamentUpsert};

/// A statement from SQL written with `$1`, `$2`, .. placeholders, each used once and in
/// order; SQLite gets `?` for each. The store's own rewrite, for tests that write SQL once
/// for both backends.
pub fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    crate::store::backend::statement(backend, sql, values)
}

/// The same rows as [`write_snapshots`](crate::store::write_snapshots) given the pool,
/// through the same `COPY .. FROM STDIN` in one transaction, without its validation,
/// retries or current odds (the fold triggers told to stand aside): the benchmark's
/// baseline.
///
/// # Errors
/// The database's, as [`StoreError`].
#[cfg(feature = "postgres")]
pub async fn copy_snapshots(
    pool: &sea_orm::sqlx::PgPool,
    snapshots: &[NewSnapshot],
) -> Result<Vec<i64>, StoreError> {
    use crate::store::snapshots::copy;
    use sea_orm::sqlx;
    let mut tx = pool.begin().await.map_err(copy::db_err)?;
    sqlx::query("SELECT set_config('competitor_db.folding', 'store', true)")
        .execute(&mut *tx)
        .await
        .map_err(copy::db_err)?;
    let kinds = vec![entity::SnapshotKind::Full; snapshots.len()];
    let ids = copy::copy_snapshots(&mut tx, snapshots, &kinds, None).await?;
    tx.commit().await.map_err(copy::db_err)?;
    Ok(ids)
}

/// A tournament of `source` named after its external id.
pub fn tournament(source: CompetitorSource, sport_id: i32, external_id: &str) -> TournamentUpsert {
    TournamentUpsert {
        source,
        sport_id,
        name: format!("League {external_id}"),
        country_raw: Some("England".to_owned()),
        country_iso: Some("ENG".to_owned()),
        external_id: external_id.to_owned(),
        sportradar_id: None,
    }
}

/// An event of `source` in `tournament_id`, with SportRadar id `sportradar_id` (the bare
/// number, as stored).
pub fn event(
    source: CompetitorSource,
    tournament_id: i32,
    external_id: &str,
    sportradar_id: &str,
    kickoff: DateTime<Utc>,
) -> EventUpsert {
    EventUpsert {
        source,
        tournament_id,
        name: format!("Home {external_id} vs Away {external_id}"),
        home_team: format!("Home {external_id}"),
        away_team: format!("Away {external_id}"),
        kickoff,
        external_id: external_id.to_owned(),
        sportradar_id: sportradar_id.to_owned(),
    }
}

/// A capture of `markets` markets of `event`, every market at odds `version` 0.
pub fn snapshot(event: i32, markets: usize, captured_at: DateTime<Utc>) -> NewSnapshot {
    NewSnapshot {
        competitor_event_id: event,
        captured_at,
        scrape_run_id: None,
        raw_response: None,
        markets: (0..markets).map(|k| market(event, k, 0)).collect(),
    }
}

/// Whether market `k` of `event` gets new odds in `round` when a fraction `rate` of
/// markets changes per round: a fixed hash of the three, so every run changes the same
/// markets.
pub fn changes(event: i32, k: usize, round: usize, rate: f64) -> bool {
    let unit = (mix(event as u64, k as u64, round as u64 + 1) % 1_000_000) as f64 / 1_000_000.0;
    unit < rate
}

/// `outcomes` with every odds moved by 1 or 2 percent, up or down, rounded to two
/// decimals and at least 1.01: how prices drift between two scrapes. The moves are a
/// fixed function of `event`, `k` and `round`.
pub fn reprice(outcomes: &Outcomes, event: i32, k: usize, round: usize) -> Outcomes {
    Outcomes(
        outcomes
            .0
            .iter()
            .enumerate()
            .map(|(i, outcome)| {
                let step = [-2.0, -1.0, 1.0, 2.0]
                    [(mix(event as u64, k as u64, (round * 31 + i) as u64) % 4) as usize];
                let odds =
                    ((outcome.odds * (1.0 + step / 100.0) * 100.0).round() / 100.0).max(1.01);
                Outcome {
                    name: outcome.name.clone(),
                    odds,
                    is_active: outcome.is_active,
                }
            })
            .collect(),
    )
}

/// The kinds of market of a football palimpsest: Betpawa's id and name, and each
/// outcome with the range its odds are drawn from.
type MarketKind = (usize, &'static str, &'static [(&'static str, f64, f64)]);

// One kind a line: a table reads better than rustfmt's one field a line.
#[rustfmt::skip]
const MARKET_KINDS: [MarketKind; 10] = [
    (3743, "1X2", &[("1", 1.2, 6.0), ("X", 2.8, 4.5), ("2", 1.2, 9.0)]),
    (5000, "Over/Under", &[("Over", 1.3, 3.2), ("Under", 1.3, 3.2)]),
    (5000, "Over/Under", &[("Over", 1.3, 3.2), ("Under", 1.3, 3.2)]),
    (3795, "Both Teams To Score", &[("Yes", 1.3, 3.2), ("No", 1.3, 3.2)]),
    (4693, "Double Chance", &[("1X", 1.05, 1.8), ("12", 1.05, 1.6), ("X2", 1.05, 2.5)]),
    (3744, "Asian Handicap", &[("1", 1.3, 3.2), ("2", 1.3, 3.2)]),
    (3744, "Asian Handicap", &[("1", 1.3, 3.2), ("2", 1.3, 3.2)]),
    (5007, "1st Half - Over/Under", &[("Over", 1.3, 3.2), ("Under", 1.3, 3.2)]),
    (3747, "Draw No Bet", &[("1", 1.3, 3.2), ("2", 1.3, 3.2)]),
    (3769, "Odd/Even", &[("Odd", 1.3, 3.2), ("Even", 1.3, 3.2)]),
];

/// Market `k` of `event` at odds `version`: the kinds of a real football palimpsest
/// (1X2, Over/Under lines, both teams to score, double chance, Asian handicaps, ...),
/// with odds drawn from a fixed seed. Markets `k` of one event have distinct identities
/// (id, line, handicap), which depend on `k` only; each `version` prices them anew.
pub fn market(event: i32, k: usize, version: u32) -> NewMarket {
    let mut seed = mix(event as u64, k as u64, u64::from(version));
    let mut odds = |low: f64, high: f64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let unit = (seed % 10_000) as f64 / 10_000.0;
        ((low + unit * (high - low)) * 100.0).round() / 100.0
    };
    // Ten kinds; the n-th market of a kind is another line, handicap or period of it.
    let (kind, nth) = (k % 10, k / 10);
    let step = (2 * nth + kind % 2) as f64;
    let (id, name, prices) = MARKET_KINDS[kind];
    let line = match kind {
        1 | 2 => Some(0.5 + step),
        7 => Some(0.5 + nth as f64),
        _ => None,
    };
    let handicap = matches!(kind, 5 | 6).then(|| -0.25 * (step + 1.0));
    let outcomes = Outcomes(
        prices
            .iter()
            .map(|&(outcome, low, high)| Outcome::new(outcome, odds(low, high)))
            .collect(),
    );
    // Kinds without a line or handicap come once per period: another Betpawa market.
    let (id, name) = match (line, handicap, nth) {
        (None, None, 0) => (id.to_string(), name.to_owned()),
        (None, None, period) => (
            (id + 10_000 * period).to_string(),
            format!("{name} - Period {period}"),
        ),
        _ => (id.to_string(), name.to_owned()),
    };
    NewMarket {
        betpawa_market_id: id,
        betpawa_market_name: name,
        line,
        handicap_type: handicap.map(|_| "asian".to_owned()),
        handicap_home: handicap,
        handicap_away: handicap.map(|h: f64| -h),
        outcomes,
    }
}

/// A 64-bit mix of three numbers (splitmix64 steps).
fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut x = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(c.wrapping_mul(0x94D0_49BB_1331_11EB))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
