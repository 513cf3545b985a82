//! Betpawa's own sports, tournaments and events, which the Python service writes in
//! production: inserted or updated by their natural keys.

use std::collections::HashMap;

use entity::prelude::*;
use entity::{event, sport, tournament};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::Error;
use crate::fixtures::BetpawaFixture;

/// Stores the fixture's rows; returns sport ids by slug.
pub async fn store(
    db: &DatabaseConnection,
    fixture: &BetpawaFixture,
) -> Result<HashMap<String, i32>, Error> {
    let sports = Sport::insert_many(fixture.sports.iter().map(|s| sport::ActiveModel {
        name: Set(s.name.clone()),
        slug: Set(s.slug.clone()),
        ..Default::default()
    }))
    .on_conflict(
        OnConflict::column(sport::Column::Slug)
            .update_column(sport::Column::Name)
            .to_owned(),
    )
    .exec_with_returning(db)
    .await?;
    let sports: HashMap<String, i32> = sports.into_iter().map(|s| (s.slug, s.id)).collect();

    let mut tournaments = Vec::new();
    for t in &fixture.tournaments {
        let sport_id = *sports
            .get(&t.sport)
            .ok_or_else(|| format!("tournament {} names unknown sport {}", t.name, t.sport))?;
        tournaments.push(tournament::ActiveModel {
            sport_id: Set(sport_id),
            name: Set(t.name.clone()),
            country: Set(t.country.clone()),
            sportradar_id: Set(Some(t.sportradar_id.clone())),
            ..Default::default()
        });
    }
    let tournaments = Tournament::insert_many(tournaments)
        .on_conflict(
            OnConflict::column(tournament::Column::SportradarId)
                .update_columns([tournament::Column::Name, tournament::Column::Country])
                .to_owned(),
        )
        .exec_with_returning(db)
        .await?;
    let tournaments: HashMap<String, i32> = tournaments
        .into_iter()
        .filter_map(|t| Some((t.sportradar_id?, t.id)))
        .collect();

    let mut events = Vec::new();
    for e in &fixture.events {
        let tournament_id = *tournaments
            .get(&e.tournament_sportradar_id)
            .ok_or_else(|| {
                format!(
                    "event {} names unknown tournament {}",
                    e.event.name, e.tournament_sportradar_id
                )
            })?;
        let event = event::ActiveModel {
            tournament_id: Set(tournament_id),
            name: Set(e.event.name.clone()),
            home_team: Set(e.event.home_team.clone()),
            away_team: Set(e.event.away_team.clone()),
            kickoff: Set(e.event.kickoff),
            sportradar_id: Set(e.event.sportradar_id.clone()),
            created_at: Set(entity::clock::now()),
            ..Default::default()
        };
        event.validate()?;
        events.push(event);
    }
    Event::insert_many(events)
        .on_conflict(
            OnConflict::column(event::Column::SportradarId)
                .update_columns([
                    event::Column::TournamentId,
                    event::Column::Name,
                    event::Column::HomeTeam,
                    event::Column::AwayTeam,
                    event::Column::Kickoff,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(sports)
}
