//! The PostgreSQL path inside the caller's transaction: one array per column,
//! `INSERT .. SELECT FROM UNNEST(..)`, so no statement meets the bind-parameter limit.
//!
//! sea-query binds arrays without NULL elements, so NULL travels as a value the rules
//! never let through: NaN for the numbers (validated finite), `''` for `handicap_type`
//! (validated non-empty), for `raw_response` (not valid JSON) and for `scrape_run_id`
//! (sent as text).

use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{ConnectionTrait, DbBackend};

use chrono::SecondsFormat;
use entity::SnapshotKind;

use super::fold::CurrentMarket;

use super::{
    MARKETS_PER_STATEMENT, NewMarket, NewSnapshot, StoreError, array, json_text, statement,
};

const INSERT_SNAPSHOTS: &str = "\
    INSERT INTO competitor_odds_snapshots \
        (id, competitor_event_id, captured_at, scrape_run_id, raw_response, kind) \
    SELECT id, event_id, captured_at, CAST(NULLIF(scrape_run_id, '') AS integer), \
        CAST(NULLIF(raw_response, '') AS json), kind \
    FROM UNNEST($1::bigint[], $2::integer[], $3::timestamptz[], $4::text[], $5::text[], \
                $6::text[]) \
        AS s(id, event_id, captured_at, scrape_run_id, raw_response, kind)";

const INSERT_MARKETS: &str = "\
    INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, \
        line, handicap_type, handicap_home, handicap_away, outcomes) \
    SELECT snapshot_id, market_id, market_name, NULLIF(line, 'NaN'), \
        NULLIF(handicap_type, ''), NULLIF(handicap_home, 'NaN'), NULLIF(handicap_away, 'NaN'), \
        CAST(outcomes AS json) \
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::text[], \
                $6::float8[], $7::float8[], $8::text[]) \
        AS m(snapshot_id, market_id, market_name, line, handicap_type, handicap_home, \
             handicap_away, outcomes)";

const UPSERT_CURRENT: &str = "\
    INSERT INTO competitor_market_odds_current (competitor_event_id, betpawa_market_id, \
        betpawa_market_name, line, handicap_type, handicap_home, handicap_away, outcomes, \
        changed_at, unavailable_at) \
    SELECT CAST(event_id AS integer), market_id, market_name, NULLIF(line, 'NaN'), \
        NULLIF(handicap_type, ''), NULLIF(handicap_home, 'NaN'), NULLIF(handicap_away, 'NaN'), \
        CAST(outcomes AS json), changed_at, CAST(NULLIF(unavailable_at, '') AS timestamptz) \
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::text[], \
                $6::float8[], $7::float8[], $8::text[], $9::timestamptz[], $10::text[]) \
        AS c(event_id, market_id, market_name, line, handicap_type, handicap_home, \
             handicap_away, outcomes, changed_at, unavailable_at) \
    ON CONFLICT ON CONSTRAINT uq_competitor_market_odds_current_market DO UPDATE SET \
        betpawa_market_name = excluded.betpawa_market_name, outcomes = excluded.outcomes, \
        changed_at = excluded.changed_at, unavailable_at = excluded.unavailable_at";

