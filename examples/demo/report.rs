//! What the demo prints: per Betpawa event, both competitors' current odds side by side
//! with each one's margin; then what is stored and what this run did.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use competitor_db::store::{self, CompetitorOdds, RecordedOdds};
use entity::outcome::Outcomes;
use entity::prelude::*;
use entity::{CompetitorSource, competitor_event};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::Error;

const ONE_X_TWO: &str = "3743";
const OVER_UNDER: &str = "5000";
const SOURCES: [CompetitorSource; 2] = [CompetitorSource::Sportybet, CompetitorSource::Bet9ja];

/// The comparison: 1X2 and Over/Under 2.5 of both competitors from their current odds,
/// for every Betpawa event a competitor event links to, by kickoff.
pub async fn comparison(db: &DatabaseConnection) -> Result<(), Error> {
    let mut events = Event::find().all(db).await?;
    events.sort_by(|a, b| (a.kickoff, &a.name).cmp(&(b.kickoff, &b.name)));
    let ids: Vec<i32> = events.iter().map(|e| e.id).collect();
    let odds = store::current_odds_for_betpawa_events(db, &ids).await?;

    let mut out = String::new();
    let header = format!(
        "  {:<22}{:>10}{:>10}",
        "",
        SOURCES[0].display_name(),
        SOURCES[1].display_name()
    );
    for event in events.iter().filter(|e| odds.contains_key(&e.id)) {
        let competitors = &odds[&event.id];
        let _ = writeln!(
            out,
            "\n{}  {}  [SportRadar {}]",
            event.kickoff.format("%a %d %b %H:%M UTC"),
            event.name,
            event.sportradar_id
        );
        let _ = writeln!(out, "{header}");
        for (label, id, line, names) in [
            ("1X2", ONE_X_TWO, None, ["1", "X", "2"].as_slice()),
            (
                "Over/Under 2.5",
                OVER_UNDER,
                Some(2.5),
                ["Over", "Under"].as_slice(),
            ),
        ] {
            let markets: Vec<Option<&Outcomes>> = SOURCES
                .iter()
                .map(|source| outcomes(competitors, *source, id, line))
                .collect();
            for (row, name) in names.iter().enumerate() {
                let label = if row == 0 { label } else { "" };
                let _ = write!(out, "  {label:<15}{name:<7}");
                for outcomes in &markets {
                    let cell = outcomes
                        .and_then(|o| o.get(name))
                        .map_or("-".to_owned(), |o| {
                            if o.is_active {
                                format!("{:.2}", o.odds)
                            } else {
                                "susp.".to_owned()
                            }
                        });
                    let _ = write!(out, "{cell:>10}");
                }
                out.push('\n');
            }
            let _ = write!(out, "  {:<15}{:<7}", "", "margin");
            for outcomes in &markets {
                let cell = outcomes
                    .and_then(Outcomes::margin)
                    .map_or("-".to_owned(), |m| format!("{:.1}%", m * 100.0));
                let _ = write!(out, "{cell:>10}");
            }
            out.push('\n');
        }
        let _ = write!(out, "  {:<22}", "as of");
        for source in SOURCES {
            let freshness = competitors
                .iter()
                .find(|c| c.event.source == source)
                .and_then(|c| c.odds.freshness)
                .map_or("-".to_owned(), |at| at.format("%H:%M").to_string());
            let _ = write!(out, "{freshness:>10}");
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// The available outcomes of market `id` (at `line`) of `source`'s linked event.
fn outcomes<'a>(
    competitors: &'a [CompetitorOdds],
    source: CompetitorSource,
    id: &str,
    line: Option<f64>,
) -> Option<&'a Outcomes> {
    let competitor = competitors.iter().find(|c| c.event.source == source)?;
    competitor
        .odds
        .markets
        .iter()
        .find(|m| m.betpawa_market_id == id && m.line == line && m.is_available())
        .map(|m| &m.outcomes)
}

/// What is stored, how it links, and what this run's capture rounds wrote.
pub async fn counts(
    db: &DatabaseConnection,
    rounds: &[RecordedOdds],
    links_changed: u64,
) -> Result<(), Error> {
    println!(
        "\nStored: {} competitor tournaments, {} competitor events ({} soft-deleted), \
         {} snapshots, {} market odds, {} current markets",
        CompetitorTournament::find().count(db).await?,
        CompetitorEvent::find().count(db).await?,
        CompetitorEvent::find_deleted().count(db).await?,
        CompetitorOddsSnapshot::find().count(db).await?,
        CompetitorMarketOdds::find().count(db).await?,
        CompetitorMarketOddsCurrent::find().count(db).await?,
    );
    let mut linked_by_source = Vec::new();
    for source in SOURCES {
        let of_source =
            CompetitorEvent::find_active().filter(competitor_event::Column::Source.eq(source));
        let all = of_source.clone().count(db).await?;
        let linked = of_source
            .filter(competitor_event::Column::BetpawaEventId.is_not_null())
            .count(db)
            .await?;
        linked_by_source.push(format!(
            "{} {linked} of {all} events",
            source.display_name()
        ));
    }
    println!(
        "Linked to Betpawa by SportRadar id: {}",
        linked_by_source.join(", ")
    );

    let mut matched: HashMap<i32, HashSet<CompetitorSource>> = HashMap::new();
    for e in CompetitorEvent::find_active()
        .filter(competitor_event::Column::BetpawaEventId.is_not_null())
        .all(db)
        .await?
    {
        if let Some(betpawa) = e.betpawa_event_id {
            matched.entry(betpawa).or_default().insert(e.source);
        }
    }
    let betpawa_events = Event::find().count(db).await? as usize;
    let both = matched.values().filter(|s| s.len() == 2).count();
    let one = matched.values().filter(|s| s.len() == 1).count();
    println!(
        "Betpawa events: {betpawa_events}; matched by both competitors {both}, by one {one}, by none {}",
        betpawa_events - both - one
    );
    let snapshots: u64 = rounds.iter().map(|r| r.snapshots).sum();
    let stale: u64 = rounds.iter().map(|r| r.stale_captures).sum();
    let per_round: Vec<String> = rounds
        .iter()
        .enumerate()
        .map(|(round, r)| {
            format!(
                "round {}: {} markets changed, {} unchanged, {} events confirmed",
                round + 1,
                r.markets_written,
                r.markets_unchanged,
                r.events_confirmed
            )
        })
        .collect();
    println!(
        "This run: {snapshots} snapshots written; {}; {stale} captures already stored, \
         {links_changed} links changed",
        per_round.join("; ")
    );
    Ok(())
}
