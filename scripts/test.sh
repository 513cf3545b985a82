#!/usr/bin/env bash
# The one test command. Makes sure a PostgreSQL server answers at DATABASE_URL (default:
# the docker-compose database), starting one if none does, then runs the workspace tests.
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/competitor_odds}"

# host and port of DATABASE_URL (postgres://user:pass@host:port/db?params)
authority="${DATABASE_URL#*://}"
authority="${authority%%/*}"
authority="${authority##*@}"
host="${authority%%:*}"
port="5432"
[[ "$authority" == *:* ]] && port="${authority##*:}"

reachable() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$host" -p "$port" -t 2
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

start_postgres() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo "scripts/test.sh: starting PostgreSQL with docker compose" >&2
    docker compose up -d --wait
    return
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    if [ -n "$version" ]; then
      echo "scripts/test.sh: starting the local PostgreSQL $version cluster" >&2
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
      return
    fi
  fi
  echo "scripts/test.sh: no PostgreSQL answers at $host:$port, and neither a Docker engine" \
       "nor a local PostgreSQL cluster (pg_ctlcluster) is here to start one." >&2
  echo "Start a server and set DATABASE_URL (its user must be allowed to CREATE DATABASE)." >&2
  exit 1
}

if ! reachable; then
  start_postgres
  for _ in $(seq 1 30); do
    reachable && break
    sleep 1
  done
  if ! reachable; then
    echo "scripts/test.sh: PostgreSQL was started but does not answer at $host:$port" >&2
    exit 1
  fi
fi

exec cargo test --workspace "$@"
