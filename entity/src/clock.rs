//! The one clock the crates write timestamps with, and the precision they store.

use chrono::{DateTime, Timelike, Utc};

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
/// the same value. Exact for every representable time (chrono's `duration_trunc` is not
/// outside the i64-nanosecond range, years 1677 to 2262).
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.nanosecond();
    // `nanosecond()` is below 2e9 (a leap second adds 1e9): the truncated value is too.
    at.with_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeDelta};

    use super::truncate_to_micros;

    #[test]
    fn truncation_holds_for_every_storable_year() {
        for year in [1, 1600, 1677, 1970, 2262, 2300, 9999] {
            let midnight = NaiveDate::from_ymd_opt(year, 1, 1)
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|time| time.and_utc())
                .expect("a date");
            let at = midnight + TimeDelta::nanoseconds(999_999_999);
            let expected = midnight + TimeDelta::microseconds(999_999);
            assert_eq!(truncate_to_micros(at), expected, "year {year}");
        }
    }
}
