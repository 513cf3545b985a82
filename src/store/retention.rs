//! Retention: purging old snapshots and long soft-deleted rows, in bounded batches, beside
//! scrapers that keep writing.
//!
//! Old snapshots go event by event: a batch holds whole events and their advisory locks
//! (the store's per-event locks, in id order), so no write of those events runs while the
//! batch decides what stays. What stays is what the current odds and a chart still stand
//! on (see [`purge_snapshots_before`]), so a rebuild from what is left gives the current
//! odds the table holds.
//!
//! Soft-deleted rows go locked first (`FOR UPDATE SKIP LOCKED` on PostgreSQL), and each
//! `DELETE` checks `deleted_at` again: a row a concurrent upsert revives is either locked
//! by it (and skipped) or no longer deleted when the `DELETE` reads it, so it stays. An
//! event's snapshots go with it, in its transaction (`ON DELETE CASCADE`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use tracing::field::Empty;

use super::TRACING_TARGET;
use super::backend::{event_id_list, id_list, is_in_ids, lock_events};
use super::connection::StoreConnection;
use super::error::StoreError;
use super::retry::in_transaction;

/// What [`purge_snapshots_before`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgedSnapshots {
    /// Snapshots deleted.
    pub snapshots: u64,
    /// Their market odds deleted with them.
    pub market_odds: u64,
}

/// What [`purge_deleted_before`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgedDeleted {
    /// Competitor tournaments hard-deleted.
    pub tournaments: u64,
    /// Competitor events hard-deleted.
    pub events: u64,
    /// Snapshots of those events.
    pub snapshots: u64,
    /// Market odds of those snapshots.
    pub market_odds: u64,
}

/// Competitor events per batch of [`purge_deleted_before`]: each goes with its whole
/// history in its batch's transaction, so fewer than the tournaments' [`BATCH`].
const EVENTS_PER_BATCH: u64 = 100;

/// Competitor tournaments per batch of [`purge_deleted_before`].
const BATCH: u64 = 1_000;

/// Deletes snapshots captured before `cutoff`, with their market odds, except those the
/// current odds and each market's history stand on; returns what it deleted.
///
/// Kept, for each competitor event:
/// - its newest snapshot (not stale), which its freshness hangs on;
/// - for each market, its newest history row at or before the cutoff (and its newest row
///   with outcomes, where that one withdrew it), so [`odds_history`](super::odds_history)
///   from the cutoff still shows the odds in effect then;
/// - the snapshots at each current market's `changed_at` and `unavailable_at`, where its
///   current odds and availability were set, and, where a full capture set them, the
///   snapshots back to the full capture before it, and the market's newest history row
///   before that capture with every full capture in between: what it changed from (a
///   market a change-mode capture withdrew and a full capture offers again, same odds,
///   came back there).
///
/// So [`rebuild_current_odds`](super::rebuild_current_odds) on what is left gives the
/// current odds the table holds. Stale snapshots (history only) go whatever their age.
///
/// Batches of whole events, about `batch_size` snapshots each (at least one event), each
/// its own transaction holding those events' locks, so a writer of them waits for one
/// batch at most and writers of other events not at all. An `info` event after each batch
/// gives the totals so far.
///
/// # Errors
/// [`StoreError::Contention`] when a batch was refused for lock contention on every
/// attempt; [`StoreError::Db`] for other database errors. Batches committed before the
/// error stay deleted, the failing batch is rolled back whole.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        cutoff = %cutoff.to_rfc3339(),
        batch_size = batch_size,
        snapshots = Empty,
        market_odds = Empty,
        batches = Empty,
    )
)]
pub async fn purge_snapshots_before<C>(
    db: &C,
    cutoff: DateTime<Utc>,
    batch_size: usize,
) -> Result<PurgedSnapshots, StoreError>
where
    C: StoreConnection,
{
    let mut purged = PurgedSnapshots::default();
    let mut batches = 0u64;
    let mut after = 0i64;
    loop {
        let events = next_events(db, cutoff, after, batch_size.max(1)).await?;
        let Some(&last) = events.last() else {
            break;
        };
        after = i64::from(last);
        let batch = in_transaction!(db, |txn| purge_events_history(&txn, &events, cutoff)).await?;
        batches += 1;
        purged.snapshots += batch.snapshots;
        purged.market_odds += batch.market_odds;
        tracing::info!(
            target: TRACING_TARGET,
            batch = batches,
            snapshots = purged.snapshots,
            market_odds = purged.market_odds,
            "purged a batch of old snapshots"
        );
    }
    let span = tracing::Span::current();
    span.record("snapshots", purged.snapshots);
    span.record("market_odds", purged.market_odds);
    span.record("batches", batches);
    Ok(purged)
}

