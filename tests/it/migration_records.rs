//! Where the crate records its applied migrations (`migration/src/records.rs`): a table of
//! its own, beside a service's `seaql_migrations`, and the move out of `seaql_migrations`
//! for databases migrated by earlier versions of the crate.

use migration::{LEGACY_MIGRATION_TABLE, MIGRATION_TABLE, Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait};
use sea_orm_migration::prelude::*;
use sea_orm_migration::{MigrationStatus, seaql_migrations};

use crate::schema::assert_reference_catalog;
use crate::sql::{count, execute, query_all};
use crate::{both, postgres};

/// A service's own migration, recorded by its own migrator in `seaql_migrations`.
struct CreateServiceSettings;

/// The service's migration's version, as a migration file of its own would be named.
const SERVICE_MIGRATION: &str = "m20250101_000001_create_service_settings";

impl MigrationName for CreateServiceSettings {
    fn name(&self) -> &str {
        SERVICE_MIGRATION
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateServiceSettings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE service_settings (name varchar(50) PRIMARY KEY)")
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE service_settings")
            .await
            .map(|_| ())
    }
}

/// A service's migrator with sea-orm-migration's defaults: records in `seaql_migrations`.
struct ServiceMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ServiceMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateServiceSettings)]
    }
}

/// The crate's migrations as versions before its own table ran them: recorded in
/// `seaql_migrations`, as today's databases hold them.
pub struct MigratorOfEarlierVersions;

#[async_trait::async_trait]
impl MigratorTrait for MigratorOfEarlierVersions {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Migrator::migrations()
    }
}

fn crate_versions() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

/// `(version, applied_at)` of every row of `table`, by version.
async fn records(db: &DatabaseConnection, table: &str) -> Vec<(String, i64)> {
    query_all(
        db,
        &format!("SELECT version, applied_at FROM {table} ORDER BY version"),
        vec![],
    )
    .await
    .iter()
    .map(|row| {
        (
            row.try_get("", "version").expect("version"),
            row.try_get("", "applied_at").expect("applied_at"),
        )
    })
    .collect()
}

fn versions(records: &[(String, i64)]) -> Vec<String> {
    records.iter().map(|(version, _)| version.clone()).collect()
}

/// Whether `table` exists.
async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    SchemaManager::new(db)
        .has_table(table)
        .await
        .expect("has_table")
}

/// The crate's migrations and whether each is applied, as `status` reports them.
async fn statuses(db: &DatabaseConnection) -> Vec<(String, bool)> {
    Migrator::get_migration_with_status(db)
        .await
        .expect("status")
        .iter()
        .map(|m| (m.name().to_owned(), m.status() == MigrationStatus::Applied))
        .collect()
}

fn all(applied: bool) -> Vec<(String, bool)> {
    crate_versions()
        .into_iter()
        .map(|version| (version, applied))
        .collect()
}

/// The service migrated first, with its own migrator: the crate migrates beside it, and
/// each migrator keeps running with only its own records.
async fn a_service_that_records_its_own_migrations_migrates_beside_the_crate(
    db: &DatabaseConnection,
) {
    ServiceMigrator::up(db, None)
        .await
        .expect("the service's up");
    competitor_db::migrate(db)
        .await
        .expect("the crate's migrate beside the service's records");

    assert_eq!(
        versions(&records(db, LEGACY_MIGRATION_TABLE).await),
        [SERVICE_MIGRATION],
        "the service's records stay, and only they are in seaql_migrations"
    );
    assert_eq!(
        versions(&records(db, MIGRATION_TABLE).await),
        crate_versions()
    );
    assert_eq!(statuses(db).await, all(true));

    // Both migrators run again (a service restarts), in either order.
    ServiceMigrator::up(db, None)
        .await
        .expect("the service's up after the crate's");
    competitor_db::migrate(db).await.expect("migrate again");
    let service = ServiceMigrator::get_migration_with_status(db)
        .await
        .expect("the service's status");
    assert_eq!(service.len(), 1);
    assert_eq!(service[0].status(), MigrationStatus::Applied);
    assert_eq!(count(db, "service_settings").await, 0);
    for table in migration::COMPETITOR_TABLES {
        assert!(has_table(db, table).await, "{table}");
    }
}
both!(empty: a_service_that_records_its_own_migrations_migrates_beside_the_crate);

/// The crate migrated first, then the service: the service's migrator finds no record it
/// does not know.
async fn the_service_migrates_after_the_crate(db: &DatabaseConnection) {
    competitor_db::migrate(db).await.expect("migrate");
    assert!(
        !has_table(db, LEGACY_MIGRATION_TABLE).await,
        "the crate creates no seaql_migrations"
    );
    ServiceMigrator::up(db, None)
        .await
        .expect("the service's up after the crate's");
    assert_eq!(
        versions(&records(db, LEGACY_MIGRATION_TABLE).await),
        [SERVICE_MIGRATION]
    );
    assert_eq!(
        versions(&records(db, MIGRATION_TABLE).await),
        crate_versions()
    );
}
both!(empty: the_service_migrates_after_the_crate);

