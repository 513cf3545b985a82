"""Baseline: how fast the Python service writes competitor odds snapshots.

Measures the write path of the existing Python service on SQLAlchemy 2.0 (async ORM, asyncpg
driver), so the Rust implementation can be compared against a figure taken on the same machine
and database in the same run. Per round, in one AsyncSession:

    session.add_all(N snapshots); await session.flush()        # one flush -> snapshot ids
    session.add_all(N*M market rows with snapshot_id=<id>); await session.commit()

with SQLAlchemy's defaults (insertmanyvalues batching, no tuned batch sizes). As a same-run
reference it then writes the same number of market rows with asyncpg's binary COPY
(copy_records_to_table), against snapshots inserted beforehand outside the timing.

Setup (one sport if absent, one tournament, N events under a run-unique prefix) is not timed.
The database must be migrated by the workspace's `migration` crate. Run from the workspace root:

    pip install -r bench/requirements.txt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        python3 bench/sqlalchemy_write.py --events 2000 --markets 60 [--rounds 1]

stdout: one line per method, `<method> market_rows=.. seconds=.. market_rows_per_sec=..`
(`sqlalchemy upkeep=on|off ...` for the ORM pattern: with `--upkeep off` the session tells
migration 4's fold triggers to stand aside, the baseline without the current odds' upkeep),
then `ratio_sqlalchemy_to_copy=..` (SQLAlchemy seconds / COPY seconds). Notes on statement
batching and memory go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import asyncpg
from sqlalchemy import (JSON, BigInteger, Column, DateTime, Float, ForeignKey, Integer, String,
                        Table, event, func, make_url, select)
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# Stubs of the base tables that competitor tables point at but this benchmark never writes,
# so that every ForeignKey below resolves.
Table("events", Base.metadata, Column("id", Integer, primary_key=True))
Table("scrape_runs", Base.metadata, Column("id", Integer, primary_key=True))


class Sport(Base):
    __tablename__ = "sports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)


class CompetitorTournament(Base):
    __tablename__ = "competitor_tournaments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    sport_id: Mapped[int] = mapped_column(ForeignKey("sports.id"))
    name: Mapped[str] = mapped_column(String(255))
    country_raw: Mapped[Optional[str]] = mapped_column(String(100))
    country_iso: Mapped[Optional[str]] = mapped_column(String(3))
    external_id: Mapped[str] = mapped_column(String(100))
    sportradar_id: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))


class CompetitorEvent(Base):
    __tablename__ = "competitor_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    tournament_id: Mapped[int] = mapped_column(ForeignKey("competitor_tournaments.id"))
    betpawa_event_id: Mapped[Optional[int]] = mapped_column(ForeignKey("events.id"))
    name: Mapped[str] = mapped_column(String(500))
    home_team: Mapped[str] = mapped_column(String(255))
    away_team: Mapped[str] = mapped_column(String(255))
    kickoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    external_id: Mapped[str] = mapped_column(String(100))
    sportradar_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))


class CompetitorOddsSnapshot(Base):
    __tablename__ = "competitor_odds_snapshots"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    competitor_event_id: Mapped[int] = mapped_column(ForeignKey("competitor_events.id", ondelete="CASCADE"))
    # server_default: SQLAlchemy 2.0 (eager_defaults="auto") fetches it back via RETURNING.
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    scrape_run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("scrape_runs.id", ondelete="SET NULL"))
    raw_response: Mapped[Optional[Any]] = mapped_column(JSON)


class CompetitorMarketOdds(Base):
    __tablename__ = "competitor_market_odds"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("competitor_odds_snapshots.id", ondelete="CASCADE"))
    betpawa_market_id: Mapped[str] = mapped_column(String(50))
    betpawa_market_name: Mapped[str] = mapped_column(String(255))
    line: Mapped[Optional[float]] = mapped_column(Float)
    handicap_type: Mapped[Optional[str]] = mapped_column(String(50))
    handicap_home: Mapped[Optional[float]] = mapped_column(Float)
    handicap_away: Mapped[Optional[float]] = mapped_column(Float)
    outcomes: Mapped[Any] = mapped_column(JSON)


MARKET_COLUMNS = ["snapshot_id", "betpawa_market_id", "betpawa_market_name", "line",
                  "handicap_type", "handicap_home", "handicap_away", "outcomes"]

# (market id, name, line, handicap_type, handicap_home, handicap_away, outcome names)
MARKET_KINDS = [
    ("3743", "1X2", None, None, None, None, ["1", "X", "2"]),
    ("5000", "Over/Under", 2.5, None, None, None, ["Over", "Under"]),
    ("4693", "Double Chance", None, None, None, None, ["1X", "12", "X2"]),
    ("3774", "Asian Handicap", None, "asian", -0.5, 0.5, ["1", "2"]),
]


def make_markets(n_events: int, n_markets: int) -> list[list[tuple]]:
    """The parsed scrape the service holds before writing: per event, M market tuples
    (everything but snapshot_id). Built outside the timing, reused by every round/method."""
    rnd = random.Random(42)
    out = []
    for _ in range(n_events):
        markets = []
        for m in range(n_markets):
            mid, name, line, htype, hhome, haway, names = MARKET_KINDS[m % len(MARKET_KINDS)]
            outcomes = [{"name": o, "odds": round(rnd.uniform(1.05, 9.5), 2),
                         "is_active": rnd.random() > 0.05} for o in names]
            markets.append((mid, name, line, htype, hhome, haway, outcomes))
        out.append(markets)
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def setup(Session, n_events: int, prefix: str) -> list[int]:
    async with Session() as s:
        sport = await s.scalar(select(Sport).where(Sport.slug == "football"))
        if sport is None:
            sport = Sport(name="Football", slug="football")
            s.add(sport)
            await s.flush()
        tour = CompetitorTournament(source="sportybet", sport_id=sport.id, name=f"Bench League {prefix}",
                                    country_raw="England", country_iso="ENG", external_id=f"{prefix}-t")
        s.add(tour)
        await s.flush()
        kickoff = datetime.now(timezone.utc) + timedelta(days=1)
        events = [CompetitorEvent(source="sportybet", tournament_id=tour.id, name=f"Home {i} - Away {i}",
                                  home_team=f"Home {i}", away_team=f"Away {i}",
                                  kickoff=kickoff + timedelta(minutes=i), external_id=f"{prefix}-e{i}",
                                  sportradar_id=str(900000000 + i)) for i in range(n_events)]
        s.add_all(events)
        await s.flush()
        ids = [e.id for e in events]
        await s.commit()
    return ids


async def sqlalchemy_round(Session, event_ids: list[int], markets: list[list[tuple]]) -> tuple[float, list[int]]:
    """Timed: the service's write pattern, ORM objects built inside the timing as the service does."""
    t0 = time.perf_counter()
    async with Session() as session:
        snaps = [CompetitorOddsSnapshot(competitor_event_id=eid) for eid in event_ids]
        session.add_all(snaps)
        await session.flush()  # one flush: INSERT .. RETURNING id, captured_at
        snap_ids = [s.id for s in snaps]  # read before commit expires the objects
        session.add_all([
            CompetitorMarketOdds(snapshot_id=sid, betpawa_market_id=mid, betpawa_market_name=name, line=line,
                                 handicap_type=htype, handicap_home=hhome, handicap_away=haway, outcomes=outcomes)
            for sid, ev_markets in zip(snap_ids, markets)
            for (mid, name, line, htype, hhome, haway, outcomes) in ev_markets
        ])
        await session.commit()  # flushes the N*M market rows, then COMMIT
    return time.perf_counter() - t0, snap_ids


