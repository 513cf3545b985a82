#!/usr/bin/env bash
# How fast purge_snapshots_before deletes change-mode history (examples/bench_purge.rs),
# each run in a fresh database `competitor_bench_purge` on the server of DATABASE_URL
# (needs psql). With `--against REV`, the same example is first built from commit REV of
# this repository (a temporary worktree, with a target directory of its own under
# target/against: sharing this tree's would let cargo take one build for the other, as
# both have the same package names and relative paths) and run the same way,
# so the two lines compare the purge of REV and of this tree on the same machine and data.
# Other arguments go to bench_purge, e.g.
#   scripts/bench_purge.sh --against de9e66d --events 1000 --markets 60 --rounds 24
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

url="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/competitor_odds}"
server="${url%/*}"
admin="$server/postgres"

against=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --against) against="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

fresh() {
  PGOPTIONS="-c client_min_messages=warning" psql -q "$admin" \
    -c "DROP DATABASE IF EXISTS competitor_bench_purge WITH (FORCE)" \
    -c "CREATE DATABASE competitor_bench_purge" >/dev/null
}

work="$(mktemp -d)"
cleanup() {
  if [ -d "$work/tree" ]; then git worktree remove --force "$work/tree"; fi
  rm -rf "$work"
  PGOPTIONS="-c client_min_messages=warning" psql -q "$admin" \
    -c "DROP DATABASE IF EXISTS competitor_bench_purge WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

if [ -n "$against" ]; then
  git worktree add -q --detach "$work/tree" "$against"
  cp examples/bench_purge.rs "$work/tree/examples/bench_purge.rs"
  (cd "$work/tree" && CARGO_TARGET_DIR="$root/target/against" \
    cargo build -q --release --example bench_purge -p competitor-db)
  cp target/against/release/examples/bench_purge "$work/bench_purge_against"
fi
cargo build -q --release --example bench_purge -p competitor-db

if [ -n "$against" ]; then
  fresh
  echo "commit $against:"
  DATABASE_URL="$server/competitor_bench_purge" "$work/bench_purge_against" "${args[@]}" 2>/dev/null
fi
fresh
echo "this tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo ', modified')):"
DATABASE_URL="$server/competitor_bench_purge" target/release/examples/bench_purge "${args[@]}" 2>/dev/null
