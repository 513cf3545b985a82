//! `up` next to the Python service (`migration/src/converge.rs`): on a database where the
//! service's Alembic migrations created the competitor tables, `up` brings them to the
//! reference schema in one transaction, keeping every row and value, or changes nothing
//! and names every row that stands in the way.

use migration::{Migrator, MigratorTrait, REFERENCE_SCHEMA};
use sea_orm::sqlx::Executor;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{ConnectionTrait, DatabaseConnection, SqlxPostgresConnector};

use crate::migrations::migration_refusal;
use crate::postgres;
use crate::schema::{assert_competitor_catalog, catalog};
use crate::sql::{count_where, lines, query_all, scalar};

/// `pg_dump --schema-only` of the service's tables (a copy of
/// `shared/legacy/python-service-schema.sql`).
const SERVICE_SCHEMA: &str = include_str!("../fixtures/python-service-schema.sql");

/// Rows in every table as the service stores them: naive timestamps holding UTC. Two of
/// them are local times Europe/Rome skips or repeats (29 March 02:30, 25 October 02:30),
/// which a conversion in the session's zone would move or guess.
const SERVICE_ROWS: &str = r#"
INSERT INTO sports (id, name, slug) VALUES (1, 'Football', 'football'), (2, 'Basketball', 'basketball');
INSERT INTO tournaments (id, sport_id, name, country, sportradar_id)
    VALUES (1, 1, 'Premier League', 'England', '17');
INSERT INTO events (id, tournament_id, name, home_team, away_team, kickoff, sportradar_id, created_at)
    VALUES (1, 1, 'Arsenal - Chelsea', 'Arsenal', 'Chelsea', '2026-12-05 15:00:00+00', '61300421',
            '2026-11-01 09:00:00+00');
INSERT INTO scrape_batches (id, started_at, completed_at, status, trigger, notes)
    VALUES (1, '2026-11-26 10:00:00', '2026-11-26 10:04:00', 'completed', 'scheduler', NULL);
INSERT INTO scrape_runs (id, status, started_at, completed_at, events_scraped, events_failed, trigger,
                         current_phase, current_platform, platform_status, batch_id)
    VALUES (1, 'completed', '2026-11-26 10:00:00+00', '2026-11-26 10:04:00+00', 55, 0, 'scheduler',
            'done', 'bet9ja', '{"sportybet": "ok", "bet9ja": "ok"}', 1);
INSERT INTO competitor_tournaments (id, source, sport_id, name, country_raw, country_iso, external_id,
                                    sportradar_id, created_at, deleted_at) VALUES
    (1, 'sportybet', 1, 'Premier League', 'England', 'ENG', 'sr:tournament:17', '17',
     '2026-11-01 08:00:00.123456', NULL),
    (2, 'bet9ja', 1, 'Premier League', 'England', NULL, '1001', '17',
     '2026-03-29 02:30:00', '2026-10-25 02:30:00');
INSERT INTO competitor_events (id, source, tournament_id, betpawa_event_id, name, home_team, away_team,
                               kickoff, external_id, sportradar_id, created_at, updated_at, deleted_at) VALUES
    (1, 'sportybet', 1, 1, 'Arsenal vs Chelsea', 'Arsenal', 'Chelsea', '2026-12-05 15:00:00',
     'sr:match:61300421', '61300421', '2026-11-01 08:00:00', '2026-11-26 10:01:00.5', NULL),
    (2, 'bet9ja', 2, NULL, 'Arsenal - Chelsea', 'Arsenal', 'Chelsea', '2026-03-29 02:30:00',
     '555', '61300421', '2026-03-29 00:59:59.999999', '2026-10-25 02:30:00', '2026-11-20 12:00:00');
INSERT INTO competitor_odds_snapshots (id, competitor_event_id, captured_at, scrape_run_id, raw_response) VALUES
    (1, 1, '2026-11-26 10:01:00.5', 1, '{"markets": 2}'),
    (2, 1, '2026-11-26 10:06:00', NULL, NULL),
    (3, 2, '2026-10-25 02:30:00', 1, NULL);
