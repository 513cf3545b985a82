//! One fresh database per test.
//!
//! PostgreSQL: each test database is cloned from a migrated template database
//! (`CREATE DATABASE .. TEMPLATE ..`), named after the test, dropped when the test passes and
//! kept for inspection when it fails (the next run drops it first). The template's name
//! carries a hash of the migration sources, so changing a migration builds a new template.
//! SQLite: a file per test under Cargo's target tmpdir, removed when the test passes.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Deref;
use std::path::PathBuf;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// The database of `docker-compose.yml`, used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str =
    "postgres://postgres:postgres@127.0.0.1:5432/competitor_odds";

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
        match backend {
            Backend::Postgres => {
                let template = ensure_template().await;
                Self::postgres(test, Some(&template)).await
            }
            Backend::Sqlite => {
                let db = Self::sqlite(test).await;
                Migrator::up(&db.conn, None)
                    .await
                    .expect("migrate the SQLite test database");
                db
            }
        }
    }

    /// An empty PostgreSQL database, for tests of the migrations themselves.
    pub async fn empty_postgres(test: &str) -> TestDb {
        Self::postgres(test, None).await
    }

    /// An empty SQLite database, for tests of the migrations themselves.
    pub async fn empty_sqlite(test: &str) -> TestDb {
        Self::sqlite(test).await
    }

    /// An empty database on `backend`.
    pub async fn empty(backend: Backend, test: &str) -> TestDb {
        match backend {
            Backend::Postgres => Self::empty_postgres(test).await,
            Backend::Sqlite => Self::empty_sqlite(test).await,
        }
    }

    fn url(&self) -> String {
        match self.backend {
            Backend::Postgres => with_database(&database_url(), &self.name),
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", sqlite_path(&self.name).display()),
        }
    }

    async fn postgres(test: &str, template: Option<&str>) -> TestDb {
        let name = test_database_name(test);
        let admin = admin_connection().await;
        exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await;
        let create = match template {
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        exec(&admin, &create).await;
        let _ = admin.close().await;
        let conn = connect(&with_database(&database_url(), &name), 5).await;
        TestDb {
            conn,
            name,
            backend: Backend::Postgres,
        }
    }

    async fn sqlite(test: &str) -> TestDb {
        let name = test_database_name(test);
        let path = sqlite_path(&name);
        remove_sqlite_files(&path);
        let conn = connect(&format!("sqlite://{}?mode=rwc", path.display()), 5).await;
        TestDb {
            conn,
            name,
            backend: Backend::Sqlite,
        }
    }
}

impl Drop for TestDb {
    /// Drops the database when the test passed; a failed test's database stays for a look.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test database kept for inspection: {}", self.url());
            return;
        }
        match self.backend {
            Backend::Sqlite => remove_sqlite_files(&sqlite_path(&self.name)),
            Backend::Postgres => {
                // Drop cannot await; a short-lived runtime on its own thread does the
                // DROP while this test's runtime is blocked here.
                let name = self.name.clone();
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime for dropping the test database");
                    runtime.block_on(async {
                        let admin = admin_connection().await;
                        exec(
                            &admin,
                            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                        )
                        .await;
                        let _ = admin.close().await;
                    });
                })
                .join();
                if dropped.is_err() {
                    eprintln!("could not drop test database {}", self.name);
                }
            }
        }
    }
}

/// `DATABASE_URL`, or the compose database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Connects, or fails the test with one message that says how to get a server.
pub async fn connect(url: &str, max_connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(std::time::Duration::from_secs(5))
        .sqlx_logging(false);
    match Database::connect(options).await {
        Ok(conn) => conn,
        Err(err) => panic!(
            "cannot connect to {url}: {err}\n\
             The tests need a PostgreSQL server. Start one with `scripts/test.sh` (it starts \
             docker compose or a local cluster), or `docker compose up -d --wait`, or point \
             DATABASE_URL at a server where this user may CREATE DATABASE."
        ),
    }
}

/// A connection to the server's `postgres` database, for CREATE/DROP DATABASE.
async fn admin_connection() -> DatabaseConnection {
    connect(&with_database(&database_url(), "postgres"), 1).await
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    if let Err(err) = conn.execute_unprepared(sql).await {
        panic!("{sql}: {err}");
    }
}

/// Builds the migrated template once per migration version, under an advisory lock so
/// parallel test processes (cargo nextest) build it only once.
async fn ensure_template() -> String {
    let template = format!("cdb_template_{:016x}", migration_sources_hash());
    let admin = admin_connection().await;
    exec(&admin, "SELECT pg_advisory_lock(727274)").await;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [template.clone().into()],
        ))
        .await
        .expect("look up the template database")
        .is_some();
    if !exists {
        // Built under a scratch name and renamed when complete, so an interrupted build
        // never leaves a half-migrated template behind.
        let building = format!("{template}_building");
        exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
        )
        .await;
        exec(&admin, &format!("CREATE DATABASE \"{building}\"")).await;
        let conn = connect(&with_database(&database_url(), &building), 1).await;
        Migrator::up(&conn, None)
            .await
            .expect("migrate the template database");
        let _ = conn.close().await;
        exec(
            &admin,
            &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
        )
        .await;
    }
    exec(&admin, "SELECT pg_advisory_unlock(727274)").await;
    let _ = admin.close().await;
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

/// Declares a test that gets a migrated database of its own.
///
/// `db_test!(postgres, async fn name(db) { .. })` runs on PostgreSQL only;
/// `db_test!(both, async fn name(db) { .. })` becomes the module `name` with one test per
/// backend (`name::postgres`, `name::sqlite`). `db` is a `&TestDb`.
#[macro_export]
macro_rules! db_test {
    (postgres, async fn $name:ident($db:ident) $body:block) => {
        #[tokio::test]
        async fn $name() {
            let test_db = $crate::harness::TestDb::migrated(
                $crate::harness::Backend::Postgres,
                concat!(module_path!(), "::", stringify!($name)),
            )
            .await;
            let $db: &$crate::harness::TestDb = &test_db;
            $body
        }
    };
    (both, async fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: &$crate::harness::TestDb) $body

            #[tokio::test]
            async fn postgres() {
                let db = $crate::harness::TestDb::migrated(
                    $crate::harness::Backend::Postgres,
                    module_path!(),
                )
                .await;
                body(&db).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::harness::TestDb::migrated(
                    $crate::harness::Backend::Sqlite,
                    module_path!(),
                )
                .await;
                body(&db).await;
            }
        }
    };
}
