//! The store's own writes folded into the current odds, in memory.
//!
//! Every writer's snapshots fold into `competitor_market_odds_current` by one rule
//! ([`migration::fold`]); the database runs it for other clients' snapshots. The store's
//! writes run it here instead, on the rows they read anyway: lock the batch's events
//! (PostgreSQL advisory locks, in id order), read their newest snapshot and current
//! markets, apply each capture in capture order, then write the history and only the
//! current rows that changed. (Measured: the database's set-based fold of a full round of
//! 60,000 markets took several times as long as the round's COPY, most of it comparing
//! markets that had not changed.) The store tells the database's triggers to stand aside
//! for its snapshots through the transaction-local setting `competitor_db.folding`.
//!
//! Outcomes are unchanged when their JSON text is, or when both read as the same list of
//! outcomes (another client's spacing, key order or number spelling), as the database
//! compares them.

use foldhash::{HashMap, HashMapExt};
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use entity::SnapshotKind;
use entity::competitor_market_odds_current as current;
use entity::competitor_odds_snapshot as snapshot;
use entity::outcome::Outcomes;
use futures_util::TryStreamExt;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, StreamTrait,
};

use super::sqlite;
use super::{
    NewMarket, NewSnapshot, RecordedOdds, StoreError, event_id_list, is_in_ids, lock_events,
    newest_snapshots, statement, unnest, write_in_transaction,
};
use crate::store::TRACING_TARGET;
use crate::store::backend::{Columns, FromColumns, by_position, not_built};
use tracing::Instrument;

/// How the captures are written as history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every capture whole, `kind = 'full'` (`'stale'` when older than its event's state).
    Full,
    /// One `kind = 'change'` snapshot per capture that changed something, holding only
    /// the changes; a capture that changed nothing confirms its event's newest snapshot.
    Change,
}

/// A connection the fold reads current markets and writes history through.
pub(crate) trait History: ConnectionTrait {
    /// The current markets of `events` ([`stored_markets`]), each decoded as its row
    /// arrives, so that decoding overlaps the server's work.
    fn current_markets(
        &self,
        events: &[i32],
    ) -> impl Future<Output = Result<Vec<StoredMarket>, StoreError>> + Send;

    /// Writes `snapshots` (`kinds` parallel to them) and their markets; returns the
    /// snapshot ids in input order. `prepared`, when given, is parallel to the snapshots'
    /// markets: COPY writes their outcomes' JSON text from it rather than serializing the
    /// outcomes again.
    fn write_history(
        &self,
        snapshots: &[NewSnapshot],
        kinds: &[SnapshotKind],
        prepared: Option<&[Vec<Prepared<'_>>]>,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;
}

impl History for DatabaseTransaction {
    async fn current_markets(&self, events: &[i32]) -> Result<Vec<StoredMarket>, StoreError> {
        let backend = ConnectionTrait::get_database_backend(self);
        let rows = self.stream_raw(stored_markets(backend, events));
        let mut rows = std::pin::pin!(rows.await?);
        let mut markets = Vec::new();
        while let Some(row) = rows.try_next().await? {
            markets.push(by_position::<StoredMarket>(&row)?);
        }
        Ok(markets)
    }

    fn write_history(
        &self,
        snapshots: &[NewSnapshot],
        kinds: &[SnapshotKind],
        _prepared: Option<&[Vec<Prepared<'_>>]>,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send {
        write_in_transaction(self, snapshots, kinds)
    }
}

#[cfg(feature = "postgres")]
impl History for super::copy::CopyTransaction<'_> {
    fn current_markets(
        &self,
        events: &[i32],
    ) -> impl Future<Output = Result<Vec<StoredMarket>, StoreError>> + Send {
        self.stream_decoded(stored_markets(DbBackend::Postgres, events))
    }

    fn write_history(
        &self,
        snapshots: &[NewSnapshot],
        kinds: &[SnapshotKind],
        prepared: Option<&[Vec<Prepared<'_>>]>,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send {
        self.copy_snapshots(snapshots, kinds, prepared)
    }
}

/// What a fold did: its counts, and the ids of the history it wrote (in input order in
/// full mode, in the order written in change mode).
#[derive(Default)]
pub(crate) struct Folded {
    pub(crate) recorded: RecordedOdds,
    pub(crate) ids: Vec<i64>,
}

/// A market's identity within its event: id, line and handicap, with `-0.0` read as
/// `0.0` (the database compares them equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MarketKey<'a> {
    market_id: &'a str,
    line: Option<u64>,
    handicap_type: Option<&'a str>,
    handicap_home: Option<u64>,
    handicap_away: Option<u64>,
}

impl<'a> MarketKey<'a> {
    fn of(market: &'a NewMarket) -> Self {
        KeyValues::of(market).key()
    }
}

/// A captured market, ready to compare: its key and its outcomes' JSON text.
pub(crate) struct Prepared<'a> {
    key: MarketKey<'a>,
    json: String,
}

impl Prepared<'_> {
    /// Its outcomes as JSON text, for COPY.
    #[cfg(feature = "postgres")]
    pub(crate) fn json(&self) -> &str {
        &self.json
    }
}

