//! The change mode: per event and capture, only the markets whose outcomes or
//! availability changed are appended as history, and `competitor_market_odds_current`
//! is brought up to date (SCHEMA.md, "Current odds and change-only history").
//!
//! One transaction: lock the batch's events (PostgreSQL advisory locks, in id order),
//! read their newest snapshot and current markets, compare in memory, then write the
//! history through the snapshot leaves as change-only snapshots (a market gone missing is
//! a row with no outcomes), confirm unchanged captures, and fold the history written into
//! the current odds, as every writer's snapshots are folded ([`migration::fold`]).
//!
//! Outcomes compare as the JSON text the store writes (compact, starting `[{"name":"`),
//! which is how it stores them; outcomes stored in another form, by another client, are
//! parsed and compared as values. (Measured: a digest computed by PostgreSQL cost the
//! server more than sending the text.)

use foldhash::{HashMap, HashMapExt};
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use entity::SnapshotKind;
use entity::competitor_odds_snapshot as snapshot;
use entity::outcome::Outcomes;
use sea_orm::sea_query::Query;
#[cfg(feature = "postgres")]
use sea_orm::sqlx::{Row as _, postgres::PgRow};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, QueryResult};

use crate::store::backend::RowValue;

use super::{
    NewMarket, NewSnapshot, StoreConnection, StoreError, WritePath, fold_written, id_list,
    in_transaction, is_in_ids, lock_events, newest_snapshots, statement, validate,
    write_in_transaction,
};

/// What one [`record_odds`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordedOdds {
    /// History snapshots written: one per capture that changed a market's outcomes or
    /// availability, and one for the first capture of an event.
    pub snapshots: u64,
    /// Markets written as history (new, changed, or back after being unavailable).
    pub markets_written: u64,
    /// Markets whose outcomes equal the current ones: nothing written for them.
    pub markets_unchanged: u64,
    /// Current markets missing from their event's capture (or captured with no outcomes),
    /// now unavailable: each written as history with no outcomes (counted apart from
    /// `markets_written`).
    pub markets_unavailable: u64,
    /// Markets back after being unavailable (counted in `markets_written` too).
    pub markets_returned: u64,
    /// Captures that changed nothing: the event's newest snapshot's `last_confirmed_at`
    /// moved to them instead of writing rows.
    pub events_confirmed: u64,
    /// Captures not newer than what the store already holds for their event (its newest
    /// snapshot's freshness): they changed nothing.
    pub stale_captures: u64,
}

/// Records captures in change mode and returns what changed.
///
/// Per event and capture, compared with `competitor_market_odds_current` as any writer
/// left it (this mode, full captures, other clients):
/// - markets that are new, changed (other outcomes), or back after being unavailable
///   are written as history, one change-only snapshot per capture (`kind = 'change'`)
///   holding only those markets, and set in the current table (`changed_at` = the capture
///   time);
/// - current markets missing from the capture, or captured with no outcomes, are written
///   into that snapshot with no outcomes (`[]`, the market withdrawn), and are
///   `unavailable_at` the capture time in the current table until they come back (a
///   change);
/// - unchanged markets write nothing;
/// - a capture that changes nothing moves `last_confirmed_at` of the event's newest
///   snapshot (an event's first capture writes a snapshot all the same, so freshness
///   has a row to hang on);
/// - a capture not newer than the event's freshness (its newest snapshot's
///   `last_confirmed_at`, else `captured_at`) changes nothing, so a late or repeated
///   capture never rolls the current odds back.
///
/// A market is identified by `betpawa_market_id`, `line`, `handicap_type`,
/// `handicap_home` and `handicap_away`, NULLs comparing equal; it is unchanged when its
/// name and outcomes (names, odds, whether active) are, whoever wrote them. Several
/// captures of one event in a batch are applied in `captured_at` order.
///
/// One transaction (a savepoint inside the caller's), on a pool or inside the caller's
/// transaction, on PostgreSQL and SQLite, with no bind-parameter limit. Calls for the
/// same events wait for one another (PostgreSQL advisory locks per event, taken in id
/// order), so the current table ends at the newest capture; calls for different events
/// do not block each other. A call refused for lock contention is retried whole.
///
/// # Errors
/// - [`StoreError::InvalidRow`] / [`StoreError::InvalidMarket`] as
///   [`write_snapshots`](super::write_snapshots);
/// - [`StoreError::DuplicateInBatch`] when a capture holds the same market twice;
/// - [`StoreError::ForeignKeyViolation`] for an unknown competitor event or scrape run;
/// - [`StoreError::Contention`] when every attempt was refused for lock contention;
/// - [`StoreError::Db`] for other database errors. Nothing is written, in either
///   table, on any error.
pub async fn record_odds<C>(db: &C, captures: &[NewSnapshot]) -> Result<RecordedOdds, StoreError>
where
    C: StoreConnection,
{
    validate(captures)?;
    let prepared = prepare(captures)?;
    WritePath::of(db)?;
    if captures.is_empty() {
        return Ok(RecordedOdds::default());
    }
    in_transaction!(db, |txn| record(&txn, captures, &prepared)).await
}

