//! Soft delete for competitor tournaments and events.
//!
//! A competitor drops an event from its palimpsest: the row stays (its odds history with
//! it) and `deleted_at` is set. `Entity::find()` keeps returning **all** rows, deleted or
//! not; [`SoftDelete::find_active`] and [`SoftDelete::find_deleted`] filter. Soft-deleting
//! a tournament soft-deletes its active events with the same timestamp, in one
//! transaction, and restoring the tournament restores exactly those events.

use sea_orm::entity::prelude::*;
use sea_orm::{Condition, TransactionSession, TransactionTrait, sea_query::Expr};

use crate::{clock, competitor_event, competitor_tournament};

/// Finders and soft delete / restore for an entity with a `deleted_at` column.
#[async_trait::async_trait]
pub trait SoftDelete: EntityTrait {
    /// The entity's `deleted_at` column.
    fn deleted_at_column() -> Self::Column;

    /// Rows that are not soft-deleted (`deleted_at IS NULL`).
    fn find_active() -> Select<Self> {
        Self::find().filter(Self::deleted_at_column().is_null())
    }

    /// Soft-deleted rows only (`deleted_at IS NOT NULL`).
    fn find_deleted() -> Select<Self> {
        Self::find().filter(Self::deleted_at_column().is_not_null())
    }

    /// Soft-deletes the row `id` if it is active. Returns `true` when a row changed.
    ///
    /// Works on a pool or inside the caller's transaction (as a savepoint).
    ///
    /// # Errors
    /// The database error; nothing is changed then.
    async fn soft_delete_by_id<C>(db: &C, id: i32) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + TransactionTrait;

    /// Restores the soft-deleted row `id`. Returns `true` when a row changed.
    ///
    /// # Errors
    /// The database error; nothing is changed then.
    async fn restore_by_id<C>(db: &C, id: i32) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + TransactionTrait;
}

#[async_trait::async_trait]
impl SoftDelete for competitor_event::Entity {
    fn deleted_at_column() -> competitor_event::Column {
        competitor_event::Column::DeletedAt
    }

    async fn soft_delete_by_id<C>(db: &C, id: i32) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        use competitor_event::Column;
        let now = clock::now();
        let result = Self::update_many()
            .col_expr(Column::DeletedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(id))
            .filter(Column::DeletedAt.is_null())
            .exec(db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    async fn restore_by_id<C>(db: &C, id: i32) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        use competitor_event::Column;
        let result = Self::update_many()
            .col_expr(Column::DeletedAt, Expr::value(Option::<DateTimeUtc>::None))
            .col_expr(Column::UpdatedAt, Expr::value(clock::now()))
            .filter(Column::Id.eq(id))
            .filter(Column::DeletedAt.is_not_null())
            .exec(db)
            .await?;
        Ok(result.rows_affected > 0)
    }
}

#[async_trait::async_trait]
impl SoftDelete for competitor_tournament::Entity {
    fn deleted_at_column() -> competitor_tournament::Column {
        competitor_tournament::Column::DeletedAt
    }

    /// Soft-deletes the tournament and, with the same `deleted_at`, its active events, in
    /// one transaction.
    async fn soft_delete_by_id<C>(db: &C, id: i32) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        use competitor_event::Column as Event;
        use competitor_tournament::Column as Tournament;
        let txn = db.begin().await?;
        let now = clock::now();
        let changed = Self::update_many()
            .col_expr(Tournament::DeletedAt, Expr::value(now))
            .filter(Tournament::Id.eq(id))
            .filter(Tournament::DeletedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            > 0;
        if changed {
            let events = competitor_event::Entity::update_in_key_order(
                txn.get_database_backend(),
                Condition::all()
                    .add(Event::TournamentId.eq(id))
                    .add(Event::DeletedAt.is_null()),
            )
            .value(Event::DeletedAt, now)
            .value(Event::UpdatedAt, now)
            .to_owned();
            txn.execute(&events).await?;
        }
        txn.commit().await?;
        Ok(changed)
    }

    /// Restores the tournament and exactly the events its soft delete took with it (those
    /// carrying the tournament's `deleted_at`); events deleted earlier on their own stay
    /// deleted. One transaction.
    async fn restore_by_id<C>(db: &C, id: i32) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        use competitor_event::Column as Event;
        use competitor_tournament::Column as Tournament;
        let txn = db.begin().await?;
        let deleted_at = Self::find_by_id(id)
            .one(&txn)
            .await?
            .and_then(|tournament| tournament.deleted_at);
        let Some(deleted_at) = deleted_at else {
            return Ok(false);
        };
        // Matching on the timestamp read above also guards against a concurrent restore
        // or re-delete: then no row matches and nothing changes.
        let changed = Self::update_many()
            .col_expr(
                Tournament::DeletedAt,
                Expr::value(Option::<DateTimeUtc>::None),
            )
            .filter(Tournament::Id.eq(id))
            .filter(Tournament::DeletedAt.eq(deleted_at))
            .exec(&txn)
            .await?
            .rows_affected
            > 0;
        if changed {
            let events = competitor_event::Entity::update_in_key_order(
                txn.get_database_backend(),
                Condition::all()
                    .add(Event::TournamentId.eq(id))
                    .add(Event::DeletedAt.eq(deleted_at)),
            )
            .value(Event::DeletedAt, Option::<DateTimeUtc>::None)
            .value(Event::UpdatedAt, clock::now())
            .to_owned();
            txn.execute(&events).await?;
        }
        txn.commit().await?;
        Ok(changed)
    }
}
