//! The database itself rejects bad rows and applies the delete rules, whatever client
//! writes: CHECK on `source`, the unique `(source, external_id)` keys, every FK, and the
//! ON DELETE actions (CASCADE down the ownership chain, SET NULL for the Betpawa event and
//! the scrape run, RESTRICT for the sport).

use chrono::Utc;
use sea_orm::{DbBackend, DbErr, ExecResult, SqlErr};

use crate::both;
use crate::sql::{count, count_where, execute, insert_id, scalar};
use sea_orm::DatabaseConnection;

/// One row in every table, linked the way the store links them.
pub struct Graph {
    pub sport: i64,
    pub event: i64,
    pub scrape_run: i64,
    pub tournament: i64,
    pub competitor_event: i64,
    pub snapshot: i64,
}

pub async fn seed_graph(db: &DatabaseConnection) -> Graph {
    let sport = insert_id(
        db,
        "INSERT INTO sports (name, slug) VALUES ($1, $2) RETURNING id",
        vec!["Football".into(), "football".into()],
    )
    .await;
    let base_tournament = insert_id(
        db,
        "INSERT INTO tournaments (sport_id, name, country, sportradar_id) VALUES ($1, $2, $3, $4) RETURNING id",
        vec![sport.into(), "Premier League".into(), "England".into(), "17".into()],
    )
    .await;
    let event = insert_id(
        db,
        "INSERT INTO events (tournament_id, name, home_team, away_team, kickoff, sportradar_id) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        vec![
            base_tournament.into(),
            "Arsenal - Chelsea".into(),
            "Arsenal".into(),
            "Chelsea".into(),
            Utc::now().into(),
            "1001".into(),
        ],
    )
    .await;
    let scrape_run = insert_id(
        db,
        "INSERT INTO scrape_runs (status) VALUES ($1) RETURNING id",
        vec!["running".into()],
    )
    .await;
    let tournament = insert_tournament(db, sport, "sportybet", "sb-17")
        .await
        .expect("tournament");
    let competitor_event = insert_event(db, tournament, Some(event), "sportybet", "sb-1001")
        .await
        .expect("event");
    let snapshot = insert_snapshot(db, competitor_event, Some(scrape_run))
        .await
        .expect("snapshot");
    insert_market(db, snapshot).await.expect("market");
    Graph {
        sport,
        event,
        scrape_run,
        tournament,
        competitor_event,
        snapshot,
    }
}

async fn insert_tournament(
    db: &DatabaseConnection,
    sport: i64,
    source: &str,
    external_id: &str,
) -> Result<i64, DbErr> {
    execute(
        db,
        "INSERT INTO competitor_tournaments (source, sport_id, name, external_id) VALUES ($1, $2, $3, $4)",
        vec![source.into(), sport.into(), "Premier League".into(), external_id.into()],
    )
    .await?;
    Ok(competitor_row_id(db, "competitor_tournaments", source, external_id).await)
}

async fn insert_event(
    db: &DatabaseConnection,
    tournament: i64,
    betpawa_event: Option<i64>,
    source: &str,
    external_id: &str,
) -> Result<i64, DbErr> {
    execute(
        db,
        "INSERT INTO competitor_events \
         (source, tournament_id, betpawa_event_id, name, home_team, away_team, kickoff, external_id, sportradar_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            source.into(),
            tournament.into(),
            betpawa_event.into(),
            "Arsenal - Chelsea".into(),
            "Arsenal".into(),
            "Chelsea".into(),
            Utc::now().into(),
            external_id.into(),
            "1001".into(),
        ],
    )
    .await?;
    Ok(competitor_row_id(db, "competitor_events", source, external_id).await)
}

/// The id of the row of competitor table `table` under `(source, external_id)`.
async fn competitor_row_id(
    db: &DatabaseConnection,
    table: &str,
    source: &str,
    external_id: &str,
) -> i64 {
    let sql = format!("SELECT id AS n FROM {table} WHERE source = $1 AND external_id = $2");
    scalar(db, &sql, vec![source.into(), external_id.into()]).await
}

async fn insert_snapshot(
    db: &DatabaseConnection,
    event: i64,
    scrape_run: Option<i64>,
) -> Result<i64, DbErr> {
    execute(
        db,
        "INSERT INTO competitor_odds_snapshots (competitor_event_id, scrape_run_id) VALUES ($1, $2)",
        vec![event.into(), scrape_run.into()],
    )
    .await?;
    Ok(scalar(
        db,
        "SELECT MAX(id) AS n FROM competitor_odds_snapshots",
        vec![],
    )
    .await)
}

async fn insert_market(db: &DatabaseConnection, snapshot: i64) -> Result<(), DbErr> {
    execute(
        db,
        "INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, outcomes) \
         VALUES ($1, $2, $3, $4)",
        vec![
            snapshot.into(),
            "1x2".into(),
            "1X2".into(),
            serde_json::json!([{"name": "1", "odds": 1.85, "is_active": true}]).into(),
        ],
    )
    .await
    .map(|_| ())
}

/// Deletes row `id` of `table`.
async fn delete_row(db: &DatabaseConnection, table: &str, id: i64) -> Result<ExecResult, DbErr> {
    let sql = format!("DELETE FROM {table} WHERE id = $1");
    execute(db, &sql, vec![id.into()]).await
}

