//! `store::link`: competitor events follow Betpawa's SportRadar ids.

use competitor_db::store;
use entity::CompetitorSource;
use entity::prelude::*;
use sea_orm::DatabaseConnection;

use super::{palimpsest, sportradar_id};
use crate::both;
use crate::fixtures::{betpawa_event, sport, stored_row};
use crate::sql::execute;

async fn linking_follows_sportradar_ids(db: &DatabaseConnection) {
    let (_, ids) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    let football = sport(db, "football").await;
    let first = betpawa_event(db, football.id, &sportradar_id(0)).await;
    let second = betpawa_event(db, football.id, &sportradar_id(1)).await;
    betpawa_event(db, football.id, "99999999").await;

    assert_eq!(store::link_betpawa_events(db).await.unwrap(), 2);
    let link = |id: i32| async move { stored_row(db, CompetitorEvent, id).await.betpawa_event_id };
    assert_eq!(link(ids[0]).await, Some(first.id));
    assert_eq!(link(ids[1]).await, Some(second.id));
    assert_eq!(
        link(ids[2]).await,
        None,
        "no Betpawa event with its SportRadar id"
    );
    assert_eq!(
        store::link_betpawa_events(db).await.unwrap(),
        0,
        "nothing left to change"
    );

    // Betpawa corrects its SportRadar ids: the first event now matches e-2 and e-1 none.
    let correct = "UPDATE events SET sportradar_id = $1 WHERE id = $2";
    execute(db, correct, vec![sportradar_id(2).into(), first.id.into()])
        .await
        .unwrap();
    execute(db, correct, vec!["88888888".into(), second.id.into()])
        .await
        .unwrap();
    assert_eq!(store::link_betpawa_events(db).await.unwrap(), 3);
    assert_eq!(link(ids[0]).await, None);
    assert_eq!(link(ids[1]).await, None);
    assert_eq!(link(ids[2]).await, Some(first.id));
}
both!(linking_follows_sportradar_ids);