/// A market's identity within its event: id, line and handicap, with `-0.0` read as
/// `0.0` (the database compares them equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MarketKey<'a> {
    market_id: &'a str,
    line: Option<u64>,
    handicap_type: Option<&'a str>,
    handicap_home: Option<u64>,
    handicap_away: Option<u64>,
}

impl<'a> MarketKey<'a> {
    fn new(
        market_id: &'a str,
        line: Option<f64>,
        handicap_type: Option<&'a str>,
        handicap_home: Option<f64>,
        handicap_away: Option<f64>,
    ) -> Self {
        let bits = |n: Option<f64>| n.map(|n| (n + 0.0).to_bits());
        MarketKey {
            market_id,
            line: bits(line),
            handicap_type,
            handicap_home: bits(handicap_home),
            handicap_away: bits(handicap_away),
        }
    }

    fn of(market: &'a NewMarket) -> Self {
        Self::new(
            &market.betpawa_market_id,
            market.line,
            market.handicap_type.as_deref(),
            market.handicap_home,
            market.handicap_away,
        )
    }
}

/// Whether `text` is outcomes JSON as the store writes it: compact, keys in the order of
/// [`Outcome`](entity::outcome::Outcome)'s fields; other text is parsed to compare.
fn in_store_form(text: &str) -> bool {
    text.starts_with(STORE_FORM_PREFIX) || text == "[]"
}

/// How the store's outcomes JSON begins.
const STORE_FORM_PREFIX: &str = r#"[{"name":""#;

/// A captured market, ready to compare: its key and its outcomes' JSON text.
struct Prepared<'a> {
    key: MarketKey<'a>,
    json: String,
}

/// Every capture's markets prepared, refusing a market that appears twice in one
/// capture.
fn prepare(captures: &[NewSnapshot]) -> Result<Vec<Vec<Prepared<'_>>>, StoreError> {
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
struct StoredMarket {
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

impl StoredMarket {
    /// The columns of [`stored_markets`]' query, read by position (a round reads one
    /// row per market, and looking columns up by name showed); on PostgreSQL straight from
    /// sqlx's row, which decoded a 60,000-market round in about half the time.
    #[cfg(feature = "postgres")]
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        match row.try_as_pg_row() {
            Some(row) => Self::from_columns(row),
            None => Self::from_columns(row),
        }
    }

    #[cfg(not(feature = "postgres"))]
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        Self::from_columns(row)
    }

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

/// A row whose columns are read by position.
trait Columns {
    /// Column `index`, decoded.
    fn column<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: RowValue;
}

impl Columns for QueryResult {
    fn column<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: RowValue,
    {
        self.try_get_by_index(index)
    }
}

#[cfg(feature = "postgres")]
impl Columns for PgRow {
    fn column<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: RowValue,
    {
        self.try_get(index)
            .map_err(|err| DbErr::Type(format!("current market column {index}: {err}")))
    }
}

/// A current market during the comparison.
struct Market<'a> {
    /// Its row, when it was stored before this call.
    id: Option<i64>,
    /// For a market new in this call, its place in the order captures brought them.
    arrival: usize,
    /// Its identity as written, for a row that withdraws it.
    key: KeyValues<'a>,
    name: &'a str,
    /// Its outcomes as JSON text.
    json: &'a str,
    /// Its outcomes as read, when another client stored them in another JSON form.
    foreign: Option<Outcomes>,
    unavailable_at: Option<DateTime<Utc>>,
    /// The latest capture of this call that offered it.
    offered_at: DateTime<Utc>,
}

impl Market<'_> {
    /// Whether `market` (outcomes `json`) is this market unchanged: offered, same name,
    /// same outcomes.
    fn holds(&self, market: &NewMarket, json: &str) -> bool {
        self.unavailable_at.is_none()
            && self.name == market.betpawa_market_name
            && (self.json == json || self.foreign.as_ref() == Some(&market.outcomes))
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
        MarketKey::new(
            self.market_id,
            self.line,
            self.handicap_type,
            self.handicap_home,
            self.handicap_away,
        )
    }
}

/// A snapshot an event's freshness hangs on.
#[derive(Clone, Copy)]
enum Newest {
    /// Stored before this call.
    Stored(i64),
    /// Written by this call: its position in the history.
    Written(usize),
}

/// One event during the comparison.
#[derive(Default)]
struct EventState<'a> {
    newest: Option<(Newest, DateTime<Utc>)>,
    /// A capture that confirmed `newest`: the time `last_confirmed_at` moves to.
    confirmed: Option<DateTime<Utc>>,
    markets: HashMap<MarketKey<'a>, Market<'a>>,
}

