//! Soft delete of competitor tournaments and events: finders, delete / restore by id, the
//! cascade from a tournament to its events and back, the active-events relation.

use entity::competitor_tournament::{ActiveEvents, load_active_events, load_events};
use entity::prelude::*;
use entity::{CompetitorSource, competitor_event, competitor_tournament};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set, TransactionTrait};

use crate::both;
use crate::fixtures::*;
use sea_orm::DatabaseConnection;

struct Palimpsest {
    premier: competitor_tournament::Model,
    laliga: competitor_tournament::Model,
    /// Three events of `premier`, one of `laliga`.
    events: Vec<competitor_event::Model>,
}

async fn palimpsest(db: &DatabaseConnection) -> Palimpsest {
    let football = sport(db, "football").await;
    let premier =
        competitor_tournament(db, football.id, CompetitorSource::Sportybet, "t-epl").await;
    let laliga =
        competitor_tournament(db, football.id, CompetitorSource::Sportybet, "t-liga").await;
    let mut events = Vec::new();
    for external_id in ["e-1", "e-2", "e-3"] {
        events.push(competitor_event(db, &premier, external_id).await);
    }
    events.push(competitor_event(db, &laliga, "e-4").await);
    Palimpsest {
        premier,
        laliga,
        events,
    }
}

async fn event(db: &DatabaseConnection, id: i32) -> competitor_event::Model {
    stored_row(db, CompetitorEvent, id).await
}

fn ids(events: &[competitor_event::Model]) -> Vec<i32> {
    events.iter().map(|e| e.id).collect()
}

/// The ids of each tournament's events, as a loader gave them.
fn ids_per_tournament(loaded: &[Vec<competitor_event::Model>]) -> Vec<Vec<i32>> {
    loaded.iter().map(|events| ids(events)).collect()
}

async fn soft_delete_and_restore_an_event(db: &DatabaseConnection) {
    let p = palimpsest(db).await;
    let target = p.events[1].id;
    assert!(
        CompetitorEvent::soft_delete_by_id(db, target)
            .await
            .unwrap()
    );
    assert!(
        !CompetitorEvent::soft_delete_by_id(db, target)
            .await
            .unwrap(),
        "already deleted"
    );
    let deleted = event(db, target).await;
    assert!(deleted.is_deleted());
    assert!(deleted.updated_at >= p.events[1].updated_at);
    assert_eq!(deleted.updated_at, deleted.deleted_at.unwrap());

    let active = event_ids(db, CompetitorEvent::find_active()).await;
    assert_eq!(active, [p.events[0].id, p.events[2].id, p.events[3].id]);
    assert_eq!(
        ids(&CompetitorEvent::find_deleted().all(db).await.unwrap()),
        [target]
    );
    assert_eq!(
        CompetitorEvent::find().all(db).await.unwrap().len(),
        4,
        "find() is all rows"
    );

    assert!(CompetitorEvent::restore_by_id(db, target).await.unwrap());
    assert!(
        !CompetitorEvent::restore_by_id(db, target).await.unwrap(),
        "already active"
    );
    assert!(!event(db, target).await.is_deleted());
    assert!(
        !CompetitorEvent::soft_delete_by_id(db, 999_999)
            .await
            .unwrap(),
        "no such row"
    );
}
both!(soft_delete_and_restore_an_event);

async fn deleting_a_tournament_cascades_and_restore_brings_back_exactly_those_events(
    db: &DatabaseConnection,
) {
    let p = palimpsest(db).await;
    // e-1 left the palimpsest on its own, earlier.
    assert!(
        CompetitorEvent::soft_delete_by_id(db, p.events[0].id)
            .await
            .unwrap()
    );
    let earlier = event(db, p.events[0].id).await.deleted_at;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;

    assert!(
        CompetitorTournament::soft_delete_by_id(db, p.premier.id)
            .await
            .unwrap()
    );
    let tournament = stored_row(db, CompetitorTournament, p.premier.id).await;
    assert!(tournament.is_deleted());
    for cascaded in [&p.events[1], &p.events[2]] {
        assert_eq!(
            event(db, cascaded.id).await.deleted_at,
            tournament.deleted_at,
            "same timestamp"
        );
    }
    assert_eq!(
        event(db, p.events[0].id).await.deleted_at,
        earlier,
        "the earlier delete is kept"
    );
    assert!(
        !event(db, p.events[3].id).await.is_deleted(),
        "other tournaments are untouched"
    );
    let active_tournaments = CompetitorTournament::find_active().all(db).await.unwrap();
    assert_eq!(active_tournaments, vec![p.laliga.clone()]);
    assert_eq!(
        ids(&CompetitorEvent::find_active().all(db).await.unwrap()),
        [p.events[3].id]
    );

    assert!(
        CompetitorTournament::restore_by_id(db, p.premier.id)
            .await
            .unwrap()
    );
    assert!(
        !CompetitorTournament::restore_by_id(db, p.premier.id)
            .await
            .unwrap()
    );
    assert!(!event(db, p.events[1].id).await.is_deleted());
    assert!(!event(db, p.events[2].id).await.is_deleted());
    assert_eq!(
        event(db, p.events[0].id).await.deleted_at,
        earlier,
        "deleted on its own, stays deleted"
    );
}
both!(deleting_a_tournament_cascades_and_restore_brings_back_exactly_those_events);

