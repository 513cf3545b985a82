//! The PostgreSQL path given the pool: snapshots and markets streamed through
//! `COPY .. FROM STDIN` in a transaction of the store's own.
//!
//! COPY needs the connection's copy sub-protocol, which SeaORM's transactions do not
//! expose; so this path runs only when the store is handed the pool itself and can open
//! the transaction on a pool connection.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sqlx::{self, PgConnection, PgPool};
use sea_orm::{DbErr, RuntimeErr};

use super::{ALLOCATE_SNAPSHOT_IDS, NewSnapshot, StoreError, json_text};

/// Bytes of COPY data buffered before they are sent.
const SEND_AT: usize = 1 << 20;

/// Writes `snapshots` and their markets in one transaction; returns the snapshot ids in
/// input order.
pub(crate) async fn write_snapshots(
    pool: &PgPool,
    snapshots: &[NewSnapshot],
) -> Result<Vec<i64>, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let ids = copy_snapshots(&mut tx, snapshots).await?;
    // The fold the insert trigger would run at commit, run here so its errors are this
    // write's (migration 4).
    sqlx::query("SELECT competitor_fold_pending()")
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(ids)
}

/// Allocates the snapshot ids and streams the snapshots, then their markets, through
/// COPY on `conn`; returns the ids in input order. The caller owns the transaction.
pub(crate) async fn copy_snapshots(
    conn: &mut PgConnection,
    snapshots: &[NewSnapshot],
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(ALLOCATE_SNAPSHOT_IDS)
        .bind(snapshots.len() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;

    let mut copy = conn
        .copy_in_raw(
            "COPY competitor_odds_snapshots \
             (id, competitor_event_id, captured_at, scrape_run_id, raw_response) FROM STDIN",
        )
        .await
        .map_err(db_err)?;
    let mut rows = CopyRows::default();
    for (snapshot, id) in snapshots.iter().zip(&ids) {
        rows.int(*id);
        rows.int(i64::from(snapshot.competitor_event_id));
        rows.timestamp(snapshot.stored_captured_at());
        rows.optional(snapshot.scrape_run_id.map(i64::from), CopyRows::int);
        match &snapshot.raw_response {
            Some(json) => rows.text(&json_text(json)?),
            None => rows.null(),
        }
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
    for (snapshot, id) in snapshots.iter().zip(&ids) {
        for market in &snapshot.markets {
            rows.int(*id);
            rows.text(&market.betpawa_market_id);
            rows.text(&market.betpawa_market_name);
            rows.optional(market.line, CopyRows::float);
            rows.optional(market.handicap_type.as_deref(), CopyRows::text);
            rows.optional(market.handicap_home, CopyRows::float);
            rows.optional(market.handicap_away, CopyRows::float);
            rows.text(&market.outcomes_json()?);
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