INSERT INTO competitor_market_odds (id, snapshot_id, betpawa_market_id, betpawa_market_name, line,
                                    handicap_type, handicap_home, handicap_away, outcomes) VALUES
    (1, 1, '3743', '1X2', NULL, NULL, NULL, NULL,
     '[{"name": "1", "odds": 2.05, "is_active": true}, {"name": "X", "odds": 3.4}, {"name": "2", "odds": 3.6}]'),
    (2, 1, '5000', 'Over/Under', 2.5, NULL, NULL, NULL,
     '[{"name": "Over", "odds": 1.63}, {"name": "Under", "odds": 2.22}]'),
    (3, 2, '3744', 'Asian Handicap', NULL, 'asian', -0.25, 0.25,
     '[{"name": "1", "odds": 1.9}, {"name": "2", "odds": 1.95}]'),
    (4, 3, '3743', '1X2', NULL, NULL, NULL, NULL, '[{"name": "1", "odds": 2.1}]');
SELECT setval(pg_get_serial_sequence(t, 'id'), 10)
    FROM unnest(ARRAY['sports', 'tournaments', 'events', 'scrape_batches', 'scrape_runs',
                      'competitor_tournaments', 'competitor_events', 'competitor_odds_snapshots',
                      'competitor_market_odds']) AS t;
"#;

/// Columns later service versions added on their own (naive timestamps too).
const SERVICE_EXTRA_COLUMNS: &str = r#"
ALTER TABLE competitor_market_odds ADD COLUMN market_groups json, ADD COLUMN unavailable_at timestamp;
ALTER TABLE competitor_odds_snapshots ADD COLUMN last_confirmed_at timestamp;
UPDATE competitor_market_odds SET market_groups = '["main", "goals"]', unavailable_at = '2026-03-29 02:30:00'
    WHERE id = 2;
UPDATE competitor_odds_snapshots SET last_confirmed_at = '2026-11-26 10:11:00.25' WHERE id = 2;
"#;

/// The service's own columns as catalog lines, unchanged by `up`. `last_confirmed_at` is
/// not among them: migration 3 has it too, and converts the service's naive one.
const SERVICE_EXTRA_COLUMN_LINES: &[&str] = &[
    "competitor_market_odds.market_groups json",
    "competitor_market_odds.unavailable_at timestamp without time zone",
];

/// Every table of the service's database, base tables included.
const SERVICE_TABLES: &[&str] = &[
    "sports",
    "tournaments",
    "events",
    "scrape_batches",
    "scrape_runs",
    "competitor_tournaments",
    "competitor_events",
    "competitor_odds_snapshots",
    "competitor_market_odds",
];

/// Builds the service's database in one transaction whose session runs in São Paulo
/// (naive values are stored as written, whatever the zone), with `variant` applied after
/// the rows.
async fn service_database(db: &DatabaseConnection, variant: &str) {
    db.execute_unprepared(&format!(
        "BEGIN; SET LOCAL TimeZone = 'America/Sao_Paulo'; {SERVICE_SCHEMA} {SERVICE_ROWS} \
         {variant} COMMIT;"
    ))
    .await
    .expect("the Python service's database");
}

/// A pool like a deploy's on a database whose TimeZone is Europe/Rome: the database
/// default is Rome, and this session is put in Rome too (sqlx itself connects in UTC).
async fn rome_session(db: &DatabaseConnection) -> DatabaseConnection {
    let database = query_all(db, "SELECT current_database() AS name", vec![]).await[0]
        .try_get::<String>("", "name")
        .expect("name");
    db.execute_unprepared(&format!(
        "ALTER DATABASE \"{database}\" SET timezone = 'Europe/Rome'"
    ))
    .await
    .expect("the database's zone");
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET TimeZone = 'Europe/Rome'").await?;
                Ok(())
            })
        })
        .connect_with(options.as_ref().clone())
        .await
        .expect("a pool in Europe/Rome");
    let rome = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    let zone = query_all(&rome, "SELECT current_setting('TimeZone') AS zone", vec![]).await[0]
        .try_get::<String>("", "zone")
        .expect("zone");
    assert_eq!(zone, "Europe/Rome", "the migrating session's zone");
    rome
}

/// The columns of `table`, in order.
async fn column_names(db: &DatabaseConnection, table: &str) -> Vec<String> {
    query_all(
        db,
        "SELECT attname::text AS name FROM pg_attribute \
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        vec![table.into()],
    )
    .await
    .iter()
    .map(|row| row.try_get::<String>("", "name").expect("name"))
    .collect()
}

