//! The fold of the history into the current odds (`competitor_market_odds_current`), as
//! the store and the migrations run it.
//!
//! The rule (SCHEMA.md, "Current odds and change-only history"): an event's snapshots
//! apply in capture order (`captured_at`, then id). A change-only snapshot (`kind =
//! 'change'`, written by the change mode) sets every market it holds, and one with no
//! outcomes (`[]`) is withdrawn from its time. A full snapshot (`'full'`, the column's
//! default: `write_snapshots`, the Python service, psql) sets each market it offers where
//! name or outcomes differ from the current row or the market was unavailable, and makes
//! every current market it does not offer unavailable from its time. A snapshot not newer
//! than its event's state when it arrives (the newest snapshot's `last_confirmed_at`, else
//! `captured_at`) changes nothing and is marked `'stale'`; a rebuild skips it too, so a
//! rebuild gives what writing the history one capture at a time gave.
//!
//! PostgreSQL folds in the database: migration 4's functions, run at commit by a trigger
//! for other clients' snapshots; [`rebuild`] runs them anew. The store folds its own
//! writes in memory with the same rules, on both backends (it tells the triggers to stand
//! aside). SQLite has no stored procedures: there [`rebuild`] is the statements below,
//! which migration 4 runs for the history it finds; snapshots written to SQLite by other
//! clients reach the current table through it.

use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use crate::m20261127_000003_add_current_odds::SQLITE_CURRENT_MARKET_KEY;

/// The first key of the PostgreSQL advisory lock pair `(CURRENT_ODDS_LOCK, event id)` that
/// every fold, change-mode write and purge of an event's history holds until its
/// transaction ends, taken in ascending event id order: "current odds" read as a number
/// (`0x636f_6464`).
pub const CURRENT_ODDS_LOCK: i32 = 0x636f_6464;

/// Which events a [`rebuild`] recomputes.
#[derive(Clone, Copy, Debug)]
pub enum Events<'a> {
    /// Every competitor event.
    All,
    /// The events that have no current row yet (migration 4's backfill).
    WithoutCurrentOdds,
    /// These events.
    Only(&'a [i32]),
}

/// Recomputes the current rows of `events` from their history: deletes them, then folds
/// every snapshot of those events that is not stale, in capture order. Idempotent. Takes no
/// lock: the caller holds the events' locks, or nothing else writes (a migration).
///
/// # Errors
/// The [`DbErr`] of a failing statement.
pub async fn rebuild<C: ConnectionTrait>(db: &C, events: Events<'_>) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => rebuild_sqlite(db, events).await,
        _ => {
            let list = match events {
                Events::All => Value::Array(sea_orm_migration::sea_query::ArrayType::Int, None),
                Events::WithoutCurrentOdds => {
                    return db
                        .execute_unprepared(
                            "SELECT competitor_rebuild_current_odds(ARRAY(\
                             SELECT e.id FROM competitor_events e WHERE NOT EXISTS (\
                                 SELECT 1 FROM competitor_market_odds_current c \
                                 WHERE c.competitor_event_id = e.id)))",
                        )
                        .await
                        .map(|_| ());
                }
                Events::Only(ids) => Value::Array(
                    sea_orm_migration::sea_query::ArrayType::Int,
                    Some(Box::new(ids.iter().map(|id| Value::from(*id)).collect())),
                ),
            };
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT competitor_rebuild_current_odds($1)",
                [list],
            ))
            .await
            .map(|_| ())
        }
    }
}

