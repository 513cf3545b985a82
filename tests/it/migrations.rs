//! The migrator stepped up and down, and adoption of base tables another tool created.

use entity::{CompetitorSource, competitor_market_odds_current};
use migration::{BASE_TABLES, COMPETITOR_TABLES, CURRENT_ODDS_TABLE, Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, Set};
use sea_orm_migration::MigrationStatus;
use tracing::Level;

use crate::fixtures::{competitor_event, competitor_tournament, kickoff, one_x_two, sport};
use crate::schema::assert_reference_catalog;
use crate::sql::{count, lines, query_all};
use crate::traces::{Trace, traced};
use crate::{both, postgres, sqlite};

/// The message of a migration run that must be refused (`expectation` says why), as
/// `DbErr::Migration`.
pub fn migration_refusal(run: Result<(), DbErr>, expectation: &str) -> String {
    let err = run.expect_err(expectation);
    let DbErr::Migration(message) = err else {
        panic!("expected DbErr::Migration, got {err:?}")
    };
    message
}

async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    sea_orm_migration::SchemaManager::new(db)
        .has_table(table)
        .await
        .expect("has_table")
}

/// Asserts which of the base tables, the competitor tables, the current odds table and
/// the snapshots' `kind` column (migrations 1 to 4) exist.
async fn assert_tables(db: &DatabaseConnection, applied: [bool; 4]) {
    for table in BASE_TABLES {
        assert_eq!(has_table(db, table).await, applied[0], "base table {table}");
    }
    for table in COMPETITOR_TABLES {
        assert_eq!(
            has_table(db, table).await,
            applied[1],
            "competitor table {table}"
        );
    }
    assert_eq!(
        has_table(db, CURRENT_ODDS_TABLE).await,
        applied[2],
        "{CURRENT_ODDS_TABLE}"
    );
    let kind = applied[1]
        && sea_orm_migration::SchemaManager::new(db)
            .has_column("competitor_odds_snapshots", "kind")
            .await
            .expect("has_column");
    assert_eq!(kind, applied[3], "competitor_odds_snapshots.kind");
}

async fn statuses(db: &DatabaseConnection) -> Vec<(String, bool)> {
    Migrator::get_migration_with_status(db)
        .await
        .expect("status")
        .into_iter()
        .map(|m| (m.name().to_owned(), m.status() == MigrationStatus::Applied))
        .collect()
}

fn names_with(applied: [bool; 4]) -> Vec<(String, bool)> {
    [
        "m20261126_000001_create_base_tables",
        "m20261126_000002_create_competitor_tables",
        "m20261127_000003_add_current_odds",
        "m20261206_000004_fold_current_odds",
    ]
    .iter()
    .zip(applied)
    .map(|(name, applied)| ((*name).to_owned(), applied))
    .collect()
}

async fn migrator_round_trip(db: &DatabaseConnection) {
    assert_tables(db, [false, false, false, false]).await;

    Migrator::up(db, None).await.expect("up");
    assert_tables(db, [true, true, true, true]).await;
    assert_eq!(statuses(db).await, names_with([true, true, true, true]));

    Migrator::up(db, None)
        .await
        .expect("a second up is a no-op");
    assert_eq!(statuses(db).await, names_with([true, true, true, true]));
    assert_reference_catalog(db).await;

    Migrator::down(db, Some(1)).await.expect("down one step");
    assert_tables(db, [true, true, true, false]).await;
    assert_eq!(statuses(db).await, names_with([true, true, true, false]));
    assert!(
        lines(
            db,
            "SELECT proname AS line FROM pg_proc WHERE proname LIKE 'competitor_%'"
        )
        .await
        .is_empty(),
        "down removes the fold's functions"
    );

    Migrator::down(db, Some(1))
        .await
        .expect("down a second step");
    assert_tables(db, [true, true, false, false]).await;
    assert_eq!(statuses(db).await, names_with([true, true, false, false]));
    let snapshot_columns = lines(
        db,
        "SELECT column_name AS line FROM information_schema.columns \
         WHERE table_name = 'competitor_odds_snapshots' ORDER BY ordinal_position",
    )
    .await;
    assert!(!snapshot_columns.contains(&"last_confirmed_at".to_owned()));

    Migrator::down(db, Some(1))
        .await
        .expect("down another step");
    assert_tables(db, [true, false, false, false]).await;
    assert_eq!(statuses(db).await, names_with([true, false, false, false]));

    Migrator::up(db, None).await.expect("up again");
    assert_tables(db, [true, true, true, true]).await;

    Migrator::reset(db).await.expect("reset");
    assert_tables(db, [false, false, false, false]).await;
    assert!(
        !has_table(db, migration::MIGRATION_TABLE).await,
        "reset uninstalls the migration table"
    );

    Migrator::up(db, None).await.expect("up after reset");
    assert_reference_catalog(db).await;
}
postgres!(empty: migrator_round_trip);

