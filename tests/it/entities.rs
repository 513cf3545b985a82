//! The entities describe the migrated schema exactly, and every relation reads back.

use entity::competitor_event::ToSport;
use entity::competitor_market_odds::ToCompetitorEvent;
use entity::outcome::{Outcome, Outcomes};
use entity::prelude::*;
use entity::{
    CompetitorSource, competitor_event, competitor_market_odds, competitor_market_odds_current,
    competitor_tournament,
};
use sea_orm::ColumnTrait;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, LoaderTrait, ModelTrait,
    QueryFilter, QueryOrder, Schema, Set, TransactionTrait,
};

use crate::both;
use crate::fixtures::*;
use crate::sql::{execute, query_all};
use sea_orm::DatabaseConnection;

/// The entities' own DDL (`Schema::create_table_from_entity`), in FK order.
fn entity_tables(backend: DbBackend) -> Vec<sea_orm::sea_query::TableCreateStatement> {
    let schema = Schema::new(backend);
    vec![
        schema.create_table_from_entity(Sport),
        schema.create_table_from_entity(Tournament),
        schema.create_table_from_entity(Event),
        schema.create_table_from_entity(ScrapeRun),
        schema.create_table_from_entity(CompetitorTournament),
        schema.create_table_from_entity(CompetitorEvent),
        schema.create_table_from_entity(CompetitorOddsSnapshot),
        schema.create_table_from_entity(CompetitorMarketOdds),
        schema.create_table_from_entity(CompetitorMarketOddsCurrent),
    ]
}

/// The entities' unique keys (`#[sea_orm(unique_key)]`), as indexes.
fn entity_unique_keys(backend: DbBackend) -> Vec<sea_orm::sea_query::IndexCreateStatement> {
    let schema = Schema::new(backend);
    [
        schema.create_index_from_entity(CompetitorTournament),
        schema.create_index_from_entity(CompetitorEvent),
        schema.create_index_from_entity(CompetitorMarketOddsCurrent),
    ]
    .concat()
}

/// PostgreSQL: every entity's table created in the schema `entity_check` beside the
/// migrated `public` one; returns the shapes of both.
async fn postgres_shapes(db: &sea_orm::DatabaseConnection) -> (Vec<String>, Vec<String>) {
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared("CREATE SCHEMA entity_check; SET LOCAL search_path TO entity_check")
        .await
        .expect("schema");
    for table in entity_tables(DbBackend::Postgres) {
        txn.execute(&table).await.expect("create table");
    }
    for index in entity_unique_keys(DbBackend::Postgres) {
        txn.execute(&index).await.expect("create index");
    }
    txn.commit().await.expect("commit");
    (
        postgres_table_shapes(db, "public").await,
        postgres_table_shapes(db, "entity_check").await,
    )
}

/// The shape of the tables in `schema`: columns (type, nullability), foreign keys
/// (columns, target, ON DELETE) and unique keys (column sets), one line each.
async fn postgres_table_shapes(db: &sea_orm::DatabaseConnection, schema: &str) -> Vec<String> {
    let sql = "
        SELECT c.relname || ' column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END AS line
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped
          AND c.relname NOT IN ('seaql_migrations', 'competitor_db_migrations')
        UNION ALL
        SELECT conrelid::regclass::text || ' fk (' ||
               (SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                 WHERE attrelid = conrelid AND attnum = ANY(conkey)) || ') -> ' ||
               (SELECT relname FROM pg_class WHERE oid = confrelid) || ' on delete ' ||
               confdeltype::text
        FROM pg_constraint WHERE connamespace = $1::regnamespace AND contype = 'f'
        UNION ALL
        SELECT t.relname || ' unique (' ||
               (SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute
                 WHERE attrelid = i.indrelid AND attnum = ANY(i.indkey)) || ')'
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relnamespace = $1::regnamespace AND i.indisunique AND NOT i.indisprimary
          AND t.relname NOT IN ('seaql_migrations', 'competitor_db_migrations')
        ORDER BY 1";
    query_all(db, sql, vec![schema.into()])
        .await
        .iter()
        .map(|row| {
            // A FK line carries the schema in its regclass text outside the search path.
            let line: String = row.try_get("", "line").expect("line");
            line.replace(&format!("{schema}."), "")
        })
        .collect()
}