async def copy_round(conn: asyncpg.Connection, event_ids: list[int], markets: list[list[tuple]]) -> tuple[float, list[int]]:
    # Untimed: the snapshots the market rows point at.
    snap_ids = [r["id"] for r in await conn.fetch(
        "INSERT INTO competitor_odds_snapshots (competitor_event_id) "
        "SELECT unnest($1::int[]) RETURNING id", event_ids)]
    # Timed: build the records (json text for the json column, as asyncpg expects) and COPY them.
    t0 = time.perf_counter()
    records = [(sid, mid, name, line, htype, hhome, haway, json.dumps(outcomes))
               for sid, ev_markets in zip(snap_ids, markets)
               for (mid, name, line, htype, hhome, haway, outcomes) in ev_markets]
    await conn.copy_records_to_table("competitor_market_odds", records=records, columns=MARKET_COLUMNS)
    return time.perf_counter() - t0, snap_ids


async def count_markets(conn: asyncpg.Connection, snap_ids: list[int]) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM competitor_market_odds WHERE snapshot_id = ANY($1::bigint[])", snap_ids)


def report(method: str, rows: int, seconds: float) -> None:
    print(f"{method} market_rows={rows} seconds={seconds:.3f} market_rows_per_sec={int(rows / seconds)}", flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--markets", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--upkeep", choices=["on", "off"], default="on",
                    help="off: the session tells migration 4's fold triggers to stand aside "
                         "(competitor_db.folding = 'store'), the baseline without the "
                         "current odds' upkeep")
    args = ap.parse_args()
    dsn = os.environ["DATABASE_URL"]
    url = make_url(dsn).set(drivername="postgresql+asyncpg")

    # Defaults: pool, insertmanyvalues_page_size=1000. Without upkeep, every session sets the
    # setting the store sets around its own writes, so the triggers skip these rows.
    server_settings = {"competitor_db.folding": "store"} if args.upkeep == "off" else {}
    engine = create_async_engine(url, connect_args={"server_settings": server_settings})
    Session = async_sessionmaker(engine)  # defaults: expire_on_commit=True, autoflush=True

    # Count the INSERT statements the driver actually receives: insertmanyvalues fires this hook
    # once per batch (batched statement, flattened parameters); tallied per table and form.
    stmts: dict[tuple[str, str], list[int]] = {}  # (table, form) -> [statements, max params]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        words = statement.split(None, 3)
        if words[0].upper() == "INSERT":
            form = "multi-row VALUES" if "imp_sen" in statement else "single-row"
            form += " + RETURNING" if "RETURNING" in statement else ""
            tally = stmts.setdefault((words[2], form), [0, 0])
            tally[0] += 1
            tally[1] = max(tally[1], len(parameters))

    prefix = f"bench-{uuid.uuid4().hex[:12]}"  # run-unique external ids
    event_ids = await setup(Session, args.events, prefix)
    markets = make_markets(args.events, args.markets)
    per_round = args.events * args.markets
    total = per_round * args.rounds
    conn = await asyncpg.connect(dsn)
    print(f"# setup done: {len(event_ids)} events, prefix {prefix}, peak RSS {rss_mb():.0f} MB", file=sys.stderr)

    # SQLAlchemy rounds first, then COPY rounds, so peak RSS can be attributed to each.
    stmts.clear()
    sa_secs = 0.0
    for _ in range(args.rounds):
        secs, snap_ids = await sqlalchemy_round(Session, event_ids, markets)
        sa_secs += secs
        assert await count_markets(conn, snap_ids) == per_round
    print(f"# sqlalchemy INSERT statements sent over {args.rounds} round(s): "
          + "; ".join(f"{t}: {n} x {f}, up to {p} params" for (t, f), (n, p) in sorted(stmts.items()))
          + f"; peak RSS {rss_mb():.0f} MB", file=sys.stderr)
    report(f"sqlalchemy upkeep={args.upkeep}", total, sa_secs)

    cp_secs = 0.0
    for _ in range(args.rounds):
        secs, snap_ids = await copy_round(conn, event_ids, markets)
        cp_secs += secs
        assert await count_markets(conn, snap_ids) == per_round
    print(f"# after COPY: peak RSS {rss_mb():.0f} MB", file=sys.stderr)
    report("asyncpg_copy", total, cp_secs)
    print(f"ratio_sqlalchemy_to_copy={sa_secs / cp_secs:.3f}")

    await conn.close()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