/// The next events after id `after` with snapshots captured before `cutoff`: whole
/// events, in id order, until their snapshots before `cutoff` number `batch_size`.
async fn next_events<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    after: i64,
    batch_size: usize,
) -> Result<Vec<i32>, StoreError> {
    let limit = i64::try_from(batch_size).unwrap_or(i64::MAX);
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql(
                db.get_database_backend(),
                "SELECT competitor_event_id AS e, COUNT(*) AS n FROM competitor_odds_snapshots \
                 WHERE captured_at < {1} AND competitor_event_id > {2} \
                 GROUP BY competitor_event_id ORDER BY competitor_event_id LIMIT {3}",
            ),
            [Value::from(cutoff), Value::from(after), Value::from(limit)],
        ))
        .await?;
    let mut events = Vec::new();
    let mut snapshots = 0usize;
    for row in rows {
        events.push(row.try_get::<i32>("", "e")?);
        snapshots += usize::try_from(row.try_get::<i64>("", "n")?).unwrap_or(usize::MAX);
        if snapshots >= batch_size {
            break;
        }
    }
    Ok(events)
}

/// `template` with `{n}` as the backend's `n`th placeholder (`$n`, `?n`).
fn sql(backend: DbBackend, template: &str) -> String {
    let mut sql = template.to_owned();
    for n in 1..=4 {
        let placeholder = match backend {
            DbBackend::Sqlite => format!("?{n}"),
            _ => format!("${n}"),
        };
        sql = sql.replace(&format!("{{{n}}}"), &placeholder);
    }
    sql
}

/// The snapshots before `{2}` (the cutoff) of the events `{1}` that nothing stands on
/// (see [`purge_snapshots_before`]); `{OUTCOMES}` is the outcomes as text. The current
/// rows are read for the batch's events only (`{CURRENT_OF_EVENTS}`): joined on the event
/// alone, PostgreSQL hashed the whole current table for every batch, 40% of its time.
/// `hist` is `NOT MATERIALIZED`, so that the cutoff reaches its scan in `ranked`:
/// materialized, it held every market row of the batch's events, 3x the batch's time.
const DOOMED_SNAPSHOTS: &str = "\
WITH s AS (
    SELECT id, competitor_event_id AS e, captured_at, kind
    FROM competitor_odds_snapshots WHERE {EVENTS}),
hist AS NOT MATERIALIZED (
    SELECT s.id, s.e, s.captured_at, m.betpawa_market_id, m.line, m.handicap_type,
        m.handicap_home, m.handicap_away, {OUTCOMES} = '[]' AS withdrawn
    FROM s JOIN competitor_market_odds m ON m.snapshot_id = s.id
    WHERE s.kind <> 'stale'),
ranked AS (
    SELECT id AS snapshot_id, withdrawn,
        row_number() OVER (
            PARTITION BY e, betpawa_market_id, line, handicap_type, handicap_home, handicap_away
            ORDER BY captured_at DESC, id DESC) AS newest_row,
        row_number() OVER (
            PARTITION BY e, betpawa_market_id, line, handicap_type, handicap_home, handicap_away,
                withdrawn
            ORDER BY captured_at DESC, id DESC) AS newest_of_its_kind
    FROM hist WHERE captured_at < {2}),
set_by_full AS (
    SELECT f.id AS full_id, f.e, f.captured_at AS full_at, c.id AS market,
        c.betpawa_market_id, c.line, c.handicap_type, c.handicap_home, c.handicap_away
    FROM s f JOIN competitor_market_odds_current c ON c.competitor_event_id = f.e
        AND (c.changed_at = f.captured_at OR c.unavailable_at = f.captured_at)
    WHERE f.kind = 'full' AND {CURRENT_OF_EVENTS}),
came_from AS (
    SELECT h.id, t.e, h.captured_at AS row_at, t.full_at,
        row_number() OVER (
            PARTITION BY t.full_id, t.market ORDER BY h.captured_at DESC, h.id DESC) AS newest
    FROM set_by_full t JOIN hist h ON h.e = t.e AND h.betpawa_market_id = t.betpawa_market_id
        AND h.line IS NOT DISTINCT FROM t.line
        AND h.handicap_type IS NOT DISTINCT FROM t.handicap_type
        AND h.handicap_home IS NOT DISTINCT FROM t.handicap_home
        AND h.handicap_away IS NOT DISTINCT FROM t.handicap_away
        AND h.captured_at < t.full_at),