/// [`rebuild`] on SQLite.
pub(crate) async fn rebuild_sqlite<C: ConnectionTrait>(
    db: &C,
    events: Events<'_>,
) -> Result<(), DbErr> {
    let chosen = match events {
        Events::All => "SELECT id FROM competitor_events".to_owned(),
        Events::WithoutCurrentOdds => "SELECT e.id FROM competitor_events e WHERE NOT EXISTS (\
             SELECT 1 FROM competitor_market_odds_current c WHERE c.competitor_event_id = e.id)"
            .to_owned(),
        Events::Only(ids) => format!(
            "SELECT value AS id FROM json_each('{}')",
            json_ids(ids.iter().map(|id| i64::from(*id)))
        ),
    };
    let events: Vec<i64> = ids(db, &chosen, Vec::new()).await?;
    let list = json_ids(events.iter().copied());
    sqlite(
        db,
        "DELETE FROM competitor_market_odds_current \
         WHERE competitor_event_id IN (SELECT value FROM json_each(?1))",
        vec![list.clone().into()],
    )
    .await?;
    let snapshots = ids(
        db,
        "SELECT id FROM competitor_odds_snapshots \
         WHERE competitor_event_id IN (SELECT value FROM json_each(?1)) AND kind <> 'stale'",
        vec![list.into()],
    )
    .await?;
    fold_sqlite(db, &snapshots, false).await
}

/// The fold on SQLite: marks the stale snapshots among `snapshots`, then folds the others
/// one wave at a time (each event's first capture, then its second, ...). `incremental`:
/// the snapshots are new and their events' other snapshots folded already; otherwise they
/// are the whole history of their events.
async fn fold_sqlite<C: ConnectionTrait>(
    db: &C,
    snapshots: &[i64],
    incremental: bool,
) -> Result<(), DbErr> {
    if snapshots.is_empty() {
        return Ok(());
    }
    let list = json_ids(snapshots.iter().copied());
    sqlite(
        db,
        SQLITE_MARK_STALE,
        vec![list.clone().into(), incremental.into()],
    )
    .await?;
    let ranked = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT id, row_number() OVER (\
                 PARTITION BY competitor_event_id ORDER BY captured_at, id) AS wave \
             FROM competitor_odds_snapshots \
             WHERE id IN (SELECT value FROM json_each(?1)) AND kind <> 'stale'",
            [list.into()],
        ))
        .await?;
    let mut waves: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for row in ranked {
        let wave: i64 = row.try_get("", "wave")?;
        waves.entry(wave).or_default().push(row.try_get("", "id")?);
    }
    let statements = sqlite_wave_statements();
    for wave in waves.values() {
        let list = json_ids(wave.iter().copied());
        for statement in &statements {
            sqlite(db, statement, vec![list.clone().into()]).await?;
        }
    }
    Ok(())
}

/// Marks stale the snapshots of `?1` (a JSON array of ids) not newer than their event's
/// state: the earlier snapshots of the batch and, when `?2` (incremental), the event's
/// newest other snapshot. Timestamps are RFC 3339 text in UTC, ordered as text.
const SQLITE_MARK_STALE: &str = "\
UPDATE competitor_odds_snapshots SET kind = 'stale' WHERE id IN (
    SELECT id FROM (
        SELECT b.id, b.captured_at,
            max(COALESCE(b.last_confirmed_at, b.captured_at)) OVER (
                PARTITION BY b.competitor_event_id ORDER BY b.captured_at, b.id
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier,
            CASE WHEN ?2 THEN (
                SELECT COALESCE(o.last_confirmed_at, o.captured_at)
                FROM competitor_odds_snapshots o
                WHERE o.competitor_event_id = b.competitor_event_id AND o.kind <> 'stale'
                    AND o.id NOT IN (SELECT value FROM json_each(?1))
                ORDER BY o.captured_at DESC, o.id DESC LIMIT 1) END AS prior
        FROM competitor_odds_snapshots b
        WHERE b.id IN (SELECT value FROM json_each(?1)) AND b.kind <> 'stale')
    WHERE captured_at <= max(COALESCE(earlier, ''), COALESCE(prior, '')))";

