//! Linking competitor events to Betpawa events by SportRadar id.

use entity::clock;
use sea_orm::ConnectionTrait;

use super::backend::statement;
use super::error::StoreError;

/// Sets `betpawa_event_id` on every competitor event whose `sportradar_id` matches a
/// Betpawa `events.sportradar_id`, clears the link where the ids no longer match (the
/// Betpawa event changed its SportRadar id or is gone), and moves `updated_at` of the
/// rows it changes. Returns how many rows changed.
///
/// One statement, so it is atomic on its own; rows already linked correctly are not
/// written. `events.sportradar_id` is unique, so each competitor event matches at most
/// one Betpawa event.
///
/// # Errors
/// [`StoreError::Db`] for database errors; nothing is changed then.
pub async fn link_betpawa_events<C>(db: &C) -> Result<u64, StoreError>
where
    C: ConnectionTrait,
{
    // `IS DISTINCT FROM` is NULL-safe on both backends (SQLite since 3.39).
    const LINK: &str = "\
        UPDATE competitor_events SET \
            betpawa_event_id = (SELECT e.id FROM events e \
                                WHERE e.sportradar_id = competitor_events.sportradar_id), \
            updated_at = $1 \
        WHERE betpawa_event_id IS DISTINCT FROM \
            (SELECT e.id FROM events e WHERE e.sportradar_id = competitor_events.sportradar_id)";
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(statement(backend, LINK, vec![clock::now().into()]))
        .await?;
    Ok(result.rows_affected())
}
