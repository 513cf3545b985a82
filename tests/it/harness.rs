//! One fresh database per test, in the manner of `#[sqlx::test]`
//! (sqlx-core/src/testing/mod.rs, sqlx-postgres/src/testing/mod.rs).
//!
//! - A test body is a plain `async fn name(db: &DatabaseConnection)`; one line runs it:
//!   [`both!`](crate::both) on PostgreSQL and SQLite, [`postgres!`](crate::postgres) or
//!   [`sqlite!`](crate::sqlite) on one backend. Tests of the migrations themselves use
//!   [`TestDb::empty`].
//! - PostgreSQL: each test database is cloned from a migrated template
//!   (`CREATE DATABASE .. TEMPLATE ..`), built once per test binary (and once per
//!   migration version across binaries, under an advisory lock) and named
//!   `cdb_template_<hash of migration/src>`. Test databases are named after the test.
//! - One admin pool, capped, in a `OnceLock` creates and drops databases. Like sqlx's, it
//!   closes each connection on release: every `#[tokio::test]` has its own runtime, and a
//!   connection must not outlive the runtime that opened it.
//! - A passing test's database is dropped right after its body returns
//!   ([`TestDb::pass`]); a failing test's database is kept for a look (the next run drops
//!   it first).
//! - SQLite: a file per test under Cargo's target tmpdir.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Deref;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions, Executor, query_scalar};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};
use tokio::sync::OnceCell;

/// The database of `docker-compose.yml`, used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str =
    "postgres://postgres:postgres@127.0.0.1:5432/competitor_odds";

/// Connections of a test's own pool: enough for the concurrency tests' tasks.
const TEST_POOL_SIZE: u32 = 12;

/// The backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A test's own database; derefs to its connection.
pub struct TestDb {
    conn: DatabaseConnection,
    name: String,
    backend: Backend,
    /// Set once the database is dropped, so `Drop` knows the test passed.
    passed: bool,
}

impl Deref for TestDb {
    type Target = DatabaseConnection;
    fn deref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

impl TestDb {
    /// A migrated database on `backend`.
    pub async fn migrated(backend: Backend, test: &str) -> TestDb {
        crate::traces::install_undecided();
        match backend {
            Backend::Postgres => Self::postgres(test, Some(template().await)).await,
            Backend::Sqlite => {
                let db = Self::sqlite(test).await;
                Migrator::up(&db.conn, None)
                    .await
                    .expect("migrate the SQLite test database");
                db
            }
        }
    }

    /// An empty database on `backend`, for tests of the migrations themselves.
    pub async fn empty(backend: Backend, test: &str) -> TestDb {
        crate::traces::install_undecided();
        match backend {
            Backend::Postgres => Self::postgres(test, None).await,
            Backend::Sqlite => Self::sqlite(test).await,
        }
    }

    /// The database's URL, for another process or a second pool (password and TLS mode
    /// included).
    pub fn url(&self) -> String {
        match self.backend {
            Backend::Postgres => self.postgres_options().to_url_lossy().to_string(),
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", sqlite_path(&self.name).display()),
        }
    }

    /// The connect options of this PostgreSQL test database (password and TLS included).
    pub fn postgres_options(&self) -> PgConnectOptions {
        server_options().database(&self.name)
    }

    /// The test passed: closes its pool and drops its database.
    pub async fn pass(mut self) {
        self.passed = true;
        let _ = self.conn.clone().close().await;
        match self.backend {
            Backend::Postgres => drop_database(&self.name).await,
            Backend::Sqlite => remove_sqlite_files(&sqlite_path(&self.name)),
        }
    }

    async fn postgres(test: &str, template: Option<&str>) -> TestDb {
        let name = test_database_name(test);
        drop_database(&name).await;
        admin(&match template {
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        })
        .await;
        let pool = PgPoolOptions::new()
            .max_connections(TEST_POOL_SIZE)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(server_options().database(&name))
            .await
            .unwrap_or_else(|err| no_server(&err));
        TestDb {
            conn: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
            name,
            backend: Backend::Postgres,
            passed: false,
        }
    }

    async fn sqlite(test: &str) -> TestDb {
        let name = test_database_name(test);
        let path = sqlite_path(&name);
        remove_sqlite_files(&path);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(5)
            .connect_with(options)
            .await
            .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
        TestDb {
            conn: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
            name,
            backend: Backend::Sqlite,
            passed: false,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.passed {
            eprintln!("test database kept for inspection: {}", self.url());
        }
    }
}

/// A private in-memory SQLite database, for comparing DDL.
pub async fn sqlite_in_memory() -> DatabaseConnection {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().in_memory(true))
        .await
        .expect("an in-memory SQLite database");
    SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
}

/// `DATABASE_URL` (or the compose database) as connect options.
pub fn server_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    PgConnectOptions::from_str(&url).unwrap_or_else(|err| panic!("DATABASE_URL {url:?}: {err}"))
}

/// Fails the test with one message that says how to get a server.
fn no_server(err: &dyn std::fmt::Display) -> ! {
    let options = server_options();
    panic!(
        "cannot connect to PostgreSQL at {}:{}: {err}\n\
         The tests need a PostgreSQL server. Start one with `scripts/test.sh` (it starts \
         docker compose or a local cluster), or `docker compose up -d --wait`, or point \
         DATABASE_URL at a server where this user may CREATE DATABASE.",
        options.get_host(),
        options.get_port()
    )
}

