#!/usr/bin/env bash
# The soak benchmark, a day of service life in minutes (examples/soak.rs), in a fresh
# database on the server of DATABASE_URL, dropped afterwards (needs psql). Arguments go to
# the example, e.g. scripts/soak.sh --rounds 96 --events 500
#
# --table-settings: after migrating, apply the current table's settings that
# docs/operations.md recommends for production ("Autovacuum for the current table"):
#   ALTER TABLE competitor_market_odds_current SET (fillfactor = 70,
#     autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000)
# fillfactor acts at once; the autovacuum settings only where autovacuum runs, and the
# script says whether the server runs it (`SHOW autovacuum`). Where it does not, the
# example's `--autovacuum` applies autovacuum's rule (the table's settings, else the
# server's) after every round: scripts/soak.sh --table-settings --autovacuum
#
# Prints the example's stdout line (`soak rounds=..`), its `soak_details` line, the
# current table's settings and how often it was vacuumed (by the example, by autovacuum);
# the progress lines go to the log named at the end. Exit code: the example's (0: no
# error, and every invariant held).
set -euo pipefail
cd "$(dirname "$0")/.."

url="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/competitor_odds}"
server="${url%/*}"
admin="$server/postgres"
database="${SOAK_DATABASE:-competitor_soak}"   # another name runs two soaks side by side

settings=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --table-settings) settings=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

cargo build -q --release --example soak -p competitor-db
cargo build -q --release -p migration

PGOPTIONS="-c client_min_messages=warning" psql -q "$admin" \
  -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database" >/dev/null
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null' EXIT
DATABASE_URL="$server/$database" target/release/migration up >/dev/null
echo "server: PostgreSQL $(psql -Atq "$admin" -c 'SHOW server_version'), autovacuum $(psql -Atq "$admin" -c 'SHOW autovacuum'), $(nproc) cores"
if [ "$settings" = 1 ]; then
  psql -q "$server/$database" -c "ALTER TABLE competitor_market_odds_current SET (\
    fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000)"
fi
echo "current table settings: $(psql -Atq "$server/$database" -c \
  "SELECT COALESCE(array_to_string(reloptions, ', '), 'defaults') FROM pg_class \
   WHERE relname = 'competitor_market_odds_current'")"

log="$(mktemp -t soak.XXXXXX.log)"
status=0
DATABASE_URL="$server/$database" target/release/examples/soak "${args[@]}" 2>"$log" || status=$?
grep -E '^soak(_details|:)' "$log" || true
psql -Atq "$server/$database" -F ' ' -c \
  "SELECT 'current_table', 'vacuum_count=' || vacuum_count, \
       'autovacuum_count=' || autovacuum_count \
   FROM pg_stat_user_tables WHERE relname = 'competitor_market_odds_current'" || true
echo "progress lines: $log"
exit "$status"
