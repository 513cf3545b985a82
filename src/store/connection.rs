//! [`StoreConnection`]: what the store writes through.

#[cfg(feature = "postgres")]
use sea_orm::DatabaseConnectionType;
#[cfg(feature = "postgres")]
pub(crate) use sea_orm::sqlx::PgPool;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};

/// A connection the store works through: the pool ([`DatabaseConnection`]) or the
/// caller's own [`DatabaseTransaction`] (sea-orm's types).
///
/// [`DatabaseConnection`]: https://docs.rs/sea-orm/2.0.4/sea_orm/struct.DatabaseConnection.html
/// [`DatabaseTransaction`]: https://docs.rs/sea-orm/2.0.4/sea_orm/struct.DatabaseTransaction.html
///
/// Which one it is decides how [`write_snapshots`](super::write_snapshots) and
/// [`record_odds`](super::record_odds) write on PostgreSQL: given the pool they take a
/// connection of their own and stream rows through `COPY .. FROM STDIN`; inside a
/// transaction, which COPY cannot join through SeaORM, they send one array per column.
/// A type of your own that wraps a pool implements this trait and returns the pool from
/// `postgres_pool` to keep COPY. As in SeaORM, that method exists only where the crate is
/// built with its `postgres` feature.
pub trait StoreConnection:
    ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Send + Sync
{
    /// The PostgreSQL pool this connection is, if it is one.
    #[cfg(feature = "postgres")]
    fn postgres_pool(&self) -> Option<&PgPool>;

    /// Whether this is the caller's own transaction rather than a pool. The store then
    /// works in a savepoint of it, and does not retry a write the database refused for
    /// contention (the caller's transaction, whose snapshot and locks the refusal concerns,
    /// is the caller's to retry; see [`StoreError::RetryTransaction`]). `false` unless a
    /// type says otherwise: a type of your own that wraps a transaction returns `true`.
    ///
    /// [`StoreError::RetryTransaction`]: super::StoreError::RetryTransaction
    fn is_callers_transaction(&self) -> bool {
        false
    }
}

/// Where PostgreSQL is compiled out: a pool no connection can be, so the COPY path is
/// never taken and the code naming it still compiles.
#[cfg(not(feature = "postgres"))]
pub(crate) enum PgPool {}

/// The PostgreSQL pool `db` is, if it is one; never where PostgreSQL is compiled out.
pub(crate) fn postgres_pool_of<C: StoreConnection>(db: &C) -> Option<&PgPool> {
    #[cfg(feature = "postgres")]
    return db.postgres_pool();
    #[cfg(not(feature = "postgres"))]
    {
        let _ = db;
        None
    }
}

impl StoreConnection for DatabaseConnection {
    #[cfg(feature = "postgres")]
    fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(self.get_postgres_connection_pool())
            }
            _ => None,
        }
    }
}

impl StoreConnection for DatabaseTransaction {
    #[cfg(feature = "postgres")]
    fn postgres_pool(&self) -> Option<&PgPool> {
        None
    }

    fn is_callers_transaction(&self) -> bool {
        true
    }
}