/// Upserts current markets, [`MARKETS_PER_STATEMENT`] per statement.
pub(super) async fn upsert_current<C: ConnectionTrait>(
    txn: &C,
    markets: &[CurrentMarket<'_>],
) -> Result<(), StoreError> {
    for chunk in markets.chunks(MARKETS_PER_STATEMENT) {
        let mut columns = MarketColumns::with_capacity(chunk.len());
        let mut changed_at = Vec::with_capacity(chunk.len());
        let mut unavailable_at = Vec::with_capacity(chunk.len());
        for current in chunk {
            columns.push(i64::from(current.event), current.market)?;
            changed_at.push(Value::from(current.changed_at));
            unavailable_at.push(Value::from(
                current
                    .unavailable_at
                    .map(|at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                    .unwrap_or_default(),
            ));
        }
        let mut values = columns.into_values();
        values.push(array(ArrayType::ChronoDateTimeUtc, changed_at));
        values.push(array(ArrayType::String, unavailable_at));
        txn.execute_raw(statement(DbBackend::Postgres, UPSERT_CURRENT, values))
            .await?;
    }
    Ok(())
}

/// Writes the snapshots with the allocated `ids` and `kinds`, then their markets, in
/// `txn`.
pub(super) async fn write_snapshots<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
    ids: &[i64],
    kinds: &[SnapshotKind],
) -> Result<(), StoreError> {
    for ((chunk, chunk_ids), chunk_kinds) in snapshots
        .chunks(MARKETS_PER_STATEMENT)
        .zip(ids.chunks(MARKETS_PER_STATEMENT))
        .zip(kinds.chunks(MARKETS_PER_STATEMENT))
    {
        let mut values = snapshot_columns(chunk, chunk_ids)?;
        values.push(array(
            ArrayType::String,
            chunk_kinds
                .iter()
                .map(|kind| Value::from(kind.as_ref()))
                .collect(),
        ));
        txn.execute_raw(statement(DbBackend::Postgres, INSERT_SNAPSHOTS, values))
            .await?;
    }
    let mut columns = MarketColumns::with_capacity(MARKETS_PER_STATEMENT);
    for (snapshot, id) in snapshots.iter().zip(ids) {
        for market in &snapshot.markets {
            columns.push(*id, market)?;
            if columns.len() == MARKETS_PER_STATEMENT {
                let full = std::mem::replace(
                    &mut columns,
                    MarketColumns::with_capacity(MARKETS_PER_STATEMENT),
                );
                txn.execute_raw(statement(
                    DbBackend::Postgres,
                    INSERT_MARKETS,
                    full.into_values(),
                ))
                .await?;
            }
        }
    }
    if columns.len() > 0 {
        txn.execute_raw(statement(
            DbBackend::Postgres,
            INSERT_MARKETS,
            columns.into_values(),
        ))
        .await?;
    }
    Ok(())
}

/// The snapshot columns of one statement.
fn snapshot_columns(snapshots: &[NewSnapshot], ids: &[i64]) -> Result<Vec<Value>, StoreError> {
    let mut events = Vec::with_capacity(snapshots.len());
    let mut captured = Vec::with_capacity(snapshots.len());
    let mut runs = Vec::with_capacity(snapshots.len());
    let mut raw = Vec::with_capacity(snapshots.len());
    for snapshot in snapshots {
        events.push(Value::from(snapshot.competitor_event_id));
        captured.push(Value::from(snapshot.stored_captured_at()));
        runs.push(Value::from(
            snapshot
                .scrape_run_id
                .map(|run| run.to_string())
                .unwrap_or_default(),
        ));
        raw.push(Value::from(match &snapshot.raw_response {
            Some(json) => json_text(json)?,
            None => String::new(),
        }));
    }
    Ok(vec![
        array(
            ArrayType::BigInt,
            ids.iter().map(|id| Value::from(*id)).collect(),
        ),
        array(ArrayType::Int, events),
        array(ArrayType::ChronoDateTimeUtc, captured),
        array(ArrayType::String, runs),
        array(ArrayType::String, raw),
    ])
}

/// The market columns of one statement, as the values of PostgreSQL arrays; `owner` is
/// the snapshot (history) or the competitor event (current odds).
struct MarketColumns {
    owner: Vec<Value>,
    market_id: Vec<Value>,
    market_name: Vec<Value>,
    line: Vec<Value>,
    handicap_type: Vec<Value>,
    handicap_home: Vec<Value>,
    handicap_away: Vec<Value>,
    outcomes: Vec<Value>,
}

impl MarketColumns {
    fn with_capacity(n: usize) -> Self {
        MarketColumns {
            owner: Vec::with_capacity(n),
            market_id: Vec::with_capacity(n),
            market_name: Vec::with_capacity(n),
            line: Vec::with_capacity(n),
            handicap_type: Vec::with_capacity(n),
            handicap_home: Vec::with_capacity(n),
            handicap_away: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.owner.len()
    }

    fn push(&mut self, owner: i64, market: &NewMarket) -> Result<(), StoreError> {
        let number = |value: Option<f64>| Value::from(value.unwrap_or(f64::NAN));
        self.outcomes.push(market.outcomes_json()?.into());
        self.owner.push(owner.into());
        self.market_id
            .push(market.betpawa_market_id.as_str().into());
        self.market_name
            .push(market.betpawa_market_name.as_str().into());
        self.line.push(number(market.line));
        self.handicap_type
            .push(market.handicap_type.as_deref().unwrap_or("").into());
        self.handicap_home.push(number(market.handicap_home));
        self.handicap_away.push(number(market.handicap_away));
        Ok(())
    }

    fn into_values(self) -> Vec<Value> {
        vec![
            array(ArrayType::BigInt, self.owner),
            array(ArrayType::String, self.market_id),
            array(ArrayType::String, self.market_name),
            array(ArrayType::Double, self.line),
            array(ArrayType::String, self.handicap_type),
            array(ArrayType::Double, self.handicap_home),
            array(ArrayType::Double, self.handicap_away),
            array(ArrayType::String, self.outcomes),
        ]
    }
}
