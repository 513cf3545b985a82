//! `store::upsert` : palimpsest upserts and the soft delete of missing events.

use competitor_db::store::{self, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use super::{
    assert_foreign_key_refusal, palimpsest, sample_event, sample_events, upsert_sample_event,
};
use crate::both;
use crate::fixtures::{betpawa_event, event_ids, kickoff, sport, stored_row};
use crate::sql::count;

async fn upserting_tournaments_inserts_updates_and_revives(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let batch = vec![
        testing::tournament(CompetitorSource::Sportybet, football.id, "t-1"),
        testing::tournament(CompetitorSource::Sportybet, football.id, "t-2"),
    ];
    let first = store::upsert_tournaments(db, &batch).await.unwrap();
    let stored = CompetitorTournament::find().all(db).await.unwrap();
    assert_eq!(stored.len(), 2);
    for row in &stored {
        let index = batch
            .iter()
            .position(|t| t.external_id == row.external_id)
            .unwrap();
        assert_eq!(first[index], row.id, "ids in input order");
    }

    assert!(
        CompetitorTournament::soft_delete_by_id(db, first[1])
            .await
            .unwrap()
    );
    let mut changed = batch.clone();
    changed[0].name = "Premier League".to_owned();
    changed[0].country_iso = None;
    changed.push(testing::tournament(
        CompetitorSource::Sportybet,
        football.id,
        "t-3",
    ));
    let second = store::upsert_tournaments(db, &changed).await.unwrap();
    assert_eq!(second[0], first[0], "same row, same id");
    assert_eq!(second[1], first[1], "revived with its id");
    let t1 = stored_row(db, CompetitorTournament, first[0]).await;
    assert_eq!((t1.name.as_str(), t1.country_iso), ("Premier League", None));
    let t2 = stored_row(db, CompetitorTournament, first[1]).await;
    assert!(!t2.is_deleted(), "revived");
    assert_eq!(CompetitorTournament::find().count(db).await.unwrap(), 3);
}
both!(upserting_tournaments_inserts_updates_and_revives);

async fn upserting_events_inserts_updates_revives_and_moves_updated_at(db: &DatabaseConnection) {
    let (tournament, ids) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    let before = stored_row(db, CompetitorEvent, ids[1]).await;
    assert!(
        CompetitorEvent::soft_delete_by_id(db, ids[1])
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;

    let mut revived = sample_event(CompetitorSource::Bet9ja, tournament, 1);
    revived.kickoff = kickoff(6, 18);
    let again = store::upsert_events(db, &[revived]).await.unwrap();
    assert_eq!(again, [ids[1]]);
    let after = stored_row(db, CompetitorEvent, ids[1]).await;
    assert!(!after.is_deleted());
    assert_eq!(after.kickoff, kickoff(6, 18));
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(CompetitorEvent::find().count(db).await.unwrap(), 3);
}
both!(upserting_events_inserts_updates_revives_and_moves_updated_at);

async fn an_upsert_keeps_the_betpawa_link(db: &DatabaseConnection) {
    let (tournament, ids) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let football = sport(db, "football").await;
    let betpawa = betpawa_event(db, football.id, &super::sportradar_id(0)).await;
    assert_eq!(store::link_betpawa_events(db).await.unwrap(), 1);
    upsert_sample_event(db, CompetitorSource::Sportybet, tournament, 0).await;
    let event = stored_row(db, CompetitorEvent, ids[0]).await;
    assert_eq!(event.betpawa_event_id, Some(betpawa.id));
}
both!(an_upsert_keeps_the_betpawa_link);

async fn upserts_of_any_size_stay_under_the_bind_limit(db: &DatabaseConnection) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Sportybet, 0).await;
    let events = sample_events(CompetitorSource::Sportybet, tournament, 0..20_000);
    let ids = store::upsert_events(db, &events).await.unwrap();
    assert_eq!(ids.len(), 20_000);
    assert_eq!(count(db, "competitor_events").await, 20_000);
    let again = store::upsert_events(db, &events).await.unwrap();
    assert_eq!(again, ids, "the same ids the second time");
    assert_eq!(count(db, "competitor_events").await, 20_000);
}
both!(upserts_of_any_size_stay_under_the_bind_limit);

async fn a_bad_row_rejects_the_whole_batch(db: &DatabaseConnection) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let mut batch = sample_events(CompetitorSource::Sportybet, tournament, 10..15);
    batch[3].sportradar_id = String::new();
    let err = store::upsert_events(db, &batch)
        .await
        .expect_err("invalid row");
    match &err {
        StoreError::InvalidRow { index: 3, error } => assert_eq!(error.field, "sportradar_id"),
        other => panic!("expected row 3, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("row 3 of the batch: competitor_events.sportradar_id"),
        "{err}"
    );
    assert_eq!(count(db, "competitor_events").await, 2, "nothing written");

    batch[3].sportradar_id = "61300999".to_owned();
    batch[4].external_id = batch[1].external_id.clone();
    let err = store::upsert_events(db, &batch)
        .await
        .expect_err("duplicate");
    let StoreError::DuplicateInBatch {
        key,
        value,
        first: 1,
        second: 4,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*key, "(source, external_id)");
    assert_eq!(value, "(sportybet, sportybet-e-11)");

    batch[4].external_id = "sportybet-e-14".to_owned();
    batch[2].tournament_id = 999_999;
    let err = store::upsert_events(db, &batch)
        .await
        .expect_err("unknown tournament");
    assert_foreign_key_refusal(
        db,
        &err,
        "fk_competitor_events_tournament_id_competitor_tournaments",
    );
    assert_eq!(count(db, "competitor_events").await, 2, "nothing written");
}
both!(a_bad_row_rejects_the_whole_batch);

