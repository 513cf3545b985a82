//! The current odds as the fold of the history, whoever writes it (SCHEMA.md, "Current odds
//! and change-only history"): each snapshot records what it holds (`kind`), PostgreSQL folds
//! every snapshot into `competitor_market_odds_current` when its transaction commits, and
//! the history already stored is folded in.
//!
//! Migration 3 kept the current table from the change mode alone; full captures
//! (`write_snapshots`, the Python service's INSERTs, psql) never reached it. The fold:
//! snapshots of an event apply in capture order; a change-only snapshot sets every market
//! it holds (one with no outcomes is withdrawn); a full snapshot sets the markets it offers
//! where they differ from the current row and makes unavailable the current markets it
//! does not offer; a snapshot not newer than its event's state when it arrives changes
//! nothing and is marked `stale`.
//!
//! The PL/pgSQL below is this migration's, frozen with it; a later change to the fold is a
//! later migration that replaces the functions. SQLite has no stored procedures: there the
//! store folds what it writes itself, with the statements of [`crate::fold`].

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

use crate::fold;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // On PostgreSQL, ADD COLUMN takes ACCESS EXCLUSIVE on the snapshots until this
        // migration commits: no snapshot is written between the backfill and the triggers.
        db.execute_unprepared(KIND_COLUMN).await?;
        db.execute_unprepared(EVENTS_WITH_CURRENT_ODDS_ARE_CHANGE_MODE)
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(POSTGRES_FOLD).await?;
        }
        fold::rebuild(db, fold::Events::WithoutCurrentOdds).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let marked = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM competitor_odds_snapshots WHERE kind <> 'full'",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if marked > 0 {
            return Err(DbErr::Migration(format!(
                "refusing to drop `competitor_odds_snapshots.kind`: {marked} snapshots are \
                 change-only or stale captures, which would read as full ones; they were left \
                 as they were"
            )));
        }
        if backend == DbBackend::Postgres {
            db.execute_unprepared(POSTGRES_DROP_FOLD).await?;
        }
        // Every snapshot is a full capture: the current rows of events with history are its
        // fold, which this migration derived and a rebuild derives again. Rows of events
        // without history were written by hand: they stay, and migration 3 refuses to drop
        // them.
        db.execute_unprepared(
            "DELETE FROM competitor_market_odds_current WHERE competitor_event_id IN (\
                 SELECT competitor_event_id FROM competitor_odds_snapshots)",
        )
        .await?;
        db.execute_unprepared(match backend {
            DbBackend::Sqlite => "ALTER TABLE competitor_odds_snapshots DROP COLUMN kind",
            _ => {
                "ALTER TABLE competitor_odds_snapshots \
                 DROP CONSTRAINT ck_competitor_odds_snapshots_kind, DROP COLUMN kind"
            }
        })
        .await
        .map(|_| ())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// `competitor_odds_snapshots.kind`, the same on both backends; on PostgreSQL a constant
/// default adds it without rewriting the table.
const KIND_COLUMN: &str = r#"
ALTER TABLE competitor_odds_snapshots
    ADD COLUMN "kind" varchar(6) NOT NULL DEFAULT 'full'
    CONSTRAINT "ck_competitor_odds_snapshots_kind" CHECK ("kind" IN ('full', 'change', 'stale'))"#;

/// Before this migration only the change mode wrote the current table: an event with
/// current rows was recorded in change mode, and its snapshots (most of them change-only;
/// which were full captures cannot be told) are marked so. Its current rows stay as the
/// change mode left them: they alone hold when its markets went missing. Events without
/// current rows are folded from their history, all of it full captures.
const EVENTS_WITH_CURRENT_ODDS_ARE_CHANGE_MODE: &str = "\
UPDATE competitor_odds_snapshots SET kind = 'change'
WHERE competitor_event_id IN (SELECT competitor_event_id FROM competitor_market_odds_current)";