async fn record(
    txn: &DatabaseTransaction,
    captures: &[NewSnapshot],
    prepared: &[Vec<Prepared<'_>>],
) -> Result<RecordedOdds, StoreError> {
    let mut events: Vec<i32> = captures.iter().map(|c| c.competitor_event_id).collect();
    events.sort_unstable();
    events.dedup();
    lock_events(txn, &events).await?;

    // Each event's map sized for its capture's markets, which the stored ones mostly are.
    let mut states: HashMap<i32, EventState> = HashMap::with_capacity(events.len());
    for capture in captures {
        let state = states.entry(capture.competitor_event_id).or_default();
        state.markets.reserve(capture.markets.len());
    }
    for snapshot in newest_snapshots(txn, &events).await? {
        let state = states.entry(snapshot.competitor_event_id).or_default();
        state.newest = Some((Newest::Stored(snapshot.id), snapshot.freshness()));
    }
    let stored = stored_markets(txn, &events).await?;
    for market in &stored {
        let key = KeyValues {
            market_id: &market.betpawa_market_id,
            line: market.line,
            handicap_type: market.handicap_type.as_deref(),
            handicap_home: market.handicap_home,
            handicap_away: market.handicap_away,
        };
        let state = states.entry(market.competitor_event_id).or_default();
        state.markets.insert(
            key.key(),
            Market {
                id: Some(market.id),
                arrival: 0,
                key,
                name: &market.betpawa_market_name,
                json: &market.outcomes,
                foreign: (!in_store_form(&market.outcomes))
                    .then(|| serde_json::from_str(&market.outcomes).ok())
                    .flatten(),
                unavailable_at: market.unavailable_at,
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
    let mut history: Vec<NewSnapshot> = Vec::new();
    for i in order {
        let capture = &captures[i];
        let state = states.entry(capture.competitor_event_id).or_default();
        if let Some(changes) = compare(state, capture, &prepared[i], &mut recorded) {
            state.newest = Some((Newest::Written(history.len()), capture.stored_captured_at()));
            state.confirmed = None;
            history.push(NewSnapshot {
                competitor_event_id: capture.competitor_event_id,
                captured_at: capture.stored_captured_at(),
                scrape_run_id: capture.scrape_run_id,
                raw_response: capture.raw_response.clone(),
                markets: changes,
            });
        }
    }
    recorded.snapshots = history.len() as u64;

    let written = write_in_transaction(txn, &history, SnapshotKind::Change).await?;
    confirm(txn, &states, &written).await?;
    fold_written(txn, &written).await?;
    Ok(recorded)
}

/// Applies one capture to its event's state; returns the markets to write as history
/// (changes, then the markets it withdraws), or `None` when the capture writes no snapshot
/// (stale, or confirming).
fn compare<'a>(
    state: &mut EventState<'a>,
    capture: &'a NewSnapshot,
    prepared: &'a [Prepared<'a>],
    recorded: &mut RecordedOdds,
) -> Option<Vec<NewMarket>> {
    let at = capture.stored_captured_at();
    if state.newest.is_some_and(|(_, freshness)| at <= freshness) {
        recorded.stale_captures += 1;
        return None;
    }
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
                    foreign: None,
                    unavailable_at: None,
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
        changes.push(market.withdrawn());
    }
    if changes.is_empty() && state.newest.is_some() {
        recorded.events_confirmed += 1;
        state.confirmed = Some(at);
        if let Some((_, freshness)) = &mut state.newest {
            *freshness = at;
        }
        return None;
    }
    Some(changes)
}

/// The current markets of `events`.
async fn stored_markets(
    txn: &DatabaseTransaction,
    events: &[i32],
) -> Result<Vec<StoredMarket>, StoreError> {
    let backend = txn.get_database_backend();
    let ids: Vec<i64> = events.iter().map(|id| i64::from(*id)).collect();
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
    let rows = txn
        .query_all_raw(statement(backend, &sql, vec![id_list(backend, &ids)]))
        .await?;
    Ok(rows
        .iter()
        .map(StoredMarket::from_row)
        .collect::<Result<_, _>>()?)
}

/// Moves `last_confirmed_at` of each confirmed event's newest snapshot.
async fn confirm(
    txn: &DatabaseTransaction,
    states: &HashMap<i32, EventState<'_>>,
    written: &[i64],
) -> Result<(), StoreError> {
    let confirmed = states.values().filter_map(|state| {
        let (newest, _) = state.newest?;
        let id = match newest {
            Newest::Stored(id) => id,
            Newest::Written(index) => written[index],
        };
        Some((id, state.confirmed?))
    });
    set_time(txn, snapshot::Column::LastConfirmedAt, confirmed).await
}

/// Sets `column` of its table's rows to a time per row id: one statement per distinct
/// time (a round's captures share one), ids in ascending order.
async fn set_time(
    txn: &DatabaseTransaction,
    column: impl ColumnTrait,
    rows: impl Iterator<Item = (i64, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    let mut by_time: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
    for (id, at) in rows {
        by_time.entry(at).or_default().push(id);
    }
    let backend = txn.get_database_backend();
    for (at, mut ids) in by_time {
        ids.sort_unstable();
        let update = Query::update()
            .table(column.entity_name())
            .value(column, at)
            .and_where(is_in_ids(backend, "id", &ids))
            .to_owned();
        txn.execute(&update).await?;
    }
    Ok(())
}