/// Every capture's markets prepared, refusing a market that appears twice in one
/// capture (which of the two would the current odds hold?).
pub(crate) fn prepare(captures: &[NewSnapshot]) -> Result<Vec<Vec<Prepared<'_>>>, StoreError> {
    let mut prepared = Vec::with_capacity(captures.len());
    for (snapshot, capture) in captures.iter().enumerate() {
        let mut seen: HashMap<MarketKey, usize> = HashMap::with_capacity(capture.markets.len());
        let mut markets = Vec::with_capacity(capture.markets.len());
        for (index, market) in capture.markets.iter().enumerate() {
            let key = MarketKey::of(market);
            if let Some(first) = seen.insert(key, index) {
                return Err(StoreError::DuplicateInBatch {
                    key: "market (betpawa_market_id, line, handicap_type, handicap_home, \
                          handicap_away)",
                    value: format!("{key:?} in snapshot {snapshot}"),
                    first,
                    second: index,
                });
            }
            markets.push(Prepared {
                key,
                json: market.outcomes_json()?,
            });
        }
        prepared.push(markets);
    }
    Ok(prepared)
}

/// A current market as read back: identity, outcomes as JSON text, availability.
pub(crate) struct StoredMarket {
    id: i64,
    competitor_event_id: i32,
    betpawa_market_id: String,
    betpawa_market_name: String,
    line: Option<f64>,
    handicap_type: Option<String>,
    handicap_home: Option<f64>,
    handicap_away: Option<f64>,
    outcomes: String,
    unavailable_at: Option<DateTime<Utc>>,
}

/// The columns of [`stored_markets`]' query, by position.
impl FromColumns for StoredMarket {
    fn from_columns(row: &impl Columns) -> Result<Self, DbErr> {
        Ok(StoredMarket {
            id: row.column(0)?,
            competitor_event_id: row.column(1)?,
            betpawa_market_id: row.column(2)?,
            betpawa_market_name: row.column(3)?,
            line: row.column(4)?,
            handicap_type: row.column(5)?,
            handicap_home: row.column(6)?,
            handicap_away: row.column(7)?,
            outcomes: row.column(8)?,
            unavailable_at: row.column(9)?,
        })
    }
}

impl StoredMarket {
    fn key(&self) -> KeyValues<'_> {
        KeyValues {
            market_id: &self.betpawa_market_id,
            line: self.line,
            handicap_type: self.handicap_type.as_deref(),
            handicap_home: self.handicap_home,
            handicap_away: self.handicap_away,
        }
    }
}

/// A market's identity columns as stored or captured.
#[derive(Clone, Copy)]
struct KeyValues<'a> {
    market_id: &'a str,
    line: Option<f64>,
    handicap_type: Option<&'a str>,
    handicap_home: Option<f64>,
    handicap_away: Option<f64>,
}

impl<'a> KeyValues<'a> {
    fn of(market: &'a NewMarket) -> Self {
        KeyValues {
            market_id: &market.betpawa_market_id,
            line: market.line,
            handicap_type: market.handicap_type.as_deref(),
            handicap_home: market.handicap_home,
            handicap_away: market.handicap_away,
        }
    }

    fn key(&self) -> MarketKey<'a> {
        let bits = |n: Option<f64>| n.map(|n| (n + 0.0).to_bits());
        MarketKey {
            market_id: self.market_id,
            line: bits(self.line),
            handicap_type: self.handicap_type,
            handicap_home: bits(self.handicap_home),
            handicap_away: bits(self.handicap_away),
        }
    }
}

/// A current market during the fold.
struct Market<'a> {
    /// Its row, when it was stored before this call.
    id: Option<i64>,
    /// For a market new in this call, its place in the order captures brought them.
    arrival: usize,
    /// Its identity as written.
    key: KeyValues<'a>,
    name: &'a str,
    /// Its outcomes as JSON text.
    json: &'a str,
    /// The capture of this call that last set it, if any: the current row to write.
    written: Option<&'a NewMarket>,
    /// When `written`: the time of that capture.
    changed_at: DateTime<Utc>,
    unavailable_at: Option<DateTime<Utc>>,
    /// `unavailable_at` (only) changed in this call.
    marked: bool,
    /// The latest capture of this call that offered it.
    offered_at: DateTime<Utc>,
}