/// The fold on PostgreSQL: its functions and the two triggers that run it for every writer.
///
/// - `competitor_same_outcomes(a, b)`: outcomes equal as text, or as the lists of outcomes
///   (name, odds, `is_active` defaulting to true) they hold, other keys, spacing and
///   number spelling aside: as the store compares them (`competitor_outcome_list`).
/// - `competitor_market_key(..)`: a market's identity as text, NULLs and -0 as the unique
///   key compares them.
/// - `competitor_offered_markets(snapshots, kind)`: the markets the snapshots of `kind`
///   offer (outcomes not empty), the last row of a market held twice, in row order.
/// - `competitor_fold_wave(snapshots)`: folds snapshots of distinct events into the current
///   table, set-based; new markets are inserted in the order they were captured. Planned
///   for each call's snapshots (`plan_cache_mode = force_custom_plan`): a generic plan
///   guesses ten snapshots and, for a round of thousands, picks nested loops that ran
///   for minutes.
/// - `competitor_fold_snapshots(snapshots, incremental)`: marks stale snapshots, then folds
///   the rest, one wave per capture of an event in capture order. `incremental`: the
///   snapshots are new, their events' other snapshots are folded already; takes the
///   store's per-event advisory lock (`(1668244580, event id)`, the change mode's), in id
///   order. Otherwise they are the whole history of their events (a rebuild).
/// - `competitor_rebuild_current_odds(events)`: the current rows of `events` (NULL: all)
///   computed anew from their history.
/// - `competitor_fold_pending()`: folds the snapshots inserted in this transaction and not
///   folded yet, which the statement trigger `competitor_odds_snapshots_noted` lists in the
///   transaction-local setting `competitor_db.unfolded`. The deferred constraint trigger
///   `competitor_odds_snapshots_fold` calls it at commit, when a capture's markets are all
///   written.
/// - Both triggers stand aside while the transaction-local setting `competitor_db.folding`
///   is `store`: the store sets it around its own writes, which it folds itself, in memory,
///   with the same rules (the set-based fold of a round of 60,000 markets took several
///   times as long as its COPY).
const POSTGRES_FOLD: &str = r#"
CREATE OR REPLACE FUNCTION competitor_outcome_list(outcomes json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- The outcomes as the store reads them (name, odds, is_active defaulting to true,
    -- other keys ignored), as comparable text; NULL where they are not such a list.
    SELECT CASE WHEN json_typeof(outcomes) = 'array'
            AND strpos(outcomes::text, '\u0000') = 0 THEN (
        SELECT CASE WHEN bool_and(json_typeof(o) = 'object'
                    AND json_typeof(o -> 'name') = 'string'
                    AND json_typeof(o -> 'odds') = 'number'
                    AND coalesce(json_typeof(o -> 'is_active'), 'boolean') = 'boolean')
                IS NOT FALSE
            THEN coalesce(string_agg(jsonb_build_array(o ->> 'name',
                CASE WHEN json_typeof(o -> 'odds') = 'number'
                    THEN trim_scale((o ->> 'odds')::numeric) END,
                CASE WHEN json_typeof(o -> 'is_active') = 'boolean'
                    THEN (o ->> 'is_active')::boolean ELSE true END)::text, ',' ORDER BY n), '')
            END
        FROM json_array_elements(outcomes) WITH ORDINALITY AS e(o, n)) END
$$;

CREATE OR REPLACE FUNCTION competitor_same_outcomes(a json, b json) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT a::text = b::text OR competitor_outcome_list(a) = competitor_outcome_list(b)
$$;

CREATE OR REPLACE FUNCTION competitor_market_key(market_id varchar, line double precision,
    handicap_type varchar, handicap_home double precision, handicap_away double precision)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- NULLs and -0 compare as the unique key does: NULL equals NULL, -0 equals 0.
    SELECT jsonb_build_array(market_id, line + 0.0, handicap_type, handicap_home + 0.0,
        handicap_away + 0.0)::text
$$;

CREATE OR REPLACE FUNCTION competitor_offered_markets(snapshots bigint[], snapshot_kind varchar)
RETURNS TABLE (row_id bigint, competitor_event_id integer, captured_at timestamptz,
    betpawa_market_id varchar, betpawa_market_name varchar, line double precision,
    handicap_type varchar, handicap_home double precision, handicap_away double precision,
    outcomes json)
LANGUAGE sql STABLE AS $$
    -- A market twice in one snapshot (other clients do not refuse it): the last row counts.
    SELECT DISTINCT ON (s.competitor_event_id, m.betpawa_market_id, m.line, m.handicap_type,
            m.handicap_home, m.handicap_away)
        m.id, s.competitor_event_id, s.captured_at, m.betpawa_market_id,
        m.betpawa_market_name, m.line, m.handicap_type, m.handicap_home, m.handicap_away,
        m.outcomes
    FROM competitor_odds_snapshots s JOIN competitor_market_odds m ON m.snapshot_id = s.id
    WHERE s.id = ANY(snapshots) AND s.kind = snapshot_kind AND m.outcomes::text <> '[]'
    ORDER BY s.competitor_event_id, m.betpawa_market_id, m.line, m.handicap_type,
        m.handicap_home, m.handicap_away, m.id DESC
$$;

CREATE OR REPLACE FUNCTION competitor_fold_wave(snapshots bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET work_mem = '64MB' AS $$
BEGIN
    -- A change-only snapshot holds changes: each market it offers is new, changed or back.
    INSERT INTO competitor_market_odds_current AS c (competitor_event_id, betpawa_market_id,
        betpawa_market_name, line, handicap_type, handicap_home, handicap_away, outcomes,
        changed_at)
    SELECT competitor_event_id, betpawa_market_id, betpawa_market_name, line, handicap_type,
        handicap_home, handicap_away, outcomes, captured_at
    FROM competitor_offered_markets(snapshots, 'change') ORDER BY row_id
    ON CONFLICT ON CONSTRAINT uq_competitor_market_odds_current_market DO UPDATE SET
        betpawa_market_name = excluded.betpawa_market_name, outcomes = excluded.outcomes,
        changed_at = excluded.changed_at, unavailable_at = NULL;

    -- A full snapshot offers every market: written where it differs from the current row.
    INSERT INTO competitor_market_odds_current AS c (competitor_event_id, betpawa_market_id,
        betpawa_market_name, line, handicap_type, handicap_home, handicap_away, outcomes,
        changed_at)
    SELECT competitor_event_id, betpawa_market_id, betpawa_market_name, line, handicap_type,
        handicap_home, handicap_away, outcomes, captured_at
    FROM competitor_offered_markets(snapshots, 'full') ORDER BY row_id
    ON CONFLICT ON CONSTRAINT uq_competitor_market_odds_current_market DO UPDATE SET
        betpawa_market_name = excluded.betpawa_market_name, outcomes = excluded.outcomes,
        changed_at = excluded.changed_at, unavailable_at = NULL
    WHERE c.unavailable_at IS NOT NULL
        OR c.betpawa_market_name <> excluded.betpawa_market_name
        OR NOT competitor_same_outcomes(c.outcomes, excluded.outcomes);

    -- Withdrawn by a change-only snapshot: the market with no outcomes.
    UPDATE competitor_market_odds_current c SET unavailable_at = s.captured_at
    FROM competitor_odds_snapshots s JOIN competitor_market_odds m ON m.snapshot_id = s.id
    WHERE s.id = ANY(snapshots) AND s.kind = 'change' AND m.outcomes::text = '[]'
        AND c.competitor_event_id = s.competitor_event_id AND c.unavailable_at IS NULL
        AND c.betpawa_market_id = m.betpawa_market_id
        AND c.line IS NOT DISTINCT FROM m.line
        AND c.handicap_type IS NOT DISTINCT FROM m.handicap_type
        AND c.handicap_home IS NOT DISTINCT FROM m.handicap_home
        AND c.handicap_away IS NOT DISTINCT FROM m.handicap_away;

    -- Not offered by a full snapshot: unavailable from its time. Each snapshot's offered
    -- markets as one set of keys, so no join of current rows with market rows is planned.
    UPDATE competitor_market_odds_current c SET unavailable_at = o.captured_at
    FROM (
        SELECT s.competitor_event_id, s.captured_at,
            jsonb_object_agg(competitor_market_key(m.betpawa_market_id, m.line,
                    m.handicap_type, m.handicap_home, m.handicap_away), true)
                FILTER (WHERE m.id IS NOT NULL AND m.outcomes::text <> '[]') AS offered
        FROM competitor_odds_snapshots s
            LEFT JOIN competitor_market_odds m ON m.snapshot_id = s.id
        WHERE s.id = ANY(snapshots) AND s.kind = 'full'
        GROUP BY s.id, s.competitor_event_id, s.captured_at) o
    WHERE c.competitor_event_id = o.competitor_event_id AND c.unavailable_at IS NULL
        AND NOT COALESCE(o.offered ? competitor_market_key(c.betpawa_market_id, c.line,
            c.handicap_type, c.handicap_home, c.handicap_away), false);
END $$;

CREATE OR REPLACE FUNCTION competitor_fold_snapshots(snapshots bigint[], incremental boolean)
RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    wave bigint[];
BEGIN
    IF incremental THEN
        PERFORM pg_advisory_xact_lock(1668244580, e.id) FROM (
            SELECT DISTINCT competitor_event_id AS id FROM competitor_odds_snapshots
            WHERE id = ANY(snapshots) ORDER BY 1) e;
    END IF;
    -- Stale: not newer than the event's state when it arrives. That state is the newest
    -- of the event's other snapshots (incremental), then each earlier one of the batch.
    UPDATE competitor_odds_snapshots s SET kind = 'stale'
    FROM (
        SELECT b.id, b.captured_at <= GREATEST(
            max(COALESCE(b.last_confirmed_at, b.captured_at)) OVER (
                PARTITION BY b.competitor_event_id ORDER BY b.captured_at, b.id
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
            CASE WHEN incremental THEN (
                SELECT COALESCE(o.last_confirmed_at, o.captured_at)
                FROM competitor_odds_snapshots o
                WHERE o.competitor_event_id = b.competitor_event_id AND o.kind <> 'stale'
                    AND o.id <> ALL(snapshots)
                ORDER BY o.captured_at DESC, o.id DESC LIMIT 1) END) AS stale
        FROM competitor_odds_snapshots b
        WHERE b.id = ANY(snapshots) AND b.kind <> 'stale') judged
    WHERE s.id = judged.id AND judged.stale;
    FOR wave IN
        SELECT array_agg(id) FROM (
            SELECT id, row_number() OVER (
                PARTITION BY competitor_event_id ORDER BY captured_at, id) AS n
            FROM competitor_odds_snapshots
            WHERE id = ANY(snapshots) AND kind <> 'stale') ranked
        GROUP BY n ORDER BY n
    LOOP
        PERFORM competitor_fold_wave(wave);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION competitor_rebuild_current_odds(events integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM competitor_market_odds_current
    WHERE events IS NULL OR competitor_event_id = ANY(events);
    PERFORM competitor_fold_snapshots(ARRAY(
        SELECT id FROM competitor_odds_snapshots
        WHERE (events IS NULL OR competitor_event_id = ANY(events)) AND kind <> 'stale'),
        false);
END $$;

CREATE OR REPLACE FUNCTION competitor_fold_pending() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pending text := NULLIF(current_setting('competitor_db.unfolded', true), '');
BEGIN
    IF pending IS NOT NULL THEN
        PERFORM set_config('competitor_db.unfolded', '', true);
        PERFORM competitor_fold_snapshots(string_to_array(pending, ',')::bigint[], true);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION competitor_odds_snapshots_noted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('competitor_db.unfolded', concat_ws(',',
        NULLIF(current_setting('competitor_db.unfolded', true), ''),
        (SELECT string_agg(id::text, ',') FROM inserted)), true);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION competitor_odds_snapshots_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM competitor_fold_pending();
    RETURN NULL;
END $$;

CREATE TRIGGER competitor_odds_snapshots_noted
    AFTER INSERT ON competitor_odds_snapshots REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT
    WHEN (current_setting('competitor_db.folding', true) IS DISTINCT FROM 'store')
    EXECUTE FUNCTION competitor_odds_snapshots_noted();

CREATE CONSTRAINT TRIGGER competitor_odds_snapshots_fold
    AFTER INSERT ON competitor_odds_snapshots DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (current_setting('competitor_db.folding', true) IS DISTINCT FROM 'store')
    EXECUTE FUNCTION competitor_odds_snapshots_fold();
"#;

const POSTGRES_DROP_FOLD: &str = "
DROP TRIGGER competitor_odds_snapshots_fold ON competitor_odds_snapshots;
DROP TRIGGER competitor_odds_snapshots_noted ON competitor_odds_snapshots;
DROP FUNCTION competitor_odds_snapshots_fold();
DROP FUNCTION competitor_odds_snapshots_noted();
DROP FUNCTION competitor_fold_pending();
DROP FUNCTION competitor_rebuild_current_odds(integer[]);
DROP FUNCTION competitor_fold_snapshots(bigint[], boolean);
DROP FUNCTION competitor_fold_wave(bigint[]);
DROP FUNCTION competitor_offered_markets(bigint[], varchar);
DROP FUNCTION competitor_same_outcomes(json, json);
DROP FUNCTION competitor_outcome_list(json);
DROP FUNCTION competitor_market_key(varchar, double precision, varchar, double precision, double precision);
";