/// Every row of the service's tables as text, one line per row, over the columns the
/// tables had before `up`; a naive timestamp is read as the UTC instant it holds and a
/// `timestamptz` as its UTC instant, so a line is the same before and after only where
/// each value kept its instant.
async fn rows_as_utc(db: &DatabaseConnection, columns: &[(String, Vec<String>)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (table, names) in columns {
        let types = query_all(
            db,
            "SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type \
             FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0",
            vec![table.as_str().into()],
        )
        .await;
        let type_of = |name: &str| {
            types
                .iter()
                .find(|row| row.try_get::<String>("", "name").expect("name") == name)
                .map(|row| row.try_get::<String>("", "type").expect("type"))
                .unwrap_or_else(|| panic!("{table}.{name} is gone"))
        };
        let values: Vec<String> = names
            .iter()
            .map(|name| {
                let value = match type_of(name).as_str() {
                    "timestamp without time zone" => {
                        format!("to_char(\"{name}\", 'YYYY-MM-DD HH24:MI:SS.US')")
                    }
                    "timestamp with time zone" => format!(
                        "to_char(\"{name}\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
                    ),
                    _ => format!("\"{name}\"::text"),
                };
                format!("'{name}=' || COALESCE({value}, 'NULL')")
            })
            .collect();
        let sql = format!(
            "SELECT '{table} ' || concat_ws(' ', {}) AS line FROM {table} ORDER BY id",
            values.join(", ")
        );
        lines.extend(crate::sql::lines(db, &sql).await);
    }
    lines
}

/// Fails with the rows whose line changed, not two whole lists.
fn assert_rows_kept(after: &[String], before: &[String]) {
    let changed: Vec<(&String, &String)> = before
        .iter()
        .zip(after)
        .filter(|(before, after)| before != after)
        .collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "rows changed: {} before, {} after; (before, after): {changed:#?}",
        before.len(),
        after.len()
    );
}

async fn columns_of_service_tables(db: &DatabaseConnection) -> Vec<(String, Vec<String>)> {
    let mut columns = Vec::new();
    for table in SERVICE_TABLES {
        columns.push(((*table).to_owned(), column_names(db, table).await));
    }
    columns
}

/// The catalog lines of the tables `up` must leave alone: the base tables (and the
/// service's `scrape_batches`).
async fn base_catalog(db: &DatabaseConnection) -> Vec<String> {
    catalog(db)
        .await
        .into_iter()
        .filter(|line| !line.starts_with("competitor_") && !line.contains(" ON public.competitor_"))
        .collect()
}

/// Rows whose stored instants are checked by value too, not only as "unchanged".
async fn assert_instants(db: &DatabaseConnection) {
    for (table, condition) in [
        (
            "competitor_events",
            "id = 2 AND kickoff = '2026-03-29T02:30:00Z' \
            AND created_at = '2026-03-29T00:59:59.999999Z' \
            AND updated_at = '2026-10-25T02:30:00Z' AND deleted_at = '2026-11-20T12:00:00Z'",
        ),
        (
            "competitor_events",
            "id = 1 AND kickoff = '2026-12-05T15:00:00Z'",
        ),
        (
            "competitor_tournaments",
            "id = 1 AND created_at = '2026-11-01T08:00:00.123456Z'",
        ),
        (
            "competitor_odds_snapshots",
            "id = 1 AND captured_at = '2026-11-26T10:01:00.5Z'",
        ),
    ] {
        let rows = count_where(db, table, condition, vec![]).await;
        assert_eq!(rows, 1, "{table}: {condition}");
    }
}

async fn reference_schema_is_gone(db: &DatabaseConnection) -> bool {
    let schema = vec![REFERENCE_SCHEMA.into()];
    count_where(db, "pg_namespace", "nspname = $1", schema).await == 0
}

/// Loads the service's database with `variant`, runs `up` from a session in Rome, and
/// checks what every variant must keep: each row and value, the base tables, the rest of
/// the catalog as the reference plus `extra_columns`.
async fn converge_and_check(db: &DatabaseConnection, variant: &str, extra_columns: &[&str]) {
    service_database(db, variant).await;
    let columns = columns_of_service_tables(db).await;
    let rows_before = rows_as_utc(db, &columns).await;
    assert_eq!(
        rows_before.len(),
        17,
        "rows in every table: {rows_before:#?}"
    );
    let base_before = base_catalog(db).await;

    let rome = rome_session(db).await;
    Migrator::up(&rome, None).await.expect("up converges");
    let _ = rome.close().await;

    assert_rows_kept(&rows_as_utc(db, &columns).await, &rows_before);
    assert_instants(db).await;
    assert_competitor_catalog(db, extra_columns).await;
    assert_eq!(
        base_catalog(db).await,
        base_before,
        "up changed a base table"
    );
    assert!(
        reference_schema_is_gone(db).await,
        "scratch schema left behind"
    );
    assert_history_folded(db).await;
}

