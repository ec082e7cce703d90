"""Store: reads and writes sources, entries and curation with SQLAlchemy Core.

Core rather than the ORM: feedhub moves rows in bulk between frozen
dataclasses, and Core's bulk upserts are what issue 5 measured fastest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from feedhub.models import Entry, SourceConfig, StoredEntry
from feedhub.store import reads
from feedhub.store.engine import (
    exclusive_lock,
    make_engine,
    migrate,
    vacuum,
    wrapped,
    write_transaction,
)
from feedhub.store.records import Attempt, EntryFilter, SourceRow, SourceUpdate
from feedhub.store.rows import (
    entry_values,
    insert_entries,
    insert_ignoring,
    key_hash,
    mark_duplicates,
    source_row,
)
from feedhub.store.schema import (
    UTCDateTime,
    curation,
    entries,
    runs,
    source_tags,
    sources,
    tombstones,
)
from feedhub.store.search import index_entries_after, newest_entry_id

_SOURCE_FIELDS = [
    c.name
    for c in sources.columns
    if c.name not in ("claimed_by", "claim_expires_at", "created_at", "subtitle", "language")
]


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True, timeout: float = 30.0) -> Store:
        """`timeout`: how long a writer waits for another process's lock (SQLite)."""
        engine = make_engine(url, busy_timeout_ms=int(timeout * 1000))
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self) -> Any:
        return wrapped(write_transaction(self.engine))

    def _connect(self) -> Any:
        return wrapped(self.engine.connect())

    # --- sources -----------------------------------------------------------

    def sync_sources(self, configs: Sequence[SourceConfig], now: datetime) -> None:
        """Make the sources table match feeds.toml; rows never vanish (entries stay).

        A constant number of statements whatever the number of sources, and
        safe when several workers start at once (inserts skip rows another
        worker added a moment earlier).
        """
        with self._begin() as conn:
            existing = {
                r.name: r
                for r in conn.execute(
                    select(sources.c.id, sources.c.name, sources.c.config_url, sources.c.enabled)
                )
            }
            new = [c for c in configs if c.name not in existing]
            if new:
                conn.execute(
                    insert_ignoring(conn, sources, ["name"]),
                    [
                        {"name": c.name, "url": c.url, "config_url": c.url, "enabled": c.enabled,
                         "status": "new", "consecutive_errors": 0, "redirect_count": 0,
                         "created_at": now, "hints": {}}
                        for c in new
                    ],
                )  # fmt: skip
                existing.update(
                    (r.name, r)
                    for r in conn.execute(
                        select(sources.c.id, sources.c.name, sources.c.config_url,
                               sources.c.enabled).where(sources.c.name.in_([c.name for c in new]))
                    )
                )  # fmt: skip
            for config in configs:
                row = existing[config.name]
                changes: dict[str, Any] = {}
                if row.config_url != config.url:
                    # The person edited the URL: fetch the new one now. A URL moved
                    # by a permanent redirect keeps config_url as it was.
                    changes.update(url=config.url, config_url=config.url, next_fetch_at=None,
                                   redirect_target=None, redirect_count=0, etag=None,
                                   last_modified=None, body_hash=None)  # fmt: skip
                if row.enabled != config.enabled:
                    changes["enabled"] = config.enabled
                if changes:
                    conn.execute(update(sources).where(sources.c.id == row.id).values(**changes))
            current: dict[int, set[str]] = {}
            for source_id, tag in conn.execute(select(source_tags.c.source_id, source_tags.c.tag)):
                current.setdefault(source_id, set()).add(tag)
            stale = [
                (existing[c.name].id, c.tags)
                for c in configs
                if current.get(existing[c.name].id, set()) != set(c.tags)
            ]
            if stale:
                conn.execute(
                    delete(source_tags).where(source_tags.c.source_id.in_([i for i, _ in stale]))
                )
                rows = [
                    {"source_id": i, "tag": t} for i, tags in stale for t in dict.fromkeys(tags)
                ]
                if rows:
                    conn.execute(insert_ignoring(conn, source_tags, ["source_id", "tag"]), rows)
            wanted = {c.name for c in configs}
            gone = [r.id for name, r in existing.items() if name not in wanted and r.enabled]
            if gone:
                conn.execute(update(sources).where(sources.c.id.in_(gone)).values(enabled=False))

    def sources(
        self, names: Iterable[str] | None = None, *, with_counts: bool = False
    ) -> list[SourceRow]:
        """Source rows by name; entry counts only when asked (a scan of the entries)."""
        fields = [sources.c[f] for f in _SOURCE_FIELDS]
        if with_counts:
            # Correlated, so counting one source reads only its index range.
            count = (
                select(func.count())
                .where(entries.c.source_id == sources.c.id)
                .scalar_subquery()
                .label("entry_count")
            )
            query = select(*fields, count).order_by(sources.c.name)
        else:
            query = select(*fields).order_by(sources.c.name)
        if names is not None:
            query = query.where(sources.c.name.in_(list(names)))
        with self._connect() as conn:
            tags: dict[int, list[str]] = {}
            for source_id, tag in conn.execute(
                select(source_tags.c.source_id, source_tags.c.tag).order_by(source_tags.c.tag)
            ):
                tags.setdefault(source_id, []).append(tag)
            return [source_row(r, tuple(tags.get(r.id, ()))) for r in conn.execute(query)]

    def source(self, name: str) -> SourceRow | None:
        rows = self.sources([name], with_counts=True)
        return rows[0] if rows else None

    def source_ids_for(self, names: Iterable[str], tags: Iterable[str]) -> tuple[int, ...]:
        names, tags = list(names), list(tags)
        if not names and not tags:
            return ()
        with self._connect() as conn:
            ids = set(conn.execute(select(sources.c.id).where(sources.c.name.in_(names))).scalars())
            ids |= set(
                conn.execute(
                    select(source_tags.c.source_id).where(source_tags.c.tag.in_(tags))
                ).scalars()
            )
        return tuple(sorted(ids))

    def claim(
        self,
        source_ids: Sequence[int],
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        not_fetched_since: datetime | None = None,
    ) -> list[int]:
        """Claim sources for one fetch; returns those this worker got.

        One UPDATE ... WHERE the claim is free, so two overlapping runs (cron,
        or workers on several hosts) can never both take a source. An expired
        lease is free again, so a killed run releases its claims by itself.
        `not_fetched_since` (the run's start) also refuses a source another
        run fetched after this one chose it, closing that race.
        """
        if not source_ids:
            return []
        conditions = [sources.c.id.in_(list(source_ids)), _free(now)]
        if not_fetched_since is not None:
            conditions.append(
                or_(sources.c.last_fetch_at.is_(None), sources.c.last_fetch_at < not_fetched_since)
            )
        with self._begin() as conn:
            rows = conn.execute(
                update(sources)
                .where(*conditions)
                .values(claimed_by=worker, claim_expires_at=now + lease)
                .returning(sources.c.id)
            )
            return sorted(r.id for r in rows)

    def claim_due(
        self, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[SourceRow]:
        """Claim up to `limit` due sources, most overdue first (worker mode).

        On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP
        LOCKED, so concurrent workers on several hosts each take different
        sources without waiting on one another; SQLite serializes writers.
        """
        due = and_(
            sources.c.enabled.is_(True),
            sources.c.status != "gone",
            or_(sources.c.next_fetch_at.is_(None), sources.c.next_fetch_at <= now),
            _free(now),
        )
        candidates = (
            select(sources.c.id)
            .where(due)
            .order_by(sources.c.next_fetch_at.asc().nulls_first(), sources.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    update(sources)
                    .where(sources.c.id.in_(candidates.scalar_subquery()), due)
                    .values(claimed_by=worker, claim_expires_at=now + lease)
                    .returning(sources.c.id)
                )
            ]
        return [r for r in self.sources() if r.id in set(ids)] if ids else []

    def next_due(self) -> datetime | None:
        """When a worker next has something to claim: the earliest next_fetch_at of
        a pollable source, or, for one claimed by another worker, when that claim
        expires if later (a killed worker's sources come back then)."""
        wake = case(
            (
                and_(
                    sources.c.claim_expires_at.is_not(None),
                    or_(
                        sources.c.next_fetch_at.is_(None),
                        sources.c.claim_expires_at > sources.c.next_fetch_at,
                    ),
                ),
                sources.c.claim_expires_at,
            ),
            else_=sources.c.next_fetch_at,
        )
        with self._connect() as conn:
            value = conn.execute(
                select(func.min(wake)).where(
                    sources.c.enabled.is_(True), sources.c.status != "gone"
                )
            ).scalar()
        return UTCDateTime().process_result_value(value, self.engine.dialect)

    def exclusive(self, name: str, *, timeout: float = 300.0) -> AbstractContextManager[None]:
        """A cluster-wide lock: output generation runs in one place at a time."""
        return exclusive_lock(self.engine, name, timeout=timeout)

    def release(self, source_ids: Sequence[int], *, worker: str) -> None:
        if not source_ids:
            return
        with self._begin() as conn:
            conn.execute(
                update(sources)
                .where(sources.c.id.in_(list(source_ids)), sources.c.claimed_by == worker)
                .values(claimed_by=None, claim_expires_at=None)
            )

    def set_source_state(self, name: str, **values: Any) -> None:
        with self._begin() as conn:
            conn.execute(update(sources).where(sources.c.name == name).values(**values))

    def save_fetch(
        self,
        source: SourceRow,
        change: SourceUpdate,
        new_entries: Sequence[Entry] = (),
        *,
        now: datetime,
    ) -> tuple[int, int]:
        """Record one attempt and its entries in ONE transaction; returns (new, updated).

        Either everything of the attempt is stored or nothing is, so a crash
        or a locked database never leaves a half-written source.
        """
        return self.save_fetches([Attempt(source, change, new_entries, now)])[0]

    def save_fetches(self, attempts: Sequence[Attempt]) -> list[tuple[int, int]]:
        """save_fetch for several sources in ONE transaction: (new, updated) of each.

        Each source is still all or nothing. One commit per batch rather than per
        source: a commit costs ~4 ms here (WAL, synchronous=NORMAL), and FTS5 merges
        its pending terms once per commit, so 500 one-source transactions cost
        a cold fetch of the farm seconds (bench/).
        """
        counts: list[tuple[int, int]] = []
        # Source rows that change the same columns go in one executemany: a statement
        # per row cost ~0.5 ms of SQLAlchemy compiling, 0.24 s of a warm run of 500.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        with self._begin() as conn:
            last_id = newest_entry_id(conn) if any(a.entries for a in attempts) else None
            for attempt in attempts:
                change = attempt.change
                values = {
                    k: v for k, v in vars(change).items() if v is not None or k in _ALWAYS_SET
                }
                values["hints"] = dict(change.hints)
                values.update(claimed_by=None, claim_expires_at=None)
                counts.append(
                    self._upsert_entries(conn, attempt.source, attempt.entries, attempt.now)
                    if attempt.entries
                    else (0, 0)
                )
                rows = by_columns.setdefault(tuple(sorted(values)), [])
                rows.append(
                    {"row_id": attempt.source.id, **{"new_" + k: v for k, v in values.items()}}
                )
            for columns, rows in by_columns.items():
                statement = (
                    update(sources)
                    .where(sources.c.id == bindparam("row_id"))
                    .values({column: bindparam("new_" + column) for column in columns})
                )
                conn.execute(statement, rows)
            if last_id is not None:
                index_entries_after(conn, last_id)
        return counts

    def _upsert_entries(
        self, conn: Connection, source: SourceRow, batch: Sequence[Entry], now: datetime
    ) -> tuple[int, int]:
        hashes = {key_hash(e.key): e for e in batch}
        known: dict[str, tuple[int, str, datetime]] = {}
        keys = list(hashes)
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[start : start + 500]
            for row in conn.execute(
                select(
                    entries.c.id,
                    entries.c.key_hash,
                    entries.c.content_hash,
                    entries.c.first_seen_at,
                ).where(entries.c.source_id == source.id, entries.c.key_hash.in_(chunk))
            ):
                known[row.key_hash] = (row.id, row.content_hash, row.first_seen_at)
        unknown = [d for d in hashes if d not in known]
        buried: set[str] = set()
        for start in range(0, len(unknown), 500):
            buried.update(
                conn.execute(
                    select(tombstones.c.key_hash).where(
                        tombstones.c.source_id == source.id,
                        tombstones.c.key_hash.in_(unknown[start : start + 500]),
                    )
                ).scalars()
            )
        inserts, updates = [], []
        for digest, entry in hashes.items():
            if digest in buried:
                continue  # removed by retention: a feed still listing it must not revive it
            if digest not in known:
                inserts.append(entry_values(source.name, source.id, digest, entry, now, now))
            elif known[digest][1] != entry.content_hash:
                row_id, _, first_seen = known[digest]
                values = entry_values(source.name, source.id, digest, entry, first_seen, now)
                for immutable in (
                    "source_id",
                    "key_hash",
                    "key",
                    "public_id",
                    "short_id",
                    "first_seen_at",
                ):
                    values.pop(immutable)
                values["row_id"] = row_id
                updates.append(values)
        if inserts:
            insert_entries(conn, inserts)
            mark_duplicates(conn, source.id, inserts)
        if updates:
            stmt = update(entries).where(entries.c.id == bindparam("row_id"))
            conn.execute(stmt, updates)
        return len(inserts), len(updates)

    # --- entries -----------------------------------------------------------

    def iter_entries(self, flt: EntryFilter, *, batch: int = 200) -> Iterator[StoredEntry]:
        """Entries newest first, in keyset pages (the first of `batch` rows, then
        growing), so curate can stop early."""
        return reads.iter_entries(self._connect, self.engine.dialect.name, flt, batch=batch)

    def entries_by_ids(self, ids: Sequence[int]) -> list[StoredEntry]:
        if not ids:
            return []
        with self._connect() as conn:
            return reads.entries_by_ids(conn, ids)

    def find_entries(self, short_id: str) -> list[StoredEntry]:
        with self._connect() as conn:
            ids = list(
                conn.execute(
                    select(entries.c.id)
                    .where(entries.c.short_id.startswith(short_id.lower()))
                    .limit(5)
                ).scalars()
            )
        return self.entries_by_ids(ids)

    def count_entries(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())

    def search(
        self,
        query: str,
        *,
        source_ids: Sequence[int] | None = None,
        since: datetime | None = None,
        limit: int = 20,
    ) -> list[tuple[StoredEntry, float]]:
        """Entries matching `query` (websearch syntax, see store/search.py) with their
        scores, best first, ties newest first; never fails on odd query text."""
        from feedhub.store.search import ranked_ids

        with self._connect() as conn:
            ranked = ranked_ids(conn, query, source_ids=source_ids, since=since, limit=limit)
        found = {e.id: e for e in self.entries_by_ids([i for i, _ in ranked])}
        return [(found[i], score) for i, score in ranked if i in found]

    # --- retention -----------------------------------------------------------

    def retention_candidates(self, source_id: int) -> list[tuple[int, datetime]]:
        """(row id, date) of a source's entries, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                select(entries.c.id, entries.c.sort_published)
                .where(entries.c.source_id == source_id)
                .order_by(entries.c.sort_published.desc(), entries.c.id.desc())
            )
            return [(r.id, r.sort_published) for r in rows]

    def pinned_ids(self) -> set[int]:
        with self._connect() as conn:
            return set(
                conn.execute(
                    select(curation.c.entry_id).where(curation.c.action == "pin")
                ).scalars()
            )

    def remove_entries(self, source_id: int, ids: Sequence[int], *, now: datetime) -> int:
        """Delete entries, leaving tombstones so a feed still listing them never
        brings them back; one transaction per call."""
        removed = 0
        with self._begin() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                hashes = list(
                    conn.execute(
                        select(entries.c.key_hash).where(
                            entries.c.source_id == source_id, entries.c.id.in_(chunk)
                        )
                    ).scalars()
                )
                if hashes:
                    conn.execute(
                        insert_ignoring(conn, tombstones, ["source_id", "key_hash"]),
                        [
                            {"source_id": source_id, "key_hash": h, "removed_at": now}
                            for h in hashes
                        ],
                    )
                # Copies that pointed at a removed original stand on their own now.
                conn.execute(
                    update(entries)
                    .where(entries.c.duplicate_of.in_(chunk))
                    .values(duplicate_of=None)
                )
                removed += conn.execute(
                    delete(entries).where(entries.c.source_id == source_id, entries.c.id.in_(chunk))
                ).rowcount
        return removed

    def vacuum(self) -> None:
        vacuum(self.engine)

    # --- curation ----------------------------------------------------------

    def curation(self, output: str) -> tuple[list[int], set[int]]:
        """(pinned ids, newest pin first; hidden ids) for one output."""
        return self.curations([output])[output]

    def curations(self, outputs: Sequence[str]) -> dict[str, tuple[list[int], set[int]]]:
        """curation() of each output, in one query: a build reads them all."""
        with self._connect() as conn:
            rows = list(
                conn.execute(
                    select(curation.c.entry_id, curation.c.action, curation.c.output)
                    .where(curation.c.output.in_([*outputs, "*"]))
                    .order_by(curation.c.created_at.desc())
                )
            )
        pinned: dict[str, list[int]] = {name: [] for name in outputs}
        hidden: dict[str, set[int]] = {name: set() for name in outputs}
        everywhere = {r.entry_id for r in rows if r.action == "hide" and r.output == "*"}
        for r in rows:
            if r.output not in pinned:
                continue  # "*": every output's, above
            if r.action == "pin":
                pinned[r.output].append(r.entry_id)
            elif r.action == "hide":
                hidden[r.output].add(r.entry_id)
        return {name: (pinned[name], hidden[name] | everywhere) for name in outputs}

    def set_curation(
        self, entry_id: int, output: str, action: str, *, on: bool, now: datetime
    ) -> bool:
        """Pin/hide (on) or unpin/unhide (off); returns whether anything changed."""
        key = and_(
            curation.c.entry_id == entry_id,
            curation.c.output == output,
            curation.c.action == action,
        )
        with self._begin() as conn:
            exists = conn.execute(
                select(func.count()).select_from(curation).where(key)
            ).scalar_one()
            if on and not exists:
                conn.execute(
                    insert(curation).values(
                        entry_id=entry_id, output=output, action=action, created_at=now
                    )
                )
                return True
            if not on and exists:
                conn.execute(delete(curation).where(key))
                return True
        return False

    # --- runs --------------------------------------------------------------

    def record_run(
        self, started: datetime, finished: datetime, counts: Mapping[str, float]
    ) -> None:
        with self._begin() as conn:
            conn.execute(insert(runs).values(started_at=started, finished_at=finished, **counts))

    def last_run(self) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(1)).first()
        return dict(row._mapping) if row else None


def _free(now: datetime) -> Any:
    return or_(sources.c.claim_expires_at.is_(None), sources.c.claim_expires_at < now)


_ALWAYS_SET = {
    "next_fetch_at",
    "first_error_at",
    "last_http_status",
    "last_error",
    "warning",
    "redirect_target",
    "redirect_first_seen",
}
