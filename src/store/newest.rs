//! The newest snapshot of each of many events: the state the change mode compares with,
//! the freshness of current odds, and `latest_snapshots`.

use entity::competitor_odds_snapshot;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};

use super::backend::{id_list, statement};
use super::error::StoreError;

/// The newest snapshot (latest `captured_at`, then highest id) of each of `event_ids`
/// that has one, in one query. Stale snapshots (full captures that arrived older than their
/// event's state, history only) are passed over: freshness never names a capture whose
/// odds are not the current ones.
///
/// Its cost does not grow with history: PostgreSQL probes
/// `idx_competitor_odds_snapshots_event_newest` once per event (`LATERAL .. LIMIT 1`);
/// SQLite runs the same probe as a correlated subquery.
pub(crate) async fn newest_snapshots<C: ConnectionTrait>(
    db: &C,
    event_ids: &[i32],
) -> Result<Vec<competitor_odds_snapshot::Model>, StoreError> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let ids: Vec<i64> = event_ids.iter().map(|id| i64::from(*id)).collect();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT s.* FROM (SELECT DISTINCT value AS id FROM json_each($1)) e \
             JOIN competitor_odds_snapshots s ON s.id = ( \
                 SELECT n.id FROM competitor_odds_snapshots n \
                 WHERE n.competitor_event_id = e.id AND n.kind <> 'stale' \
                 ORDER BY n.captured_at DESC, n.id DESC LIMIT 1)"
        }
        _ => {
            "SELECT s.* FROM (SELECT DISTINCT unnest($1::bigint[]) AS id) e \
             CROSS JOIN LATERAL ( \
                 SELECT * FROM competitor_odds_snapshots n \
                 WHERE n.competitor_event_id = e.id AND n.kind <> 'stale' \
                 ORDER BY n.captured_at DESC, n.id DESC LIMIT 1) s"
        }
    };
    Ok(competitor_odds_snapshot::Entity::find()
        .from_raw_sql(statement(backend, sql, vec![id_list(backend, &ids)]))
        .all(db)
        .await?)
}