/// The admin pool on the server's `postgres` database: at most four connections, each
/// closed when released (see the module docs).
fn admin_pool() -> &'static PgPool {
    static ADMIN: OnceLock<PgPool> = OnceLock::new();
    ADMIN.get_or_init(|| {
        PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .after_release(|_conn, _meta| Box::pin(async { Ok(false) }))
            .connect_lazy_with(server_options().database("postgres"))
    })
}

async fn admin(sql: &str) {
    let mut conn = admin_pool()
        .acquire()
        .await
        .unwrap_or_else(|err| no_server(&err));
    if let Err(err) = conn.execute(AssertSqlSafe(sql.to_owned())).await {
        panic!("{sql}: {err}");
    }
}

async fn drop_database(name: &str) {
    admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
}

/// The migrated template's name; built by the first test of this binary that needs it.
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE.get_or_init(build_template).await
}

/// Builds the template unless another process already did, under an advisory lock so
/// parallel test processes (cargo nextest) build it once.
async fn build_template() -> String {
    let template = format!("cdb_template_{:016x}", migration_sources_hash());
    let mut lock = admin_pool()
        .acquire()
        .await
        .unwrap_or_else(|err| no_server(&err));
    lock.execute("SELECT pg_advisory_lock(727274)")
        .await
        .expect("template lock");
    let exists: bool = query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&template)
        .fetch_one(&mut *lock)
        .await
        .expect("look up the template database");
    if !exists {
        // Built under a scratch name and renamed when complete, so an interrupted build
        // never leaves a half-migrated template behind.
        let building = format!("{template}_building");
        drop_database(&building).await;
        admin(&format!("CREATE DATABASE \"{building}\"")).await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(server_options().database(&building))
            .await
            .unwrap_or_else(|err| no_server(&err));
        let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Migrator::up(&conn, None)
            .await
            .expect("migrate the template database");
        let _ = conn.close().await;
        admin(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .await;
    }
    lock.execute("SELECT pg_advisory_unlock(727274)")
        .await
        .expect("template unlock");
    template
}

/// A hash of every migration source file: a new migration means a new template.
fn migration_sources_hash() -> u64 {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migration/src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read migration/src")
        .map(|entry| entry.expect("read migration/src entry").path())
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        std::fs::read(&file)
            .expect("read a migration source")
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// `cdb_<checkout>_<test>`: deterministic per test, distinct between two checkouts that
/// test against one server at the same time, at most 63 bytes.
fn test_database_name(test: &str) -> String {
    let mut checkout = DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut checkout);
    let slug: String = test
        .trim_start_matches("it::")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("cdb_{:06x}_{slug}", checkout.finish() & 0xff_ffff);
    if name.len() > 63 {
        let mut whole = DefaultHasher::new();
        name.hash(&mut whole);
        name.truncate(54);
        name.push_str(&format!("_{:08x}", whole.finish() & 0xffff_ffff));
    }
    name
}

fn sqlite_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.sqlite"))
}

fn remove_sqlite_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// Declares tests on `$backends`, on migrated databases or, after `empty:`, on empty
/// ones; see [`both!`](crate::both).
#[doc(hidden)]
#[macro_export]
macro_rules! db_tests {
    ($backends:tt; empty: $($name:ident),+ $(,)?) => {
        $(
            $crate::db_test!(empty, $backends, $name);
        )+
    };
    ($backends:tt; $($name:ident),+ $(,)?) => {
        $(
            $crate::db_test!(migrated, $backends, $name);
        )+
    };
}

/// One test function as one test per backend; see [`both!`](crate::both).
#[doc(hidden)]
#[macro_export]
macro_rules! db_test {
    ($setup:ident, [$($backend:ident => $test:ident),+], $name:ident) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $test() {
                    let db = $crate::harness::TestDb::$setup(
                        $crate::harness::Backend::$backend,
                        module_path!(),
                    )
                    .await;
                    super::$name(&db).await;
                    db.pass().await;
                }
            )+
        }
    };
}

/// `both!(name, ..)`: runs each `async fn name(db: &DatabaseConnection)` on a migrated
/// PostgreSQL and a migrated SQLite database, as the tests `name::postgres` and
/// `name::sqlite`. `both!(empty: name, ..)` gives it empty databases instead, for tests of
/// the migrations themselves.
#[macro_export]
macro_rules! both {
    ($($tests:tt)+) => {
        $crate::db_tests!([Postgres => postgres, Sqlite => sqlite]; $($tests)+);
    };
}

/// `postgres!(name, ..)`, `postgres!(empty: name, ..)`: as [`both!`](crate::both), on
/// PostgreSQL only.
#[macro_export]
macro_rules! postgres {
    ($($tests:tt)+) => {
        $crate::db_tests!([Postgres => postgres]; $($tests)+);
    };
}

/// `sqlite!(name, ..)`, `sqlite!(empty: name, ..)`: as [`both!`](crate::both), on SQLite
/// only.
#[macro_export]
macro_rules! sqlite {
    ($($tests:tt)+) => {
        $crate::db_tests!([Sqlite => sqlite]; $($tests)+);
    };
}
