//! Snapshot writes: many snapshots, each with its markets, in one transaction.
//!
//! This module owns the input types, their validation and the snapshot-id allocation;
//! each write path is a leaf beside it that imports only from here, and one `match` on
//! the connection ([`WritePath::of`]) picks the leaf:
//!
//! | connection | backend | leaf |
//! |---|---|---|
//! | the pool | PostgreSQL | [`copy`]: `COPY .. FROM STDIN` on a connection of its own |
//! | the caller's transaction | PostgreSQL | [`unnest`]: one array per column, `INSERT .. SELECT FROM UNNEST` |
//! | either | SQLite | [`sqlite`]: multi-row inserts under its bind limit |
//!
//! Both modes, full ([`write_snapshots`]) and change ([`record`]), fold what they write
//! into the current odds in memory ([`fold`]), in the transaction that writes it.

#[cfg(feature = "postgres")]
pub(crate) mod copy;
mod fold;
mod record;
mod sqlite;
mod unnest;

#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use fold::{Folded, Mode, Prepared, fold, prepare};
pub use record::{RecordedOdds, record_odds};

use chrono::{DateTime, Utc};
use entity::outcome::Outcomes;
use entity::validation::ValidationError;
use std::collections::HashSet;

use entity::{
    SnapshotKind, clock, competitor_event, competitor_market_odds, competitor_odds_snapshot,
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};
use serde::{Deserialize, Serialize};

use super::TRACING_TARGET;
use super::backend::not_built;
pub(crate) use super::backend::{
    array, event_id_list, is_in_ids, lock_events, rows_per_statement, statement,
};
pub(crate) use super::connection::StoreConnection;
use super::connection::{PgPool, postgres_pool_of};
pub(crate) use super::error::StoreError;
pub(crate) use super::newest::newest_snapshots;
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use super::retry::{in_transaction, retrying};
use tracing::field::Empty;

/// One capture of one competitor event, with its markets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewSnapshot {
    /// The competitor event captured.
    pub competitor_event_id: i32,
    /// When the odds were captured (use [`entity::clock::now`] for "now"). Stored
    /// truncated to whole microseconds, PostgreSQL's precision, on every backend; a year
    /// outside 1..=9999 is refused.
    pub captured_at: DateTime<Utc>,
    /// The scraper run, if recorded.
    pub scrape_run_id: Option<i32>,
    /// The competitor's raw response, if kept. Stored as written, as `json` text, also
    /// when a string in it holds `\u0000`.
    pub raw_response: Option<serde_json::Value>,
    /// The markets of the capture.
    pub markets: Vec<NewMarket>,
}

/// One market of a capture, mapped onto Betpawa's market ids. Reads and writes the JSON
/// shape of a `competitor_market_odds` row, so a scraper can hand markets over as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

impl NewSnapshot {
    /// `captured_at` as it is stored: truncated to whole microseconds.
    pub(crate) fn stored_captured_at(&self) -> DateTime<Utc> {
        clock::truncate_to_micros(self.captured_at)
    }

    fn active_model(&self) -> competitor_odds_snapshot::ActiveModel {
        competitor_odds_snapshot::ActiveModel {
            competitor_event_id: Set(self.competitor_event_id),
            captured_at: Set(self.captured_at),
            scrape_run_id: Set(self.scrape_run_id),
            raw_response: Set(self.raw_response.clone()),
            ..Default::default()
        }
    }
}

