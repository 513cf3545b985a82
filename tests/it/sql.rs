//! Raw SQL for tests, written once with `$n` placeholders for both backends.

use competitor_db::testing;
use sea_orm::{ConnectionTrait, DbErr, ExecResult, QueryResult, Statement, Value};

fn statement(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    testing::statement(db.get_database_backend(), sql, values)
}

pub async fn execute(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<ExecResult, DbErr> {
    db.execute_raw(statement(db, sql, values)).await
}

pub async fn query_all(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Vec<QueryResult> {
    db.query_all_raw(statement(db, sql, values))
        .await
        .expect(sql)
}

/// The `id` of the row an `INSERT .. RETURNING id` wrote.
pub async fn insert_id(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> i64 {
    integer(db, sql, values, "id").await
}

/// The single integer a query returns, as column `n`.
pub async fn scalar(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> i64 {
    integer(db, sql, values, "n").await
}

/// Column `column` of the one row `sql` returns: an `integer` or a `bigint`, as i64.
async fn integer(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>, column: &str) -> i64 {
    let row = db
        .query_one_raw(statement(db, sql, values))
        .await
        .expect(sql)
        .unwrap_or_else(|| panic!("no row from {sql}"));
    row.try_get::<i64>("", column)
        .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
        .expect(column)
}

pub async fn count(db: &impl ConnectionTrait, table: &str) -> i64 {
    scalar(db, &format!("SELECT COUNT(*) AS n FROM {table}"), vec![]).await
}

/// The rows of `table` that meet `condition`, SQL with `$n` placeholders for `values`.
pub async fn count_where(
    db: &impl ConnectionTrait,
    table: &str,
    condition: &str,
    values: Vec<Value>,
) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}");
    scalar(db, &sql, values).await
}

/// The `line` column of every row `sql` returns.
pub async fn lines(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    query_all(db, sql, vec![])
        .await
        .iter()
        .map(|row| row.try_get::<String>("", "line").expect("line"))
        .collect()
}

/// Fails with the lines missing from, and the lines extra to, `expected`, then on order.
pub fn assert_lines(what: &str, actual: &[String], expected: &[&str]) {
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|e| !actual.iter().any(|a| a == **e))
        .collect();
    let extra: Vec<&String> = actual
        .iter()
        .filter(|a| !expected.contains(&a.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} differ from the expected schema\nmissing: {missing:#?}\nextra: {extra:#?}"
    );
    assert_eq!(actual, expected, "{what}: same lines, other order");
}