impl Market<'_> {
    /// Whether `market` (outcomes `json`) is this market unchanged: offered, same name,
    /// same outcomes (as text, or read as outcomes when another client spelled them
    /// otherwise).
    fn holds(&self, market: &NewMarket, json: &str) -> bool {
        self.unavailable_at.is_none()
            && self.name == market.betpawa_market_name
            && (self.json == json
                || serde_json::from_str::<Outcomes>(self.json)
                    .is_ok_and(|outcomes| outcomes == market.outcomes))
    }

    /// The history row that withdraws it: its identity and name, no outcomes.
    fn withdrawn(&self) -> NewMarket {
        NewMarket {
            betpawa_market_id: self.key.market_id.to_owned(),
            betpawa_market_name: self.name.to_owned(),
            line: self.key.line,
            handicap_type: self.key.handicap_type.map(str::to_owned),
            handicap_home: self.key.handicap_home,
            handicap_away: self.key.handicap_away,
            outcomes: Outcomes::default(),
        }
    }
}

/// A snapshot an event's freshness hangs on.
#[derive(Clone, Copy)]
enum Newest {
    /// Stored before this call.
    Stored(i64),
    /// Written by this call: its position in the history written.
    Written(usize),
}

/// One event during the fold.
#[derive(Default)]
struct EventState<'a> {
    newest: Option<(Newest, DateTime<Utc>)>,
    /// A capture that confirmed `newest`: the time `last_confirmed_at` moves to.
    confirmed: Option<DateTime<Utc>>,
    markets: HashMap<MarketKey<'a>, Market<'a>>,
}

