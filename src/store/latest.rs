//! Reads: the latest odds of many events, the history of one market.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::outcome::Outcomes;
use entity::{SnapshotKind, competitor_market_odds, competitor_odds_snapshot};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait,
};
use serde::{Deserialize, Serialize};
use tracing::Span;
use tracing::field::Empty;

use super::TRACING_TARGET;
use super::backend::{in_ids, statement};
use super::error::StoreError;
use super::newest::newest_snapshots;

/// The newest snapshot of an event with all its markets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatestSnapshot {
    /// The snapshot ([`entity::competitor_odds_snapshot::Model`]).
    pub snapshot: competitor_odds_snapshot::Model,
    /// Its markets ([`entity::competitor_market_odds::Model`]), in the order they were
    /// written.
    pub markets: Vec<competitor_market_odds::Model>,
}

/// The newest snapshot of each of `event_ids` with all its markets, keyed by competitor
/// event id; events without a snapshot are absent. Newest means the latest
/// `captured_at`, then the highest id.
///
/// Two queries whatever the number of events (no N+1), each binding the ids as one
/// value; the first probes `idx_competitor_odds_snapshots_event_newest` once per event,
/// so its cost does not grow with history. In change mode ([`record_odds`]) the newest
/// snapshot holds only the markets that last changed: read [`current_odds`] there.
///
/// [`record_odds`]: super::record_odds
/// [`current_odds`]: super::current_odds
///
/// # Errors
/// [`StoreError::Db`] for database errors.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(events = event_ids.len(), snapshots = Empty, markets = Empty)
)]
pub async fn latest_snapshots<C>(
    db: &C,
    event_ids: &[i32],
) -> Result<HashMap<i32, LatestSnapshot>, StoreError>
where
    C: ConnectionTrait,
{
    let snapshots = newest_snapshots(db, event_ids).await?;
    if snapshots.is_empty() {
        Span::current().record("snapshots", 0).record("markets", 0);
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let snapshot_ids: Vec<i64> = snapshots.iter().map(|s| s.id).collect();
    let (of_snapshots, ids) = in_ids(backend, "snapshot_id", "$1", &snapshot_ids);
    // No ORDER BY: sorting 120,000 rows spilled to disk and made the planner prefer a
    // scan of the primary key; each snapshot's markets are sorted below instead.
    let markets = competitor_market_odds::Entity::find()
        .from_raw_sql(statement(
            backend,
            &format!("SELECT * FROM competitor_market_odds WHERE {of_snapshots}"),
            vec![ids],
        ))
        .all(db)
        .await?;
    Span::current()
        .record("snapshots", snapshots.len())
        .record("markets", markets.len());

    let mut by_snapshot: HashMap<i64, Vec<competitor_market_odds::Model>> = HashMap::new();
    for market in markets {
        by_snapshot
            .entry(market.snapshot_id)
            .or_default()
            .push(market);
    }
    for markets in by_snapshot.values_mut() {
        markets.sort_unstable_by_key(|market| market.id);
    }
    Ok(snapshots
        .into_iter()
        .map(|snapshot| {
            let markets = by_snapshot.remove(&snapshot.id).unwrap_or_default();
            (
                snapshot.competitor_event_id,
                LatestSnapshot { snapshot, markets },
            )
        })
        .collect())
}

/// One market of one snapshot in a market's history.
#[derive(Clone, Debug, PartialEq, FromQueryResult, Serialize, Deserialize)]
pub struct OddsPoint {
    /// The snapshot the odds come from.
    pub snapshot_id: i64,
    /// When they were captured.
    pub captured_at: DateTime<Utc>,
    /// The market's line (markets with several lines, such as Over/Under, give one point
    /// per line and snapshot).
    pub line: Option<f64>,
    /// Handicap kind.
    pub handicap_type: Option<String>,
    /// Handicap of the home side.
    pub handicap_home: Option<f64>,
    /// Handicap of the away side.
    pub handicap_away: Option<f64>,
    /// The outcomes with their odds.
    pub outcomes: Outcomes,
}

/// The time series of one market (`betpawa_market_id`) of one competitor event from
/// `since`, oldest first (then by line): for each line and handicap, the point in effect
/// at `since` (its newest before it, which a purge keeps), then every point captured at or
/// after `since`. Every capture in full mode ([`write_snapshots`](super::write_snapshots)),
/// the change points in change mode ([`record_odds`](super::record_odds)), where a capture
/// that changed nothing writes no row and a point with no outcomes is the market
/// withdrawn. Stale captures, which changed nothing, are left out.
///
/// # Errors
/// [`StoreError::Db`] for database errors.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(event = competitor_event_id, market = %betpawa_market_id, points = Empty)
)]
pub async fn odds_history<C>(
    db: &C,
    competitor_event_id: i32,
    betpawa_market_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<OddsPoint>, StoreError>
where
    C: ConnectionTrait,
{
    use competitor_market_odds::Column as Market;
    use competitor_odds_snapshot::Column as Snapshot;
    let backend = db.get_database_backend();
    let mut points = OddsPoint::find_by_statement(statement(
        backend,
        IN_EFFECT,
        vec![
            competitor_event_id.into(),
            betpawa_market_id.into(),
            since.into(),
        ],
    ))
    .all(db)
    .await?;
    let after = competitor_market_odds::Entity::find()
        .select_only()
        .column(Market::SnapshotId)
        .column(Snapshot::CapturedAt)
        .columns([
            Market::Line,
            Market::HandicapType,
            Market::HandicapHome,
            Market::HandicapAway,
            Market::Outcomes,
        ])
        .join(
            sea_orm::JoinType::InnerJoin,
            competitor_market_odds::Relation::CompetitorOddsSnapshot.def(),
        )
        .filter(Snapshot::CompetitorEventId.eq(competitor_event_id))
        .filter(Market::BetpawaMarketId.eq(betpawa_market_id))
        .filter(Snapshot::CapturedAt.gte(since))
        .filter(Snapshot::Kind.ne(SnapshotKind::Stale))
        .order_by_asc(Snapshot::CapturedAt)
        .order_by_asc(Market::SnapshotId)
        .order_by_asc(Market::Line)
        .order_by_asc(Market::Id)
        .into_model::<OddsPoint>()
        .all(db)
        .await?;
    points.extend(after);
    Span::current().record("points", points.len());
    Ok(points)
}

/// For each line and handicap of market `$2` of event `$1`, its newest point before `$3`.
const IN_EFFECT: &str = "\
    SELECT snapshot_id, captured_at, line, handicap_type, handicap_home, handicap_away, outcomes
    FROM (
        SELECT m.snapshot_id, s.captured_at, m.line, m.handicap_type, m.handicap_home,
            m.handicap_away, m.outcomes, m.id,
            row_number() OVER (
                PARTITION BY m.line, m.handicap_type, m.handicap_home, m.handicap_away
                ORDER BY s.captured_at DESC, s.id DESC) AS newest
        FROM competitor_odds_snapshots s JOIN competitor_market_odds m ON m.snapshot_id = s.id
        WHERE s.competitor_event_id = $1 AND m.betpawa_market_id = $2 AND s.captured_at < $3
            AND s.kind <> 'stale') points
    WHERE newest = 1
    ORDER BY captured_at, snapshot_id, line, id";