impl NewMarket {
    fn active_model(&self) -> competitor_market_odds::ActiveModel {
        competitor_market_odds::ActiveModel {
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

    /// The outcomes as the `json` text every write path stores.
    pub(crate) fn outcomes_json(&self) -> Result<String, StoreError> {
        json_text(&self.outcomes)
    }
}

/// `value` as `json` text.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Db(DbErr::Json(err.to_string())))
}

/// Market rows per statement where a statement binds one array per column and so has
/// no bind-parameter limit: this bounds the memory of one statement.
pub(crate) const MARKETS_PER_STATEMENT: usize = 20_000;

/// Writes the snapshots and all their markets in one transaction (a savepoint inside the
/// caller's) and returns the snapshot ids in input order: full mode, every capture whole.
///
/// The current odds follow (SCHEMA.md, "Current odds"): per event, in capture order, each
/// market a capture offers is set where its name or outcomes differ from the current row
/// (or it was unavailable), with `changed_at` the capture time, and every current market
/// a capture does not offer (or offers with no outcomes) becomes unavailable from its
/// time. A capture not newer than its event's state (its newest snapshot's
/// `last_confirmed_at`, else `captured_at`) is stored as history (`kind = 'stale'`) and
/// changes nothing. Writes of the same events follow one another (PostgreSQL advisory
/// locks per event, in id order).
///
/// Every snapshot and market is checked against the entity crate's rules before anything
/// is written, and every path stores the same values (see [`NewSnapshot`]). No statement
/// meets a bind-parameter limit, whatever the batch size. Given the PostgreSQL pool, rows
/// are streamed through `COPY .. FROM STDIN` on a connection of the store's own; inside
/// the caller's transaction they go as one array per column (see [`StoreConnection`]).
/// A write refused for lock contention is retried whole a few times.
///
/// # Errors
/// - [`StoreError::InvalidRow`] naming the snapshot and the field (`captured_at`);
/// - [`StoreError::InvalidMarket`] naming the snapshot, the market and the field;
/// - [`StoreError::DuplicateInBatch`] when a capture holds the same market twice;
/// - [`StoreError::UnknownEvent`] naming the first capture whose competitor event does
///   not exist;
/// - [`StoreError::ForeignKeyViolation`] for an unknown scrape run;
/// - [`StoreError::Contention`] when every attempt was refused for lock contention;
/// - [`StoreError::Db`] for other database errors. Nothing is written on any error.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        snapshots = snapshots.len(),
        markets = snapshots.iter().map(|s| s.markets.len()).sum::<usize>(),
        path = Empty,
        rows_written = Empty,
        markets_changed = Empty,
        stale_captures = Empty,
        attempts = Empty,
    )
)]
pub async fn write_snapshots<C>(db: &C, snapshots: &[NewSnapshot]) -> Result<Vec<i64>, StoreError>
where
    C: StoreConnection,
{
    validate(snapshots)?;
    let prepared = prepare(snapshots)?;
    let path = WritePath::of(db)?;
    let span = tracing::Span::current();
    span.record("path", path.name());
    if snapshots.is_empty() {
        span.record("rows_written", 0);
        return Ok(Vec::new());
    }
    let folded = match path {
        #[cfg(feature = "postgres")]
        WritePath::Copy(pool) => {
            retrying(true, || {
                copy::write_snapshots(pool, snapshots, &prepared, Mode::Full)
            })
            .await
        }
        #[cfg(not(feature = "postgres"))]
        WritePath::Copy(pool) => match *pool {},
        WritePath::Unnest | WritePath::Sqlite => {
            in_transaction!(db, |txn| fold(&txn, snapshots, &prepared, Mode::Full)).await
        }
    };
    let folded = match folded {
        Ok(folded) => folded,
        Err(err) => return Err(name_unknown_event(db, snapshots, err).await),
    };
    span.record(
        "rows_written",
        snapshots.iter().map(|s| s.markets.len()).sum::<usize>(),
    );
    span.record(
        "markets_changed",
        folded.recorded.markets_written + folded.recorded.markets_unavailable,
    );
    span.record("stale_captures", folded.recorded.stale_captures);
    Ok(folded.ids)
}

/// Writes `snapshots` (`kinds` parallel to them) and their markets inside `txn`; returns
/// the snapshot ids in input order.
pub(crate) async fn write_in_transaction(
    txn: &DatabaseTransaction,
    snapshots: &[NewSnapshot],
    kinds: &[SnapshotKind],
) -> Result<Vec<i64>, StoreError> {
    if snapshots.is_empty() {
        return Ok(Vec::new());
    }
    match WritePath::of(txn)? {
        WritePath::Copy(_) | WritePath::Unnest => {
            let ids = allocate_snapshot_ids(txn, snapshots.len()).await?;
            unnest::write_snapshots(txn, snapshots, &ids, kinds).await?;
            Ok(ids)
        }
        WritePath::Sqlite => sqlite::write_snapshots(txn, snapshots, kinds).await,
    }
}