/// Folds `captures` (validated, `prepared`) into the current odds and writes them as
/// history in `mode`, all through `conn`, inside its transaction.
pub(crate) async fn fold<C: History>(
    conn: &C,
    captures: &[NewSnapshot],
    prepared: &[Vec<Prepared<'_>>],
    mode: Mode,
) -> Result<Folded, StoreError> {
    let mut events: Vec<i32> = captures.iter().map(|c| c.competitor_event_id).collect();
    events.sort_unstable();
    events.dedup();
    let phase = tracing::debug_span!(target: TRACING_TARGET, "read_state", events = events.len());
    let state_read = async {
        lock_events(conn, &events).await?;
        triggers_stand_aside(conn, true).await?;
        let newest = newest_snapshots(conn, &events).await?;
        let stored = conn.current_markets(&events).await?;
        Ok::<_, StoreError>((newest, stored))
    };
    let (newest, stored) = state_read.instrument(phase).await?;

    // Each event's map sized for its capture's markets, which the stored ones mostly are.
    let mut states: HashMap<i32, EventState> = HashMap::with_capacity(events.len());
    for capture in captures {
        let state = states.entry(capture.competitor_event_id).or_default();
        state.markets.reserve(capture.markets.len());
    }
    for snapshot in newest {
        let state = states.entry(snapshot.competitor_event_id).or_default();
        state.newest = Some((Newest::Stored(snapshot.id), snapshot.freshness()));
    }
    for market in &stored {
        let key = market.key();
        let state = states.entry(market.competitor_event_id).or_default();
        state.markets.insert(
            key.key(),
            Market {
                id: Some(market.id),
                arrival: 0,
                key,
                name: &market.betpawa_market_name,
                json: &market.outcomes,
                written: None,
                changed_at: DateTime::<Utc>::UNIX_EPOCH,
                unavailable_at: market.unavailable_at,
                marked: false,
                offered_at: DateTime::<Utc>::MIN_UTC,
            },
        );
    }

    let mut order: Vec<usize> = (0..captures.len()).collect();
    order.sort_by_key(|&i| {
        (
            captures[i].competitor_event_id,
            captures[i].stored_captured_at(),
            i,
        )
    });
    let mut recorded = RecordedOdds::default();
    let mut kinds = vec![SnapshotKind::Full; captures.len()];
    let mut history: Vec<NewSnapshot> = Vec::new();
    for i in order {
        let capture = &captures[i];
        let at = capture.stored_captured_at();
        let state = states.entry(capture.competitor_event_id).or_default();
        if state.newest.is_some_and(|(_, freshness)| at <= freshness) {
            recorded.stale_captures += 1;
            kinds[i] = SnapshotKind::Stale;
            continue;
        }
        let changes = apply(state, capture, &prepared[i], &mut recorded);
        let newest = match mode {
            Mode::Full => i,
            Mode::Change if changes.is_empty() && state.newest.is_some() => {
                recorded.events_confirmed += 1;
                state.confirmed = Some(at);
                if let Some((_, freshness)) = &mut state.newest {
                    *freshness = at;
                }
                continue;
            }
            Mode::Change => {
                history.push(NewSnapshot {
                    competitor_event_id: capture.competitor_event_id,
                    captured_at: at,
                    scrape_run_id: capture.scrape_run_id,
                    raw_response: capture.raw_response.clone(),
                    markets: changes,
                });
                history.len() - 1
            }
        };
        state.newest = Some((Newest::Written(newest), at));
        state.confirmed = None;
    }

    let phase = tracing::debug_span!(target: TRACING_TARGET, "write_history");
    let ids = async {
        match mode {
            Mode::Full => conn.write_history(captures, &kinds, Some(prepared)).await,
            Mode::Change => {
                let kinds = vec![SnapshotKind::Change; history.len()];
                conn.write_history(&history, &kinds, None).await
            }
        }
    }
    .instrument(phase)
    .await?;
    if mode == Mode::Change {
        recorded.snapshots = history.len() as u64;
    }
    let phase = tracing::debug_span!(target: TRACING_TARGET, "write_current");
    async {
        confirm(conn, &states, &ids).await?;
        mark_unavailable(conn, &states).await?;
        upsert_current(conn, &states).await?;
        triggers_stand_aside(conn, false).await
    }
    .instrument(phase)
    .await?;
    Ok(Folded { recorded, ids })
}

/// Applies one capture, newer than its event's state, to that state; returns the
/// markets a change-only snapshot of it holds: the changes, then the markets it withdraws
/// (no outcomes).
fn apply<'a>(
    state: &mut EventState<'a>,
    capture: &'a NewSnapshot,
    prepared: &'a [Prepared<'a>],
    recorded: &mut RecordedOdds,
) -> Vec<NewMarket> {
    let at = capture.stored_captured_at();
    let mut changes = Vec::new();
    for (market, prepared) in capture.markets.iter().zip(prepared) {
        // A market with no outcomes is not on offer: it counts as missing, below.
        if market.outcomes.0.is_empty() {
            continue;
        }
        let arrival = state.markets.len();
        match state.markets.entry(prepared.key) {
            Entry::Occupied(mut current) if current.get().holds(market, &prepared.json) => {
                current.get_mut().offered_at = at;
                recorded.markets_unchanged += 1;
            }
            entry => {
                let (id, arrival) = match &entry {
                    Entry::Occupied(stored) => {
                        if stored.get().unavailable_at.is_some() {
                            recorded.markets_returned += 1;
                        }
                        (stored.get().id, stored.get().arrival)
                    }
                    Entry::Vacant(_) => (None, arrival),
                };
                let changed = Market {
                    id,
                    arrival,
                    key: KeyValues::of(market),
                    name: &market.betpawa_market_name,
                    json: &prepared.json,
                    written: Some(market),
                    changed_at: at,
                    unavailable_at: None,
                    marked: false,
                    offered_at: at,
                };
                match entry {
                    Entry::Occupied(mut stored) => *stored.get_mut() = changed,
                    Entry::Vacant(vacant) => {
                        vacant.insert(changed);
                    }
                }
                changes.push(market.clone());
            }
        }
    }
    recorded.markets_written += changes.len() as u64;
    let mut withdrawn: Vec<&mut Market> = state
        .markets
        .values_mut()
        .filter(|market| market.unavailable_at.is_none() && market.offered_at != at)
        .collect();
    // Stored markets in id order, then new ones in the order they came.
    withdrawn.sort_by_key(|market| (market.id.unwrap_or(i64::MAX), market.arrival));
    recorded.markets_unavailable += withdrawn.len() as u64;
    for market in withdrawn {
        market.unavailable_at = Some(at);
        market.marked = true;
        changes.push(market.withdrawn());
    }
    changes
}

/// On PostgreSQL, tells the fold triggers of migration 4 to stand aside (`on`) for the
/// snapshots this transaction writes from now, or to fold them again (`off`). The setting
/// is transaction-local, and rolled back with a savepoint the store's write rolls back.
async fn triggers_stand_aside<C: ConnectionTrait>(conn: &C, on: bool) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(statement(
        DbBackend::Postgres,
        "SELECT set_config('competitor_db.folding', $1, true)",
        vec![if on { "store" } else { "" }.into()],
    ))
    .await?;
    Ok(())
}