/// SQLite: every entity's table created in a second, in-memory database; returns the
/// shapes of the migrated one and of that one.
async fn sqlite_shapes(db: &sea_orm::DatabaseConnection) -> (Vec<String>, Vec<String>) {
    let declared = crate::harness::sqlite_in_memory().await;
    for table in entity_tables(DbBackend::Sqlite) {
        declared.execute(&table).await.expect("create table");
    }
    for index in entity_unique_keys(DbBackend::Sqlite) {
        declared.execute(&index).await.expect("create index");
    }
    (
        sqlite_table_shapes(db).await,
        sqlite_table_shapes(&declared).await,
    )
}

/// As [`postgres_table_shapes`], from SQLite's PRAGMAs. Declared types are compared as
/// written except `bigint`, which SQLite stores exactly as `integer` (the migration
/// declares the rowid aliases `integer`, the entity says `bigint` for an i64).
async fn sqlite_table_shapes(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = "
        SELECT m.name || ' column ' || p.name || ' ' ||
               CASE WHEN lower(p.type) = 'bigint' THEN 'integer' ELSE lower(p.type) END ||
               CASE WHEN p.\"notnull\" THEN ' not null' ELSE ' null' END AS line
        FROM sqlite_master m, pragma_table_info(m.name) p
        WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
          AND m.name NOT IN ('seaql_migrations', 'competitor_db_migrations')
        UNION ALL
        SELECT m.name || ' fk (' || f.\"from\" || ') -> ' || f.\"table\" || ' on delete ' ||
               lower(f.on_delete)
        FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'
        UNION ALL
        SELECT m.name || ' unique (' ||
               (SELECT group_concat(name, ',') FROM
                   (SELECT ii.name FROM pragma_index_info(il.name) ii ORDER BY ii.name)) || ')'
        FROM sqlite_master m, pragma_index_list(m.name) il
        WHERE m.type = 'table' AND il.\"unique\" AND il.origin <> 'pk'
          AND m.name NOT IN ('seaql_migrations', 'competitor_db_migrations')
          AND NOT EXISTS (SELECT 1 FROM pragma_index_info(il.name) ii WHERE ii.name IS NULL)
        ORDER BY 1";
    let mut lines = crate::sql::lines(db, sql).await;
    // A unique index on expressions (the NULL-safe key of the current odds): its columns
    // read from the `IFNULL(column, x'')` expressions of its SQL.
    let on_expressions = "
        SELECT m.name || ' ' || i.sql AS line
        FROM sqlite_master m, pragma_index_list(m.name) il
        JOIN sqlite_master i ON i.name = il.name
        WHERE m.type = 'table' AND il.\"unique\"
          AND EXISTS (SELECT 1 FROM pragma_index_info(il.name) ii WHERE ii.name IS NULL)";
    for row in query_all(db, on_expressions, vec![]).await {
        let line: String = row.try_get("", "line").expect("line");
        let (table, sql) = line.split_once(' ').expect("table and SQL");
        let list = sql.rsplit_once(" (").expect("a column list").1;
        let mut columns: Vec<&str> = list
            .trim_end_matches(')')
            .split(", ")
            .filter(|part| !part.starts_with("x''"))
            .map(|part| part.trim_start_matches("IFNULL("))
            .collect();
        columns.sort_unstable();
        lines.push(format!("{table} unique ({})", columns.join(",")));
    }
    lines.sort();
    lines
}

async fn entities_match_the_migrated_tables(db: &DatabaseConnection) {
    let (migrated, declared) = match db.get_database_backend() {
        DbBackend::Sqlite => sqlite_shapes(db).await,
        _ => postgres_shapes(db).await,
    };
    let missing: Vec<_> = migrated.iter().filter(|l| !declared.contains(l)).collect();
    let extra: Vec<_> = declared.iter().filter(|l| !migrated.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "entities drift from the migrations\nin the database only: {missing:#?}\nin the entities only: {extra:#?}"
    );
    // The comparison saw every table: 73 columns, 9 foreign keys, 7 unique keys.
    let kinds = |kind: &str| migrated.iter().filter(|l| l.contains(kind)).count();
    assert_eq!(
        (kinds(" column "), kinds(" fk ("), kinds(" unique (")),
        (73, 9, 7),
        "{migrated:#?}"
    );
}
both!(entities_match_the_migrated_tables);

