//! The SQLite counterpart of the catalog test: the migrated tables, columns, foreign keys
//! with their ON DELETE actions, unique keys, the CHECK and constraint names, and the
//! planned indexes with their partial predicates, read through `sqlite_master` and PRAGMAs.

use migration::{Migrator, MigratorTrait};

use crate::sql::{assert_lines, lines};
use crate::sqlite;
use sea_orm::DatabaseConnection;

/// `table.column type [NOT NULL] [DEFAULT expr] [PRIMARY KEY]` (`PRAGMA table_info`).
const EXPECTED_COLUMNS: &[&str] = &[
    "competitor_events.id INTEGER NOT NULL PRIMARY KEY",
    "competitor_events.source varchar(20) NOT NULL",
    "competitor_events.tournament_id INTEGER NOT NULL",
    "competitor_events.betpawa_event_id INTEGER",
    "competitor_events.name varchar(500) NOT NULL",
    "competitor_events.home_team varchar(255) NOT NULL",
    "competitor_events.away_team varchar(255) NOT NULL",
    "competitor_events.kickoff timestamp_with_timezone_text NOT NULL",
    "competitor_events.external_id varchar(100) NOT NULL",
    "competitor_events.sportradar_id varchar(100) NOT NULL",
    "competitor_events.created_at timestamp_with_timezone_text NOT NULL DEFAULT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    "competitor_events.updated_at timestamp_with_timezone_text NOT NULL DEFAULT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    "competitor_events.deleted_at timestamp_with_timezone_text",
    "competitor_market_odds.id INTEGER NOT NULL PRIMARY KEY",
    "competitor_market_odds.snapshot_id INTEGER NOT NULL",
    "competitor_market_odds.betpawa_market_id varchar(50) NOT NULL",
    "competitor_market_odds.betpawa_market_name varchar(255) NOT NULL",
    "competitor_market_odds.line double",
    "competitor_market_odds.handicap_type varchar(50)",
    "competitor_market_odds.handicap_home double",
    "competitor_market_odds.handicap_away double",
    "competitor_market_odds.outcomes json_text NOT NULL",
    "competitor_market_odds_current.id INTEGER NOT NULL PRIMARY KEY",
    "competitor_market_odds_current.competitor_event_id INTEGER NOT NULL",
    "competitor_market_odds_current.betpawa_market_id varchar(50) NOT NULL",
    "competitor_market_odds_current.betpawa_market_name varchar(255) NOT NULL",
    "competitor_market_odds_current.line double",
    "competitor_market_odds_current.handicap_type varchar(50)",
    "competitor_market_odds_current.handicap_home double",
    "competitor_market_odds_current.handicap_away double",
    "competitor_market_odds_current.outcomes json_text NOT NULL",
    "competitor_market_odds_current.changed_at timestamp_with_timezone_text NOT NULL",
    "competitor_market_odds_current.unavailable_at timestamp_with_timezone_text",
    "competitor_odds_snapshots.id INTEGER NOT NULL PRIMARY KEY",
    "competitor_odds_snapshots.competitor_event_id INTEGER NOT NULL",
    "competitor_odds_snapshots.captured_at timestamp_with_timezone_text NOT NULL DEFAULT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    "competitor_odds_snapshots.scrape_run_id INTEGER",
    "competitor_odds_snapshots.raw_response json_text",
    "competitor_odds_snapshots.last_confirmed_at timestamp_with_timezone_text",
    "competitor_odds_snapshots.kind varchar(6) NOT NULL DEFAULT 'full'",
    "competitor_tournaments.id INTEGER NOT NULL PRIMARY KEY",
    "competitor_tournaments.source varchar(20) NOT NULL",
    "competitor_tournaments.sport_id INTEGER NOT NULL",
    "competitor_tournaments.name varchar(255) NOT NULL",
    "competitor_tournaments.country_raw varchar(100)",
    "competitor_tournaments.country_iso varchar(3)",
    "competitor_tournaments.external_id varchar(100) NOT NULL",
    "competitor_tournaments.sportradar_id varchar(100)",
    "competitor_tournaments.created_at timestamp_with_timezone_text NOT NULL DEFAULT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    "competitor_tournaments.deleted_at timestamp_with_timezone_text",
    "events.id INTEGER NOT NULL PRIMARY KEY",
    "events.tournament_id INTEGER NOT NULL",
    "events.name varchar(500) NOT NULL",
    "events.home_team varchar(255) NOT NULL",
    "events.away_team varchar(255) NOT NULL",
    "events.kickoff timestamp_with_timezone_text NOT NULL",
    "events.sportradar_id varchar(100) NOT NULL",
    "events.created_at timestamp_with_timezone_text NOT NULL DEFAULT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    "scrape_runs.id INTEGER NOT NULL PRIMARY KEY",
    "scrape_runs.status varchar(20) NOT NULL DEFAULT 'pending'",
    "scrape_runs.started_at timestamp_with_timezone_text NOT NULL DEFAULT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    "scrape_runs.completed_at timestamp_with_timezone_text",
    "scrape_runs.events_scraped INTEGER NOT NULL DEFAULT 0",
    "scrape_runs.events_failed INTEGER NOT NULL DEFAULT 0",
    "scrape_runs.trigger varchar(50)",
    "sports.id INTEGER NOT NULL PRIMARY KEY",
    "sports.name varchar(100) NOT NULL",
    "sports.slug varchar(100) NOT NULL",
    "tournaments.id INTEGER NOT NULL PRIMARY KEY",
    "tournaments.sport_id INTEGER NOT NULL",
    "tournaments.name varchar(255) NOT NULL",
    "tournaments.country varchar(100)",
    "tournaments.sportradar_id varchar(100)",
];