/// Migration 4 folded the service's history, all of it full captures, into the current
/// odds: event 1's second capture offers 3744 only, so 3743 and 5000 went unavailable then.
async fn assert_history_folded(db: &DatabaseConnection) {
    let current = lines(
        db,
        "SELECT competitor_event_id || ' ' || betpawa_market_id || ' ' \
             || (changed_at AT TIME ZONE 'UTC') || ' ' \
             || COALESCE((unavailable_at AT TIME ZONE 'UTC')::text, '-') AS line \
         FROM competitor_market_odds_current ORDER BY competitor_event_id, id",
    )
    .await;
    assert_eq!(
        current,
        [
            "1 3743 2026-11-26 10:01:00.5 2026-11-26 10:06:00",
            "1 5000 2026-11-26 10:01:00.5 2026-11-26 10:06:00",
            "1 3744 2026-11-26 10:06:00 -",
            "2 3743 2026-10-25 02:30:00 -",
        ]
    );
}

async fn up_converges_the_python_service_tables_keeping_every_value(db: &DatabaseConnection) {
    converge_and_check(db, "", &[]).await;
}
postgres!(empty: up_converges_the_python_service_tables_keeping_every_value);

/// A service version that no longer has `raw_response`: `up` adds it, nullable.
async fn up_adds_reference_columns_the_service_tables_lack(db: &DatabaseConnection) {
    converge_and_check(
        db,
        "ALTER TABLE competitor_odds_snapshots DROP COLUMN raw_response;",
        &[],
    )
    .await;
    let filled = scalar(
        db,
        "SELECT COUNT(raw_response) AS n FROM competitor_odds_snapshots",
        vec![],
    )
    .await;
    assert_eq!(filled, 0, "existing snapshots get no raw response");
}
postgres!(empty: up_adds_reference_columns_the_service_tables_lack);

/// The service's own columns stay as they are; its `last_confirmed_at`, which migration 3
/// would add, becomes `timestamptz` holding the same instants.
async fn up_keeps_the_service_s_own_columns_as_they_are(db: &DatabaseConnection) {
    converge_and_check(db, SERVICE_EXTRA_COLUMNS, SERVICE_EXTRA_COLUMN_LINES).await;
    let instant = "id = 2 AND last_confirmed_at = '2026-11-26T10:11:00.25Z'";
    let confirmed = count_where(db, "competitor_odds_snapshots", instant, vec![]).await;
    assert_eq!(confirmed, 1, "last_confirmed_at kept its instant");
}
postgres!(empty: up_keeps_the_service_s_own_columns_as_they_are);

/// The competitor tables are gone and the base tables' catalog is still `base_before`:
/// what `step` must leave.
async fn assert_only_base_tables_left(db: &DatabaseConnection, base_before: &[String], step: &str) {
    for table in migration::COMPETITOR_TABLES {
        assert!(column_names(db, table).await.is_empty(), "{table} dropped");
    }
    assert_eq!(
        base_catalog(db).await,
        base_before,
        "{step} touched a base table"
    );
}

/// After converging, `down` and `reset` do what they do on a database the crate built:
/// the competitor tables go, the base tables holding rows stay.
async fn down_and_reset_after_converging_act_as_on_a_crate_built_database(db: &DatabaseConnection) {
    service_database(db, SERVICE_EXTRA_COLUMNS).await;
    Migrator::up(db, None).await.expect("up converges");
    let base_before = base_catalog(db).await;

    Migrator::down(db, Some(3))
        .await
        .expect("down the fold, the current odds and the competitor tables");
    assert_only_base_tables_left(db, &base_before, "down").await;

    Migrator::up(db, None).await.expect("up creates them anew");
    assert_competitor_catalog(db, &[]).await;

    let message = migration_refusal(
        Migrator::reset(db).await,
        "the base migration refuses to drop rows",
    );
    assert!(message.contains("`sports` holds 2 rows"), "{message}");
    assert_only_base_tables_left(db, &base_before, "reset").await;
}
postgres!(empty: down_and_reset_after_converging_act_as_on_a_crate_built_database);

