//! The PostgreSQL path given the pool: snapshots and markets streamed through
//! `COPY .. FROM STDIN` in a transaction of the store's own.
//!
//! COPY needs the connection's copy sub-protocol, which SeaORM's transactions do not
//! expose; so this path runs only when the store is handed the pool itself and can open
//! the transaction on a pool connection. The store's other statements of that write run
//! on the same connection through [`CopyTransaction`], a SeaORM `ConnectionTrait`.
//!
//! Cancellation: sqlx's `PgCopyIn::finish` (0.9.0 and 0.9.1) sends `CopyDone`, then awaits
//! `CommandComplete` and `ReadyForQuery` without recording that a `ReadyForQuery` is owed.
//! Dropped in between (a client went away, a timeout fired while a foreign key check at
//! `CopyDone` waited for a lock), it would return a connection to the pool one reply
//! behind: the next statement on it reads the previous one's reply. So the connection is
//! closed, not returned, unless the transaction ended (committed or rolled back) in the
//! future's own hands ([`Held`]).

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::SnapshotKind;
use futures_util::TryStreamExt;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::Postgres;
use sea_orm::sqlx::{self, Connection as _, Executor as _, PgConnection, PgPool};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

use crate::store::backend::FromColumns;

use super::{
    ALLOCATE_SNAPSHOT_IDS, Folded, Mode, NewSnapshot, Prepared, StoreError, fold, json_text,
};

/// Bytes of COPY data buffered before they are sent.
const SEND_AT: usize = 1 << 20;

/// A pooled connection that goes back to the pool only through [`Held::release`], once
/// its transaction ended; dropped before that (the future dropped at an await), it is
/// closed, so no half-finished exchange reaches the next user of the pool.
pub(crate) struct Held(Option<PoolConnection<Postgres>>);

impl Held {
    /// A connection of `pool`.
    pub(crate) async fn acquire(pool: &PgPool) -> Result<Self, StoreError> {
        Ok(Held(Some(pool.acquire().await.map_err(db_err)?)))
    }

    /// The connection, for the transaction.
    fn conn(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.0.as_deref_mut().ok_or_else(|| {
            StoreError::Db(DbErr::Custom("the store's connection was released".into()))
        })
    }

    /// Its transaction ended: back to the pool.
    fn release(mut self) {
        self.0.take();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take() {
            conn.close_on_drop();
        }
    }
}

/// Folds `captures` into the current odds and writes them as history in `mode`, through
/// COPY, in a transaction of its own on a connection of `pool`; commits when all
/// succeeded. The connection goes back to the pool only once that transaction ended in
/// this future's hands (see [`Held`]).
pub(crate) async fn write_snapshots(
    pool: &PgPool,
    captures: &[NewSnapshot],
    prepared: &[Vec<Prepared<'_>>],
    mode: Mode,
) -> Result<Folded, StoreError> {
    let mut held = Held::acquire(pool).await?;
    let result = {
        let mut tx = held.conn()?.begin().await.map_err(db_err)?;
        let written = {
            let copy = CopyTransaction {
                conn: Mutex::new(&mut *tx),
            };
            fold(&copy, captures, prepared, mode).await
        };
        match written {
            Ok(folded) => tx.commit().await.map(|()| folded).map_err(db_err),
            Err(err) => tx.rollback().await.map_err(db_err).and(Err(err)),
        }
    };
    held.release();
    result
}

/// The transaction of a COPY write, as a SeaORM connection: the store's statements run on
/// it as on any transaction, and [`CopyTransaction::copy_snapshots`] streams through COPY.
pub(crate) struct CopyTransaction<'c> {
    conn: Mutex<&'c mut PgConnection>,
}

impl CopyTransaction<'_> {
    /// The rows of `stmt`, each decoded as it arrives.
    pub(crate) async fn stream_decoded<T: FromColumns + Send>(
        &self,
        stmt: Statement,
    ) -> Result<Vec<T>, StoreError> {
        let mut conn = self.conn.lock().await;
        let mut rows = sqlx_query(&stmt).fetch(&mut **conn);
        let mut decoded = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(query_err)? {
            decoded.push(T::from_columns(&row)?);
        }
        Ok(decoded)
    }

    /// [`copy_snapshots`] on this transaction's connection.
    pub(crate) async fn copy_snapshots(
        &self,
        snapshots: &[NewSnapshot],
        kinds: &[SnapshotKind],
        prepared: Option<&[Vec<Prepared<'_>>]>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.conn.lock().await;
        copy_snapshots(&mut conn, snapshots, kinds, prepared).await
    }
}

/// A statement's SQL with its values bound for sqlx, as SeaORM binds them.
fn sqlx_query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt
        .values
        .clone()
        .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

#[async_trait::async_trait]
impl ConnectionTrait for CopyTransaction<'_> {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut tx = self.conn.lock().await;
        let done = sqlx_query(&stmt).execute(&mut **tx).await;
        done.map(ExecResult::from).map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut tx = self.conn.lock().await;
        let done = (&mut **tx)
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await;
        done.map(ExecResult::from).map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut tx = self.conn.lock().await;
        let row = sqlx_query(&stmt).fetch_optional(&mut **tx).await;
        row.map(|row| row.map(QueryResult::from)).map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut tx = self.conn.lock().await;
        let rows = sqlx_query(&stmt).fetch_all(&mut **tx).await;
        rows.map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_err)
    }
}

