//! Bulk snapshot writes: many snapshots, each with its markets, in one transaction.

use std::any::Any;

use chrono::{DateTime, Utc};
use entity::outcome::Outcomes;
use entity::{competitor_market_odds, competitor_odds_snapshot};
use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::sqlx::PgPool;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Set, TransactionSession,
    TransactionTrait,
};

use super::backend::{rows_per_statement, statement};
use super::error::StoreError;

/// One capture of one competitor event, with its markets.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSnapshot {
    /// The competitor event captured.
    pub competitor_event_id: i32,
    /// When the odds were captured (use [`entity::clock::now`] for "now").
    pub captured_at: DateTime<Utc>,
    /// The scraper run, if recorded.
    pub scrape_run_id: Option<i32>,
    /// The competitor's raw response, if kept.
    pub raw_response: Option<serde_json::Value>,
    /// The markets of the capture.
    pub markets: Vec<NewMarket>,
}

/// One market of a capture, mapped onto Betpawa's market ids.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMarket {
    /// Betpawa's market id, e.g. `3743` (1X2).
    pub betpawa_market_id: String,
    /// Betpawa's market name, e.g. `1X2`.
    pub betpawa_market_name: String,
    /// The market's line, e.g. `2.5` for Over/Under 2.5.
    pub line: Option<f64>,
    /// Handicap kind, e.g. `asian`.
    pub handicap_type: Option<String>,
    /// Handicap of the home side.
    pub handicap_home: Option<f64>,
    /// Handicap of the away side.
    pub handicap_away: Option<f64>,
    /// The outcomes with their odds.
    pub outcomes: Outcomes,
}

impl NewMarket {
    fn active_model(&self, snapshot_id: i64) -> competitor_market_odds::ActiveModel {
        competitor_market_odds::ActiveModel {
            snapshot_id: Set(snapshot_id),
            betpawa_market_id: Set(self.betpawa_market_id.clone()),
            betpawa_market_name: Set(self.betpawa_market_name.clone()),
            line: Set(self.line),
            handicap_type: Set(self.handicap_type.clone()),
            handicap_home: Set(self.handicap_home),
            handicap_away: Set(self.handicap_away),
            outcomes: Set(self.outcomes.clone()),
            ..Default::default()
        }
    }
}

/// Market rows per statement on PostgreSQL, where a statement binds one array per column
/// and so has no bind-parameter limit: this bounds the memory of one statement.
const POSTGRES_MARKETS_PER_STATEMENT: usize = 20_000;

/// Writes the snapshots and all their markets in one transaction (a savepoint inside the
/// caller's) and returns the snapshot ids in input order.
///
/// Every market is checked against the entity crate's rules before anything is written.
/// No statement meets a bind-parameter limit, whatever the batch size:
/// - PostgreSQL, given the pool (a `DatabaseConnection`; `C: 'static` is what lets the
///   store recognise it): `COPY .. FROM STDIN` in the store's own transaction, measured
///   at 0.87-1.02x the rate of plain COPY (see the README's performance section);
/// - PostgreSQL, inside the caller's transaction (which COPY cannot join through SeaORM):
///   one array per column, `INSERT .. SELECT FROM UNNEST(..)`;
/// - SQLite: multi-row inserts sized under its limit.
///
/// # Errors
/// - [`StoreError::InvalidMarket`] naming the snapshot, the market and the field;
/// - [`StoreError::ForeignKeyViolation`] for an unknown competitor event or scrape run;
/// - [`StoreError::Db`] for other database errors. Nothing is written on any error.
pub async fn write_snapshots<C>(db: &C, snapshots: &[NewSnapshot]) -> Result<Vec<i64>, StoreError>
where
    C: ConnectionTrait + TransactionTrait + 'static,
{
    validate(snapshots)?;
    if snapshots.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(pool) = postgres_pool(db) {
        return super::copy::write_snapshots(pool, snapshots).await;
    }
    let txn = db.begin().await?;
    let ids = match txn.get_database_backend() {
        DbBackend::Postgres => {
            let ids = allocate_snapshot_ids(&txn, snapshots.len()).await?;
            insert_snapshots_with_ids(&txn, snapshots, &ids).await?;
            insert_markets_unnest(&txn, snapshots, &ids).await?;
            ids
        }
        _ => {
            let ids = insert_snapshots_one_by_one(&txn, snapshots).await?;
            insert_markets_chunked(&txn, snapshots, &ids).await?;
            ids
        }
    };
    txn.commit().await?;
    Ok(ids)
}

/// The PostgreSQL pool behind `db`, when `db` is a pool rather than a transaction.
fn postgres_pool<C: 'static>(db: &C) -> Option<&PgPool> {
    let pool = (db as &dyn Any).downcast_ref::<DatabaseConnection>()?;
    (pool.get_database_backend() == DbBackend::Postgres)
        .then(|| pool.get_postgres_connection_pool())
}

fn validate(snapshots: &[NewSnapshot]) -> Result<(), StoreError> {
    let mut position = 0;
    for (snapshot, new) in snapshots.iter().enumerate() {
        for (market, new_market) in new.markets.iter().enumerate() {
            if let Err(error) = new_market.active_model(0).validate() {
                return Err(StoreError::InvalidMarket {
                    snapshot,
                    market,
                    position,
                    error,
                });
            }
            position += 1;
        }
    }
    Ok(())
}

fn snapshot_model(new: &NewSnapshot) -> competitor_odds_snapshot::ActiveModel {
    competitor_odds_snapshot::ActiveModel {
        competitor_event_id: Set(new.competitor_event_id),
        captured_at: Set(new.captured_at),
        scrape_run_id: Set(new.scrape_run_id),
        raw_response: Set(new.raw_response.clone()),
        ..Default::default()
    }
}

