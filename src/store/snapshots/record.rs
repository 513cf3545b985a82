//! The change mode: per event and capture, only the markets whose outcomes or
//! availability changed are appended as history, and `competitor_market_odds_current`
//! is brought up to date (SCHEMA.md, "Current odds and change-only history").
//!
//! One transaction, the fold of [`super::fold`]: the history written as change-only
//! snapshots (a market gone missing is a row with no outcomes), unchanged captures
//! confirmed. (Measured: a digest of the outcomes computed by PostgreSQL cost the server
//! more than sending their text.)

use tracing::field::Empty;

use super::{
    Folded, Mode, NewSnapshot, StoreConnection, StoreError, TRACING_TARGET, WritePath, fold,
    in_transaction, name_unknown_event, prepare, validate,
};
#[cfg(feature = "postgres")]
use super::{copy, retrying};

/// What one [`record_odds`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordedOdds {
    /// History snapshots written: one per capture that changed a market's outcomes or
    /// availability, and one for the first capture of an event.
    pub snapshots: u64,
    /// Markets written as history (new, changed, or back after being unavailable).
    pub markets_written: u64,
    /// Markets whose outcomes equal the current ones: nothing written for them.
    pub markets_unchanged: u64,
    /// Current markets missing from their event's capture (or captured with no outcomes),
    /// now unavailable: each written as history with no outcomes (counted apart from
    /// `markets_written`).
    pub markets_unavailable: u64,
    /// Markets back after being unavailable (counted in `markets_written` too).
    pub markets_returned: u64,
    /// Captures that changed nothing: the event's newest snapshot's `last_confirmed_at`
    /// moved to them instead of writing rows.
    pub events_confirmed: u64,
    /// Captures not newer than what the store already holds for their event (its newest
    /// snapshot's freshness): they changed nothing.
    pub stale_captures: u64,
}

/// Records captures in change mode and returns what changed.
///
/// Per event and capture, compared with `competitor_market_odds_current` as any writer
/// left it (this mode, full captures, other clients):
/// - markets that are new, changed (other outcomes), or back after being unavailable
///   are written as history, one change-only snapshot per capture (`kind = 'change'`)
///   holding only those markets, and set in the current table (`changed_at` = the capture
///   time);
/// - current markets missing from the capture, or captured with no outcomes, are written
///   into that snapshot with no outcomes (`[]`, the market withdrawn), and are
///   `unavailable_at` the capture time in the current table until they come back (a
///   change);
/// - unchanged markets write nothing;
/// - a capture that changes nothing moves `last_confirmed_at` of the event's newest
///   snapshot (an event's first capture writes a snapshot all the same, so freshness
///   has a row to hang on);
/// - a capture not newer than the event's freshness (its newest snapshot's
///   `last_confirmed_at`, else `captured_at`) changes nothing, so a late or repeated
///   capture never rolls the current odds back.
///
/// A market is identified by `betpawa_market_id`, `line`, `handicap_type`,
/// `handicap_home` and `handicap_away`, NULLs comparing equal; it is unchanged when its
/// name and outcomes (names, odds, whether active) are, whoever wrote them. Several
/// captures of one event in a batch are applied in `captured_at` order.
///
/// One transaction (a savepoint inside the caller's), on a pool or inside the caller's
/// transaction, on PostgreSQL and SQLite, with no bind-parameter limit; given the
/// PostgreSQL pool, the history goes through `COPY` as in full mode. Calls for the
/// same events wait for one another (PostgreSQL advisory locks per event, taken in id
/// order), so the current table ends at the newest capture; calls for different events
/// do not block each other. A call refused for lock contention is retried whole.
///
/// # Errors
/// - [`StoreError::InvalidRow`] / [`StoreError::InvalidMarket`] as
///   [`write_snapshots`](super::write_snapshots);
/// - [`StoreError::DuplicateInBatch`] when a capture holds the same market twice;
/// - [`StoreError::UnknownEvent`] naming the first capture whose competitor event does
///   not exist;
/// - [`StoreError::ForeignKeyViolation`] for an unknown scrape run;
/// - [`StoreError::Contention`] when every attempt was refused for lock contention;
/// - [`StoreError::Db`] for other database errors. Nothing is written, in either
///   table, on any error.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        captures = captures.len(),
        markets = captures.iter().map(|c| c.markets.len()).sum::<usize>(),
        path = Empty,
        snapshots = Empty,
        markets_written = Empty,
        markets_unchanged = Empty,
        markets_unavailable = Empty,
        markets_returned = Empty,
        events_confirmed = Empty,
        stale_captures = Empty,
        attempts = Empty,
    )
)]
pub async fn record_odds<C>(db: &C, captures: &[NewSnapshot]) -> Result<RecordedOdds, StoreError>
where
    C: StoreConnection,
{
    validate(captures)?;
    let prepared = prepare(captures)?;
    let path = WritePath::of(db)?;
    let span = tracing::Span::current();
    span.record("path", path.name());
    let folded = match path {
        _ if captures.is_empty() => Ok(Folded::default()),
        #[cfg(feature = "postgres")]
        WritePath::Copy(pool) => {
            retrying(true, || {
                copy::write_snapshots(pool, captures, &prepared, Mode::Change)
            })
            .await
        }
        #[cfg(not(feature = "postgres"))]
        WritePath::Copy(pool) => match *pool {},
        WritePath::Unnest | WritePath::Sqlite => {
            in_transaction!(db, |txn| fold(&txn, captures, &prepared, Mode::Change)).await
        }
    };
    let recorded = match folded {
        Ok(folded) => folded.recorded,
        Err(err) => return Err(name_unknown_event(db, captures, err).await),
    };
    span.record("snapshots", recorded.snapshots);
    span.record("markets_written", recorded.markets_written);
    span.record("markets_unchanged", recorded.markets_unchanged);
    span.record("markets_unavailable", recorded.markets_unavailable);
    span.record("markets_returned", recorded.markets_returned);
    span.record("events_confirmed", recorded.events_confirmed);
    span.record("stale_captures", recorded.stale_captures);
    Ok(recorded)
}