/// Allocates the snapshot ids and streams the snapshots (each of its kind), then their
/// markets, through COPY on `conn`; returns the ids in input order. Each market's outcomes
/// go as their JSON text in `prepared` (parallel to the markets) when given, else
/// serialized here. The caller owns the transaction.
pub(crate) async fn copy_snapshots(
    conn: &mut PgConnection,
    snapshots: &[NewSnapshot],
    kinds: &[SnapshotKind],
    prepared: Option<&[Vec<Prepared<'_>>]>,
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(ALLOCATE_SNAPSHOT_IDS)
        .bind(snapshots.len() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;

    let mut copy = conn
        .copy_in_raw(
            "COPY competitor_odds_snapshots \
             (id, competitor_event_id, captured_at, scrape_run_id, raw_response, kind) FROM STDIN",
        )
        .await
        .map_err(db_err)?;
    let mut rows = CopyRows::default();
    for ((snapshot, id), kind) in snapshots.iter().zip(&ids).zip(kinds) {
        rows.int(*id);
        rows.int(i64::from(snapshot.competitor_event_id));
        rows.timestamp(snapshot.stored_captured_at());
        rows.optional(snapshot.scrape_run_id.map(i64::from), CopyRows::int);
        match &snapshot.raw_response {
            Some(json) => rows.text(&json_text(json)?),
            None => rows.null(),
        }
        rows.text(kind.as_ref());
        rows.end_row();
        if rows.len() >= SEND_AT {
            copy.send(rows.take()).await.map_err(db_err)?;
        }
    }
    copy.send(rows.take()).await.map_err(db_err)?;
    copy.finish().await.map_err(db_err)?;

    let mut copy = conn
        .copy_in_raw(
            "COPY competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, \
             line, handicap_type, handicap_home, handicap_away, outcomes) FROM STDIN",
        )
        .await
        .map_err(db_err)?;
    for (index, (snapshot, id)) in snapshots.iter().zip(&ids).enumerate() {
        let prepared = prepared.and_then(|prepared| prepared.get(index));
        for (market_index, market) in snapshot.markets.iter().enumerate() {
            rows.int(*id);
            rows.text(&market.betpawa_market_id);
            rows.text(&market.betpawa_market_name);
            rows.optional(market.line, CopyRows::float);
            rows.optional(market.handicap_type.as_deref(), CopyRows::text);
            rows.optional(market.handicap_home, CopyRows::float);
            rows.optional(market.handicap_away, CopyRows::float);
            match prepared.and_then(|prepared| prepared.get(market_index)) {
                Some(prepared) => rows.text(prepared.json()),
                None => rows.text(&market.outcomes_json()?),
            }
            rows.end_row();
            if rows.len() >= SEND_AT {
                copy.send(rows.take()).await.map_err(db_err)?;
            }
        }
    }
    copy.send(rows.take()).await.map_err(db_err)?;
    copy.finish().await.map_err(db_err)?;
    Ok(ids)
}

/// sqlx errors as SeaORM reports them, so [`StoreError`] classifies them the same way.
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    StoreError::from(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err))))
}

/// Rows in COPY's text format: tab-separated fields, `\N` for NULL, backslash escapes.
#[derive(Default)]
struct CopyRows {
    buffer: String,
    /// Whether the current row has a field yet (the next one needs a tab before it).
    in_row: bool,
}

impl CopyRows {
    fn len(&self) -> usize {
        self.buffer.len()
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer).into_bytes()
    }

    fn field(&mut self) -> &mut String {
        if self.in_row {
            self.buffer.push('\t');
        }
        self.in_row = true;
        &mut self.buffer
    }

    fn end_row(&mut self) {
        self.buffer.push('\n');
        self.in_row = false;
    }

    fn int(&mut self, value: i64) {
        let _ = write!(self.field(), "{value}");
    }

    /// Shortest text that reads back as the same `f64`; NaN and infinities are spelled
    /// as PostgreSQL reads them (the entity rules keep them out of valid rows anyway).
    fn float(&mut self, value: f64) {
        let field = self.field();
        if value.is_nan() {
            field.push_str("NaN");
        } else if value.is_infinite() {
            field.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            let _ = write!(field, "{value}");
        }
    }

    /// RFC 3339 with as many fractional digits as the value has (at most six once
    /// truncated to microseconds).
    fn timestamp(&mut self, value: DateTime<Utc>) {
        let text = value.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        self.field().push_str(&text);
    }

    fn text(&mut self, value: &str) {
        let field = self.field();
        for c in value.chars() {
            match c {
                '\\' => field.push_str("\\\\"),
                '\t' => field.push_str("\\t"),
                '\n' => field.push_str("\\n"),
                '\r' => field.push_str("\\r"),
                c => field.push(c),
            }
        }
    }

    fn null(&mut self) {
        self.field().push_str("\\N");
    }

    fn optional<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            Some(value) => write(self, value),
            None => self.null(),
        }
    }
}
