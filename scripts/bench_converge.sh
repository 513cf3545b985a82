#!/usr/bin/env bash
# How long `migration up` takes to converge the Python service's competitor tables, and how
# long it keeps them locked, on a service-shaped database on the server of DATABASE_URL:
#   1. a fresh database `competitor_bench_converge` with the service's schema
#      (tests/fixtures/python-service-schema.sql) plus its later columns (market_groups,
#      unavailable_at, last_confirmed_at) and, by generate_series, MARKETS market rows
#      (default 1,000,000) in snapshots of 60 markets, 4,000 competitor events, 200
#      competitor tournaments, naive timestamps; then VACUUM ANALYZE (autovacuum is off on
#      this project's server);
#   2. `target/release/migration up`, timed from process start to exit;
#   3. meanwhile, a psql session polls pg_locks every 10 ms for an ACCESS EXCLUSIVE lock on
#      any competitor table: the time it is held is the time the service's reads and
#      writes of those tables wait (one window for the check `up` runs first, one per
#      migration that takes it);
#   4. meanwhile, once that lock is seen, one market insert (as the service would write)
#      is timed: how long a write issued during the migration waits.
# With `--fold-apart`, migrations 1 to 3 run first, untimed, and steps 2 to 4 measure
# migration 4 alone: the fold of the history into the current odds (the backfill), which
# holds ACCESS EXCLUSIVE on the snapshots from its ADD COLUMN to its commit.
# Usage: scripts/bench_converge.sh [MARKETS] [--fold-apart]   (needs psql)
set -euo pipefail
cd "$(dirname "$0")/.."

markets="${1:-1000000}"
fold_apart="${2:-}"
url="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/competitor_odds}"
server="${url%/*}"
admin="$server/postgres"
bench="$server/competitor_bench_converge"
export PGOPTIONS="-c client_min_messages=warning"

cargo build -q --release -p migration

psql -q "$admin" -c "DROP DATABASE IF EXISTS competitor_bench_converge WITH (FORCE)" \
  -c "CREATE DATABASE competitor_bench_converge" >/dev/null
psql -q -v ON_ERROR_STOP=1 "$bench" -f tests/fixtures/python-service-schema.sql >/dev/null
# The columns later service versions added (tests/it/converge.rs, SERVICE_EXTRA_COLUMNS).
psql -q -v ON_ERROR_STOP=1 "$bench" >/dev/null <<'SQL'
ALTER TABLE competitor_market_odds ADD COLUMN market_groups json, ADD COLUMN unavailable_at timestamp;
ALTER TABLE competitor_odds_snapshots ADD COLUMN last_confirmed_at timestamp;
SQL

build_start="$(date +%s.%N)"
psql -q -v ON_ERROR_STOP=1 -v markets="$markets" "$bench" >/dev/null <<'SQL'
INSERT INTO sports (name, slug) VALUES ('Football', 'football');
INSERT INTO tournaments (sport_id, name, country) VALUES (1, 'Premier League', 'England');
INSERT INTO events (tournament_id, name, home_team, away_team, kickoff, sportradar_id)
SELECT 1, 'Home ' || i || ' - Away ' || i, 'Home ' || i, 'Away ' || i,
       timestamptz '2026-12-01 12:00Z' + i * interval '1 hour', (61300000 + i)::text
FROM generate_series(1, 2000) AS i;
INSERT INTO scrape_batches (started_at, completed_at, status, trigger)
SELECT timestamp '2026-11-26 10:00' + i * interval '5 minutes',
       timestamp '2026-11-26 10:04' + i * interval '5 minutes', 'completed', 'scheduler'
FROM generate_series(1, 100) AS i;
INSERT INTO scrape_runs (status, started_at, completed_at, events_scraped, batch_id)
SELECT 'completed', timestamptz '2026-11-26 10:00Z' + i * interval '5 minutes',
       timestamptz '2026-11-26 10:04Z' + i * interval '5 minutes', 4000, i
