//! The one clock the crates write timestamps with, and the precision they store.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current UTC time, truncated to whole microseconds.
///
/// PostgreSQL keeps microseconds: a value truncated before it is written compares equal to
/// what is read back, which the soft-delete cascade relies on (restore matches events by
/// the tournament's exact `deleted_at`). On SQLite the value is stored as RFC 3339 text in
/// UTC, whose text order is its time order.
pub fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

/// `at` truncated to whole microseconds, the precision every timestamp is stored with:
/// PostgreSQL's, and the store's on SQLite too, so every backend and write path stores
/// the same value.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}