async fn a_full_graph_round_trips_through_every_relation(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let betpawa = betpawa_event(db, football.id, "1001").await;
    let run = scrape_run(db).await;
    let tournament = competitor_tournament(
        db,
        football.id,
        CompetitorSource::Sportybet,
        "sr:tournament:17",
    )
    .await;
    let mut linked = event_model(&tournament, "sr:match:1001", "1001");
    linked.betpawa_event_id = Set(Some(betpawa.id));
    let event = linked.insert(db).await.expect("insert event");
    let snapshot = snapshot(db, event.id, Some(run.id)).await;
    let home_win = market_model(snapshot.id, "3743", None, one_x_two(1.85, 3.4, 4.2))
        .insert(db)
        .await
        .expect("1x2");
    let goals = market_model(
        snapshot.id,
        "5000",
        Some(2.5),
        Outcomes(vec![
            Outcome::new("Over", 1.9),
            Outcome {
                name: "Under".into(),
                odds: 1.95,
                is_active: false,
            },
        ]),
    )
    .insert(db)
    .await
    .expect("o/u");

    // What was written reads back equal, typed outcomes and raw response included.
    assert_eq!(
        CompetitorMarketOdds::find_by_id(goals.id)
            .one(db)
            .await
            .unwrap(),
        Some(goals.clone())
    );
    let stored_snapshot = CompetitorOddsSnapshot::find_by_id(snapshot.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_snapshot, snapshot);
    assert_eq!(
        stored_snapshot.raw_response,
        Some(serde_json::json!({"bizCode": 10000, "data": {"markets": 2}}))
    );

    // Sport <-> CompetitorTournament, Sport <-> Tournament <-> Event.
    assert_eq!(
        football
            .find_related(CompetitorTournament)
            .all(db)
            .await
            .unwrap(),
        vec![tournament.clone()]
    );
    assert_eq!(
        tournament.find_related(Sport).one(db).await.unwrap(),
        Some(football.clone())
    );
    let base_tournaments = football.find_related(Tournament).all(db).await.unwrap();
    assert_eq!(base_tournaments.len(), 1);
    assert_eq!(
        base_tournaments[0]
            .find_related(Event)
            .all(db)
            .await
            .unwrap(),
        vec![betpawa.clone()]
    );
    assert_eq!(
        betpawa
            .find_related(Tournament)
            .one(db)
            .await
            .unwrap()
            .map(|t| t.sport_id),
        Some(football.id)
    );

    // CompetitorTournament <-> CompetitorEvent.
    let with_events = CompetitorTournament::find()
        .find_with_related(CompetitorEvent)
        .all(db)
        .await
        .unwrap();
    assert_eq!(with_events, vec![(tournament.clone(), vec![event.clone()])]);
    assert_eq!(
        event
            .find_related(CompetitorTournament)
            .one(db)
            .await
            .unwrap(),
        Some(tournament.clone())
    );

    // CompetitorEvent <-> Event (the Betpawa link).
    let also = CompetitorEvent::find()
        .find_also_related(Event)
        .all(db)
        .await
        .unwrap();
    assert_eq!(also, vec![(event.clone(), Some(betpawa.clone()))]);
    assert_eq!(
        betpawa.find_related(CompetitorEvent).all(db).await.unwrap(),
        vec![event.clone()]
    );

    // CompetitorEvent <-> CompetitorOddsSnapshot, with loaders both ways.
    let events = vec![event.clone()];
    assert_eq!(
        events.load_many(CompetitorOddsSnapshot, db).await.unwrap(),
        vec![vec![snapshot.clone()]]
    );
    let snapshots = vec![snapshot.clone()];
    assert_eq!(
        snapshots.load_one(CompetitorEvent, db).await.unwrap(),
        vec![Some(event.clone())]
    );

    // CompetitorOddsSnapshot <-> ScrapeRun.
    assert_eq!(
        snapshot.find_related(ScrapeRun).one(db).await.unwrap(),
        Some(run.clone())
    );
    assert_eq!(
        run.find_related(CompetitorOddsSnapshot)
            .all(db)
            .await
            .unwrap(),
        vec![snapshot.clone()]
    );

    // CompetitorOddsSnapshot <-> CompetitorMarketOdds.
    let markets = snapshot
        .find_related(CompetitorMarketOdds)
        .order_by_asc(competitor_market_odds::Column::Id)
        .all(db)
        .await
        .unwrap();
    assert_eq!(markets, vec![home_win.clone(), goals.clone()]);
    assert_eq!(
        goals
            .find_related(CompetitorOddsSnapshot)
            .one(db)
            .await
            .unwrap(),
        Some(snapshot.clone())
    );

    // Linked: market odds -> competitor event, competitor event -> sport.
    assert_eq!(
        goals.find_linked(ToCompetitorEvent).one(db).await.unwrap(),
        Some(event.clone())
    );
    let market_events = CompetitorMarketOdds::find()
        .find_also_linked(ToCompetitorEvent)
        .all(db)
        .await
        .unwrap();
    assert_eq!(market_events.len(), 2);
    assert!(
        market_events
            .iter()
            .all(|(_, e)| e.as_ref() == Some(&event))
    );
    assert_eq!(
        event.find_linked(ToSport).one(db).await.unwrap(),
        Some(football.clone())
    );
}
both!(a_full_graph_round_trips_through_every_relation);