async fn soft_delete_joins_the_callers_transaction(db: &DatabaseConnection) {
    let p = palimpsest(db).await;
    let txn = db.begin().await.unwrap();
    assert!(
        CompetitorTournament::soft_delete_by_id(&txn, p.premier.id)
            .await
            .unwrap()
    );
    assert_eq!(
        CompetitorEvent::find_deleted()
            .all(&txn)
            .await
            .unwrap()
            .len(),
        3
    );
    txn.rollback().await.unwrap();
    assert!(
        CompetitorEvent::find_deleted()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "rolled back with the caller"
    );
    assert!(
        CompetitorTournament::find_deleted()
            .all(db)
            .await
            .unwrap()
            .is_empty()
    );
}
both!(soft_delete_joins_the_callers_transaction);

async fn active_events_of_a_tournament_lazily_and_eagerly(db: &DatabaseConnection) {
    let p = palimpsest(db).await;
    assert!(
        CompetitorEvent::soft_delete_by_id(db, p.events[1].id)
            .await
            .unwrap()
    );
    let all_premier = [p.events[0].id, p.events[1].id, p.events[2].id];
    let active_premier = [p.events[0].id, p.events[2].id];

    // Lazily: a select from one tournament.
    let lazy_all = event_ids(db, p.premier.find_events()).await;
    assert_eq!(lazy_all, all_premier);
    let lazy_active = event_ids(db, p.premier.find_active_events()).await;
    assert_eq!(lazy_active, active_premier);

    // Eagerly with a loader: one query for all tournaments.
    let tournaments = CompetitorTournament::find()
        .order_by_asc(competitor_tournament::Column::Id)
        .all(db)
        .await
        .unwrap();
    let loaded = load_events(&tournaments, db).await.unwrap();
    assert_eq!(
        ids_per_tournament(&loaded),
        vec![all_premier.to_vec(), vec![p.events[3].id]]
    );
    let loaded = load_active_events(&tournaments, db).await.unwrap();
    assert_eq!(
        ids_per_tournament(&loaded),
        vec![active_premier.to_vec(), vec![p.events[3].id]]
    );

    // Eagerly in one query, through the linked relation with the condition on its alias.
    let joined = CompetitorTournament::find()
        .find_with_linked(ActiveEvents)
        .order_by_asc(competitor_tournament::Column::Id)
        .all(db)
        .await
        .unwrap();
    let joined: Vec<(i32, Vec<i32>)> = joined
        .iter()
        .map(|(t, e)| {
            (t.id, {
                let mut ids = ids(e);
                ids.sort();
                ids
            })
        })
        .collect();
    assert_eq!(
        joined,
        vec![
            (p.premier.id, active_premier.to_vec()),
            (p.laliga.id, vec![p.events[3].id])
        ]
    );
}
both!(active_events_of_a_tournament_lazily_and_eagerly);

async fn an_active_model_update_can_soft_delete_too(db: &DatabaseConnection) {
    let p = palimpsest(db).await;
    let mut change: competitor_event::ActiveModel = p.events[0].clone().into();
    change.deleted_at = Set(Some(entity::clock::now()));
    let updated = change.update(db).await.unwrap();
    assert!(updated.is_deleted());
    assert_eq!(
        ids(&CompetitorEvent::find_deleted().all(db).await.unwrap()),
        [p.events[0].id]
    );
}
both!(an_active_model_update_can_soft_delete_too);
