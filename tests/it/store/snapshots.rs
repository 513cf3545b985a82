//! `store::snapshots`: bulk snapshot writes on every path.

use competitor_db::store::{self, StoreError};
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::{DatabaseConnection, DbBackend, TransactionTrait};

use super::{assert_foreign_key_refusal, assert_stored, at, palimpsest, round};
use crate::both;
use crate::fixtures::stored_row;
use crate::sql::count;

async fn write_snapshots_returns_ids_in_order_with_every_market(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 4).await;
    let mut batch = round(&events, 0, 7, at(0));
    batch.reverse();
    batch[1].markets.clear();
    let ids = store::write_snapshots(db, &batch).await.unwrap();
    assert_stored(db, &batch, &ids).await;
    assert_eq!(count(db, "competitor_market_odds").await, 21);
    assert_eq!(
        store::write_snapshots(db, &[]).await.unwrap(),
        Vec::<i64>::new()
    );
}
both!(write_snapshots_returns_ids_in_order_with_every_market);

async fn write_snapshots_joins_the_callers_transaction(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let run = crate::fixtures::scrape_run(db).await;
    let mut batch = round(&events, 0, 5, at(0));
    batch[0].scrape_run_id = Some(run.id);
    let txn = db.begin().await.unwrap();
    let ids = store::write_snapshots(&txn, &batch).await.unwrap();
    assert_stored(&txn, &batch, &ids).await;
    txn.rollback().await.unwrap();
    assert_eq!(
        count(db, "competitor_odds_snapshots").await,
        0,
        "rolled back with the caller"
    );

    let txn = db.begin().await.unwrap();
    let ids = store::write_snapshots(&txn, &batch).await.unwrap();
    txn.commit().await.unwrap();
    assert_stored(db, &batch, &ids).await;
    let first = stored_row(db, CompetitorOddsSnapshot, ids[0]).await;
    assert_eq!(first.scrape_run_id, Some(run.id));
}
both!(write_snapshots_joins_the_callers_transaction);

async fn an_invalid_market_writes_nothing_and_is_named(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 10).await;
    let mut batch = round(&events, 0, 60, at(0));
    // The 500th market of the batch: snapshot 8, market 19.
    batch[8].markets[19].outcomes.0[1].odds = 0.5;
    let err = store::write_snapshots(db, &batch)
        .await
        .expect_err("invalid odds");
    match &err {
        StoreError::InvalidMarket {
            snapshot: 8,
            market: 19,
            position: 499,
            error,
        } => {
            assert_eq!(
                (error.table, error.field),
                ("competitor_market_odds", "outcomes")
            );
        }
        other => panic!("expected the 500th market, got {other:?}"),
    }
    assert!(err.to_string().contains("market 499 of the batch"), "{err}");
    assert_eq!(count(db, "competitor_odds_snapshots").await, 0);
    assert_eq!(count(db, "competitor_market_odds").await, 0);
}
both!(an_invalid_market_writes_nothing_and_is_named);

async fn a_snapshot_of_an_unknown_event_writes_nothing(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Bet9ja, 3).await;
    let mut batch = round(&events, 0, 4, at(0));
    batch[2].competitor_event_id = 999_999;
    for caller_transaction in [false, true] {
        let result = if caller_transaction {
            let txn = db.begin().await.unwrap();
            let result = store::write_snapshots(&txn, &batch).await;
            txn.rollback().await.unwrap();
            result
        } else {
            store::write_snapshots(db, &batch).await
        };
        let err = result.expect_err("unknown event");
        assert!(
            matches!(
                err,
                StoreError::UnknownEvent {
                    capture: 2,
                    competitor_event_id: 999_999
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("capture 2 of the batch (0-based): competitor event 999999"),
            "{err}"
        );
        assert_eq!(count(db, "competitor_odds_snapshots").await, 0);
        assert_eq!(count(db, "competitor_market_odds").await, 0);
    }

    // An unknown scrape run, with every event known, stays the constraint's refusal.
    let mut batch = round(&events, 0, 4, at(0));
    batch[1].scrape_run_id = Some(999_999);
    let err = store::write_snapshots(db, &batch)
        .await
        .expect_err("unknown scrape run");
    assert_foreign_key_refusal(
        db,
        &err,
        "fk_competitor_odds_snapshots_scrape_run_id_scrape_runs",
    );
    assert_eq!(count(db, "competitor_odds_snapshots").await, 0);
}
both!(a_snapshot_of_an_unknown_event_writes_nothing);

async fn a_batch_of_200000_market_rows(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 2_000).await;
    let batch = round(&events, 1, 100, at(0));
    let ids = store::write_snapshots(db, &batch).await.unwrap();
    assert_eq!(ids.len(), 2_000);
    assert_eq!(count(db, "competitor_market_odds").await, 200_000);
    assert_stored(db, &batch[1_990..], &ids[1_990..]).await;
    if db.get_database_backend() == DbBackend::Postgres {
        // The path a caller's transaction takes: arrays per column, no bind limit either.
        let txn = db.begin().await.unwrap();
        let more = store::write_snapshots(&txn, &round(&events, 2, 100, at(5)))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(more.len(), 2_000);
        assert_eq!(count(db, "competitor_market_odds").await, 400_000);
    }
}
both!(a_batch_of_200000_market_rows);