/// `$1` ids from the snapshots' sequence, ascending (PostgreSQL; both write paths use it):
/// the ids are known before the rows are written, so markets can name their snapshot
/// without relying on the order of `RETURNING`.
pub(super) const ALLOCATE_SNAPSHOT_IDS: &str = "SELECT nextval(pg_get_serial_sequence('competitor_odds_snapshots', 'id')) AS id \
     FROM generate_series(1, $1) ORDER BY 1";

async fn allocate_snapshot_ids<C: ConnectionTrait>(
    txn: &C,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    let rows = txn
        .query_all_raw(statement(
            DbBackend::Postgres,
            ALLOCATE_SNAPSHOT_IDS,
            vec![(n as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<i64>("", "id").map_err(StoreError::from))
        .collect()
}

async fn insert_snapshots_with_ids<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
    ids: &[i64],
) -> Result<(), StoreError> {
    let models: Vec<_> = snapshots
        .iter()
        .zip(ids)
        .map(|(new, id)| {
            let mut model = snapshot_model(new);
            model.id = Set(*id);
            model
        })
        .collect();
    for chunk in models.chunks(rows_per_statement(DbBackend::Postgres, 5)) {
        competitor_odds_snapshot::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// One array per column, `NULL` carried by values the rules never let through: NaN for
/// the numbers (validated finite) and `''` for `handicap_type` (validated non-empty);
/// sea-query binds arrays without NULL elements.
async fn insert_markets_unnest<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
    ids: &[i64],
) -> Result<(), StoreError> {
    const SQL: &str = "\
        INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, \
            line, handicap_type, handicap_home, handicap_away, outcomes) \
        SELECT snapshot_id, market_id, market_name, NULLIF(line, 'NaN'), \
            NULLIF(handicap_type, ''), NULLIF(handicap_home, 'NaN'), NULLIF(handicap_away, 'NaN'), \
            CAST(outcomes AS json) \
        FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::text[], \
                    $6::float8[], $7::float8[], $8::text[]) \
            AS m(snapshot_id, market_id, market_name, line, handicap_type, handicap_home, \
                 handicap_away, outcomes)";
    let markets = snapshots
        .iter()
        .zip(ids)
        .flat_map(|(snapshot, id)| snapshot.markets.iter().map(move |market| (*id, market)));
    let mut columns = MarketColumns::with_capacity(POSTGRES_MARKETS_PER_STATEMENT);
    for (snapshot_id, market) in markets {
        columns.push(snapshot_id, market)?;
        if columns.len() == POSTGRES_MARKETS_PER_STATEMENT {
            let full = std::mem::replace(
                &mut columns,
                MarketColumns::with_capacity(POSTGRES_MARKETS_PER_STATEMENT),
            );
            txn.execute_raw(statement(DbBackend::Postgres, SQL, full.into_values()))
                .await?;
        }
    }
    if columns.len() > 0 {
        txn.execute_raw(statement(DbBackend::Postgres, SQL, columns.into_values()))
            .await?;
    }
    Ok(())
}

/// The market columns of one statement, as the values of PostgreSQL arrays.
struct MarketColumns {
    snapshot_id: Vec<Value>,
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
            snapshot_id: Vec::with_capacity(n),
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
        self.snapshot_id.len()
    }

    fn push(&mut self, snapshot_id: i64, market: &NewMarket) -> Result<(), StoreError> {
        let number = |value: Option<f64>| Value::from(value.unwrap_or(f64::NAN));
        let outcomes = serde_json::to_string(&market.outcomes)
            .map_err(|err| StoreError::Db(sea_orm::DbErr::Json(err.to_string())))?;
        self.snapshot_id.push(snapshot_id.into());
        self.market_id
            .push(market.betpawa_market_id.as_str().into());
        self.market_name
            .push(market.betpawa_market_name.as_str().into());
        self.line.push(number(market.line));
        self.handicap_type
            .push(market.handicap_type.as_deref().unwrap_or("").into());
        self.handicap_home.push(number(market.handicap_home));
        self.handicap_away.push(number(market.handicap_away));
        self.outcomes.push(outcomes.into());
        Ok(())
    }

    fn into_values(self) -> Vec<Value> {
        let array = |ty, values: Vec<Value>| Value::Array(ty, Some(Box::new(values)));
        vec![
            array(ArrayType::BigInt, self.snapshot_id),
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

/// SQLite does not promise the order of `RETURNING` rows: one insert per snapshot keeps
/// each id with its input (a few thousand single-row inserts take milliseconds there).
async fn insert_snapshots_one_by_one<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(snapshots.len());
    for new in snapshots {
        let inserted = competitor_odds_snapshot::Entity::insert(snapshot_model(new))
            .exec(txn)
            .await?;
        ids.push(inserted.last_insert_id);
    }
    Ok(ids)
}

async fn insert_markets_chunked<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
    ids: &[i64],
) -> Result<(), StoreError> {
    let chunk = rows_per_statement(txn.get_database_backend(), 8);
    let mut rows = Vec::with_capacity(chunk);
    for (snapshot, id) in snapshots.iter().zip(ids) {
        for market in &snapshot.markets {
            rows.push(market.active_model(*id));
            if rows.len() == chunk {
                competitor_market_odds::Entity::insert_many(rows.drain(..))
                    .exec_without_returning(txn)
                    .await?;
            }
        }
    }
    if !rows.is_empty() {
        competitor_market_odds::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