fn assert_fk_violation(result: Result<impl std::fmt::Debug, DbErr>) {
    let err = result.expect_err("the database accepted a dangling foreign key");
    // SQLite reports an ON DELETE RESTRICT refusal with the extended code of a trigger
    // (1811), which `sql_err` does not classify; its message is the same.
    assert!(
        matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ) || err.to_string().contains("FOREIGN KEY constraint failed"),
        "expected a foreign key violation, got {err}"
    );
}

/// The insert was refused by the CHECK constraint `constraint`.
fn assert_check_violation(result: Result<i64, DbErr>, constraint: &str) {
    let err = result.expect_err("the database accepted an unknown source");
    assert!(err.to_string().contains(constraint), "{err}");
}

/// The insert was refused for a duplicate key; returns the error.
fn assert_unique_violation(result: Result<i64, DbErr>) -> DbErr {
    let err = result.expect_err("the database accepted a duplicate key");
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
    err
}

async fn unknown_source_violates_the_check(db: &DatabaseConnection) {
    let graph = seed_graph(db).await;
    let tournament = insert_tournament(db, graph.sport, "betking", "bk-1").await;
    assert_check_violation(tournament, "ck_competitor_tournaments_source");
    let event = insert_event(db, graph.tournament, None, "SportyBet", "sb-2").await;
    assert_check_violation(event, "ck_competitor_events_source");
    assert_eq!(count(db, "competitor_tournaments").await, 1);
    assert_eq!(count(db, "competitor_events").await, 1);
}
both!(unknown_source_violates_the_check);

async fn source_and_external_id_are_unique(db: &DatabaseConnection) {
    let graph = seed_graph(db).await;
    assert_unique_violation(insert_tournament(db, graph.sport, "sportybet", "sb-17").await);
    let event = insert_event(db, graph.tournament, None, "sportybet", "sb-1001").await;
    let err = assert_unique_violation(event);
    if db.get_database_backend() == DbBackend::Postgres {
        assert!(
            err.to_string()
                .contains("uq_competitor_events_source_external"),
            "{err}"
        );
    }
    // The same external id under the other source is another competitor's row.
    insert_tournament(db, graph.sport, "bet9ja", "sb-17")
        .await
        .expect("other source");
    insert_event(db, graph.tournament, None, "bet9ja", "sb-1001")
        .await
        .expect("other source");
}
both!(source_and_external_id_are_unique);

async fn dangling_foreign_keys_are_rejected(db: &DatabaseConnection) {
    let graph = seed_graph(db).await;
    assert_fk_violation(insert_tournament(db, 9999, "sportybet", "x-1").await);
    assert_fk_violation(insert_event(db, 9999, None, "sportybet", "x-2").await);
    assert_fk_violation(insert_event(db, graph.tournament, Some(9999), "sportybet", "x-3").await);
    assert_fk_violation(insert_snapshot(db, 9999, None).await);
    assert_fk_violation(insert_snapshot(db, graph.competitor_event, Some(9999)).await);
    assert_fk_violation(insert_market(db, 9999).await);
}
both!(dangling_foreign_keys_are_rejected);

async fn deleting_a_tournament_cascades_to_its_odds(db: &DatabaseConnection) {
    let graph = seed_graph(db).await;
    delete_row(db, "competitor_tournaments", graph.tournament)
        .await
        .expect("delete");
    for table in [
        "competitor_events",
        "competitor_odds_snapshots",
        "competitor_market_odds",
    ] {
        assert_eq!(count(db, table).await, 0, "{table} kept rows");
    }
    assert_eq!(
        count(db, "events").await,
        1,
        "the Betpawa event is not owned by the tournament"
    );
    assert_eq!(count(db, "scrape_runs").await, 1);
}
both!(deleting_a_tournament_cascades_to_its_odds);

async fn deleting_a_betpawa_event_or_scrape_run_sets_null(db: &DatabaseConnection) {
    let Graph {
        event,
        scrape_run,
        competitor_event,
        snapshot,
        ..
    } = seed_graph(db).await;
    delete_row(db, "events", event).await.expect("delete event");
    delete_row(db, "scrape_runs", scrape_run)
        .await
        .expect("delete run");
    for (table, id, column) in [
        ("competitor_events", competitor_event, "betpawa_event_id"),
        ("competitor_odds_snapshots", snapshot, "scrape_run_id"),
    ] {
        let condition = format!("id = $1 AND {column} IS NULL");
        let set_null = count_where(db, table, &condition, vec![id.into()]).await;
        assert_eq!(set_null, 1, "{table}.{column} set to NULL");
    }
    assert_eq!(
        count(db, "competitor_market_odds").await,
        1,
        "odds outlive the run log"
    );
}
both!(deleting_a_betpawa_event_or_scrape_run_sets_null);

async fn deleting_a_sport_in_use_is_refused(db: &DatabaseConnection) {
    let graph = seed_graph(db).await;
    // The Betpawa tournament also uses the sport; remove it so only the RESTRICT FK refuses.
    execute(db, "DELETE FROM events", vec![])
        .await
        .expect("delete events");
    execute(db, "DELETE FROM tournaments", vec![])
        .await
        .expect("delete tournaments");
    assert_fk_violation(delete_row(db, "sports", graph.sport).await);
    assert_eq!(count(db, "sports").await, 1);
    assert_eq!(count(db, "competitor_tournaments").await, 1);
}
both!(deleting_a_sport_in_use_is_refused);