/// `table (column) -> table (column) ON DELETE action` (`PRAGMA foreign_key_list`).
const EXPECTED_FOREIGN_KEYS: &[&str] = &[
    "competitor_events (betpawa_event_id) -> events (id) ON DELETE SET NULL",
    "competitor_events (tournament_id) -> competitor_tournaments (id) ON DELETE CASCADE",
    "competitor_market_odds (snapshot_id) -> competitor_odds_snapshots (id) ON DELETE CASCADE",
    "competitor_market_odds_current (competitor_event_id) -> competitor_events (id) ON DELETE CASCADE",
    "competitor_odds_snapshots (competitor_event_id) -> competitor_events (id) ON DELETE CASCADE",
    "competitor_odds_snapshots (scrape_run_id) -> scrape_runs (id) ON DELETE SET NULL",
    "competitor_tournaments (sport_id) -> sports (id) ON DELETE RESTRICT",
    "events (tournament_id) -> tournaments (id) ON DELETE NO ACTION",
    "tournaments (sport_id) -> sports (id) ON DELETE NO ACTION",
];

/// `table unique (columns)`: the UNIQUE constraints (`PRAGMA index_list`, origin `u`).
const EXPECTED_UNIQUE_KEYS: &[&str] = &[
    "competitor_events unique (source, external_id)",
    "competitor_tournaments unique (source, external_id)",
    "events unique (sportradar_id)",
    "sports unique (name)",
    "sports unique (slug)",
    "tournaments unique (sportradar_id)",
];

/// The indexes as created, by name.
const EXPECTED_INDEXES: &[&str] = &[
    "CREATE INDEX \"idx_competitor_events_betpawa\" ON \"competitor_events\" (\"betpawa_event_id\") WHERE \"betpawa_event_id\" IS NOT NULL",
    "CREATE INDEX \"idx_competitor_events_kickoff\" ON \"competitor_events\" (\"kickoff\")",
    "CREATE INDEX \"idx_competitor_events_source\" ON \"competitor_events\" (\"source\")",
    "CREATE INDEX \"idx_competitor_events_sr_id\" ON \"competitor_events\" (\"sportradar_id\")",
    "CREATE INDEX \"idx_competitor_events_tournament\" ON \"competitor_events\" (\"tournament_id\")",
    "CREATE INDEX \"idx_competitor_market_odds_market\" ON \"competitor_market_odds\" (\"betpawa_market_id\")",
    "CREATE INDEX \"idx_competitor_market_odds_snapshot\" ON \"competitor_market_odds\" (\"snapshot_id\")",
    "CREATE INDEX \"idx_competitor_odds_snapshots_captured\" ON \"competitor_odds_snapshots\" (\"captured_at\")",
    "CREATE INDEX \"idx_competitor_odds_snapshots_event\" ON \"competitor_odds_snapshots\" (\"competitor_event_id\")",
    "CREATE INDEX \"idx_competitor_odds_snapshots_event_newest\" ON \"competitor_odds_snapshots\" (\"competitor_event_id\", \"captured_at\" DESC, \"id\" DESC)",
    "CREATE INDEX \"idx_competitor_tournaments_source\" ON \"competitor_tournaments\" (\"source\")",
    "CREATE INDEX \"idx_competitor_tournaments_sport\" ON \"competitor_tournaments\" (\"sport_id\")",
    "CREATE INDEX \"idx_competitor_tournaments_sr_id\" ON \"competitor_tournaments\" (\"sportradar_id\") WHERE \"sportradar_id\" IS NOT NULL",
    "CREATE INDEX \"idx_scrape_runs_started\" ON \"scrape_runs\" (\"started_at\")",
    "CREATE INDEX \"idx_scrape_runs_status\" ON \"scrape_runs\" (\"status\")",
    "CREATE UNIQUE INDEX \"uq_competitor_market_odds_current_market\" ON \"competitor_market_odds_current\" (competitor_event_id, betpawa_market_id, IFNULL(line, x''), IFNULL(handicap_type, x''), IFNULL(handicap_home, x''), IFNULL(handicap_away, x''))",
];

