//! Reads of the change mode: the current odds of many events, and the comparison read
//! keyed by Betpawa event. Their cost does not grow with history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::competitor_event;
use entity::competitor_market_odds_current::{self as current};
use entity::outcome::Outcomes;
use entity::soft_delete::SoftDelete;
use futures_util::TryStreamExt;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryFilter, StreamTrait};
use serde::{Deserialize, Serialize};
use tracing::Span;
use tracing::field::Empty;

use super::TRACING_TARGET;
use super::backend::{Columns, FromColumns, by_position, event_id_list, is_in_ids, statement};
use super::error::StoreError;

/// The current odds of one competitor event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentOdds {
    /// When the event's odds were last known to hold: its newest snapshot's
    /// `last_confirmed_at`, else that snapshot's `captured_at` (stale captures, which
    /// changed nothing, passed over); `None` before its first capture.
    pub freshness: Option<DateTime<Utc>>,
    /// Its current markets ([`entity::competitor_market_odds_current::Model`]) in the order
    /// they first appeared, unavailable ones included (`unavailable_at` set).
    pub markets: Vec<current::Model>,
}

/// One competitor's event linked to a Betpawa event, with its current odds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompetitorOdds {
    /// The competitor event ([`entity::competitor_event::Model`]), active and linked to the
    /// Betpawa event.
    pub event: competitor_event::Model,
    /// Its current odds.
    pub odds: CurrentOdds,
}

/// One row of the current-odds query: the event, its freshness, and one current market
/// if it has any.
struct CurrentRow {
    event_id: i32,
    freshness: Option<DateTime<Utc>>,
    id: Option<i64>,
    betpawa_market_id: Option<String>,
    betpawa_market_name: Option<String>,
    line: Option<f64>,
    handicap_type: Option<String>,
    handicap_home: Option<f64>,
    handicap_away: Option<f64>,
    outcomes: Option<Outcomes>,
    changed_at: Option<DateTime<Utc>>,
    unavailable_at: Option<DateTime<Utc>>,
}

/// The columns of the current-odds query, by position.
impl FromColumns for CurrentRow {
    fn from_columns(row: &impl Columns) -> Result<Self, DbErr> {
        Ok(CurrentRow {
            event_id: row.column(0)?,
            freshness: row.column(1)?,
            id: row.column(2)?,
            betpawa_market_id: row.column(3)?,
            betpawa_market_name: row.column(4)?,
            line: row.column(5)?,
            handicap_type: row.column(6)?,
            handicap_home: row.column(7)?,
            handicap_away: row.column(8)?,
            outcomes: row.json(9)?,
            changed_at: row.column(10)?,
            unavailable_at: row.column(11)?,
        })
    }
}

