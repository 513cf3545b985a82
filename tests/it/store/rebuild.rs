//! `store::rebuild`: the current odds computed anew from history repair whatever was done
//! to them, and a second run changes nothing.

use competitor_db::store::{self, RebuiltOdds};
use entity::CompetitorSource;
use sea_orm::DatabaseConnection;

use super::{palimpsest, round};
use crate::both;
use crate::fold::current_rows;
use crate::sql::{count, execute};

async fn a_rebuild_repairs_current_odds_an_operator_broke(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 3).await;
    store::write_snapshots(db, &round(&events, 0, 6, super::at(0)))
        .await
        .expect("write_snapshots");
    let mut second = round(&events, 1, 6, super::at(5));
    second[1].markets.truncate(4);
    store::record_odds(db, &second).await.expect("record_odds");
    let mut kept = Vec::new();
    for &e in &events {
        kept.push(current_rows(db, e).await);
    }

    // By hand: one event's rows deleted, another's names and availability rewritten.
    execute(
        db,
        "DELETE FROM competitor_market_odds_current WHERE competitor_event_id = $1",
        vec![events[0].into()],
    )
    .await
    .expect("delete");
    execute(
        db,
        "UPDATE competitor_market_odds_current SET betpawa_market_name = $1, \
             unavailable_at = NULL \
         WHERE competitor_event_id = $2",
        vec!["tampered".into(), events[1].into()],
    )
    .await
    .expect("update");

    let rebuilt = store::rebuild_current_odds(db, Some(&events[..2]))
        .await
        .expect("rebuild");
    assert_eq!(
        rebuilt,
        RebuiltOdds {
            events: 2,
            markets: 12
        }
    );
    for (&e, kept) in events.iter().zip(&kept) {
        assert_eq!(&current_rows(db, e).await, kept, "event {e}");
    }

    let again = store::rebuild_current_odds(db, None)
        .await
        .expect("rebuild every event");
    assert_eq!(
        again,
        RebuiltOdds {
            events: 3,
            markets: 18
        }
    );
    for (&e, kept) in events.iter().zip(&kept) {
        assert_eq!(&current_rows(db, e).await, kept, "event {e}, rebuilt twice");
    }
    assert_eq!(count(db, "competitor_market_odds_current").await, 18);
}
both!(a_rebuild_repairs_current_odds_an_operator_broke);
