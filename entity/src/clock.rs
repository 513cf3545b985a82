//! The one clock the crates write timestamps with.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current UTC time, truncated to whole microseconds.
///
/// PostgreSQL keeps microseconds: a value truncated before it is written compares equal to
/// what is read back, which the soft-delete cascade relies on (restore matches events by
/// the tournament's exact `deleted_at`). On SQLite the value is stored as RFC 3339 text in
/// UTC, whose text order is its time order.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}
