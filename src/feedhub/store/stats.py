"""Read-only health figures, for `feedhub status` and the /metrics scrape: what the
store knows, and how old each output's files are.

`feedhub serve` usually runs apart from the `feedhub fetch` that cron starts,
so nothing can be counted in memory: every figure is read from the tables
when asked. A handful of aggregate queries, whatever the number of sources
(durations are bucketed in SQL with CASE), all in one transaction so the
figures agree with one another.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from feedhub.sources import SourceStatus
from feedhub.store.engine import store_error
from feedhub.store.schema import entries, runs, sources

if TYPE_CHECKING:
    from feedhub.models import Config

__all__ = [
    "FETCH_SECONDS_BUCKETS",
    "RECENT_WINDOW",
    "STATUSES",
    "FetchDurations",
    "Health",
    "LastRun",
    "OutputFiles",
    "RunCounts",
    "output_files",
    "ping",
    "read_health",
]

STATUSES: tuple[str, ...] = get_args(SourceStatus)
# Upper bounds (seconds) of the fetch duration buckets; +Inf is implied after the last.
FETCH_SECONDS_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The not-modified ratio looks at runs started this long before the snapshot: long
# enough to span every source's interval at the default settings, short enough to
# show a change of publisher behaviour within a day.
RECENT_WINDOW = timedelta(hours=24)
BROKEN_NAMES_SHOWN = 20


@dataclass(frozen=True)
class RunCounts:
    """Sums over rows of the runs table."""

    runs: int = 0
    fetched: int = 0  # attempts that brought a body (HTTP 200 or a local file)
    not_modified: int = 0  # attempts answered 304, or an unchanged body
    failed: int = 0
    entries_new: int = 0
    entries_updated: int = 0
    outputs_written: int = 0  # output files rewritten

    @property
    def attempts(self) -> int:
        return self.fetched + self.not_modified + self.failed


@dataclass(frozen=True)
class LastRun:
    started_at: datetime
    finished_at: datetime | None
    counts: RunCounts
    build_seconds: float | None

    @property
    def at(self) -> datetime:
        """When the run ended (or began, had it not recorded an end)."""
        return self.finished_at or self.started_at


@dataclass(frozen=True)
class FetchDurations:
    """How long each polled source's last attempt took, as cumulative bucket counts."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # one per bound, then the +Inf bucket (= count)
    total_seconds: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


@dataclass(frozen=True)
class Health:
    """One consistent snapshot of what the store knows about feedhub's health.

    Sources are the enabled ones (a source removed from feeds.toml is disabled
    at the next fetch and no longer counted).
    """

    taken_at: datetime
    sources: Mapping[str, int]  # enabled sources by status; every known status is present
    broken_names: tuple[str, ...]  # the first BROKEN_NAMES_SHOWN broken sources, by name
    entries: int
    runs: RunCounts  # every run ever recorded
    recent: RunCounts  # runs started within `window` before taken_at
    window: timedelta
    last_run: LastRun | None
    last_build_seconds: float | None  # of the latest run that built outputs
    fetch_seconds: FetchDurations  # sources still polled (not gone) that were tried

    @property
    def sources_total(self) -> int:
        return sum(self.sources.values())

    @property
    def broken(self) -> int:
        return self.sources.get("broken", 0)

    @property
    def not_modified_ratio(self) -> float | None:
        """Share of the attempts in `window` that were answered "not modified"
        (None when there were none): how much conditional requests save."""
        attempts = self.recent.attempts
        return self.recent.not_modified / attempts if attempts else None


def read_health(engine: Engine, *, now: datetime, window: timedelta = RECENT_WINDOW) -> Health:
    """Read a Health snapshot; raises StoreError when the database cannot answer."""
    try:
        with _reading(engine) as conn:
            by_status, durations = _sources(conn)
            broken = tuple(
                conn.execute(
                    select(sources.c.name)
                    .where(sources.c.enabled.is_(True), sources.c.status == "broken")
                    .order_by(sources.c.name)
                    .limit(BROKEN_NAMES_SHOWN)
                ).scalars()
            )
            entry_count = int(conn.execute(select(func.count()).select_from(entries)).scalar_one())
            total, recent = _run_sums(conn, since=now - window)
            last = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(1)).first()
            # A worker batch that changed nothing builds nothing and records 0.
            last_build = conn.execute(
                select(runs.c.build_seconds)
                .where(runs.c.build_seconds > 0)
                .order_by(runs.c.id.desc())
                .limit(1)
            ).scalar()
    except SQLAlchemyError as exc:
        raise store_error(exc) from exc
    return Health(
        taken_at=now,
        sources=by_status,
        broken_names=broken,
        entries=entry_count,
        runs=total,
        recent=recent,
        window=window,
        last_run=_last_run(last._mapping) if last is not None else None,
        last_build_seconds=float(last_build) if last_build is not None else None,
        fetch_seconds=durations,
    )


