//! The warning `up` gives on PostgreSQL when new sessions on the database do not run in
//! UTC.
//!
//! The Python service writes its timestamps as naive datetimes holding UTC, and SQLAlchemy
//! binds them as `timestamp without time zone`. Into a `timestamptz` column PostgreSQL
//! converts such a value in the session's TimeZone, so where the service writes the
//! competitor tables its sessions must run in UTC, or every instant it stores moves by the
//! zone's offset.
//!
//! Our own session cannot tell: sqlx sends `TimeZone=UTC` when it connects
//! (sqlx-postgres `connection/establish.rs`), so `current_setting('TimeZone')` is always UTC
//! here. The service's driver (asyncpg) sends none, so its sessions get the defaults:
//! `ALTER ROLE .. SET timezone`, else `ALTER DATABASE .. SET timezone`, else the server's
//! `timezone`. The first two are in `pg_db_role_setting`, which every user may read; the
//! server's value only where this user may read `pg_file_settings` (superusers).

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// Every TimeZone default that applies to sessions on this database, whether its offset
/// is zero all year (January and July: `Etc/UTC`, `UTC` and `Zulu` qualify, `Europe/London`
/// does not), and where it is set.
const DEFAULTS_SQL: &str = "\
    SELECT kind, origin, zone, \
        (SELECT bool_and(instant AT TIME ZONE zone = instant AT TIME ZONE 'UTC') \
         FROM (VALUES (date_trunc('year', now())), \
                      (date_trunc('year', now()) + interval '6 months')) AS halves(instant) \
        ) AS utc \
    FROM ( \
        SELECT CASE WHEN d.setrole = 0 THEN 'database' ELSE 'role' END AS kind, \
            CASE WHEN d.setrole = 0 \
                THEN format('ALTER DATABASE %I SET timezone', current_database()) \
                WHEN d.setdatabase = 0 THEN format('ALTER ROLE %I SET timezone', r.rolname) \
                ELSE format('ALTER ROLE %I IN DATABASE %I SET timezone', r.rolname, \
                            current_database()) \
            END AS origin, \
            substring(setting FROM position('=' IN setting) + 1) AS zone \
        FROM pg_db_role_setting d \
        LEFT JOIN pg_roles r ON r.oid = d.setrole \
        CROSS JOIN unnest(d.setconfig) AS setting \
        WHERE d.setdatabase IN (0, (SELECT oid FROM pg_database \
                                    WHERE datname = current_database())) \
          AND lower(split_part(setting, '=', 1)) = 'timezone' \
        UNION ALL \
        SELECT 'server', 'the server''s timezone setting', setting FROM pg_settings \
        WHERE name = 'TimeZone' AND source NOT IN ('client', 'session') \
    ) AS defaults";

/// The server's own setting, for a user who may read the configuration files.
const SERVER_SQL: &str = "\
    SELECT 'server' AS kind, 'the server''s timezone setting' AS origin, setting AS zone, \
        (SELECT bool_and(instant AT TIME ZONE setting = instant AT TIME ZONE 'UTC') \
         FROM (VALUES (date_trunc('year', now())), \
                      (date_trunc('year', now()) + interval '6 months')) AS halves(instant) \
        ) AS utc \
    FROM pg_file_settings \
    WHERE lower(name) = 'timezone' AND applied AND error IS NULL \
    ORDER BY seqno DESC LIMIT 1";

const MAY_READ_SERVER_SQL: &str =
    "SELECT has_table_privilege('pg_catalog.pg_file_settings', 'SELECT') AS allowed";

/// One TimeZone default.
struct ZoneDefault {
    /// `database`, `role` or `server`.
    kind: String,
    origin: String,
    zone: String,
    utc: bool,
}

/// On PostgreSQL, logs one warning line (shown in the migration CLI's output) when new
/// sessions on the database get a TimeZone other than UTC (see the module docs).
///
/// # Errors
///
/// The error of a query reading the settings.
pub(crate) async fn warn_unless_utc(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut defaults = read(db, DEFAULTS_SQL).await?;
    if !defaults.iter().any(|d| d.kind == "server") {
        let allowed = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                MAY_READ_SERVER_SQL,
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "allowed"))
            .transpose()?
            .unwrap_or(false);
        if allowed {
            defaults.extend(read(db, SERVER_SQL).await?);
        }
    }
    // A database default hides the server's; role defaults apply to their roles.
    let has_database_default = defaults.iter().any(|d| d.kind == "database");
    let not_utc: Vec<String> = defaults
        .iter()
        .filter(|d| !d.utc)
        .filter(|d| !(d.kind == "server" && has_database_default))
        .map(|d| format!("{} ({})", d.zone, d.origin))
        .collect();
    if not_utc.is_empty() {
        return Ok(());
    }
    // The CLI shows the target `sea_orm_migration` at level info and above without the
    // level, so the line says "warning" itself.
    tracing::warn!(
        target: "sea_orm_migration",
        "warning: sessions on this database get TimeZone {}, not UTC; the Python service's \
         naive timestamps are converted in that zone, so where it writes the competitor \
         tables set it to 'UTC' (e.g. ALTER DATABASE .. SET timezone = 'UTC')",
        not_utc.join(", ")
    );
    Ok(())
}

async fn read(db: &impl ConnectionTrait, sql: &str) -> Result<Vec<ZoneDefault>, DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .iter()
        .map(|row| {
            Ok(ZoneDefault {
                kind: row.try_get("", "kind")?,
                origin: row.try_get("", "origin")?,
                zone: row.try_get("", "zone")?,
                utc: row.try_get::<Option<bool>>("", "utc")?.unwrap_or(false),
            })
        })
        .collect()
}