/// The statements that fold one wave `?1` (a JSON array of snapshot ids, one per event),
/// as PostgreSQL's `competitor_fold_wave` does. SQLite applies an upsert row by row, so a
/// market twice in one snapshot ends at its last row (ordered by id).
fn sqlite_wave_statements() -> [String; 4] {
    let key = SQLITE_CURRENT_MARKET_KEY.join(", ");
    let offered = |kind: &str| {
        format!(
            "INSERT INTO competitor_market_odds_current (competitor_event_id, \
                 betpawa_market_id, betpawa_market_name, line, handicap_type, handicap_home, \
                 handicap_away, outcomes, changed_at) \
             SELECT s.competitor_event_id, m.betpawa_market_id, m.betpawa_market_name, m.line, \
                 m.handicap_type, m.handicap_home, m.handicap_away, m.outcomes, s.captured_at \
             FROM competitor_odds_snapshots s JOIN competitor_market_odds m \
                 ON m.snapshot_id = s.id \
             WHERE s.id IN (SELECT value FROM json_each(?1)) AND s.kind = '{kind}' \
                 AND m.outcomes <> '[]' \
             ORDER BY m.id \
             ON CONFLICT ({key}) DO UPDATE SET \
                 betpawa_market_name = excluded.betpawa_market_name, \
                 outcomes = excluded.outcomes, changed_at = excluded.changed_at, \
                 unavailable_at = NULL"
        )
    };
    let same_market = "c.betpawa_market_id = m.betpawa_market_id AND c.line IS m.line \
        AND c.handicap_type IS m.handicap_type AND c.handicap_home IS m.handicap_home \
        AND c.handicap_away IS m.handicap_away";
    [
        offered("change"),
        format!(
            "{} WHERE competitor_market_odds_current.unavailable_at IS NOT NULL \
                 OR competitor_market_odds_current.betpawa_market_name \
                     <> excluded.betpawa_market_name \
                 OR NOT (competitor_market_odds_current.outcomes = excluded.outcomes \
                     OR {} = {})",
            offered("full"),
            outcome_list("competitor_market_odds_current.outcomes"),
            outcome_list("excluded.outcomes"),
        ),
        format!(
            "UPDATE competitor_market_odds_current AS c SET unavailable_at = m.captured_at \
             FROM (SELECT s.competitor_event_id, s.captured_at, w.betpawa_market_id, w.line, \
                       w.handicap_type, w.handicap_home, w.handicap_away \
                   FROM competitor_odds_snapshots s JOIN competitor_market_odds w \
                       ON w.snapshot_id = s.id \
                   WHERE s.id IN (SELECT value FROM json_each(?1)) AND s.kind = 'change' \
                       AND w.outcomes = '[]') AS m \
             WHERE c.competitor_event_id = m.competitor_event_id AND c.unavailable_at IS NULL \
                 AND {same_market}"
        ),
        format!(
            "UPDATE competitor_market_odds_current AS c SET unavailable_at = s.captured_at \
             FROM competitor_odds_snapshots AS s \
             WHERE s.id IN (SELECT value FROM json_each(?1)) AND s.kind = 'full' \
                 AND c.competitor_event_id = s.competitor_event_id AND c.unavailable_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM competitor_market_odds m \
                     WHERE m.snapshot_id = s.id AND m.outcomes <> '[]' AND {same_market})"
        ),
    ]
}

/// The outcomes in `column` as the store reads them (name, odds, `is_active` defaulting to
/// true, other keys, spacing and number spelling aside), as comparable text; NULL, equal to
/// nothing, where the column is not valid JSON. PostgreSQL's `competitor_outcome_list`, on SQLite.
fn outcome_list(column: &str) -> String {
    format!(
        "(CASE WHEN json_valid({column}) THEN coalesce((\
             SELECT group_concat(json_array(json_extract(o.value, '$.name'), \
                 json_extract(o.value, '$.odds'), \
                 coalesce(json_extract(o.value, '$.is_active'), 1)), ',') \
             FROM json_each({column}) AS o), '') END)"
    )
}

/// Ids as a JSON array, the one value SQLite's `json_each` reads a list from.
fn json_ids(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

async fn sqlite<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .map(|_| ())
}

/// The `id` column of every row `sql` returns.
async fn ids<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> Result<Vec<i64>, DbErr> {
    db.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await?
    .iter()
    .map(|row| row.try_get::<i64>("", "id"))
    .collect()
}