keep AS (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY e ORDER BY captured_at DESC, id DESC) AS n
        FROM s WHERE kind <> 'stale') newest
    WHERE n = 1
    UNION
    SELECT snapshot_id FROM ranked
    WHERE newest_row = 1 OR (newest_of_its_kind = 1 AND NOT withdrawn)
    UNION
    SELECT s.id FROM s JOIN competitor_market_odds_current c
        ON c.competitor_event_id = s.e
        AND (c.changed_at = s.captured_at OR c.unavailable_at = s.captured_at)
    WHERE s.kind <> 'stale' AND {CURRENT_OF_EVENTS}
    UNION
    SELECT w.id FROM s f
        JOIN competitor_market_odds_current c
            ON c.competitor_event_id = f.e AND c.changed_at = f.captured_at
            AND {CURRENT_OF_EVENTS}
        JOIN s w ON w.e = f.e AND w.kind <> 'stale' AND w.captured_at <= f.captured_at
            AND w.captured_at >= COALESCE((
                SELECT MAX(p.captured_at) FROM s p
                WHERE p.e = f.e AND p.kind = 'full' AND p.captured_at < f.captured_at),
                f.captured_at)
    WHERE f.kind = 'full'
    UNION
    SELECT id FROM came_from WHERE newest = 1
    UNION
    SELECT w.id FROM came_from b
        JOIN s w ON w.e = b.e AND w.kind = 'full'
            AND w.captured_at > b.row_at AND w.captured_at < b.full_at
    WHERE b.newest = 1)
SELECT id FROM s WHERE captured_at < {2} AND id NOT IN (SELECT id FROM keep) ORDER BY id";

/// Deletes, in `txn`, the snapshots of `events` that [`DOOMED_SNAPSHOTS`] finds, with
/// their market odds, holding the events' locks.
async fn purge_events_history(
    txn: &DatabaseTransaction,
    events: &[i32],
    cutoff: DateTime<Utc>,
) -> Result<PurgedSnapshots, StoreError> {
    lock_events(txn, events).await?;
    let backend = txn.get_database_backend();
    let (of_events, current_of_events, outcomes) = match backend {
        DbBackend::Sqlite => (
            "competitor_event_id IN (SELECT value FROM json_each(?1))",
            "c.competitor_event_id IN (SELECT value FROM json_each(?1))",
            "m.outcomes",
        ),
        _ => (
            "competitor_event_id = ANY($1)",
            "c.competitor_event_id = ANY($1)",
            "CAST(m.outcomes AS text)",
        ),
    };
    let doomed_sql = sql(
        backend,
        &DOOMED_SNAPSHOTS
            .replace("{EVENTS}", of_events)
            .replace("{CURRENT_OF_EVENTS}", current_of_events)
            .replace("{OUTCOMES}", outcomes),
    );
    let doomed: Vec<i64> = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            doomed_sql,
            [event_id_list(backend, events), Value::from(cutoff)],
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<_, _>>()?;
    let mut purged = PurgedSnapshots::default();
    if doomed.is_empty() {
        return Ok(purged);
    }
    purged.market_odds =
        delete_where(txn, "competitor_market_odds", "snapshot_id", &doomed).await?;
    purged.snapshots = delete_where(txn, "competitor_odds_snapshots", "id", &doomed).await?;
    Ok(purged)
}

/// Hard-deletes what was soft-deleted before `cutoff`: competitor events (with their
/// snapshots, market odds and current odds), then competitor tournaments that no longer
/// hold any event. A tournament deleted before `cutoff` that still holds an event (active,
/// or deleted after `cutoff`) is kept until that event goes.
///
/// Safe beside scrapers: a row an upsert is reviving at the same time is either locked by
/// it, and skipped until the next purge, or revived by the time it would be deleted, and
/// kept; an event's snapshots go in the transaction that deletes it. Batches of 100 events
/// (with their history) or 1000 tournaments, each its own transaction; an `info` event
/// after each batch gives the totals so far.
///
/// # Errors
/// As [`purge_snapshots_before`]; batches committed before the error stay deleted, the
/// failing batch is rolled back whole.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        cutoff = %cutoff.to_rfc3339(),
        tournaments = Empty,
        events = Empty,
        snapshots = Empty,
        market_odds = Empty,
        batches = Empty,
    )
)]
pub async fn purge_deleted_before<C>(
    db: &C,
    cutoff: DateTime<Utc>,
) -> Result<PurgedDeleted, StoreError>
where
    C: StoreConnection,
{
    let mut purged = PurgedDeleted::default();
    let mut batches = 0u64;
    for target in [Target::Events, Target::Tournaments] {
        loop {
            let batch =
                in_transaction!(db, |txn| purge_deleted_batch(&txn, target, cutoff)).await?;
            let Some(batch) = batch else {
                break;
            };
            batches += 1;
            purged.tournaments += batch.tournaments;
            purged.events += batch.events;
            purged.snapshots += batch.snapshots;
            purged.market_odds += batch.market_odds;
            tracing::info!(
                target: TRACING_TARGET,
                batch = batches,
                tournaments = purged.tournaments,
                events = purged.events,
                snapshots = purged.snapshots,
                market_odds = purged.market_odds,
                "purged a batch of soft-deleted rows"
            );
        }
    }
    let span = tracing::Span::current();
    span.record("tournaments", purged.tournaments);
    span.record("events", purged.events);
    span.record("snapshots", purged.snapshots);
    span.record("market_odds", purged.market_odds);
    span.record("batches", batches);
    Ok(purged)
}

