//! Where this crate records its applied migrations: a table of its own,
//! [`MIGRATION_TABLE`], not sea-orm-migration's default `seaql_migrations`.
//!
//! A service on SeaORM has its own `Migrator`, recording into `seaql_migrations`. Sharing
//! that table, each migrator meets the other's rows and refuses to run ("Migration file of
//! version '..' is missing, this migration has been applied but its file is missing").
//!
//! Databases migrated by earlier versions of this crate hold its records in
//! `seaql_migrations`. Every locked run of [`Migrator`](crate::Migrator) first moves them
//! ([`move_legacy_records`]); the other rows of `seaql_migrations`, a service's own, stay
//! where they are, and so does the table itself, emptied or not: the service's migrator
//! owns it (it would create it again at its next run anyway).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseExecutor, DbBackend, Statement, TransactionTrait,
};
use sea_orm_migration::seaql_migrations;

/// The table this crate records its applied migrations in (columns as sea-orm-migration's
/// `seaql_migrations`: `version`, `applied_at`).
pub const MIGRATION_TABLE: &str = "competitor_db_migrations";

/// sea-orm-migration's default table, where versions of this crate before
/// [`MIGRATION_TABLE`] recorded their migrations, and where a service's own migrator
/// records its.
pub const LEGACY_MIGRATION_TABLE: &str = "seaql_migrations";

/// [`MIGRATION_TABLE`] as sea-orm-migration takes it.
pub(crate) fn migration_table() -> DynIden {
    Alias::new(MIGRATION_TABLE).into_iden()
}

/// The names of `M`'s migrations: the versions that are this crate's records.
fn versions<M: MigratorTrait>() -> Vec<String> {
    M::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

/// Moves the records of `M`'s migrations from `seaql_migrations` to [`MIGRATION_TABLE`]
/// (created if absent), with their `applied_at`, in one transaction (a savepoint inside a
/// caller's); returns how many moved. Other rows of `seaql_migrations` stay. A record
/// already in [`MIGRATION_TABLE`] is kept and its copy in `seaql_migrations` deleted, so a
/// second call finds nothing to move. Run under the migration lock: two runs moving at
/// once would both create the table.
///
/// Writes nothing, and creates no table, where `seaql_migrations` holds none of them.
///
/// # Errors
///
/// Any error reading or writing either table; the transaction is then rolled back.
pub(crate) async fn move_legacy_records<M: MigratorTrait>(
    db: &DatabaseExecutor<'_>,
) -> Result<u64, DbErr> {
    let versions = versions::<M>();
    if legacy_records(db, &versions).await?.is_empty() {
        return Ok(0);
    }
    let txn = db.begin().await?;
    M::install(&txn).await?;
    let version = || Expr::col(seaql_migrations::Column::Version);
    let recorded = Query::select()
        .column(seaql_migrations::Column::Version)
        .from(migration_table())
        .to_owned();
    let copy = Query::insert()
        .into_table(migration_table())
        .columns([
            seaql_migrations::Column::Version,
            seaql_migrations::Column::AppliedAt,
        ])
        .select_from(
            Query::select()
                .columns([
                    seaql_migrations::Column::Version,
                    seaql_migrations::Column::AppliedAt,
                ])
                .from(Alias::new(LEGACY_MIGRATION_TABLE))
                .and_where(version().is_in(versions.iter().cloned()))
                .and_where(version().not_in_subquery(recorded))
                .to_owned(),
        )
        .map_err(|err| DbErr::Migration(err.to_string()))?
        .to_owned();
    txn.execute(&copy).await?;
    let delete = Query::delete()
        .from_table(Alias::new(LEGACY_MIGRATION_TABLE))
        .and_where(version().is_in(versions.iter().cloned()))
        .to_owned();
    let moved = txn.execute(&delete).await?.rows_affected();
    txn.commit().await?;
    tracing::info!(
        target: "sea_orm_migration",
        "Moved {moved} records of this crate's migrations from {LEGACY_MIGRATION_TABLE} \
         to {MIGRATION_TABLE}"
    );
    Ok(moved)
}

/// The records of `versions` in `seaql_migrations`, oldest version first; none where the
/// table does not exist. Reads only.
///
/// # Errors
///
/// Any error reading the catalog or the table.
async fn legacy_records<C: ConnectionTrait>(
    db: &C,
    versions: &[String],
) -> Result<Vec<seaql_migrations::Model>, DbErr> {
    records_in(db, LEGACY_MIGRATION_TABLE, Some(versions)).await
}

/// The records in `table`, of `versions` only where given, oldest version first; none
/// where the table does not exist. Reads only: no `CREATE TABLE IF NOT EXISTS` first, as
/// sea-orm-migration's own reads do, so a user without DDL rights can call it.
async fn records_in<C: ConnectionTrait>(
    db: &C,
    table: &str,
    versions: Option<&[String]>,
) -> Result<Vec<seaql_migrations::Model>, DbErr> {
    if !has_table(db, table).await? {
        return Ok(Vec::new());
    }
    let mut select = Query::select()
        .columns([
            seaql_migrations::Column::Version,
            seaql_migrations::Column::AppliedAt,
        ])
        .from(Alias::new(table))
        .order_by(seaql_migrations::Column::Version, Order::Asc)
        .to_owned();
    if let Some(versions) = versions {
        select.and_where(
            Expr::col(seaql_migrations::Column::Version).is_in(versions.iter().cloned()),
        );
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            Ok(seaql_migrations::Model {
                version: row.try_get("", "version")?,
                applied_at: row.try_get("", "applied_at")?,
            })
        })
        .collect()
}

