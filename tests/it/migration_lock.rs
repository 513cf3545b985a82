//! The migration lock (`migration/src/lock.rs`): replicas that migrate at once run one
//! after the other, on PostgreSQL and on SQLite.

use std::sync::Arc;
use std::time::Duration;

use migration::{MIGRATION_LOCK_KEY, Migrator, MigratorTrait};
use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{self, Connection};
use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, SqlxPostgresConnector, SqlxSqliteConnector,
    TransactionTrait,
};
use tokio::sync::Barrier;

use crate::schema::assert_reference_catalog;
use crate::sql::{count, execute, lines};
use crate::{both, postgres, sqlite};

/// Another replica of the service: its own pool on `db`'s database.
async fn replica(db: &DatabaseConnection, connections: u32) -> DatabaseConnection {
    match db.get_database_backend() {
        DbBackend::Sqlite => SqlxSqliteConnector::from_sqlx_sqlite_pool(
            second_pool(db.get_sqlite_connection_pool(), connections).await,
        ),
        _ => SqlxPostgresConnector::from_sqlx_postgres_pool(
            second_pool(db.get_postgres_connection_pool(), connections).await,
        ),
    }
}

/// A pool of `connections` on the database `pool` connects to.
async fn second_pool<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    connections: u32,
) -> sqlx::Pool<DB> {
    PoolOptions::<DB>::new()
        .max_connections(connections)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("a second pool on the test database")
}

/// Runs `competitor_db::migrate` on two replicas released at the same instant.
async fn migrate_twice_at_once(db: &DatabaseConnection) -> [Result<(), DbErr>; 2] {
    let start = Arc::new(Barrier::new(2));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let replica = replica(db, 4).await;
        let start = Arc::clone(&start);
        runs.push(tokio::spawn(async move {
            start.wait().await;
            let result = competitor_db::migrate(&replica).await;
            let _ = replica.close().await;
            result
        }));
    }
    let mut results = Vec::new();
    for run in runs {
        results.push(run.await.expect("the migrating task"));
    }
    [results.remove(0), results.remove(0)]
}

/// Every migration recorded exactly once.
async fn assert_each_migration_recorded_once(db: &DatabaseConnection) {
    let recorded = lines(
        db,
        &format!(
            "SELECT version AS line FROM {} ORDER BY version",
            migration::MIGRATION_TABLE
        ),
    )
    .await;
    let migrations = Migrator::migrations();
    let expected: Vec<&str> = migrations.iter().map(|m| m.name()).collect();
    assert_eq!(recorded, expected);
}

async fn two_replicas_running_up_at_once_both_succeed(db: &DatabaseConnection) {
    let [first, second] = migrate_twice_at_once(db).await;
    first.expect("the first replica's up");
    second.expect("the second replica's up");
    assert_reference_catalog(db).await;
    assert_each_migration_recorded_once(db).await;
}
postgres!(empty: two_replicas_running_up_at_once_both_succeed);

async fn two_replicas_running_up_at_once_on_one_sqlite_file_both_succeed(db: &DatabaseConnection) {
    let [first, second] = migrate_twice_at_once(db).await;
    first.expect("the first replica's up");
    second.expect("the second replica's up");
    for table in migration::COMPETITOR_TABLES
        .iter()
        .chain(&migration::BASE_TABLES)
    {
        assert_eq!(count(db, table).await, 0, "{table} exists, empty");
    }
    assert_each_migration_recorded_once(db).await;
}
sqlite!(empty: two_replicas_running_up_at_once_on_one_sqlite_file_both_succeed);

/// The lock lives on a connection of its own: a pool of one connection migrates.
async fn a_pool_of_one_connection_migrates(db: &DatabaseConnection) {
    let single = replica(db, 1).await;
    tokio::time::timeout(Duration::from_secs(60), Migrator::up(&single, None))
        .await
        .expect("up finished (it would hang if the lock took the pool's only connection)")
        .expect("up");
    assert_reference_catalog(db).await;
}
postgres!(empty: a_pool_of_one_connection_migrates);

/// A session of its own on `db`'s database, as another process would have.
async fn session(db: &DatabaseConnection) -> PgConnection {
    let options = db.get_postgres_connection_pool().connect_options();
    PgConnection::connect_with(&options)
        .await
        .expect("a session on the test database")
}

/// Whether another session could take the migration lock right now.
async fn lock_is_free(db: &DatabaseConnection) -> bool {
    let mut other = session(db).await;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .fetch_one(&mut other)
        .await
        .expect("try the lock");
    other.close().await.expect("close, releasing the lock");
    taken
}