/// Rows the new rules would reject: sources no CHECK allowed yet, a Betpawa event id whose
/// foreign key the service had dropped, a column of a type that cannot become the
/// reference's. `up` changes nothing and says so once, naming each problem.
const ROWS_IN_THE_WAY: &str = "
ALTER TABLE competitor_events DROP CONSTRAINT fk_competitor_events_betpawa_event_id_events;
INSERT INTO competitor_tournaments (id, source, sport_id, name, external_id, created_at) VALUES
    (3, 'betking', 1, 'Premier League', 'bk-17', '2026-11-01 08:00:00'),
    (4, 'betking', 1, 'La Liga', 'bk-8', '2026-11-01 08:00:00');
INSERT INTO competitor_events (id, source, tournament_id, betpawa_event_id, name, home_team, away_team,
                               kickoff, external_id, sportradar_id) VALUES
    (3, 'betking', 3, 999, 'Arsenal vs Chelsea', 'Arsenal', 'Chelsea', '2026-12-05 15:00:00',
     'bk-61300421', '61300421');
ALTER TABLE competitor_market_odds ALTER COLUMN handicap_home TYPE text;
";

async fn rows_breaking_the_new_rules_stop_up_with_one_message_and_change_nothing(
    db: &DatabaseConnection,
) {
    service_database(db, ROWS_IN_THE_WAY).await;
    let columns = columns_of_service_tables(db).await;
    let rows_before = rows_as_utc(db, &columns).await;
    let catalog_before = catalog(db).await;

    let message = migration_refusal(Migrator::up(db, None).await, "up refuses to converge");
    for problem in [
        "competitor_tournaments: ck_competitor_tournaments_source would reject 2 rows",
        "competitor_events: ck_competitor_events_source would reject 1 row ",
        "competitor_events: fk_competitor_events_betpawa_event_id_events would reject 1 row \
         (betpawa_event_id not in events (id))",
        "competitor_market_odds.handicap_home: text cannot become double precision \
         (1 row holds a value)",
        "nothing was changed",
    ] {
        assert!(
            message.contains(problem),
            "{message}\ndoes not say: {problem}"
        );
    }
    assert_eq!(message.matches(" would reject ").count(), 3, "{message}");

    assert_eq!(catalog(db).await, catalog_before, "up changed the catalog");
    assert_rows_kept(&rows_as_utc(db, &columns).await, &rows_before);
    assert!(
        reference_schema_is_gone(db).await,
        "scratch schema left behind"
    );
    assert!(
        !has_migration_table(db).await,
        "a refused up recorded migrations"
    );
}
postgres!(empty: rows_breaking_the_new_rules_stop_up_with_one_message_and_change_nothing);

/// Whether the table of applied migrations exists (this crate's own, or
/// sea-orm-migration's default).
async fn has_migration_table(db: &DatabaseConnection) -> bool {
    scalar(
        db,
        "SELECT (to_regclass('competitor_db_migrations') IS NOT NULL \
             OR to_regclass('seaql_migrations') IS NOT NULL)::int AS n",
        vec![],
    )
    .await
        == 1
}

/// Only some competitor tables: `up` does not guess, and names what it found and missed.
async fn some_competitor_tables_only_stop_up(db: &DatabaseConnection) {
    db.execute_unprepared(
        "CREATE TABLE sports (id serial PRIMARY KEY, name varchar(100) NOT NULL, \
             slug varchar(100) NOT NULL); \
         CREATE TABLE competitor_tournaments (id serial PRIMARY KEY, source varchar(20));",
    )
    .await
    .expect("a partial schema");
    let err = Migrator::up(db, None).await.expect_err("up refuses");
    assert!(
        err.to_string().contains(
            "found the competitor tables competitor_tournaments but not \
             competitor_market_odds, competitor_odds_snapshots, competitor_events"
        ),
        "{err}"
    );
    assert!(
        !has_migration_table(db).await,
        "a refused up recorded migrations"
    );
}
postgres!(empty: some_competitor_tables_only_stop_up);

/// Tables the crate built, met again by an `up` that does not know them (its records were
/// uninstalled): converging finds nothing to change.
async fn tables_the_crate_built_converge_to_themselves(db: &DatabaseConnection) {
    // Up to the competitor tables: migration 3 is no convergence, only an addition.
    Migrator::up(db, Some(2))
        .await
        .expect("the first two migrations");
    let before = catalog(db).await;
    Migrator::uninstall(db)
        .await
        .expect("forget the applied migrations");
    Migrator::up(db, Some(2)).await.expect("up converges");
    assert_eq!(catalog(db).await, before);
    assert!(
        reference_schema_is_gone(db).await,
        "scratch schema left behind"
    );
}
postgres!(empty: tables_the_crate_built_converge_to_themselves);