/// The records of `M`'s migrations in either table, each version once, oldest first:
/// what [`Migrator`](crate::Migrator)'s status reads, so a database whose records have not
/// moved yet still shows its migrations as applied. Creates [`MIGRATION_TABLE`] unless
/// `read_only`, as sea-orm-migration's own status does.
///
/// # Errors
///
/// Any error reading (or creating) the tables.
pub(crate) async fn applied<M: MigratorTrait, C: ConnectionTrait>(
    db: &C,
    read_only: bool,
) -> Result<Vec<seaql_migrations::Model>, DbErr> {
    if !read_only {
        M::install(db).await?;
    }
    // Every record of its own table, so that sea-orm-migration still reports a version
    // this build does not know ("Migration file of version .. is missing").
    let mut records = records_in(db, MIGRATION_TABLE, None).await?;
    records.extend(legacy_records(db, &versions::<M>()).await?);
    records.sort_by(|a, b| a.version.cmp(&b.version));
    records.dedup_by(|a, b| a.version == b.version);
    Ok(records)
}

/// Whether `table` exists where sea-orm-migration creates its tables: PostgreSQL's current
/// schema (the first of the search path), or SQLite's main database.
async fn has_table<C: ConnectionTrait>(db: &C, table: &str) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() AND tablename = $1"
        }
        DbBackend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?"
        }
        other => {
            return Err(DbErr::BackendNotSupported {
                db: other.as_str(),
                ctx: "the competitor odds migrations",
            });
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await?;
    let tables: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(tables > 0)
}

/// The migrations of [`Migrator`](crate::Migrator) with their status read from both tables
/// without creating either: sea-orm-migration's `Migration` values can only be built by its
/// own provided methods, so this migrator's `install` does nothing and its records are
/// [`applied`] read-only.
pub(crate) struct ReadOnly;

#[async_trait::async_trait]
impl MigratorTrait for ReadOnly {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        crate::Migrator::migrations()
    }

    fn migration_table_name() -> DynIden {
        migration_table()
    }

    async fn install<C>(_db: &C) -> Result<(), DbErr>
    where
        C: ConnectionTrait,
    {
        Ok(())
    }

    async fn get_migration_models<C>(db: &C) -> Result<Vec<seaql_migrations::Model>, DbErr>
    where
        C: ConnectionTrait,
    {
        applied::<Self, C>(db, true).await
    }
}
