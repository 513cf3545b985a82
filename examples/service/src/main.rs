// A service on competitor-db: at start-up it connects with timeouts, migrates and runs one
// scrape cycle of SportyBet; then it serves the comparison read, `GET /odds`, or with
// `--once` answers one such request in-process and prints the JSON.
use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Query, State};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use competitor_db::entity::outcome::{Outcome, Outcomes};
use competitor_db::entity::{CompetitorSource, clock, event, sport, tournament};
use competitor_db::store::{
    self, CompetitorOdds, EventUpsert, NewMarket, NewSnapshot, StoreError, TournamentUpsert,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, Database, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, Set,
};
use serde::Deserialize;
use tower::ServiceExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // At start-up, before the first store call; then RUST_LOG=competitor_db=info.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("DATABASE_URL")?;
    let db = connect(&url)
        .await
        .map_err(|err| format!("connecting to DATABASE_URL: {err}"))?;
    // Safe from every replica at once: runs wait for each other's lock, and the later ones
    // find nothing left to do.
    competitor_db::migrate(&db).await?;
    let betpawa_event_id = scrape_cycle(&db).await?;

    let app = Router::new().route("/odds", get(odds)).with_state(db);
    if std::env::args().any(|arg| arg == "--once") {
        // One request through the router, in-process: no socket to keep up.
        let request = Request::get(format!("/odds?betpawa_event_id={betpawa_event_id}"))
            .body(Body::empty())?;
        let response = app.oneshot(request).await?;
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await?;
        println!("{}", String::from_utf8_lossy(&body));
        return match status {
            StatusCode::OK => Ok(()),
            _ => Err(format!("GET /odds answered {status}").into()),
        };
    }
    let address = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("serving http://{address}/odds?betpawa_event_id={betpawa_event_id}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// A pool that gives up on an unreachable database after 5 s rather than sqlx's 30 s.
async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(10)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    Database::connect(options).await
}

/// `GET /odds?betpawa_event_id=12,13`: per Betpawa event, each competitor's linked event
/// with its current odds, as JSON keyed by Betpawa event id.
async fn odds(
    State(db): State<DatabaseConnection>,
    Query(query): Query<OddsQuery>,
) -> Result<Json<HashMap<i32, Vec<CompetitorOdds>>>, (StatusCode, String)> {
    let ids = query
        .betpawa_event_id
        .split(',')
        .map(|id| id.trim().parse::<i32>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| (StatusCode::BAD_REQUEST, format!("betpawa_event_id: {err}")))?;
    let comparison = store::current_odds_for_betpawa_events(&db, &ids)
        .await
        .map_err(|err| match err {
            StoreError::NotMigrated { .. } => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        })?;
    Ok(Json(comparison))
}

#[derive(Deserialize)]
struct OddsQuery {
    /// Betpawa event ids, comma-separated.
    betpawa_event_id: String,
}

/// One scrape cycle of SportyBet, as a scraper runs it every few minutes: the same
/// palimpsest every run, so a second run changes nothing but the time the odds were last
/// confirmed. Returns the Betpawa event the competitor event is linked to.
async fn scrape_cycle(db: &DatabaseConnection) -> Result<i32, Error> {
    // Base rows belong to the Python service; here found or inserted so that the example
    // stands alone and runs again.
    let football = find_or_insert(
        db,
        sport::ActiveModel {
            name: Set("Football".into()),
            slug: Set("football".into()),
            ..Default::default()
        },
        sport::Column::Slug.eq("football"),
    )
    .await?;
    let premier_league = find_or_insert(
        db,
        tournament::ActiveModel {
            sport_id: Set(football.id),
            name: Set("Premier League".into()),
            country: Set(Some("England".into())),
            sportradar_id: Set(Some("17".into())),
            ..Default::default()
        },
        tournament::Column::SportradarId.eq("17"),
    )
    .await?;
    let kickoff = "2026-12-05T15:00:00Z".parse()?;
    let betpawa_event = find_or_insert(
        db,
        event::ActiveModel {
            tournament_id: Set(premier_league.id),
            name: Set("Arsenal - Chelsea".into()),
            home_team: Set("Arsenal".into()),
            away_team: Set("Chelsea".into()),
            kickoff: Set(kickoff),
            sportradar_id: Set("61300421".into()),
            ..Default::default()
        },
        event::Column::SportradarId.eq("61300421"),
    )
    .await?;

    // 1. The palimpsest: tournaments, then events (ids come back in input order).
    // SportRadar ids are stored as the bare number, as the Python service stores them.
    let tournaments = store::upsert_tournaments(
        db,
        &[TournamentUpsert {
            source: CompetitorSource::Sportybet,
            sport_id: football.id,
            name: "Premier League".into(),
            country_raw: Some("England".into()),
            country_iso: Some("ENG".into()),
            external_id: "sr:tournament:17".into(),
            sportradar_id: Some("17".into()),
        }],
    )
    .await?;
    let events = store::upsert_events(
        db,
        &[EventUpsert {
            source: CompetitorSource::Sportybet,
            tournament_id: tournaments[0],
            name: "Arsenal vs Chelsea".into(),
            home_team: "Arsenal".into(),
            away_team: "Chelsea".into(),
            kickoff,
            external_id: "sr:match:61300421".into(),
            sportradar_id: "61300421".into(),
        }],
    )
    .await?;
    let event_id = events[0];

    // 2. Events gone from the palimpsest are soft-deleted; 3. link to Betpawa's events.
    store::soft_delete_missing(
        db,
        CompetitorSource::Sportybet,
        &["sr:match:61300421".into()],
    )
    .await?;
    store::link_betpawa_events(db).await?;

    // 4. This capture's odds, in change mode, from a spawned task (a clone of the pool
    //    is cheap): only markets that changed are written as history.
    let capture = NewSnapshot {
        competitor_event_id: event_id,
        captured_at: clock::now(),
        scrape_run_id: None,
        raw_response: None,
        markets: vec![NewMarket {
            betpawa_market_id: "3743".into(),
            betpawa_market_name: "1X2".into(),
            line: None,
            handicap_type: None,
            handicap_home: None,
            handicap_away: None,
            outcomes: Outcomes(vec![
                Outcome::new("1", 2.05),
                Outcome::new("X", 3.40),
                Outcome::new("2", 3.60),
            ]),
        }],
    };
    let pool = db.clone();
    let recorded =
        tokio::spawn(async move { store::record_odds(&pool, &[capture]).await }).await??;
    eprintln!(
        "{} markets written, {} unchanged",
        recorded.markets_written, recorded.markets_unchanged
    );

    // Reads: the current odds of many events in one query, with their freshness.
    let current = store::current_odds(db, &[event_id]).await?;
    for market in &current[&event_id].markets {
        eprintln!(
            "{} margin {:?}",
            market.betpawa_market_name,
            market.outcomes.margin()
        );
    }
    Ok(betpawa_event.id)
}

/// The row of `A`'s table that `key` finds, inserted first where no unique key of the
/// table holds it yet (`ON CONFLICT DO NOTHING`: a second run, or another replica at the
/// same time, finds the row instead of failing on the unique constraint).
async fn find_or_insert<A>(
    db: &DatabaseConnection,
    row: A,
    key: impl sea_orm::sea_query::IntoCondition,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    A: ActiveModelTrait + Send,
{
    A::Entity::insert(row)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    A::Entity::find()
        .filter(key)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the row just inserted".into()))
}