/// Constraint names SQLite keeps in each table's SQL (it drops foreign key names).
const EXPECTED_NAMED_CONSTRAINTS: &[(&str, &[&str])] = &[
    ("sports", &["pk_sports", "uq_sports_name", "uq_sports_slug"]),
    (
        "tournaments",
        &["pk_tournaments", "uq_tournaments_sportradar_id"],
    ),
    ("events", &["pk_events", "uq_events_sportradar_id"]),
    ("scrape_runs", &["pk_scrape_runs"]),
    (
        "competitor_tournaments",
        &[
            "pk_competitor_tournaments",
            "uq_competitor_tournaments_source_external",
            "ck_competitor_tournaments_source",
        ],
    ),
    (
        "competitor_events",
        &[
            "pk_competitor_events",
            "uq_competitor_events_source_external",
            "ck_competitor_events_source",
        ],
    ),
    (
        "competitor_odds_snapshots",
        &[
            "pk_competitor_odds_snapshots",
            "ck_competitor_odds_snapshots_kind",
        ],
    ),
    ("competitor_market_odds", &["pk_competitor_market_odds"]),
    (
        "competitor_market_odds_current",
        &["pk_competitor_market_odds_current"],
    ),
];

const COLUMNS_SQL: &str = "\
    SELECT m.name || '.' || p.name || ' ' || p.type \
        || CASE WHEN p.\"notnull\" THEN ' NOT NULL' ELSE '' END \
        || COALESCE(' DEFAULT ' || p.dflt_value, '') \
        || CASE WHEN p.pk THEN ' PRIMARY KEY' ELSE '' END AS line \
    FROM sqlite_master m, pragma_table_info(m.name) p \
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
      AND m.name NOT IN ('seaql_migrations', 'competitor_db_migrations') \
    ORDER BY m.name, p.cid";

const FOREIGN_KEYS_SQL: &str = "\
    SELECT m.name || ' (' || f.\"from\" || ') -> ' || f.\"table\" || ' (' || f.\"to\" || ') ON DELETE ' \
        || f.on_delete AS line \
    FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' ORDER BY 1";

const UNIQUE_KEYS_SQL: &str = "\
    SELECT m.name || ' unique (' || \
        (SELECT group_concat(ii.name, ', ') FROM pragma_index_info(il.name) ii) || ')' AS line \
    FROM sqlite_master m, pragma_index_list(m.name) il \
    WHERE m.type = 'table' AND il.origin = 'u' \
      AND m.name NOT IN ('seaql_migrations', 'competitor_db_migrations') ORDER BY 1";

const INDEXES_SQL: &str =
    "SELECT sql AS line FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name";

async fn up_on_an_empty_sqlite_database_produces_the_expected_schema(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("up");
    assert_lines("columns", &lines(db, COLUMNS_SQL).await, EXPECTED_COLUMNS);
    assert_lines(
        "foreign keys",
        &lines(db, FOREIGN_KEYS_SQL).await,
        EXPECTED_FOREIGN_KEYS,
    );
    assert_lines(
        "unique keys",
        &lines(db, UNIQUE_KEYS_SQL).await,
        EXPECTED_UNIQUE_KEYS,
    );
    assert_lines("indexes", &lines(db, INDEXES_SQL).await, EXPECTED_INDEXES);
    for (table, names) in EXPECTED_NAMED_CONSTRAINTS {
        let sql = format!(
            "SELECT sql AS line FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        );
        let ddl = lines(db, &sql).await.concat();
        for name in *names {
            assert!(
                ddl.contains(&format!("CONSTRAINT \"{name}\"")),
                "{table} lacks {name}: {ddl}"
            );
        }
    }
    let enforced = lines(
        db,
        "SELECT CAST(foreign_keys AS text) AS line FROM pragma_foreign_keys",
    )
    .await;
    assert_eq!(
        enforced,
        ["1"],
        "foreign keys are enforced on SeaORM's SQLite connections"
    );
}
sqlite!(empty: up_on_an_empty_sqlite_database_produces_the_expected_schema);