FROM generate_series(1, 100) AS i;
INSERT INTO competitor_tournaments (source, sport_id, name, country_raw, external_id,
                                    sportradar_id, created_at)
SELECT CASE WHEN i % 2 = 0 THEN 'sportybet' ELSE 'bet9ja' END, 1, 'Tournament ' || i,
       'Country ' || (i % 40), 'tournament-' || i, i::text, timestamp '2026-11-01 08:00'
FROM generate_series(1, 200) AS i;
INSERT INTO competitor_events (source, tournament_id, betpawa_event_id, name, home_team,
                               away_team, kickoff, external_id, sportradar_id, created_at,
                               updated_at)
SELECT CASE WHEN t % 2 = 0 THEN 'sportybet' ELSE 'bet9ja' END, t,
       CASE WHEN i % 4 <> 0 THEN 1 + (i - 1) % 2000 END,
       'Home ' || i || ' vs Away ' || i, 'Home ' || i, 'Away ' || i,
       timestamp '2026-12-01 12:00' + (i % 2000) * interval '1 hour', 'event-' || i,
       (61300000 + 1 + (i - 1) % 2000)::text, timestamp '2026-11-01 08:00',
       timestamp '2026-11-26 10:00'
FROM generate_series(1, 4000) AS i, LATERAL (SELECT 1 + i % 200 AS t) AS tournament;
INSERT INTO competitor_odds_snapshots (competitor_event_id, captured_at, scrape_run_id,
                                       last_confirmed_at)
SELECT 1 + (j - 1) % 4000, timestamp '2026-11-26 10:00' + ((j - 1) / 4000) * interval '5 minutes',
       1 + ((j - 1) / 4000) % 100,
       timestamp '2026-11-26 10:05' + ((j - 1) / 4000) * interval '5 minutes'
FROM generate_series(1, (:markets + 59) / 60) AS j;
INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id, betpawa_market_name, line,
                                    handicap_type, handicap_home, handicap_away, outcomes,
                                    market_groups, unavailable_at)
SELECT 1 + (i - 1) / 60, (3743 + i % 60)::text, 'Market ' || (i % 60),
       CASE WHEN i % 3 = 0 THEN 2.5 END, CASE WHEN i % 7 = 0 THEN 'asian' END,
       CASE WHEN i % 7 = 0 THEN -0.25 END, CASE WHEN i % 7 = 0 THEN 0.25 END,
       ('[{"name":"1","odds":' || (1.5 + (i % 100) / 100.0) || ',"is_active":true},'
        || '{"name":"X","odds":3.4,"is_active":true},{"name":"2","odds":4.1,"is_active":true}]')::json,
       '["main"]', CASE WHEN i % 20 = 0 THEN timestamp '2026-11-26 10:30' END
FROM generate_series(1, :markets) AS i;
VACUUM ANALYZE;
SQL
build_end="$(date +%s.%N)"

psql -At "$bench" -c "SELECT 'rows: ' || (SELECT count(*) FROM competitor_market_odds) || ' market odds, '
  || (SELECT count(*) FROM competitor_odds_snapshots) || ' snapshots, '
  || (SELECT count(*) FROM competitor_events) || ' events, '
  || (SELECT count(*) FROM competitor_tournaments) || ' tournaments; competitor tables '
  || pg_size_pretty((SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY[
       'competitor_market_odds', 'competitor_odds_snapshots', 'competitor_events',
       'competitor_tournaments']::regclass[]) AS c))"
awk -v s="$build_start" -v e="$build_end" 'BEGIN { printf "built and analysed in %.1f s\n", e - s }'

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT

if [ "$fold_apart" = "--fold-apart" ]; then
  DATABASE_URL="$bench" target/release/migration up -n 3 >"$log/up3" 2>&1 || { cat "$log/up3"; exit 1; }
  psql -q "$bench" -c "VACUUM ANALYZE" >/dev/null
  echo "migrations 1 to 3 applied (untimed); timing migration 4 alone"