async fn the_lock_is_released_after_a_run_and_after_a_failed_run(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("up");
    assert!(lock_is_free(db).await, "held after a successful up");

    // The base migration refuses to drop tables holding rows: `reset` fails half-way.
    execute(
        db,
        "INSERT INTO sports (name, slug) VALUES ('Football', 'football')",
        vec![],
    )
    .await
    .expect("a sport");
    Migrator::reset(db).await.expect_err("reset refuses");
    assert!(lock_is_free(db).await, "held after a failed reset");
}
postgres!(empty: the_lock_is_released_after_a_run_and_after_a_failed_run);

async fn up_inside_a_transaction_holds_the_lock_until_commit(db: &DatabaseConnection) {
    let txn = db.begin().await.expect("begin");
    Migrator::up(&txn, None)
        .await
        .expect("up in the transaction");
    assert!(
        !lock_is_free(db).await,
        "the transaction holds the lock until it ends"
    );
    txn.commit().await.expect("commit");
    assert!(lock_is_free(db).await, "released by the commit");
    assert_reference_catalog(db).await;
}
postgres!(empty: up_inside_a_transaction_holds_the_lock_until_commit);

/// Holds the lock from another session, starts `run`, checks that it waits and that
/// nothing changed meanwhile, then releases the lock and lets it finish.
async fn assert_waits_for_the_lock<F>(db: &DatabaseConnection, run: F)
where
    F: Future<Output = Result<(), DbErr>> + Send + 'static,
{
    let mut holder = session(db).await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut holder)
        .await
        .expect("hold the lock");
    let before = crate::schema::catalog(db).await;
    let run = tokio::spawn(run);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !run.is_finished(),
        "ran while another session held the lock"
    );
    assert_eq!(
        crate::schema::catalog(db).await,
        before,
        "changed the schema while waiting"
    );
    holder.close().await.expect("release by ending the session");
    run.await
        .expect("the task")
        .expect("the run, once the lock was free");
}

async fn up_waits_while_another_run_holds_the_lock(db: &DatabaseConnection) {
    let replica = replica(db, 2).await;
    assert_waits_for_the_lock(db, async move { Migrator::up(&replica, None).await }).await;
    assert_reference_catalog(db).await;
}
postgres!(empty: up_waits_while_another_run_holds_the_lock);

async fn reset_waits_while_another_run_holds_the_lock(db: &DatabaseConnection) {
    let replica = replica(db, 2).await;
    assert_waits_for_the_lock(db, async move { Migrator::reset(&replica).await }).await;
    assert_eq!(crate::schema::catalog(db).await, Vec::<String>::new());
}
postgres!(reset_waits_while_another_run_holds_the_lock);

/// `fresh` drops every table and migrates again; on SQLite inside the run's exclusive
/// transaction, where foreign keys cannot be switched off.
async fn fresh_empties_a_database_that_holds_rows(db: &DatabaseConnection) {
    for sql in [
        "INSERT INTO sports (name, slug) VALUES ('Football', 'football')",
        "INSERT INTO competitor_tournaments (source, sport_id, name, external_id) \
         VALUES ('sportybet', 1, 'Premier League', 'sr:tournament:17')",
        "INSERT INTO competitor_events (source, tournament_id, name, home_team, away_team, \
         kickoff, external_id, sportradar_id) VALUES ('sportybet', 1, 'Arsenal vs Chelsea', \
         'Arsenal', 'Chelsea', '2026-12-05T15:00:00+00:00', 'sr:match:1', '1')",
        "INSERT INTO competitor_odds_snapshots (competitor_event_id) VALUES (1)",
    ] {
        execute(db, sql, vec![]).await.expect(sql);
    }
    Migrator::fresh(db).await.expect("fresh");
    for table in migration::COMPETITOR_TABLES
        .iter()
        .chain(&migration::BASE_TABLES)
    {
        assert_eq!(count(db, table).await, 0, "{table} is empty again");
    }
    assert_each_migration_recorded_once(db).await;
}
both!(fresh_empties_a_database_that_holds_rows);

/// Replicas of a new version starting together on a database an earlier version migrated:
/// one of them moves the records out of `seaql_migrations`, the other finds them moved.
async fn two_replicas_upgrading_at_once_move_the_records_once(db: &DatabaseConnection) {
    use crate::migration_records::MigratorOfEarlierVersions;
    MigratorOfEarlierVersions::up(db, None)
        .await
        .expect("migrate as earlier versions did");
    let [first, second] = migrate_twice_at_once(db).await;
    first.expect("the first replica's migrate");
    second.expect("the second replica's migrate");
    assert_each_migration_recorded_once(db).await;
    assert_eq!(count(db, migration::LEGACY_MIGRATION_TABLE).await, 0);
}
both!(empty: two_replicas_upgrading_at_once_move_the_records_once);
