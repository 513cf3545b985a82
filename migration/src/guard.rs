//! What every `down` of this crate does before it drops a table: it refuses while the table
//! holds rows, naming each table and its row count, and changes nothing. Someone's data is
//! never dropped by a rollback.

use sea_orm_migration::prelude::*;

/// Refuses with one [`DbErr::Migration`] naming every one of `tables` that exists and
/// holds rows; `what` says what was to be dropped (`the base tables`).
pub(crate) async fn refuse_to_drop_rows(
    manager: &SchemaManager<'_>,
    what: &str,
    tables: &[&str],
) -> Result<(), DbErr> {
    let mut holding_rows = Vec::new();
    for &table in tables {
        if manager.has_table(table).await? {
            let rows = count_rows(manager, table).await?;
            if rows > 0 {
                let plural = if rows == 1 { "" } else { "s" };
                holding_rows.push(format!("`{table}` holds {rows} row{plural}"));
            }
        }
    }
    if holding_rows.is_empty() {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "refusing to drop {what}: {}; they were left as they were \
         (delete their rows first if they are really unwanted)",
        holding_rows.join(", ")
    )))
}

/// Drops `tables`, in order, those that exist.
pub(crate) async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for &table in tables {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(table))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

async fn count_rows(manager: &SchemaManager<'_>, table: &str) -> Result<i64, DbErr> {
    let query = Query::select()
        .expr_as(Expr::col(Asterisk).count(), Alias::new("rows"))
        .from(Alias::new(table))
        .to_owned();
    match manager.get_connection().query_one(&query).await? {
        Some(row) => row.try_get("", "rows"),
        None => Ok(0),
    }
}