/// A database migrated by an earlier version (records in `seaql_migrations`), beside a
/// service's record: `migrate` moves the crate's records with their `applied_at`, leaves
/// the service's, changes no schema, and a second `migrate` changes nothing.
async fn an_upgrade_moves_the_crates_records_and_only_them(db: &DatabaseConnection) {
    MigratorOfEarlierVersions::up(db, None)
        .await
        .expect("migrate as earlier versions did");
    execute(
        db,
        &format!("INSERT INTO {LEGACY_MIGRATION_TABLE} (version, applied_at) VALUES ($1, $2)"),
        vec![SERVICE_MIGRATION.into(), 1_735_689_600i64.into()],
    )
    .await
    .expect("a service's record");
    let before = records(db, LEGACY_MIGRATION_TABLE).await;
    let crate_records: Vec<(String, i64)> = before
        .iter()
        .filter(|(version, _)| version != SERVICE_MIGRATION)
        .cloned()
        .collect();
    assert_eq!(versions(&crate_records), crate_versions());

    // Status reads the records where earlier versions left them, and moves nothing.
    assert_eq!(statuses(db).await, all(true));
    let read_only: Vec<bool> = Migrator::get_migration_with_status_read_only(db)
        .await
        .expect("read-only status")
        .iter()
        .map(|m| m.status() == MigrationStatus::Applied)
        .collect();
    assert_eq!(read_only, [true; 4]);
    assert_eq!(records(db, LEGACY_MIGRATION_TABLE).await, before);

    competitor_db::migrate(db)
        .await
        .expect("migrate after the upgrade");
    assert_eq!(
        records(db, LEGACY_MIGRATION_TABLE).await,
        [(SERVICE_MIGRATION.to_owned(), 1_735_689_600)],
        "only the service's record stays in seaql_migrations"
    );
    assert_eq!(
        records(db, MIGRATION_TABLE).await,
        crate_records,
        "the crate's records moved with their applied_at"
    );
    assert_eq!(statuses(db).await, all(true));
    if db.get_database_backend() == DbBackend::Postgres {
        assert_reference_catalog(db).await;
    }

    competitor_db::migrate(db).await.expect("migrate once more");
    assert_eq!(records(db, MIGRATION_TABLE).await, crate_records);
    assert_eq!(
        versions(&records(db, LEGACY_MIGRATION_TABLE).await),
        [SERVICE_MIGRATION]
    );
}
both!(empty: an_upgrade_moves_the_crates_records_and_only_them);

/// An earlier version applied only some migrations: `migrate` moves their records, then
/// applies the rest. The emptied `seaql_migrations` stays (a service may own it).
async fn an_upgrade_applies_the_migrations_an_earlier_version_did_not_have(
    db: &DatabaseConnection,
) {
    MigratorOfEarlierVersions::up(db, Some(2))
        .await
        .expect("the first two migrations, as earlier versions did");
    assert_eq!(
        statuses(db).await,
        crate_versions()
            .into_iter()
            .zip([true, true, false, false])
            .collect::<Vec<_>>()
    );

    competitor_db::migrate(db).await.expect("migrate");
    assert_eq!(
        versions(&records(db, MIGRATION_TABLE).await),
        crate_versions()
    );
    assert!(has_table(db, LEGACY_MIGRATION_TABLE).await, "left in place");
    assert_eq!(count(db, LEGACY_MIGRATION_TABLE).await, 0);
    if db.get_database_backend() == DbBackend::Postgres {
        assert_reference_catalog(db).await;
    }
}
both!(empty: an_upgrade_applies_the_migrations_an_earlier_version_did_not_have);

/// `down` and `reset` on a database earlier versions migrated: the records move first, so
/// the rollback finds them; `reset` drops the crate's table and never `seaql_migrations`,
/// which holds a service's records.
async fn down_and_reset_after_an_upgrade_leave_the_services_records(db: &DatabaseConnection) {
    MigratorOfEarlierVersions::up(db, None)
        .await
        .expect("migrate as earlier versions did");
    ServiceMigrator::up(db, None)
        .await
        .expect_err("the old layout: the service's migrator meets the crate's records");
    execute(
        db,
        &format!("INSERT INTO {LEGACY_MIGRATION_TABLE} (version, applied_at) VALUES ($1, $2)"),
        vec![SERVICE_MIGRATION.into(), 1_735_689_600i64.into()],
    )
    .await
    .expect("a service's record");

    Migrator::down(db, Some(1)).await.expect("down one step");
    assert_eq!(
        statuses(db).await,
        crate_versions()
            .into_iter()
            .zip([true, true, true, false])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        versions(&records(db, LEGACY_MIGRATION_TABLE).await),
        [SERVICE_MIGRATION]
    );

    Migrator::reset(db).await.expect("reset");
    assert!(!has_table(db, MIGRATION_TABLE).await);
    assert_eq!(
        versions(&records(db, LEGACY_MIGRATION_TABLE).await),
        [SERVICE_MIGRATION],
        "reset left the service's records"
    );
}
both!(empty: down_and_reset_after_an_upgrade_leave_the_services_records);

/// Given a caller's transaction, the move is part of it: rolled back with it.
async fn the_move_inside_a_callers_transaction_rolls_back_with_it(db: &DatabaseConnection) {
    use sea_orm::TransactionTrait;
    MigratorOfEarlierVersions::up(db, None)
        .await
        .expect("migrate as earlier versions did");
    let before = records(db, LEGACY_MIGRATION_TABLE).await;

    let txn = db.begin().await.expect("begin");
    Migrator::up(&txn, None)
        .await
        .expect("up in the transaction");
    let moved: Vec<seaql_migrations::Model> = seaql_migrations::Entity::find()
        .all(&txn)
        .await
        .expect("seaql_migrations inside the transaction");
    assert_eq!(moved, [], "moved inside the transaction");
    txn.rollback().await.expect("rollback");

    assert_eq!(records(db, LEGACY_MIGRATION_TABLE).await, before);
    assert!(!has_table(db, MIGRATION_TABLE).await);
}
postgres!(empty: the_move_inside_a_callers_transaction_rolls_back_with_it);