/// What one batch of [`purge_deleted_before`] deletes.
#[derive(Clone, Copy)]
enum Target {
    /// Competitor events deleted before the cutoff, with their history.
    Events,
    /// Competitor tournaments deleted before the cutoff that hold no event.
    Tournaments,
}

/// One batch of `target` in `txn`: selects and locks a batch of rows (PostgreSQL:
/// `FOR UPDATE SKIP LOCKED`, so rows a concurrent upsert holds wait for the next purge),
/// then deletes those that still qualify, the condition checked again in the `DELETE`;
/// `None` when none was selected.
async fn purge_deleted_batch(
    txn: &DatabaseTransaction,
    target: Target,
    cutoff: DateTime<Utc>,
) -> Result<Option<PurgedDeleted>, StoreError> {
    let backend = txn.get_database_backend();
    let lock = match backend {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let (table, qualifies, limit) = match target {
        Target::Events => ("competitor_events", "deleted_at < {1}", EVENTS_PER_BATCH),
        Target::Tournaments => (
            "competitor_tournaments",
            "deleted_at < {1} AND NOT EXISTS (SELECT 1 FROM competitor_events e \
             WHERE e.tournament_id = competitor_tournaments.id)",
            BATCH,
        ),
    };
    let select = sql(
        backend,
        &format!("SELECT id FROM {table} WHERE {qualifies} ORDER BY id LIMIT {limit}{lock}"),
    );
    let ids: Vec<i64> = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            select,
            [Value::from(cutoff)],
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<i32>("", "id").map(i64::from))
        .collect::<Result<_, _>>()?;
    let mut purged = PurgedDeleted::default();
    if ids.is_empty() {
        return Ok(None);
    }
    let (in_ids, list) = match backend {
        DbBackend::Sqlite => (
            "id IN (SELECT value FROM json_each(?2))",
            id_list(backend, &ids),
        ),
        _ => ("id = ANY($2)", id_list(backend, &ids)),
    };
    if let Target::Events = target {
        let counted = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql(
                    backend,
                    &format!(
                        "SELECT COUNT(DISTINCT s.id) AS snapshots, COUNT(m.id) AS market_odds \
                         FROM competitor_odds_snapshots s \
                         LEFT JOIN competitor_market_odds m ON m.snapshot_id = s.id \
                         WHERE s.competitor_event_id IN (SELECT id FROM competitor_events \
                             WHERE {qualifies} AND {in_ids})"
                    ),
                ),
                [Value::from(cutoff), list.clone()],
            ))
            .await?;
        if let Some(row) = counted {
            purged.snapshots = u64::try_from(row.try_get::<i64>("", "snapshots")?).unwrap_or(0);
            purged.market_odds = u64::try_from(row.try_get::<i64>("", "market_odds")?).unwrap_or(0);
        }
    }
    let deleted = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                &format!("DELETE FROM {table} WHERE {qualifies} AND {in_ids}"),
            ),
            [Value::from(cutoff), list],
        ))
        .await?
        .rows_affected();
    match target {
        Target::Events => purged.events = deleted,
        Target::Tournaments => purged.tournaments = deleted,
    }
    Ok(Some(purged))
}

async fn delete_where<C: ConnectionTrait>(
    db: &C,
    table: &'static str,
    column: &str,
    ids: &[i64],
) -> Result<u64, StoreError> {
    let delete = Query::delete()
        .from_table(Alias::new(table))
        .and_where(is_in_ids(db.get_database_backend(), column, ids))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}