/// The same external id under both competitors is two rows, in one batch too.
async fn one_external_id_under_both_competitors_is_two_rows(db: &DatabaseConnection) {
    let football = sport(db, "football").await;
    let tournaments = store::upsert_tournaments(
        db,
        &[
            testing::tournament(CompetitorSource::Sportybet, football.id, "17"),
            testing::tournament(CompetitorSource::Bet9ja, football.id, "17"),
        ],
    )
    .await
    .unwrap();
    assert_ne!(tournaments[0], tournaments[1]);
    let mut sporty = sample_event(CompetitorSource::Sportybet, tournaments[0], 0);
    let mut bet9ja = sample_event(CompetitorSource::Bet9ja, tournaments[1], 0);
    sporty.external_id = "61300417".to_owned();
    bet9ja.external_id = "61300417".to_owned();
    bet9ja.name = "Bet9ja's name".to_owned();
    let ids = store::upsert_events(db, &[sporty, bet9ja]).await.unwrap();
    assert_ne!(ids[0], ids[1]);
    let stored = stored_row(db, CompetitorEvent, ids[1]).await;
    assert_eq!(
        (stored.source, stored.name.as_str()),
        (CompetitorSource::Bet9ja, "Bet9ja's name")
    );
    assert_eq!(count(db, "competitor_events").await, 2);
}
both!(one_external_id_under_both_competitors_is_two_rows);

async fn concurrent_upserts_of_one_palimpsest_neither_fail_nor_duplicate(db: &DatabaseConnection) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Bet9ja, 0).await;
    let events = sample_events(CompetitorSource::Bet9ja, tournament, 0..500);
    let (a, b) = tokio::join!(
        store::upsert_events(db, &events),
        store::upsert_events(db, &events)
    );
    let (a, b) = (a.expect("first task"), b.expect("second task"));
    assert_eq!(a, b);
    assert_eq!(count(db, "competitor_events").await, 500);
}
both!(concurrent_upserts_of_one_palimpsest_neither_fail_nor_duplicate);

async fn soft_delete_missing_touches_only_that_sources_active_events(db: &DatabaseConnection) {
    let (tournament, sporty) = palimpsest(db, CompetitorSource::Sportybet, 4).await;
    let (_, bet9ja) = palimpsest(db, CompetitorSource::Bet9ja, 2).await;
    assert!(
        CompetitorEvent::soft_delete_by_id(db, sporty[3])
            .await
            .unwrap()
    );
    let earlier = stored_row(db, CompetitorEvent, sporty[3]).await.deleted_at;

    let seen = vec![
        "sportybet-e-0".to_owned(),
        "sportybet-e-2".to_owned(),
        "bet9ja-e-0".to_owned(),
    ];
    assert_eq!(
        store::soft_delete_missing(db, CompetitorSource::Sportybet, &seen)
            .await
            .unwrap(),
        1
    );
    let deleted = event_ids(db, CompetitorEvent::find_deleted()).await;
    assert_eq!(deleted, [sporty[1], sporty[3]]);
    let kept = stored_row(db, CompetitorEvent, sporty[3]).await;
    assert_eq!(
        kept.deleted_at, earlier,
        "an already deleted event is not touched"
    );
    for id in bet9ja {
        let event = stored_row(db, CompetitorEvent, id).await;
        assert!(!event.is_deleted());
    }

    upsert_sample_event(db, CompetitorSource::Sportybet, tournament, 1).await;
    let revived = stored_row(db, CompetitorEvent, sporty[1]).await;
    assert!(!revived.is_deleted());

    let err = store::soft_delete_missing(db, CompetitorSource::Sportybet, &[])
        .await
        .expect_err("empty");
    assert!(matches!(
        err,
        StoreError::EmptyPalimpsest {
            competitor: CompetitorSource::Sportybet
        }
    ));
    assert_eq!(CompetitorEvent::find_deleted().count(db).await.unwrap(), 1);
}
both!(soft_delete_missing_touches_only_that_sources_active_events);

/// In a caller's `REPEATABLE READ` transaction, after another writer changed a row it
/// would soft-delete, `soft_delete_missing` fails at the first refusal, telling the caller
/// to retry its own transaction, instead of retrying against the same snapshot.
async fn a_refusal_in_a_callers_transaction_is_the_callers_to_retry(db: &DatabaseConnection) {
    use sea_orm::{IsolationLevel, TransactionTrait};
    let source = CompetitorSource::Sportybet;
    let (_, events) = palimpsest(db, source, 3).await;
    let txn = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await
        .expect("begin");
    assert_eq!(
        count(&txn, "competitor_events").await,
        3,
        "the snapshot is taken"
    );
    crate::sql::execute(
        db,
        "UPDATE competitor_events SET name = 'Renamed elsewhere' WHERE id = $1",
        vec![events[2].into()],
    )
    .await
    .expect("another writer");
    let seen = [format!("{source}-e-0"), format!("{source}-e-1")];
    let err = store::soft_delete_missing(&txn, source, &seen)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, StoreError::RetryTransaction { last } if last.to_string().contains("40001")
            || last.to_string().contains("serialize")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("run the transaction again"),
        "{err}"
    );
    txn.rollback().await.expect("rollback");
}
crate::postgres!(a_refusal_in_a_callers_transaction_is_the_callers_to_retry);
