//! The store's `tracing` contract (docs/design.md, "Tracing"): each public call opens one
//! `info` span named after it, target `competitor_db::store`, whose fields are the sizes
//! of its input and of what it wrote or read (ids and competitors, never odds or names).

use std::collections::BTreeMap;

use competitor_db::store::{self, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use sea_orm::DatabaseConnection;
use tracing::Level;

use super::{at, palimpsest, sample_events, sportradar_id};
use crate::both;
use crate::fixtures::{betpawa_event, sport};
use crate::traces::{Fields, STORE, SpanRecord, Trace, traced};

/// `trace` holds one span `name`: an `info` span of the store whose fields are exactly
/// `fields`, and whose values are numbers or competitors only.
fn assert_span<'t>(trace: &'t Trace, name: &str, fields: &[(&str, &str)]) -> &'t SpanRecord {
    let span = trace.span(name);
    assert_eq!(
        (span.target.as_str(), span.level),
        (STORE, Level::INFO),
        "{span:?}"
    );
    let expected: BTreeMap<&str, String> = fields
        .iter()
        .map(|(field, value)| (*field, (*value).to_owned()))
        .collect();
    let recorded: BTreeMap<&str, String> = span
        .fields
        .iter()
        .map(|(field, value)| (*field, value.clone()))
        .collect();
    assert_eq!(recorded, expected, "fields of {name}");
    assert_sizes_and_ids_only(&span.fields);
    span
}

/// Every value is a count, an id or a competitor: nothing a trace backend should not
/// keep (odds, team or tournament names, credentials).
fn assert_sizes_and_ids_only(fields: &Fields) {
    for (field, value) in fields {
        let is_number = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        let is_competitor = ["sportybet", "bet9ja", "mixed"].contains(&value.as_str());
        assert!(is_number || is_competitor, "{field} = {value:?}");
    }
}

async fn palimpsest_writes_open_a_span_with_their_sizes(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let tournaments = vec![
        testing::tournament(CompetitorSource::Sportybet, football.id, "t-1"),
        testing::tournament(CompetitorSource::Bet9ja, football.id, "t-1"),
    ];
    let (ids, trace) = traced(store::upsert_tournaments(db, &tournaments)).await;
    let tournament = ids.expect("tournaments")[0];
    assert_span(
        &trace,
        "upsert_tournaments",
        &[
            ("source", "mixed"),
            ("tournaments", "2"),
            ("rows_written", "2"),
        ],
    );

    let events = sample_events(CompetitorSource::Sportybet, tournament, 0..3);
    let (ids, trace) = traced(store::upsert_events(db, &events)).await;
    assert_eq!(ids.expect("events").len(), 3);
    assert_span(
        &trace,
        "upsert_events",
        &[
            ("source", "sportybet"),
            ("events", "3"),
            ("rows_written", "3"),
        ],
    );
    assert!(trace.events(STORE, Level::WARN).is_empty(), "no retry");

    // Event 2 is missing from the next palimpsest.
    let seen: Vec<String> = events[..2].iter().map(|e| e.external_id.clone()).collect();
    let (deleted, trace) = traced(store::soft_delete_missing(
        db,
        CompetitorSource::Sportybet,
        &seen,
    ))
    .await;
    assert_eq!(deleted.expect("soft delete"), 1);
    assert_span(
        &trace,
        "soft_delete_missing",
        &[
            ("source", "sportybet"),
            ("seen", "2"),
            ("rows_changed", "1"),
        ],
    );

    betpawa_event(db, football.id, &sportradar_id(0)).await;
    let (linked, trace) = traced(store::link_betpawa_events(db)).await;
    assert_eq!(linked.expect("link"), 1);
    assert_span(&trace, "link_betpawa_events", &[("rows_changed", "1")]);

    // A refused call keeps the fields it knew when it opened; nothing was written.
    let (refused, trace) = traced(store::soft_delete_missing(
        db,
        CompetitorSource::Bet9ja,
        &[],
    ))
    .await;
    assert!(matches!(refused, Err(StoreError::EmptyPalimpsest { .. })));
    assert_span(
        &trace,
        "soft_delete_missing",
        &[("source", "bet9ja"), ("seen", "0")],
    );
}
both!(palimpsest_writes_open_a_span_with_their_sizes);

async fn reads_open_a_span_with_what_they_found(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let (full, changes) = (events[0], &events[1..]);
    store::write_snapshots(db, &[testing::snapshot(full, 4, at(0))])
        .await
        .expect("full mode");
    let captures = [
        testing::snapshot(changes[0], 3, at(0)),
        testing::snapshot(changes[1], 2, at(0)),
    ];
    store::record_odds(db, &captures)
        .await
        .expect("change mode");
    let unknown = 999_999;

    let (odds, trace) = traced(store::current_odds(db, &[changes[0], changes[1], unknown])).await;
    assert_eq!(odds.expect("current odds").len(), 2);
    assert_span(
        &trace,
        "current_odds",
        &[("events", "3"), ("found", "2"), ("markets", "5")],
    );

    let (latest, trace) = traced(store::latest_snapshots(db, &[full, unknown])).await;
    assert_eq!(latest.expect("latest snapshots").len(), 1);
    assert_span(
        &trace,
        "latest_snapshots",
        &[("events", "2"), ("snapshots", "1"), ("markets", "4")],
    );

    // Market 0 of the sample palimpsests is 1X2, Betpawa's market 3743.
    let (points, trace) = traced(store::odds_history(db, full, "3743", at(-60))).await;
    assert_eq!(points.expect("history").len(), 1);
    let event = full.to_string();
    assert_span(
        &trace,
        "odds_history",
        &[("event", &event), ("market", "3743"), ("points", "1")],
    );

    let football = sport(db, "football").await;
    let betpawa = betpawa_event(db, football.id, &sportradar_id(1)).await;
    store::link_betpawa_events(db).await.expect("link");
    let (compared, trace) = traced(store::current_odds_for_betpawa_events(
        db,
        &[betpawa.id, unknown],
    ))
    .await;
    assert_eq!(compared.expect("comparison").len(), 1);
    assert_span(
        &trace,
        "current_odds_for_betpawa_events",
        &[("betpawa_events", "2"), ("events", "1"), ("markets", "3")],
    );
    // Its odds come from `current_odds`, whose span opens inside it.
    let inner = assert_span(
        &trace,
        "current_odds",
        &[("events", "1"), ("found", "1"), ("markets", "3")],
    );
    assert_eq!(inner.parent, Some("current_odds_for_betpawa_events"));

    // No input, no query: the sizes are zero all the same.
    let (odds, trace) = traced(store::current_odds(db, &[])).await;
    assert!(odds.expect("no events").is_empty());
    assert_span(
        &trace,
        "current_odds",
        &[("events", "0"), ("found", "0"), ("markets", "0")],
    );
}
both!(reads_open_a_span_with_what_they_found);
