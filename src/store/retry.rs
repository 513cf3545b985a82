//! Bounded retries of a write the database refused for lock contention.
//!
//! The store takes row locks in one order on every path (see docs/design.md, "Concurrency"),
//! so concurrent scrape cycles do not deadlock one another; other clients of the same
//! database (the Python service, a caller's own transaction) can still make PostgreSQL
//! pick a deadlock victim (`40P01`) or refuse a serializable transaction (`40001`), and
//! SQLite can stay busy past its timeout. Each attempt is one transaction (a savepoint
//! inside the caller's), rolled back whole before the next, so a refused attempt leaves
//! nothing behind.
//!
//! Each refusal is a `warn` event with its code and attempt number, retries run out an
//! `error` event, and the attempts made go to the `attempts` field of the store call's
//! span (docs/design.md, "Tracing").

use std::borrow::Cow;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, RuntimeErr, SqliteTransactionMode,
    StatementBuilder, TransactionOptions,
};
use tokio::runtime::RuntimeFlavor;

use super::TRACING_TARGET;
use super::connection::StoreConnection;
use super::error::StoreError;

/// Attempts of one logical write before it fails with [`StoreError::Contention`].
pub const ATTEMPTS: u32 = 5;

/// Runs `attempt` until it succeeds, fails for another reason, or was refused for
/// contention [`ATTEMPTS`] times; waits a short, growing, jittered delay between attempts.
/// With `retry` false (the store works in the caller's transaction), a refusal for
/// contention ends it at once as [`StoreError::RetryTransaction`].
///
/// Each refusal is a `warn` event (`code`, `attempt`, `retry_in_ms`), the last one an
/// `error` event (`code`, `attempts`); the attempts made are recorded in the `attempts`
/// field of the current span, the store call's, where it declares one.
pub(crate) async fn retrying<T, F, Fut>(retry: bool, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempts = 1;
    loop {
        match attempt().await {
            Err(StoreError::Db(err)) if is_contention(&err) && !retry => {
                tracing::warn!(
                    target: TRACING_TARGET,
                    code = error_code(&err).as_deref(),
                    "refused for lock contention inside the caller's transaction; the caller \
                     is to retry it"
                );
                tracing::Span::current().record("attempts", attempts);
                return Err(StoreError::RetryTransaction { last: err });
            }
            Err(StoreError::Db(err)) if is_contention(&err) => {
                let code = error_code(&err);
                if attempts == ATTEMPTS {
                    tracing::error!(
                        target: TRACING_TARGET,
                        code = code.as_deref(),
                        attempts,
                        "refused for lock contention on every attempt; nothing written"
                    );
                    tracing::Span::current().record("attempts", attempts);
                    return Err(StoreError::Contention {
                        attempts,
                        last: err,
                    });
                }
                let delay = backoff(attempts);
                tracing::warn!(
                    target: TRACING_TARGET,
                    code = code.as_deref(),
                    attempt = attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "refused for lock contention; retrying the whole transaction"
                );
                tokio::time::sleep(delay).await;
                attempts += 1;
            }
            other => {
                tracing::Span::current().record("attempts", attempts);
                return other;
            }
        }
    }
}

/// How the store begins its transactions: on SQLite as a writer from the start (`BEGIN
/// IMMEDIATE`), so concurrent writers wait in SQLite's busy handler instead of failing at
/// once when a read lock cannot become a write lock; PostgreSQL takes no notice.
pub(crate) const WRITE: TransactionOptions = TransactionOptions {
    isolation_level: None,
    access_mode: None,
    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
};

/// `body` (an expression over the transaction `txn`, a future of `Result<_, StoreError>`)
/// in a transaction of its own on `db` (a savepoint inside the caller's), committed when
/// it succeeds and retried whole when it is refused for contention (on a pool only).
macro_rules! in_transaction {
    ($db:expr, |$txn:ident| $body:expr) => {
        $crate::store::retry::retrying(!$db.is_callers_transaction(), || async {
            let $txn = $crate::store::retry::begin($db).await?;
            let value = $body.await?;
            $txn.commit().await?;
            Ok(value)
        })
    };
}
pub(crate) use in_transaction;

/// Begins the store's transaction on `db` ([`WRITE`]), a savepoint inside the caller's.
///
/// Inside the caller's transaction the savepoint's begin must not be split by a drop:
/// sea-orm 2.0.4 counts a nested transaction as open before its `SAVEPOINT` is
/// acknowledged, so a future dropped in between rolls back the savepoint (sqlx's guard)
/// and then the caller's whole transaction (sea-orm's), whose later statements then run
/// outside any transaction and whose commit says Ok. So there the begin runs to its end
/// without yielding to the caller: on SQLite, where it is a message to the connection's
/// own thread, on this thread; on PostgreSQL, from a multi-threaded tokio runtime, in
/// `block_in_place` (one round trip). On a current-thread runtime the PostgreSQL begin
/// stays an await point (docs/design.md, "Cancellation").
pub(crate) async fn begin<C: StoreConnection>(db: &C) -> Result<DatabaseTransaction, DbErr> {
    if !db.is_callers_transaction() {
        return db.begin_with_options(WRITE).await;
    }
    match db.get_database_backend() {
        DbBackend::Sqlite => block_on(db.begin_with_options(WRITE)),
        _ => match tokio::runtime::Handle::try_current() {
            Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| runtime.block_on(db.begin_with_options(WRITE)))
            }
            _ => db.begin_with_options(WRITE).await,
        },
    }
}

/// Runs `future` to its end on this thread, parking it while the future waits: for a
/// future woken from another thread (SQLite's connection worker), never for one that needs
/// this thread's tokio driver.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Executes `statement` in a transaction of its own (see [`in_transaction!`]); returns
/// the rows it changed.
pub(crate) async fn execute<C, S>(db: &C, statement: &S) -> Result<u64, StoreError>
where
    C: StoreConnection,
    S: StatementBuilder,
{
    in_transaction!(db, |txn| txn.execute(statement))
        .await
        .map(|result| result.rows_affected())
}

/// 10 ms, 20 ms, 40 ms, .. plus up to as much again at random, so two writers that
/// collided do not collide again in step.
fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.saturating_sub(1).min(6);
    let jitter = RandomState::new().hash_one(attempt) % base.max(1);
    Duration::from_millis(base + jitter)
}

/// PostgreSQL's `deadlock_detected` (40P01) and `serialization_failure` (40001);
/// SQLite's `SQLITE_BUSY` (5) and `SQLITE_BUSY_SNAPSHOT` (517).
pub(crate) fn is_contention(err: &DbErr) -> bool {
    matches!(
        error_code(err).as_deref(),
        Some("40P01" | "40001" | "5" | "517")
    )
}

/// The code the database gave `err`: PostgreSQL's SQLSTATE, SQLite's extended result
/// code; `None` for errors that did not come from the database.
fn error_code(err: &DbErr) -> Option<Cow<'_, str>> {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx))
    | DbErr::Conn(RuntimeErr::SqlxError(sqlx))) = err
    else {
        return None;
    };
    sqlx.as_database_error()?.code()
}
