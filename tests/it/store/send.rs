//! Every public async fn of the store and of `SoftDelete` returns a `Send` future, for a
//! pool and for a transaction: each call below is compiled inside `tokio::spawn`, as an
//! axum handler or a background task would make it, so the build breaks if one stops
//! being `Send`. The calls also run, once on the pool and once in a transaction.

use chrono::Utc;
use competitor_db::store;
use competitor_db::testing;
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::{at, palimpsest, sample_event};
use crate::postgres;

/// Runs `$call` (an async expression over the connection `$c` and clones of `$data`) in
/// a spawned task, first on a clone of the pool, then inside a transaction opened in the
/// task.
macro_rules! spawned {
    ($db:expr, [$($data:ident),*], |$c:ident| $call:expr) => {{
        {
            let pool = $db.clone();
            $(let $data = $data.clone();)*
            tokio::spawn(async move {
                let $c = &pool;
                $call.await.map(|_| ()).expect(stringify!($call));
            })
            .await
            .expect("the task on the pool");
        }
        {
            let pool = $db.clone();
            $(let $data = $data.clone();)*
            tokio::spawn(async move {
                let txn = pool.begin().await.expect("begin");
                {
                    let $c = &txn;
                    $call.await.map(|_| ()).expect(stringify!($call));
                }
                txn.commit().await.expect("commit");
            })
            .await
            .expect("the task in a transaction");
        }
    }};
}

async fn every_store_call_can_be_spawned_on_a_pool_and_in_a_transaction(db: &DatabaseConnection) {
    let (tournament, events) = palimpsest(db, CompetitorSource::Sportybet, 2).await;
    let sport = crate::fixtures::sport(db, "basketball").await.id;
    let tournaments = vec![testing::tournament(CompetitorSource::Bet9ja, sport, "t-9")];
    let upserts = vec![sample_event(CompetitorSource::Sportybet, tournament, 0)];
    let seen = vec![upserts[0].external_id.clone(), "sportybet-e-1".to_owned()];
    let snapshots = vec![testing::snapshot(events[0], 2, at(0))];
    let event = events[0];

    spawned!(db, [tournaments], |c| store::upsert_tournaments(
        c,
        &tournaments
    ));
    spawned!(db, [upserts], |c| store::upsert_events(c, &upserts));
    spawned!(db, [seen], |c| store::soft_delete_missing(
        c,
        CompetitorSource::Sportybet,
        &seen
    ));
    spawned!(db, [], |c| store::link_betpawa_events(c));
    spawned!(db, [snapshots], |c| store::write_snapshots(c, &snapshots));
    spawned!(db, [snapshots], |c| store::record_odds(c, &snapshots));
    spawned!(db, [], |c| store::current_odds(c, &[event]));
    spawned!(db, [], |c| store::current_odds_for_betpawa_events(c, &[1]));
    spawned!(db, [], |c| store::latest_snapshots(c, &[event]));
    spawned!(db, [], |c| store::odds_history(c, event, "3743", at(0)));
    spawned!(db, [], |c| store::purge_snapshots_before(c, at(-60), 100));
    spawned!(db, [], |c| store::purge_deleted_before(c, Utc::now()));
    spawned!(db, [], |c| CompetitorEvent::soft_delete_by_id(c, event));
    spawned!(db, [], |c| CompetitorEvent::restore_by_id(c, event));
    spawned!(db, [], |c| CompetitorTournament::soft_delete_by_id(
        c, tournament
    ));
    spawned!(db, [], |c| CompetitorTournament::restore_by_id(
        c, tournament
    ));
}
postgres!(every_store_call_can_be_spawned_on_a_pool_and_in_a_transaction);