/// The query of the current markets of `events`, as [`StoredMarket`]s.
pub(crate) fn stored_markets(backend: DbBackend, events: &[i32]) -> Statement {
    let of_events = match backend {
        DbBackend::Sqlite => "competitor_event_id IN (SELECT value FROM json_each($1))",
        _ => "competitor_event_id = ANY($1)",
    };
    let sql = format!(
        "SELECT id, competitor_event_id, betpawa_market_id, betpawa_market_name, line, \
             handicap_type, handicap_home, handicap_away, CAST(outcomes AS text) AS outcomes, \
             unavailable_at \
         FROM competitor_market_odds_current WHERE {of_events}"
    );
    statement(backend, &sql, vec![event_id_list(backend, events)])
}

/// Moves `last_confirmed_at` of each confirmed event's newest snapshot.
async fn confirm<C: ConnectionTrait>(
    conn: &C,
    states: &HashMap<i32, EventState<'_>>,
    written: &[i64],
) -> Result<(), StoreError> {
    let confirmed = states.values().filter_map(|state| {
        let (newest, _) = state.newest?;
        let id = match newest {
            Newest::Stored(id) => id,
            Newest::Written(index) => *written.get(index)?,
        };
        Some((id, state.confirmed?))
    });
    set_time(conn, snapshot::Column::LastConfirmedAt, confirmed).await
}

/// Sets `unavailable_at` on stored markets that only went missing.
async fn mark_unavailable<C: ConnectionTrait>(
    conn: &C,
    states: &HashMap<i32, EventState<'_>>,
) -> Result<(), StoreError> {
    let missing = states
        .values()
        .flat_map(|state| state.markets.values())
        .filter(|market| market.marked && market.written.is_none())
        .filter_map(|market| Some((market.id?, market.unavailable_at?)));
    set_time(conn, current::Column::UnavailableAt, missing).await
}

/// Sets `column` of its table's rows to a time per row id: one statement per distinct
/// time (a round's captures share one), ids in ascending order.
async fn set_time<C: ConnectionTrait>(
    conn: &C,
    column: impl ColumnTrait,
    rows: impl Iterator<Item = (i64, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    let mut by_time: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
    for (id, at) in rows {
        by_time.entry(at).or_default().push(id);
    }
    let backend = conn.get_database_backend();
    for (at, mut ids) in by_time {
        ids.sort_unstable();
        let update = Query::update()
            .table(column.entity_name())
            .value(column, at)
            .and_where(is_in_ids(backend, "id", &ids))
            .to_owned();
        conn.execute(&update).await?;
    }
    Ok(())
}

/// The final state of one current market, to upsert into
/// `competitor_market_odds_current`.
pub(crate) struct CurrentMarket<'a> {
    /// Its competitor event.
    pub(crate) event: i32,
    /// The market as last captured: identity, name and outcomes.
    pub(crate) market: &'a NewMarket,
    /// When its outcomes last changed.
    pub(crate) changed_at: DateTime<Utc>,
    /// Since when it is missing from its event's captures.
    pub(crate) unavailable_at: Option<DateTime<Utc>>,
}

/// Upserts every market a capture of this call wrote, with its final state: stored rows
/// in id order, then new ones in the order captures brought them.
async fn upsert_current<C: ConnectionTrait>(
    conn: &C,
    states: &HashMap<i32, EventState<'_>>,
) -> Result<(), StoreError> {
    let mut rows: Vec<(Option<i64>, usize, CurrentMarket)> = Vec::new();
    for (event, state) in states {
        for market in state.markets.values() {
            if let Some(written) = market.written {
                rows.push((
                    market.id,
                    market.arrival,
                    CurrentMarket {
                        event: *event,
                        market: written,
                        changed_at: market.changed_at,
                        unavailable_at: market.unavailable_at,
                    },
                ));
            }
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort_by_key(|(id, arrival, row)| (row.event, id.unwrap_or(i64::MAX), *arrival));
    let rows: Vec<CurrentMarket> = rows.into_iter().map(|(_, _, row)| row).collect();
    match conn.get_database_backend() {
        DbBackend::Postgres => unnest::upsert_current(conn, &rows).await,
        DbBackend::Sqlite => sqlite::upsert_current(conn, &rows).await,
        backend => Err(StoreError::Db(not_built(backend))),
    }
}
