#!/usr/bin/env bash
# The ingest benchmark with its same-run baselines, on the server of DATABASE_URL:
#   1. examples/bench_ingest: one full round through the store against COPY (TLS off and
#      on), then full and change mode round after round, and their reads;
#   2. bench/sqlalchemy_write.py: one full round in the Python service's SQLAlchemy ORM
#      write pattern (skipped, with a note, when `pip install -r bench/requirements.txt`
#      was not run).
# Each runs in a fresh database created here (needs psql). Arguments go to bench_ingest,
# e.g. scripts/bench.sh --mode both --events 1000 --markets 60 --rounds 48 --change-rate 0.05
set -euo pipefail
cd "$(dirname "$0")/.."

url="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/competitor_odds}"
server="${url%/*}"
admin="$server/postgres"

fresh() {
  PGOPTIONS="-c client_min_messages=warning" psql -q "$admin" \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

cargo build -q --release --example bench_ingest -p competitor-db
cargo build -q --release -p migration

fresh competitor_bench_store
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
DATABASE_URL="$server/competitor_bench_store" /usr/bin/time -f "peak_rss_kb=%M" \
  target/release/examples/bench_ingest "$@" 2>&1 | tee "$out"
store_rate="$(sed -n 's/^store[a-z_]* tls=off .*market_rows_per_sec=\([0-9]*\).*/\1/p' "$out")"

# The SQLAlchemy script writes one full round of the same size.
py_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events|--markets) py_args+=("$1" "$2"); shift 2 ;;
    --in-transaction) shift ;;
    *) shift 2 ;;
  esac
done

if python3 -c 'import sqlalchemy, asyncpg' 2>/dev/null; then
  fresh competitor_bench_sqlalchemy
  DATABASE_URL="$server/competitor_bench_sqlalchemy" target/release/migration up >/dev/null
  DATABASE_URL="$server/competitor_bench_sqlalchemy" python3 bench/sqlalchemy_write.py "${py_args[@]}" 2>/dev/null | tee "$out"
  sqlalchemy_rate="$(sed -n 's/^sqlalchemy .*market_rows_per_sec=\([0-9]*\).*/\1/p' "$out")"
  awk -v s="$store_rate" -v p="$sqlalchemy_rate" 'BEGIN { printf "ratio_store_to_sqlalchemy=%.2f\n", s / p }'
  psql -q "$admin" -c "DROP DATABASE competitor_bench_sqlalchemy WITH (FORCE)" >/dev/null
else
  echo "(SQLAlchemy baseline skipped: pip install -r bench/requirements.txt)"
fi
psql -q "$admin" -c "DROP DATABASE competitor_bench_store WITH (FORCE)" >/dev/null
