#!/usr/bin/env bash
# The ingest benchmark with its same-run baselines, on the server of DATABASE_URL:
#   1. examples/bench_ingest: one full round through the store against COPY (TLS off and
#      on), then full and change mode round after round, and their reads;
#   2. bench/sqlalchemy_write.py: two full rounds in the Python service's SQLAlchemy ORM
#      write pattern, with the current odds' upkeep of migration 4's triggers and without
#      it (skipped, with a note, when `pip install -r bench/requirements.txt` was not run).
# Each runs in a fresh database created here (needs psql). Arguments go to bench_ingest,
# e.g. scripts/bench.sh --mode both --events 1000 --markets 60 --rounds 48 --change-rate 0.05
#
# --tracing off|info|both: bench_ingest with no subscriber (the default), with an `info`
# subscriber writing a line per store call to stderr, or both, one after the other in
# fresh databases, then `tracing_ratio` lines: each write and read time with the
# subscriber over the same time without (docs/performance.md, "Tracing cost").
set -euo pipefail
cd "$(dirname "$0")/.."

url="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/competitor_odds}"
server="${url%/*}"
admin="$server/postgres"

fresh() {
  PGOPTIONS="-c client_min_messages=warning" psql -q "$admin" \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

tracing="off"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tracing) tracing="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$tracing" in
  off|info) runs=("$tracing") ;;
  both) runs=(off info) ;;
  *) echo "scripts/bench.sh: --tracing off, info or both, not $tracing" >&2; exit 1 ;;
esac

cargo build -q --release --example bench_ingest -p competitor-db
cargo build -q --release -p migration

out="$(mktemp)"
out_off="$(mktemp)"
out_info="$(mktemp)"
trap 'rm -f "$out" "$out_off" "$out_info"' EXIT
# A subscriber's lines start with a timestamp; its `info` lines are kept out of sight.
span_line='^[0-9-]+T[0-9:.]+Z +INFO '
for run in "${runs[@]}"; do
  fresh competitor_bench_store
  echo "bench_ingest --tracing $run"
  DATABASE_URL="$server/competitor_bench_store" /usr/bin/time -f "peak_rss_kb=%M" \
    target/release/examples/bench_ingest --tracing "$run" "${args[@]}" 2>&1 |
    tee "$out" | grep -Ev "$span_line"
  hidden="$(grep -Ec "$span_line" "$out" || true)"
  if [ "$hidden" -gt 0 ]; then
    echo "($hidden info lines of the subscriber not shown)"
  fi
  cp "$out" "$(if [ "$run" = off ]; then echo "$out_off"; else echo "$out_info"; fi)"
done
store_rate="$(sed -n 's/^store[a-z_]* tls=off .*market_rows_per_sec=\([0-9]*\).*/\1/p' "$out")"

# Each time with the subscriber over the same time without: above 1 is slower with it.
if [ "$tracing" = both ]; then
  # "figure|time" per line: the write and read times of a bench_ingest output.
  times() {
    awk -v OFS='|' '
      function value(name,   i, v) {
        for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) { split($i, v, "="); return v[2] }
      }
      /^(store|store_in_transaction|copy) tls=/ { print $1 " " $2, value("seconds") }
      /^rounds mode=/ { print $1 " " $2, value("write_ms_per_round") }
      /^read fn=/ { print $1 " " $2 " after_rounds=" value("after_rounds") " tls=" value("tls"), value("ms") }
      /^upsert fn=/ { print $1 " " $2 " tls=" value("tls"), value("ms") }
    ' "$1" | LC_ALL=C sort
  }
  LC_ALL=C join -t '|' <(times "$out_off") <(times "$out_info") |
    awk -F '|' '{ printf "tracing_ratio %s off=%s info=%s ratio=%.3f\n", $1, $2, $3, ($2 > 0 ? $3 / $2 : 0) }'
fi

# The SQLAlchemy script writes one full round of the same size.
py_args=()
set -- "${args[@]}"
while [ $# -gt 0 ]; do
  case "$1" in
    --events|--markets) py_args+=("$1" "$2"); shift 2 ;;
    --in-transaction) shift ;;
    *) shift 2 ;;
  esac
done

if python3 -c 'import sqlalchemy, asyncpg' 2>/dev/null; then
  # The service's pattern with the current odds' upkeep (migration 4's triggers) and without
  # it (the session tells them to stand aside), each in a fresh database: two rounds, the
  # first filling the current table, the second the steady state of a repeated capture.
  for upkeep in off on; do
    fresh competitor_bench_sqlalchemy
    DATABASE_URL="$server/competitor_bench_sqlalchemy" target/release/migration up >/dev/null
    DATABASE_URL="$server/competitor_bench_sqlalchemy" python3 bench/sqlalchemy_write.py \
      "${py_args[@]}" --rounds 2 --upkeep "$upkeep" 2>/dev/null | tee "$out" | grep '^sqlalchemy'
    rate="$(sed -n 's/^sqlalchemy .*market_rows_per_sec=\([0-9]*\).*/\1/p' "$out")"
    if [ "$upkeep" = on ]; then sqlalchemy_rate="$rate"; else bare_rate="$rate"; fi
    psql -q "$admin" -c "DROP DATABASE competitor_bench_sqlalchemy WITH (FORCE)" >/dev/null
  done
  awk -v on="$sqlalchemy_rate" -v off="$bare_rate" \
    'BEGIN { printf "ratio_sqlalchemy_upkeep_to_without=%.3f\n", on / off }'
  awk -v s="$store_rate" -v p="$sqlalchemy_rate" 'BEGIN { printf "ratio_store_to_sqlalchemy=%.2f\n", s / p }'
else
  echo "(SQLAlchemy baseline skipped: pip install -r bench/requirements.txt)"
fi
psql -q "$admin" -c "DROP DATABASE competitor_bench_store WITH (FORCE)" >/dev/null
