//! [`StoreConnection`]: what the store writes through.

use sea_orm::sqlx::PgPool;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction,
    TransactionTrait,
};

/// A connection the store works through: the pool ([`DatabaseConnection`]) or the
/// caller's own [`DatabaseTransaction`].
///
/// Which one it is decides how [`write_snapshots`](super::write_snapshots) and
/// [`record_odds`](super::record_odds) write on PostgreSQL: given the pool they take a
/// connection of their own and stream rows through `COPY .. FROM STDIN`; inside a
/// transaction, which COPY cannot join through SeaORM, they send one array per column.
/// A type of your own that wraps a pool implements this trait and returns the pool from
/// [`postgres_pool`](StoreConnection::postgres_pool) to keep COPY.
pub trait StoreConnection:
    ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Send + Sync
{
    /// The PostgreSQL pool this connection is, if it is one.
    fn postgres_pool(&self) -> Option<&PgPool>;
}

impl StoreConnection for DatabaseConnection {
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
    fn postgres_pool(&self) -> Option<&PgPool> {
        None
    }
}
