//! Rows written through the entities' ActiveModels, and read back, for the entity and
//! store tests.

use chrono::{DateTime, TimeZone, Utc};
use competitor_db::testing;
use entity::outcome::{Outcome, Outcomes};
use entity::{
    CompetitorSource, competitor_event, competitor_market_odds, competitor_odds_snapshot,
    competitor_tournament, event, scrape_run, sport, tournament,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, PrimaryKeyTrait, QueryOrder, Select, Set,
};

pub fn kickoff(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0)
        .single()
        .expect("valid kickoff")
}

pub async fn sport(db: &impl ConnectionTrait, slug: &str) -> sport::Model {
    sport::ActiveModel {
        name: Set(slug.to_uppercase()),
        slug: Set(slug.to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert sport")
}

/// A Betpawa tournament and one Betpawa event with the SportRadar id `sr_id`.
pub async fn betpawa_event(db: &impl ConnectionTrait, sport_id: i32, sr_id: &str) -> event::Model {
    let tournament = tournament::ActiveModel {
        sport_id: Set(sport_id),
        name: Set(format!("Tournament of {sr_id}")),
        country: Set(Some("England".to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert tournament");
    event::ActiveModel {
        tournament_id: Set(tournament.id),
        name: Set("Arsenal - Chelsea".to_owned()),
        home_team: Set("Arsenal".to_owned()),
        away_team: Set("Chelsea".to_owned()),
        kickoff: Set(kickoff(5, 15)),
        sportradar_id: Set(sr_id.to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert event")
}

pub async fn scrape_run(db: &impl ConnectionTrait) -> scrape_run::Model {
    scrape_run::ActiveModel {
        status: Set("running".to_owned()),
        trigger: Set(Some("scheduler".to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert scrape run")
}

/// The sample tournament of `competitor_db::testing`, as an ActiveModel.
pub fn tournament_model(
    sport_id: i32,
    source: CompetitorSource,
    external_id: &str,
) -> competitor_tournament::ActiveModel {
    testing::tournament(source, sport_id, external_id).to_active_model()
}

pub async fn competitor_tournament(
    db: &impl ConnectionTrait,
    sport_id: i32,
    source: CompetitorSource,
    external_id: &str,
) -> competitor_tournament::Model {
    tournament_model(sport_id, source, external_id)
        .insert(db)
        .await
        .expect("insert competitor tournament")
}

/// The sample event of `competitor_db::testing`, as an ActiveModel.
pub fn event_model(
    tournament: &competitor_tournament::Model,
    external_id: &str,
    sr_id: &str,
) -> competitor_event::ActiveModel {
    testing::event(
        tournament.source,
        tournament.id,
        external_id,
        sr_id,
        kickoff(5, 15),
    )
    .to_active_model()
}

pub async fn competitor_event(
    db: &impl ConnectionTrait,
    tournament: &competitor_tournament::Model,
    external_id: &str,
) -> competitor_event::Model {
    event_model(tournament, external_id, "61300417")
        .insert(db)
        .await
        .expect("insert competitor event")
}

pub async fn snapshot(
    db: &impl ConnectionTrait,
    event_id: i32,
    scrape_run_id: Option<i32>,
) -> competitor_odds_snapshot::Model {
    competitor_odds_snapshot::ActiveModel {
        competitor_event_id: Set(event_id),
        scrape_run_id: Set(scrape_run_id),
        raw_response: Set(Some(
            serde_json::json!({"bizCode": 10000, "data": {"markets": 2}}),
        )),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert snapshot")
}

pub fn one_x_two(home: f64, draw: f64, away: f64) -> Outcomes {
    Outcomes(vec![
        Outcome::new("1", home),
        Outcome::new("X", draw),
        Outcome::new("2", away),
    ])
}

pub fn market_model(
    snapshot_id: i64,
    market_id: &str,
    line: Option<f64>,
    outcomes: Outcomes,
) -> competitor_market_odds::ActiveModel {
    competitor_market_odds::ActiveModel {
        snapshot_id: Set(snapshot_id),
        betpawa_market_id: Set(market_id.to_owned()),
        betpawa_market_name: Set(if line.is_some() { "Over/Under" } else { "1X2" }.to_owned()),
        line: Set(line),
        handicap_type: Set(None),
        handicap_home: Set(None),
        handicap_away: Set(None),
        outcomes: Set(outcomes),
        ..Default::default()
    }
}

/// Row `id` of `entity`, which must be stored.
pub async fn stored_row<E: EntityTrait>(
    db: &impl ConnectionTrait,
    _entity: E,
    id: impl Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
) -> E::Model {
    E::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .expect("a stored row")
}

/// The ids of the competitor events `select` finds, in id order.
pub async fn event_ids(
    db: &impl ConnectionTrait,
    select: Select<competitor_event::Entity>,
) -> Vec<i32> {
    let events = select
        .order_by_asc(competitor_event::Column::Id)
        .all(db)
        .await
        .unwrap();
    events.iter().map(|e| e.id).collect()
}