/// The four base tables as the Python service (SQLAlchemy) creates them.
const PYTHON_SERVICE_DDL: &str = "
CREATE TABLE sports (
    id serial CONSTRAINT pk_sports PRIMARY KEY,
    name varchar(100) NOT NULL CONSTRAINT uq_sports_name UNIQUE,
    slug varchar(100) NOT NULL CONSTRAINT uq_sports_slug UNIQUE
);
CREATE TABLE tournaments (
    id serial CONSTRAINT pk_tournaments PRIMARY KEY,
    sport_id integer NOT NULL CONSTRAINT fk_tournaments_sport_id_sports REFERENCES sports (id),
    name varchar(255) NOT NULL,
    country varchar(100),
    sportradar_id varchar(100) CONSTRAINT uq_tournaments_sportradar_id UNIQUE
);
CREATE TABLE events (
    id serial CONSTRAINT pk_events PRIMARY KEY,
    tournament_id integer NOT NULL CONSTRAINT fk_events_tournament_id_tournaments REFERENCES tournaments (id),
    name varchar(500) NOT NULL,
    home_team varchar(255) NOT NULL,
    away_team varchar(255) NOT NULL,
    kickoff timestamptz NOT NULL,
    sportradar_id varchar(100) NOT NULL CONSTRAINT uq_events_sportradar_id UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE scrape_runs (
    id serial CONSTRAINT pk_scrape_runs PRIMARY KEY,
    status varchar(20) NOT NULL DEFAULT 'pending',
    started_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    events_scraped integer NOT NULL DEFAULT 0,
    events_failed integer NOT NULL DEFAULT 0,
    trigger varchar(50)
);
CREATE INDEX idx_scrape_runs_status ON scrape_runs (status);
CREATE INDEX idx_scrape_runs_started ON scrape_runs (started_at);
INSERT INTO sports (name, slug) VALUES ('Football', 'football'), ('Basketball', 'basketball');
INSERT INTO tournaments (sport_id, name, country, sportradar_id) VALUES (1, 'Premier League', 'England', '17');
INSERT INTO events (tournament_id, name, home_team, away_team, kickoff, sportradar_id)
    VALUES (1, 'Arsenal - Chelsea', 'Arsenal', 'Chelsea', '2026-12-01T15:00:00Z', '1001');
INSERT INTO scrape_runs (status, trigger) VALUES ('completed', 'scheduler');
";

/// Every base row as text, to compare before and after.
async fn base_rows(db: &DatabaseConnection) -> Vec<String> {
    let mut rows = Vec::new();
    for table in BASE_TABLES {
        let sql = format!("SELECT CAST(t.* AS text) AS row FROM {table} t ORDER BY id");
        for row in query_all(db, &sql, vec![]).await {
            rows.push(format!(
                "{table} {}",
                row.try_get::<String>("", "row").expect("row")
            ));
        }
    }
    rows
}

async fn base_tables_created_by_another_tool_are_adopted_and_never_dropped(
    db: &DatabaseConnection,
) {
    db.execute_unprepared(PYTHON_SERVICE_DDL)
        .await
        .expect("the Python service's schema");
    let before = base_rows(db).await;
    assert_eq!(before.len(), 5, "rows in every base table: {before:#?}");

    Migrator::up(db, None)
        .await
        .expect("up adopts the base tables");
    assert_tables(db, [true, true, true, true]).await;
    assert_eq!(base_rows(db).await, before, "up changed base rows");
    assert_reference_catalog(db).await;

    let message = migration_refusal(
        Migrator::reset(db).await,
        "the base migration refuses to drop rows",
    );
    for expected in [
        "`events` holds 1 row,",
        "`tournaments` holds 1 row,",
        "`scrape_runs` holds 1 row,",
        "`sports` holds 2 rows;",
    ] {
        assert!(
            message.contains(expected),
            "{message:?} does not say {expected:?}"
        );
    }
    assert_tables(db, [true, false, false, false]).await;
    assert_eq!(base_rows(db).await, before, "reset lost base rows");
    assert_eq!(statuses(db).await, names_with([true, false, false, false]));

    Migrator::up(db, None).await.expect("up again");
    assert_tables(db, [true, true, true, true]).await;
    assert_eq!(base_rows(db).await, before);
}
postgres!(empty: base_tables_created_by_another_tool_are_adopted_and_never_dropped);

async fn down_drops_empty_base_tables(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("up");
    Migrator::down(db, None).await.expect("down all");
    assert_tables(db, [false, false, false, false]).await;
    assert_eq!(count(db, migration::MIGRATION_TABLE).await, 0);
}
postgres!(empty: down_drops_empty_base_tables);

/// The competitor migration fails on its last statement (a table already holds the name of
/// the last planned index): its transaction leaves none of its tables behind, on either
/// backend, and the next `up` applies it whole.
async fn a_failing_migration_leaves_nothing_behind(db: &DatabaseConnection) {
    let obstacle = "idx_competitor_market_odds_market";
    let (create, drop) = (
        format!("CREATE TABLE {obstacle} (x integer)"),
        format!("DROP TABLE {obstacle}"),
    );
    db.execute_unprepared(&create).await.expect("the obstacle");
    let failed = Migrator::up(db, None).await;
    assert!(failed.is_err(), "the last CREATE INDEX fails");
    assert_tables(db, [true, false, false, false]).await;
    assert_eq!(statuses(db).await, names_with([true, false, false, false]));

    db.execute_unprepared(&drop).await.expect("drop");
    let second = Migrator::up(db, None).await;
    assert!(second.is_ok(), "up once the obstacle is gone: {second:?}");
    assert_tables(db, [true, true, true, true]).await;
}
both!(empty: a_failing_migration_leaves_nothing_behind);

async fn sqlite_migrator_round_trip(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("up");
    assert_tables(db, [true, true, true, true]).await;
    Migrator::down(db, Some(3)).await.expect("down three steps");
    assert_tables(db, [true, false, false, false]).await;
    Migrator::reset(db).await.expect("reset");
    assert_tables(db, [false, false, false, false]).await;
    Migrator::up(db, None).await.expect("up again");
    assert_tables(db, [true, true, true, true]).await;
}
sqlite!(empty: sqlite_migrator_round_trip);

/// Migration 3's `down` refuses while the current odds table holds rows, naming it and
/// the count, and changes nothing; emptied, it goes.
async fn current_odds_are_never_dropped_with_rows(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("up");
    let football = sport(db, "football").await;
    let tournament = competitor_tournament(db, football.id, CompetitorSource::Bet9ja, "t").await;
    let event = competitor_event(db, &tournament, "e").await;
    for (market, line) in [("5000", Some(2.5)), ("3743", None)] {
        competitor_market_odds_current::ActiveModel {
            competitor_event_id: Set(event.id),
            betpawa_market_id: Set(market.to_owned()),
            betpawa_market_name: Set("a market".to_owned()),
            line: Set(line),
            outcomes: Set(one_x_two(1.5, 3.5, 6.0)),
            changed_at: Set(kickoff(1, 8)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a current market");
    }
    Migrator::down(db, Some(1))
        .await
        .expect("migration 4 goes: every snapshot is a full capture");
    let message = migration_refusal(Migrator::down(db, Some(1)).await, "refuses to drop rows");
    assert!(
        message.contains("the current odds: `competitor_market_odds_current` holds 2 rows;"),
        "{message}"
    );
    assert_tables(db, [true, true, true, false]).await;
    assert_eq!(statuses(db).await, names_with([true, true, true, false]));
    assert_eq!(count(db, CURRENT_ODDS_TABLE).await, 2);

    crate::sql::execute(db, "DELETE FROM competitor_market_odds_current", vec![])
        .await
        .expect("empty it");
    Migrator::down(db, Some(1)).await.expect("down once empty");
    assert_tables(db, [true, true, false, false]).await;
}
both!(empty: current_odds_are_never_dropped_with_rows);

/// Migration 4 on a database the crate built and filled before it: an event written in
/// full mode gets the fold of its history as current odds; an event recorded in change
/// mode keeps the current rows the change mode left, its snapshots marked change-only.
async fn up_folds_the_history_written_before_the_fold(db: &DatabaseConnection) {
    use crate::fold::{current_rows, current_rows_in, insert_capture, markets, same_market};
    use crate::store::{at, palimpsest};
    use entity::SnapshotKind;
    use entity::prelude::CompetitorOddsSnapshot;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    Migrator::up(db, Some(3)).await.expect("up to migration 3");
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let (full, changed) = (events[0], events[1]);
    insert_capture(db, full, 0, &markets(full, &[(0, 0), (1, 0)])).await;
    insert_capture(db, full, 5, &markets(full, &[(0, 1), (2, 0)])).await;
    // The change mode before migration 4: one snapshot of the changes and the current
    // rows, market 1 gone missing at 3 (a time no history row records).
    let recorded = markets(changed, &[(0, 0), (1, 0)]);
    insert_capture(db, changed, 0, &recorded).await;
    for (market, unavailable) in recorded.iter().zip([None, Some(at(3))]) {
        competitor_market_odds_current::ActiveModel {
            competitor_event_id: Set(changed),
            betpawa_market_id: Set(market.betpawa_market_id.clone()),
            betpawa_market_name: Set(market.betpawa_market_name.clone()),
            line: Set(market.line),
            handicap_type: Set(market.handicap_type.clone()),
            handicap_home: Set(market.handicap_home),
            handicap_away: Set(market.handicap_away),
            outcomes: Set(market.outcomes.clone()),
            changed_at: Set(at(0)),
            unavailable_at: Set(unavailable),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("a current row of the change mode");
    }
    let change_mode_rows = current_rows_in(db, changed).await;

    Migrator::up(db, None).await.expect("up");

    let rows = current_rows(db, full).await;
    let row = |k: usize| {
        let market = crate::fold::markets(full, &[(k, 0)]).remove(0);
        rows.iter()
            .find(|row| same_market(row, &market))
            .unwrap_or_else(|| panic!("market {k} in {rows:?}"))
            .clone()
    };
    assert_eq!(rows.len(), 3);
    assert_eq!(row(0).outcomes, markets(full, &[(0, 1)])[0].outcomes);
    assert_eq!((row(0).changed_at, row(0).unavailable_at), (at(5), None));
    assert_eq!(
        (row(1).changed_at, row(1).unavailable_at),
        (at(0), Some(at(5)))
    );
    assert_eq!((row(2).changed_at, row(2).unavailable_at), (at(5), None));
    assert_eq!(current_rows_in(db, changed).await, change_mode_rows);

    let kinds = |event: i32| async move {
        CompetitorOddsSnapshot::find()
            .filter(entity::competitor_odds_snapshot::Column::CompetitorEventId.eq(event))
            .all(db)
            .await
            .expect("snapshots")
            .into_iter()
            .map(|s| s.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(full).await, [SnapshotKind::Full, SnapshotKind::Full]);
    assert_eq!(kinds(changed).await, [SnapshotKind::Change]);
}
both!(empty: up_folds_the_history_written_before_the_fold);

/// `competitor_db::migrate` runs in one `info` span, target `competitor_db`, around
/// sea-orm-migration's own events naming each migration it applies; run again, it
/// applies none.
async fn migrate_runs_in_a_span_around_the_migrations_it_applies(db: &DatabaseConnection) {
    let applying = |trace: &Trace| -> Vec<String> {
        trace
            .events
            .iter()
            .filter(|event| event.span == Some("migrate"))
            .filter_map(|event| {
                let name = event.message().strip_prefix("Applying migration '")?;
                Some(name.trim_end_matches('\'').to_owned())
            })
            .collect()
    };
    let backend = db.get_database_backend().as_str();

    let (migrated, trace) = traced(competitor_db::migrate(db)).await;
    migrated.expect("migrate");
    let span = trace.span("migrate");
    assert_eq!(
        (span.target.as_str(), span.level, span.parent),
        ("competitor_db", Level::INFO, None)
    );
    let fields: Vec<(&str, &str)> = span
        .fields
        .iter()
        .map(|(field, value)| (*field, value.as_str()))
        .collect();
    assert_eq!(fields, [("backend", backend), ("migrations", "4")]);
    let all: Vec<String> = names_with([true, true, true, true])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(applying(&trace), all);

    let (migrated, trace) = traced(competitor_db::migrate(db)).await;
    migrated.expect("migrate again");
    trace.span("migrate");
    assert_eq!(applying(&trace), Vec::<String>::new());
}
both!(empty: migrate_runs_in_a_span_around_the_migrations_it_applies);
