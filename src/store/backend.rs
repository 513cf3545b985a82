//! What PostgreSQL and SQLite need differently in the store, in one place.

use migration::fold::CURRENT_ODDS_LOCK;
use sea_orm::sea_query::{ArrayType, Expr, Value};
#[cfg(feature = "postgres")]
use sea_orm::sqlx::{self, Row as _, postgres::PgRow, postgres::Postgres};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, TryGetable};

use super::error::StoreError;

/// The refusal of a connection whose backend this build does not serve: another database
/// (MySQL, through a feature of sea-orm), or PostgreSQL or SQLite compiled out with the
/// crate's `postgres` or `sqlite` feature.
pub(crate) fn not_built(backend: DbBackend) -> DbErr {
    DbErr::BackendNotSupported {
        db: backend.as_str(),
        ctx: "the competitor odds store (built for the backends of its `postgres` and \
              `sqlite` features that are on)",
    }
}

/// A value the store reads from a row by position: through SeaORM on every backend and, on
/// PostgreSQL, also straight from sqlx's row (faster for a round's thousands of rows).
#[cfg(feature = "postgres")]
pub(crate) trait RowValue:
    TryGetable + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}
#[cfg(feature = "postgres")]
impl<T> RowValue for T where
    T: TryGetable + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}
/// A value the store reads from a row by position, through SeaORM.
#[cfg(not(feature = "postgres"))]
pub(crate) trait RowValue: TryGetable {}
#[cfg(not(feature = "postgres"))]
impl<T: TryGetable> RowValue for T {}

/// Bind parameters one statement may carry: PostgreSQL's protocol limit (u16), SQLite's
/// `SQLITE_MAX_VARIABLE_NUMBER` (32766 since 3.32).
fn max_binds(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_766,
        _ => 65_535,
    }
}

/// Rows of `columns` bound values that fit in one statement.
pub(crate) fn rows_per_statement(backend: DbBackend, columns: usize) -> usize {
    (max_binds(backend) / columns.max(1)).max(1)
}

/// A statement from SQL written with `$1`, `$2`, ... placeholders, each used once and in
/// order; SQLite gets `?` for each.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            let mut out = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// `column IN (the given ids)` as one bound value, whatever the number of ids: a
/// PostgreSQL array (`= ANY($n)`), or on SQLite a JSON array read by `json_each`.
/// `placeholder` is the `$n` the fragment uses.
pub(crate) fn in_ids(
    backend: DbBackend,
    column: &str,
    placeholder: &str,
    ids: &[i64],
) -> (String, Value) {
    (in_list(backend, column, placeholder), id_list(backend, ids))
}

/// As [`in_ids`], for text keys.
pub(crate) fn in_texts(
    backend: DbBackend,
    column: &str,
    placeholder: &str,
    texts: &[String],
) -> (String, Value) {
    let list = match backend {
        DbBackend::Sqlite => Value::from(serde_json::json!(texts).to_string()),
        _ => array(
            ArrayType::String,
            texts.iter().map(|t| Value::from(t.as_str())).collect(),
        ),
    };
    (in_list(backend, column, placeholder), list)
}

/// Ids as one bound value: a `bigint[]` on PostgreSQL (`unnest($n)`), a JSON array on
/// SQLite (`json_each($n)`).
pub(crate) fn id_list(backend: DbBackend, ids: &[i64]) -> Value {
    match backend {
        DbBackend::Sqlite => Value::from(serde_json::json!(ids).to_string()),
        _ => array(
            ArrayType::BigInt,
            ids.iter().map(|id| Value::from(*id)).collect(),
        ),
    }
}

/// Competitor event ids as one bound value: an `integer[]` on PostgreSQL, the type of
/// every `competitor_event_id` column, so that the planner's row estimates for
/// `competitor_event_id = ANY($n)` hold (a `bigint[]` made it pick an index scan over a
/// whole table, five times slower than its sequential scan); a JSON array on SQLite.
pub(crate) fn event_id_list(backend: DbBackend, ids: &[i32]) -> Value {
    match backend {
        DbBackend::Sqlite => Value::from(serde_json::json!(ids).to_string()),
        _ => array(
            ArrayType::Int,
            ids.iter().map(|id| Value::from(*id)).collect(),
        ),
    }
}

/// A PostgreSQL array of `values`, all of type `ty` (sea-query binds no NULL elements).
pub(crate) fn array(ty: ArrayType, values: Vec<Value>) -> Value {
    Value::Array(ty, Some(Box::new(values)))
}