async fn sources_are_stored_as_their_lowercase_names(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    for source in [CompetitorSource::Sportybet, CompetitorSource::Bet9ja] {
        competitor_tournament(db, football.id, source, "t-1").await;
    }
    let stored: Vec<String> = query_all(
        db,
        "SELECT source FROM competitor_tournaments ORDER BY id",
        vec![],
    )
    .await
    .iter()
    .map(|row| row.try_get("", "source").unwrap())
    .collect();
    assert_eq!(stored, ["sportybet", "bet9ja"]);
    let found = CompetitorTournament::find()
        .filter(competitor_tournament::Column::Source.eq(CompetitorSource::Bet9ja))
        .all(db)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|t| t.source).collect::<Vec<_>>(),
        [CompetitorSource::Bet9ja]
    );
}
both!(sources_are_stored_as_their_lowercase_names);

#[test]
fn sources_parse_case_insensitively_and_name_unknown_input() {
    use std::str::FromStr;
    use strum::IntoEnumIterator;
    assert_eq!(
        CompetitorSource::from_str("SportyBet"),
        Ok(CompetitorSource::Sportybet)
    );
    assert_eq!(
        CompetitorSource::from_str("BET9JA"),
        Ok(CompetitorSource::Bet9ja)
    );
    let err = CompetitorSource::from_str("BetKing").unwrap_err();
    assert_eq!(err.0, "BetKing");
    assert!(err.to_string().contains("`BetKing`"), "{err}");
    let all: Vec<String> = CompetitorSource::iter().map(|s| s.to_string()).collect();
    assert_eq!(all, ["sportybet", "bet9ja"]);
    assert_eq!(CompetitorSource::Bet9ja.as_ref(), "bet9ja");
}

async fn an_unknown_stored_source_is_a_clear_error(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    competitor_tournament(db, football.id, CompetitorSource::Sportybet, "t-1").await;
    // One connection (a transaction) so the CHECK stays off for exactly this insert.
    let txn = db.begin().await.unwrap();
    match db.get_database_backend() {
        DbBackend::Sqlite => txn.execute_unprepared("PRAGMA ignore_check_constraints = ON").await,
        _ => txn.execute_unprepared("ALTER TABLE competitor_tournaments DROP CONSTRAINT ck_competitor_tournaments_source").await,
    }
    .unwrap();
    txn.execute_unprepared(&format!(
        "INSERT INTO competitor_tournaments (source, sport_id, name, external_id) VALUES ('betking', {}, 'X', 't-2')",
        football.id
    ))
    .await
    .unwrap();
    let err = CompetitorTournament::find()
        .all(&txn)
        .await
        .expect_err("betking is no CompetitorSource");
    assert!(matches!(err, DbErr::Type(_)), "{err:?}");
    assert!(err.to_string().contains("betking"), "{err}");
    txn.rollback().await.unwrap();
}
both!(an_unknown_stored_source_is_a_clear_error);