fi

# How long another session holds an ACCESS EXCLUSIVE lock on a competitor table: the sum
# over polls that saw it, and in how many windows (one per migration that takes it); ends
# 3 s after the last sighting (or after 30 minutes without one).
psql -q -At "$bench" >"$log/locks" 2>&1 <<'SQL' &
DO $$
DECLARE
    watched oid[] := ARRAY['competitor_tournaments'::regclass, 'competitor_events'::regclass,
                           'competitor_odds_snapshots'::regclass,
                           'competitor_market_odds'::regclass]::oid[];
    started timestamptz := clock_timestamp();
    previous timestamptz := clock_timestamp();
    now_ timestamptz;
    last_seen timestamptz;
    held_before boolean := false;
    held boolean;
    total interval := interval '0';
    windows integer := 0;
BEGIN
    LOOP
        held := EXISTS (SELECT 1 FROM pg_locks
                        WHERE mode = 'AccessExclusiveLock' AND granted
                          AND relation = ANY (watched) AND pid <> pg_backend_pid());
        now_ := clock_timestamp();
        IF held THEN
            IF held_before THEN
                total := total + (now_ - previous);
            ELSE
                windows := windows + 1;
            END IF;
            last_seen := now_;
        END IF;
        EXIT WHEN last_seen IS NOT NULL AND now_ - last_seen > interval '3 seconds';
        EXIT WHEN last_seen IS NULL AND now_ - started > interval '30 minutes';
        held_before := held;
        previous := now_;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RAISE WARNING 'lock_seconds=% windows=%', round(extract(epoch FROM total), 2), windows;
END $$;
SQL
watcher=$!

# One market insert issued while the lock is held.
(
  for _ in $(seq 1 6000); do
    held="$(psql -At "$bench" -c "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock'
      AND granted AND relation IN ('competitor_market_odds'::regclass,
                                   'competitor_odds_snapshots'::regclass)")"
    [ "$held" != 0 ] && break
    sleep 0.02
  done
  start="$(date +%s.%N)"
  psql -q "$bench" -c "INSERT INTO competitor_market_odds (snapshot_id, betpawa_market_id,
    betpawa_market_name, outcomes) VALUES (1, 'probe', 'probe', '[]')"
  end="$(date +%s.%N)"
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f\n", e - s }' >"$log/insert"
) &
prober=$!

sleep 0.5
up_start="$(date +%s.%N)"
DATABASE_URL="$bench" target/release/migration up >"$log/up" 2>&1 || { cat "$log/up"; exit 1; }
up_end="$(date +%s.%N)"
wait "$watcher" "$prober"

grep -E '^(Converg|warning)' "$log/up" || true
awk -v s="$up_start" -v e="$up_end" 'BEGIN { printf "up: %.2f s (process start to exit)\n", e - s }'
echo "ACCESS EXCLUSIVE on the competitor tables: $(sed -n 's/.*lock_seconds=\([0-9.]*\) windows=\([0-9]*\).*/\1 s in \2 windows/p' "$log/locks") (pg_locks polled every 10 ms)"
echo "a market insert issued once the lock was seen waited: $(cat "$log/insert") s"
psql -At "$bench" -c "SELECT 'after up: ' || (SELECT count(*) FROM competitor_market_odds) || ' market odds (1 is the probe), '
  || (SELECT count(*) FROM competitor_market_odds_current) || ' current markets, '
  || (SELECT count(*) FROM pg_constraint WHERE conname LIKE 'ck_competitor_%') || ' source CHECKs; snapshots '
  || string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ') FROM pg_attribute
  WHERE attrelid = 'competitor_odds_snapshots'::regclass AND attname IN ('captured_at', 'last_confirmed_at')"
psql -q "$admin" -c "DROP DATABASE competitor_bench_converge WITH (FORCE)" >/dev/null