/// `column` in the list bound at `placeholder`.
fn in_list(backend: DbBackend, column: &str, placeholder: &str) -> String {
    match backend {
        DbBackend::Sqlite => format!("{column} IN (SELECT value FROM json_each({placeholder}))"),
        _ => format!("{column} = ANY({placeholder})"),
    }
}

/// [`in_ids`] as a sea-query expression.
pub(crate) fn is_in_ids(backend: DbBackend, column: &str, ids: &[i64]) -> Expr {
    let (condition, list) = in_ids(backend, column, placeholder(backend), ids);
    Expr::cust_with_values(condition, [list])
}

/// [`in_texts`] as a sea-query expression.
pub(crate) fn is_in_texts(backend: DbBackend, column: &str, texts: &[String]) -> Expr {
    let (condition, list) = in_texts(backend, column, placeholder(backend), texts);
    Expr::cust_with_values(condition, [list])
}

/// The placeholder of a sea-query custom expression's one value.
fn placeholder(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "?",
        _ => "$1",
    }
}

/// Takes the advisory lock `(CURRENT_ODDS_LOCK, id)` of each of `events` in ascending id
/// order, held until the transaction ends: every fold, change-mode write, rebuild and purge
/// of an event's history holds it, so they follow one another per event and, taking locks
/// in one order, never deadlock. PostgreSQL only: SQLite has one writer at a time anyway.
pub(crate) async fn lock_events<C: ConnectionTrait>(
    txn: &C,
    events: &[i32],
) -> Result<(), StoreError> {
    if txn.get_database_backend() != DbBackend::Postgres || events.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = events.iter().map(|id| i64::from(*id)).collect();
    ids.sort_unstable();
    ids.dedup();
    txn.query_all_raw(statement(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1, CAST(id AS integer)) \
         FROM unnest($2::bigint[]) WITH ORDINALITY AS l(id, n) ORDER BY n",
        vec![CURRENT_ODDS_LOCK.into(), id_list(DbBackend::Postgres, &ids)],
    ))
    .await?;
    Ok(())
}

/// A row whose columns are read by position.
pub(crate) trait Columns {
    /// Column `index`, decoded.
    fn column<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: RowValue;

    /// Column `index`, a `json` column (text on SQLite), deserialized.
    fn json<T>(&self, index: usize) -> Result<Option<T>, DbErr>
    where
        T: serde::de::DeserializeOwned;
}

impl Columns for QueryResult {
    fn column<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: RowValue,
    {
        self.try_get_by_index(index)
    }

    fn json<T>(&self, index: usize) -> Result<Option<T>, DbErr>
    where
        T: serde::de::DeserializeOwned,
    {
        self.try_get_by_index::<Option<String>>(index)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|err| DbErr::Json(format!("column {index}: {err}")))
    }
}

/// Straight from sqlx's row, without sqlx's check of each value's type against the Rust
/// type: the store reads only its own queries over the schema its migrations pin (the
/// `schema` tests compare the catalog), and the check showed in `perf` profiles of a
/// 120,000-row read.
/// A value that does not decode as the Rust type is still an error.
#[cfg(feature = "postgres")]
impl Columns for PgRow {
    fn column<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: RowValue,
    {
        self.try_get_unchecked(index)
            .map_err(|err| DbErr::Type(format!("column {index}: {err}")))
    }

    /// Straight from the bytes sqlx received: PostgreSQL sends `json` as its text.
    fn json<T>(&self, index: usize) -> Result<Option<T>, DbErr>
    where
        T: serde::de::DeserializeOwned,
    {
        self.try_get_unchecked::<Option<sqlx::types::Json<T>>, _>(index)
            .map(|json| json.map(|json| json.0))
            .map_err(|err| DbErr::Json(format!("column {index}: {err}")))
    }
}

/// A value decoded from a row's columns by position.
pub(crate) trait FromColumns: Sized {
    /// The value of `row`.
    fn from_columns(row: &impl Columns) -> Result<Self, DbErr>;
}

/// Decodes `row` by position: a read of a round's thousands of rows shows the cost of
/// looking each column up by name; on PostgreSQL straight from sqlx's row, which decoded a
/// 60,000-market round in about half the time.
pub(crate) fn by_position<T: FromColumns>(row: &QueryResult) -> Result<T, DbErr> {
    #[cfg(feature = "postgres")]
    if let Some(row) = row.try_as_pg_row() {
        return T::from_columns(row);
    }
    T::from_columns(row)
}
