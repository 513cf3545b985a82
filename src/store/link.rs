//! Linking competitor events to Betpawa events by SportRadar id.

use entity::{clock, competitor_event};
use sea_orm::Condition;
use sea_orm::sea_query::Expr;
use tracing::field::Empty;

use super::TRACING_TARGET;
use super::connection::StoreConnection;
use super::error::StoreError;
use super::retry;

/// The Betpawa event with the competitor event's SportRadar id (`events.sportradar_id` is
/// unique, so at most one).
const BETPAWA_EVENT: &str = "(SELECT e.id FROM events e \
    WHERE e.sportradar_id = competitor_events.sportradar_id)";

/// Sets `betpawa_event_id` on every competitor event whose `sportradar_id` matches a
/// Betpawa `events.sportradar_id`, clears the link where the ids no longer match (the
/// Betpawa event changed its SportRadar id or is gone), and moves `updated_at` of the
/// rows it changes. Returns how many rows changed.
///
/// One statement, in its own transaction (a savepoint inside the caller's); rows already
/// linked correctly are not written. It locks the rows it changes in the store's key
/// order (see [`competitor_event::Entity::update_in_key_order`]), so it runs beside
/// upserts of both competitors without deadlocking them; a run refused for lock
/// contention anyway is retried a few times.
///
/// # Errors
/// [`StoreError::Contention`] when every attempt was refused for lock contention;
/// [`StoreError::Db`] for other database errors; nothing is changed then.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(rows_changed = Empty, attempts = Empty)
)]
pub async fn link_betpawa_events<C>(db: &C) -> Result<u64, StoreError>
where
    C: StoreConnection,
{
    use competitor_event::Column;
    // `IS DISTINCT FROM` is NULL-safe on both backends (SQLite since 3.39).
    let stale = Condition::all().add(Expr::cust(format!(
        "betpawa_event_id IS DISTINCT FROM {BETPAWA_EVENT}"
    )));
    let link = competitor_event::Entity::update_in_key_order(db.get_database_backend(), stale)
        .value(Column::BetpawaEventId, Expr::cust(BETPAWA_EVENT))
        .value(Column::UpdatedAt, clock::now())
        .to_owned();
    let changed = retry::execute(db, &link).await?;
    tracing::Span::current().record("rows_changed", changed);
    Ok(changed)
}