def ping(engine: Engine) -> datetime | None:
    """Prove the database answers and holds feedhub's tables; returns when the last
    run ended (None before the first). Raises StoreError otherwise."""
    try:
        with _reading(engine) as conn:
            conn.execute(select(sources.c.id).limit(1)).all()
            row = conn.execute(
                select(runs.c.started_at, runs.c.finished_at).order_by(runs.c.id.desc()).limit(1)
            ).first()
    except SQLAlchemyError as exc:
        raise store_error(exc) from exc
    return (row.finished_at or row.started_at) if row is not None else None


def _reading(engine: Engine) -> Connection:
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        # One snapshot for every query, so counts taken a moment apart agree. SQLite
        # needs nothing: its single transaction already excludes writers.
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


def _sources(conn: Connection) -> tuple[dict[str, int], FetchDurations]:
    seconds = sources.c.last_fetch_seconds
    buckets = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in FETCH_SECONDS_BUCKETS]
    query = (
        select(sources.c.status, func.count(), func.count(seconds), func.sum(seconds), *buckets)
        .where(sources.c.enabled.is_(True))
        .group_by(sources.c.status)
    )
    by_status = dict.fromkeys(STATUSES, 0)
    cumulative = [0] * (len(FETCH_SECONDS_BUCKETS) + 1)
    total_seconds = 0.0
    for status, count, timed, summed, *in_buckets in conn.execute(query):
        by_status[status] = by_status.get(status, 0) + int(count)
        if status == "gone":
            continue  # never polled again: its last duration says nothing of today
        for i, value in enumerate(in_buckets):
            cumulative[i] += int(value or 0)
        cumulative[-1] += int(timed)
        total_seconds += float(summed or 0.0)
    return by_status, FetchDurations(FETCH_SECONDS_BUCKETS, tuple(cumulative), total_seconds)


_COUNTED = ("fetched", "not_modified", "failed", "entries_new", "entries_updated",
            "outputs_written")  # fmt: skip


def _run_sums(conn: Connection, *, since: datetime) -> tuple[RunCounts, RunCounts]:
    recent = runs.c.started_at >= since
    row = conn.execute(
        select(
            func.count(),
            func.sum(case((recent, 1), else_=0)),
            *[func.sum(runs.c[name]) for name in _COUNTED],
            *[func.sum(case((recent, runs.c[name]), else_=0)) for name in _COUNTED],
        )
    ).one()
    values = [int(v or 0) for v in row]
    width = len(_COUNTED)
    total = RunCounts(values[0], *values[2 : 2 + width])
    in_window = RunCounts(values[1], *values[2 + width :])
    return total, in_window


def _last_run(row: RowMapping) -> LastRun:
    counts = RunCounts(1, *(int(row[name] or 0) for name in _COUNTED))
    build = row["build_seconds"]
    return LastRun(
        row["started_at"], row["finished_at"], counts, float(build) if build is not None else None
    )


# --- output files ------------------------------------------------------------------


@dataclass(frozen=True)
class OutputFiles:
    """The files one output should have, as the disk has them now."""

    name: str
    present: tuple[tuple[Path, float], ...]  # (path, mtime in seconds since the epoch)
    missing: tuple[Path, ...]

    @property
    def newest_mtime(self) -> float | None:
        return max((mtime for _, mtime in self.present), default=None)

    def age_seconds(self, now: datetime) -> float | None:
        """How long ago the output last changed (files are rewritten only when their
        bytes change, so this is the age of the newest content); None without files."""
        newest = self.newest_mtime
        return None if newest is None else max(0.0, now.timestamp() - newest)


def output_files(config: Config) -> list[OutputFiles]:
    # Imported here: the store package must not load the publishing stack (jinja2,
    # feedgen) for commands that never publish.
    from feedhub.publish import output_paths

    found = []
    for output in config.outputs:
        present, missing = [], []
        for path in output_paths(output, config.settings.output_dir):
            try:
                present.append((path, os.stat(path).st_mtime))
            except OSError:
                missing.append(path)
        found.append(OutputFiles(output.name, tuple(present), tuple(missing)))
    return found