async fn outcomes_written_by_other_clients_read_back(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let tournament = competitor_tournament(db, football.id, CompetitorSource::Bet9ja, "t-1").await;
    let event = competitor_event(db, &tournament, "e-1").await;
    let snapshot = snapshot(db, event.id, None).await;
    let written = [
        r#"[{"name":"1","odds":1.85,"is_active":true},{"name":"X","odds":3.4,"is_active":false},{"name":"2","odds":4.2,"is_active":true}]"#,
        r#"[{"name":"Over","odds":1.9},{"name":"Under","odds":1.95}]"#,
        r#"[{"odds":2.1,"name":"Yes","is_active":true,"outcome_id":"74","trend":"up"},{"name":"No","odds":1.7}]"#,
    ];
    for (i, json) in written.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        execute(
            db,
            "INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, outcomes) VALUES ($1, $2, $3, $4)",
            vec![snapshot.id.into(), format!("m{i}").into(), "Market".into(), value.into()],
        )
        .await
        .unwrap();
    }
    let markets = CompetitorMarketOdds::find()
        .order_by_asc(competitor_market_odds::Column::Id)
        .all(db)
        .await
        .unwrap();
    let outcomes: Vec<Outcomes> = markets.into_iter().map(|m| m.outcomes).collect();
    assert_eq!(
        outcomes[0],
        Outcomes(vec![
            Outcome::new("1", 1.85),
            Outcome {
                name: "X".into(),
                odds: 3.4,
                is_active: false
            },
            Outcome::new("2", 4.2),
        ])
    );
    assert_eq!(
        outcomes[1],
        Outcomes(vec![Outcome::new("Over", 1.9), Outcome::new("Under", 1.95)])
    );
    assert_eq!(
        outcomes[2],
        Outcomes(vec![Outcome::new("Yes", 2.1), Outcome::new("No", 1.7)])
    );
}
both!(outcomes_written_by_other_clients_read_back);

#[test]
fn outcomes_serialise_as_the_planned_json_array() {
    let json = serde_json::to_string(&one_x_two(1.85, 3.4, 4.2)).unwrap();
    assert_eq!(
        json,
        r#"[{"name":"1","odds":1.85,"is_active":true},{"name":"X","odds":3.4,"is_active":true},{"name":"2","odds":4.2,"is_active":true}]"#
    );
}

async fn updated_at_moves_on_every_update(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let tournament =
        competitor_tournament(db, football.id, CompetitorSource::Sportybet, "t-1").await;
    let event = competitor_event(db, &tournament, "e-1").await;
    assert_eq!(event.created_at, event.updated_at);
    let mut first = event.clone();
    for name in ["Arsenal FC vs Chelsea", "Arsenal FC vs Chelsea FC"] {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let mut change: competitor_event::ActiveModel = first.clone().into();
        change.name = Set(name.to_owned());
        let updated = change.update(db).await.unwrap();
        assert!(
            updated.updated_at > first.updated_at,
            "{} !> {}",
            updated.updated_at,
            first.updated_at
        );
        assert_eq!(updated.created_at, event.created_at);
        first = updated;
    }
    let stored = stored_row(db, CompetitorEvent, event.id).await;
    assert_eq!(stored, first);
}
both!(updated_at_moves_on_every_update);

/// Current odds relate to their competitor event both ways, with typed outcomes and
/// NULL keys read back as `None`.
async fn current_odds_relate_to_their_event_both_ways(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let tournament = competitor_tournament(db, football.id, CompetitorSource::Bet9ja, "17").await;
    let event = competitor_event(db, &tournament, "61300417").await;
    let outcomes = Outcomes(vec![
        Outcome::new("Over", 1.9),
        Outcome {
            name: "Under".into(),
            odds: 1.95,
            is_active: false,
        },
    ]);
    let current = competitor_market_odds_current::ActiveModel {
        competitor_event_id: Set(event.id),
        betpawa_market_id: Set("5000".to_owned()),
        betpawa_market_name: Set("Over/Under".to_owned()),
        line: Set(Some(2.5)),
        outcomes: Set(outcomes.clone()),
        changed_at: Set(kickoff(1, 8)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a current market");
    assert_eq!(current.outcomes, outcomes);
    assert_eq!(
        (&current.handicap_type, current.handicap_home),
        (&None, None)
    );
    assert!(current.is_available());
    assert_eq!(
        event
            .find_related(CompetitorMarketOddsCurrent)
            .all(db)
            .await
            .unwrap()
            .len(),
        1
    );
    let stored = CompetitorMarketOddsCurrent::find_by_id(current.id)
        .one(db)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored.find_related(CompetitorEvent).one(db).await.unwrap(),
        Some(event)
    );
}
both!(current_odds_relate_to_their_event_both_ways);