/// The current odds of each of `event_ids`, keyed by competitor event id: every current
/// market (unavailable ones included, with `unavailable_at` set) and the event's
/// freshness. Events with neither a snapshot nor a current market are absent.
///
/// One query whatever the number of events, binding the ids as one value; each event's
/// freshness is one probe of `idx_competitor_odds_snapshots_event_newest`, so the cost
/// does not grow with history. Its rows are read as a stream and decoded as they arrive,
/// so the decoding overlaps the server's work and the raw rows are never all held at once.
///
/// Dropping the future releases the connection as the other reads do: a pooled connection
/// is checked before its next use, and a caller's transaction stays usable.
///
/// # Errors
/// [`StoreError::Db`] for database errors.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(events = event_ids.len(), found = Empty, markets = Empty)
)]
pub async fn current_odds<C>(
    db: &C,
    event_ids: &[i32],
) -> Result<HashMap<i32, CurrentOdds>, StoreError>
where
    C: ConnectionTrait + StreamTrait,
{
    if event_ids.is_empty() {
        Span::current().record("found", 0).record("markets", 0);
        return Ok(HashMap::new());
    }
    let backend = ConnectionTrait::get_database_backend(db);
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT e.id AS event_id, \
                 (SELECT COALESCE(s.last_confirmed_at, s.captured_at) \
                  FROM competitor_odds_snapshots s \
                  WHERE s.competitor_event_id = e.id AND s.kind <> 'stale' \
                  ORDER BY s.captured_at DESC, s.id DESC LIMIT 1) AS freshness, \
                 c.id, c.betpawa_market_id, c.betpawa_market_name, c.line, c.handicap_type, \
                 c.handicap_home, c.handicap_away, c.outcomes, c.changed_at, c.unavailable_at \
             FROM (SELECT DISTINCT value AS id FROM json_each($1)) e \
             LEFT JOIN competitor_market_odds_current c ON c.competitor_event_id = e.id"
        }
        // The markets, then one row per event for its freshness. Not a join of the ids with
        // the markets: PostgreSQL's generic plan for a prepared statement (used from its
        // sixth run on a connection) takes `unnest($1)` for 10 rows and loops over the
        // market index once per event, twice as slow for 1,000 events; `= ANY($1)` is one
        // index scan in either plan.
        _ => {
            "SELECT c.competitor_event_id AS event_id, \
                 CAST(NULL AS timestamptz) AS freshness, \
                 c.id, c.betpawa_market_id, c.betpawa_market_name, c.line, c.handicap_type, \
                 c.handicap_home, c.handicap_away, c.outcomes, c.changed_at, c.unavailable_at \
             FROM competitor_market_odds_current c WHERE c.competitor_event_id = ANY($1) \
             UNION ALL \
             SELECT e.id, f.freshness, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
             FROM (SELECT DISTINCT unnest($1::integer[]) AS id) e \
             CROSS JOIN LATERAL ( \
                 SELECT COALESCE(s.last_confirmed_at, s.captured_at) AS freshness \
                 FROM competitor_odds_snapshots s \
                  WHERE s.competitor_event_id = e.id AND s.kind <> 'stale' \
                 ORDER BY s.captured_at DESC, s.id DESC LIMIT 1) f"
        }
    };
    let rows = db
        .stream_raw(statement(
            backend,
            sql,
            vec![event_id_list(backend, event_ids)],
        ))
        .await?;
    let mut rows = std::pin::pin!(rows);
    // One pass: each row decoded straight into its event's entry as it arrives.
    let mut odds: HashMap<i32, CurrentOdds> = HashMap::with_capacity(event_ids.len());
    while let Some(row) = rows.try_next().await? {
        let row = by_position::<CurrentRow>(&row)?;
        let event = row.event_id;
        let market = match (
            row.id,
            row.betpawa_market_id,
            row.betpawa_market_name,
            row.outcomes,
            row.changed_at,
        ) {
            (Some(id), Some(market_id), Some(name), Some(outcomes), Some(changed_at)) => {
                Some(current::Model {
                    id,
                    competitor_event_id: event,
                    betpawa_market_id: market_id,
                    betpawa_market_name: name,
                    line: row.line,
                    handicap_type: row.handicap_type,
                    handicap_home: row.handicap_home,
                    handicap_away: row.handicap_away,
                    outcomes,
                    changed_at,
                    unavailable_at: row.unavailable_at,
                })
            }
            // The event has no current market: a row of its own for its freshness.
            _ => None,
        };
        if market.is_none() && row.freshness.is_none() {
            continue;
        }
        let entry = odds.entry(event).or_insert_with(|| CurrentOdds {
            freshness: None,
            markets: Vec::new(),
        });
        entry.freshness = entry.freshness.or(row.freshness);
        entry.markets.extend(market);
    }
    for entry in odds.values_mut() {
        entry.markets.sort_unstable_by_key(|market| market.id);
    }
    record_found(&odds);
    Ok(odds)
}

/// Records on [`current_odds`]' span how many events had odds and their markets.
fn record_found(odds: &HashMap<i32, CurrentOdds>) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    span.record("found", odds.len());
    span.record("markets", markets(odds.values()));
}

/// The markets of `odds`, summed.
fn markets<'a>(odds: impl Iterator<Item = &'a CurrentOdds>) -> usize {
    odds.map(|odds| odds.markets.len()).sum()
}

/// The comparison read: for each of `betpawa_event_ids`, every competitor's linked,
/// not soft-deleted event with its current odds (as [`current_odds`]), ordered by
/// competitor. Betpawa events no competitor event links to are absent.
///
/// Two queries whatever the number of events: the linked events, then their odds.
///
/// # Errors
/// [`StoreError::Db`] for database errors.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(betpawa_events = betpawa_event_ids.len(), events = Empty, markets = Empty)
)]
pub async fn current_odds_for_betpawa_events<C>(
    db: &C,
    betpawa_event_ids: &[i32],
) -> Result<HashMap<i32, Vec<CompetitorOdds>>, StoreError>
where
    C: ConnectionTrait + StreamTrait,
{
    if betpawa_event_ids.is_empty() {
        Span::current().record("events", 0).record("markets", 0);
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = betpawa_event_ids.iter().map(|id| i64::from(*id)).collect();
    let linked = competitor_event::Entity::find_active()
        .filter(is_in_ids(
            ConnectionTrait::get_database_backend(db),
            "betpawa_event_id",
            &ids,
        ))
        .all(db)
        .await?;
    let event_ids: Vec<i32> = linked.iter().map(|event| event.id).collect();
    let mut odds = current_odds(db, &event_ids).await?;

    let mut by_betpawa: HashMap<i32, Vec<CompetitorOdds>> = HashMap::new();
    for event in linked {
        let Some(betpawa) = event.betpawa_event_id else {
            continue;
        };
        let odds = odds.remove(&event.id).unwrap_or(CurrentOdds {
            freshness: None,
            markets: Vec::new(),
        });
        by_betpawa
            .entry(betpawa)
            .or_default()
            .push(CompetitorOdds { event, odds });
    }
    for competitors in by_betpawa.values_mut() {
        // SportyBet, then Bet9ja: the enum's order.
        competitors.sort_by_key(|c| (c.event.source, c.event.id));
    }
    let span = Span::current();
    if !span.is_disabled() {
        let competitors = by_betpawa.values().flatten();
        span.record("events", competitors.clone().count());
        span.record("markets", markets(competitors.map(|c| &c.odds)));
    }
    Ok(by_betpawa)
}
