//! The migration binary as a deploy runs it (`cargo run -p migration -- up`, `status`):
//! two processes at once, the TimeZone warning in its output, and `status` and `up` on a
//! database an earlier version migrated. The root crate's suite
//! (`tests/it`) tests the migrations themselves; this file exists because only a test of
//! this crate knows the binary's path (`CARGO_BIN_EXE_migration`).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;

use migration::{LEGACY_MIGRATION_TABLE, MIGRATION_TABLE, Migrator, MigratorTrait};
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// The database of `docker-compose.yml`, used when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/competitor_odds";

fn server() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    PgConnectOptions::from_str(&url).unwrap_or_else(|err| panic!("DATABASE_URL {url:?}: {err}"))
}

/// A fresh database named after the test and this checkout; dropped when the test
/// passes, kept for a look when it fails.
struct TestDatabase {
    name: String,
    admin: DatabaseConnection,
}

impl TestDatabase {
    async fn create(test: &str) -> Self {
        let mut checkout = DefaultHasher::new();
        env!("CARGO_MANIFEST_DIR").hash(&mut checkout);
        let name = format!("cdb_{:06x}_cli_{test}", checkout.finish() & 0xff_ffff);
        let admin = Database::connect(server().database("postgres").to_url_lossy().as_str())
            .await
            .expect("connect to the server (scripts/test.sh starts one)");
        let database = Self { name, admin };
        database
            .admin(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                database.name
            ))
            .await;
        database
            .admin(&format!("CREATE DATABASE \"{}\"", database.name))
            .await;
        database
    }

    async fn admin(&self, sql: &str) {
        self.admin
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    fn url(&self) -> String {
        server().database(&self.name).to_url_lossy().to_string()
    }

    async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url()).await.expect("connect")
    }

    async fn pass(self) {
        self.admin(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name))
            .await;
    }
}

/// Starts `migration <args>` against `url`, from a directory without a `.env`.
fn start(url: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_migration"))
        .args(args)
        .env("DATABASE_URL", url)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the migration binary")
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn two_processes_running_up_at_once_both_succeed() {
    let database = TestDatabase::create("two_processes_running_up").await;
    let url = database.url();
    let first = start(&url, &["up"]);
    let second = start(&url, &["up"]);
    for child in [first, second] {
        assert_success(&child.wait_with_output().expect("the process's output"));
    }

    let db = database.connect().await;
    assert_eq!(
        versions_in(&db, MIGRATION_TABLE).await,
        crate_versions(),
        "each migration applied once"
    );
    let _ = db.close().await;
    database.pass().await;
}

/// The versions recorded in `table`, in order.
async fn versions_in(db: &DatabaseConnection, table: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT version FROM {table} ORDER BY version"),
    ))
    .await
    .expect("the applied migrations")
    .iter()
    .map(|row| row.try_get::<String>("", "version").expect("version"))
    .collect()
}

fn crate_versions() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

/// The crate's migrations as versions before its own table ran them: recorded in
/// `seaql_migrations`.
struct MigratorOfEarlierVersions;

#[async_trait::async_trait]
impl MigratorTrait for MigratorOfEarlierVersions {
    fn migrations() -> Vec<Box<dyn migration::MigrationTrait>> {
        Migrator::migrations()
    }
}

/// The migrations `status` lists, each with its status (`Applied`, `Pending`).
fn listed(output: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("Migration '")?;
            let (name, status) = rest.split_once("'... ")?;
            Some((name.to_owned(), status.trim().to_owned()))
        })
        .collect()
}

fn run(url: &str, args: &[&str]) -> Output {
    let output = start(url, args).wait_with_output().expect("output");
    assert_success(&output);
    output
}

/// A database migrated by an earlier version, its records in `seaql_migrations` beside a
/// service's: `status` lists the crate's migrations as applied (as `sea-orm-cli migrate
/// status` shows it, which runs this binary), `up` moves the records, and `status` still
/// lists them as applied.
#[tokio::test]
async fn status_and_up_on_a_database_an_earlier_version_migrated() {
    let database = TestDatabase::create("status_after_upgrade").await;
    let db = database.connect().await;
    MigratorOfEarlierVersions::up(&db, None)
        .await
        .expect("migrate as earlier versions did");
    db.execute_unprepared(&format!(
        "INSERT INTO {LEGACY_MIGRATION_TABLE} (version, applied_at) \
         VALUES ('m20250101_000001_create_service_settings', 1735689600)"
    ))
    .await
    .expect("a service's record");
    let url = database.url();
    let applied: Vec<(String, String)> = crate_versions()
        .into_iter()
        .map(|version| (version, "Applied".to_owned()))
        .collect();

    assert_eq!(listed(&run(&url, &["status"])), applied, "status before up");
    run(&url, &["up"]);
    assert_eq!(versions_in(&db, MIGRATION_TABLE).await, crate_versions());
    assert_eq!(
        versions_in(&db, LEGACY_MIGRATION_TABLE).await,
        ["m20250101_000001_create_service_settings"],
        "the service's record stays"
    );
    assert_eq!(listed(&run(&url, &["status"])), applied, "status after up");
    let _ = db.close().await;
    database.pass().await;
}

/// The lines of a run's output that warn about the TimeZone.
fn time_zone_warnings(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
        .filter(|line| line.contains("TimeZone"))
        .map(str::to_owned)
        .collect()
}

/// Sets the database's TimeZone to `zone`, then runs `migration up` and returns its output
/// once it succeeded.
async fn up_in_time_zone(database: &TestDatabase, zone: &str) -> Output {
    database
        .admin(&format!(
            "ALTER DATABASE \"{}\" SET timezone = '{zone}'",
            database.name
        ))
        .await;
    let output = start(&database.url(), &["up"])
        .wait_with_output()
        .expect("output");
    assert_success(&output);
    output
}

#[tokio::test]
async fn up_warns_in_one_line_when_the_database_time_zone_is_not_utc() {
    let database = TestDatabase::create("time_zone_warning").await;
    let warnings = time_zone_warnings(&up_in_time_zone(&database, "Europe/Rome").await);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("warning: ") && warnings[0].contains("Europe/Rome"),
        "{}",
        warnings[0]
    );

    let warnings = time_zone_warnings(&up_in_time_zone(&database, "UTC").await);
    assert_eq!(warnings, Vec::<String>::new());
    database.pass().await;
}