/// How a batch is written; decided by the connection alone.
pub(crate) enum WritePath<'a> {
    /// PostgreSQL, given the pool: COPY on a connection of the store's own.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Copy(&'a PgPool),
    /// PostgreSQL, inside the caller's transaction.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Unnest,
    /// SQLite, pool or transaction.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
}

impl<'a> WritePath<'a> {
    /// The path's name in the store's spans: `copy`, `unnest` or `sqlite`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            WritePath::Copy(_) => "copy",
            WritePath::Unnest => "unnest",
            WritePath::Sqlite => "sqlite",
        }
    }

    /// The one rule: the backend, then whether the connection is a PostgreSQL pool.
    pub(crate) fn of<C: StoreConnection>(db: &'a C) -> Result<Self, StoreError> {
        match (db.get_database_backend(), postgres_pool_of(db)) {
            #[cfg(feature = "postgres")]
            (DbBackend::Postgres, Some(pool)) => Ok(WritePath::Copy(pool)),
            #[cfg(feature = "postgres")]
            (DbBackend::Postgres, None) => Ok(WritePath::Unnest),
            #[cfg(feature = "sqlite")]
            (DbBackend::Sqlite, _) => Ok(WritePath::Sqlite),
            (backend, _) => Err(StoreError::Db(not_built(backend))),
        }
    }
}

/// Every snapshot's own fields, then every market, checked before anything is written.
pub(crate) fn validate(snapshots: &[NewSnapshot]) -> Result<(), StoreError> {
    let mut position = 0;
    for (index, snapshot) in snapshots.iter().enumerate() {
        snapshot
            .active_model()
            .validate()
            .map_err(|error| StoreError::InvalidRow { index, error })?;
        for (market, new_market) in snapshot.markets.iter().enumerate() {
            new_market
                .active_model()
                .validate()
                .map_err(|error: ValidationError| StoreError::InvalidMarket {
                    snapshot: index,
                    market,
                    position,
                    error,
                })?;
            position += 1;
        }
    }
    Ok(())
}

/// `err` as the caller should see it: a foreign key violation of a batch whose captures
/// name a competitor event that does not exist becomes [`StoreError::UnknownEvent`],
/// naming the first such capture; anything else (an unknown scrape run, or a lookup that
/// itself fails) stays as it was. Runs after the write was rolled back, so only the error
/// path pays for the lookup.
pub(crate) async fn name_unknown_event<C: ConnectionTrait>(
    db: &C,
    captures: &[NewSnapshot],
    err: StoreError,
) -> StoreError {
    if !matches!(err, StoreError::ForeignKeyViolation { .. }) {
        return err;
    }
    let mut ids: Vec<i64> = captures
        .iter()
        .map(|capture| i64::from(capture.competitor_event_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let existing = competitor_event::Entity::find()
        .select_only()
        .column(competitor_event::Column::Id)
        .filter(is_in_ids(db.get_database_backend(), "id", &ids))
        .into_tuple::<i32>()
        .all(db)
        .await;
    let Ok(existing) = existing else {
        return err;
    };
    let existing: HashSet<i32> = existing.into_iter().collect();
    captures
        .iter()
        .position(|capture| !existing.contains(&capture.competitor_event_id))
        .map_or(err, |capture| StoreError::UnknownEvent {
            capture,
            competitor_event_id: captures[capture].competitor_event_id,
        })
}

/// `$1` ids from the snapshots' sequence, ascending (PostgreSQL; both of its write paths
/// use it): the ids are known before the rows are written, so markets can name their
/// snapshot without relying on the order of `RETURNING`.
pub(crate) const ALLOCATE_SNAPSHOT_IDS: &str = "SELECT nextval(pg_get_serial_sequence('competitor_odds_snapshots', 'id')) AS id \
     FROM generate_series(1, $1) ORDER BY 1";

/// [`ALLOCATE_SNAPSHOT_IDS`] through a SeaORM connection.
pub(crate) async fn allocate_snapshot_ids<C: ConnectionTrait>(
    db: &C,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    let rows = db
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
