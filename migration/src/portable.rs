//! The statements PostgreSQL and SQLite need in different forms, in one place.
//!
//! Everything else in the migrations is written once for both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Adds the surrogate key column `id` and its named primary key to `table`.
///
/// - PostgreSQL: `serial`/`bigserial` (the crate enables sea-orm's `postgres-use-serial-pk`,
///   so the catalog equals the Python service's) and `CONSTRAINT pk_<table> PRIMARY KEY (id)`.
/// - SQLite: `integer ... CONSTRAINT pk_<table> PRIMARY KEY AUTOINCREMENT`, inline. Only a
///   column declared exactly `integer PRIMARY KEY` is a rowid alias that SQLite fills in,
///   `bigint` is not, and `AUTOINCREMENT` keeps ids from being reused after a purge.
pub(crate) fn add_surrogate_key(
    backend: DbBackend,
    table: &mut TableCreateStatement,
    id: impl IntoIden,
    pk_name: &str,
    big: bool,
) {
    let id = id.into_iden();
    match backend {
        DbBackend::Sqlite => {
            table.col(ColumnDef::new(id).integer().not_null().extra(format!(
                "CONSTRAINT \"{pk_name}\" PRIMARY KEY AUTOINCREMENT"
            )));
        }
        _ => {
            let mut column = ColumnDef::new(id.clone());
            if big {
                column.big_integer();
            } else {
                column.integer();
            }
            table
                .col(column.not_null().auto_increment())
                .primary_key(Index::create().name(pk_name).col(id));
        }
    }
}

/// `timestamptz NOT NULL` defaulting to the current time.
///
/// PostgreSQL gets `now()`, as the Python service declares it. SQLite gets the current
/// UTC time in the RFC 3339 text form that SeaORM writes (`2026-11-26T14:42:12.123+00:00`),
/// not `CURRENT_TIMESTAMP`'s `2026-11-26 14:42:12`: mixing the two forms breaks ordering
/// by time, because SQLite compares them as text.
pub(crate) fn timestamp_default_now(backend: DbBackend, column: impl IntoIden) -> ColumnDef {
    let now = match backend {
        DbBackend::Sqlite => Expr::cust("strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"),
        _ => Expr::cust("now()"),
    };
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .default(now)
        .to_owned()
}
