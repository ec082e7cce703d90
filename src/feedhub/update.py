"""The orchestrator: the story of one run, and of one source's update, top to bottom.

A run: sync feeds.toml into the store, pick the due sources, claim them,
fetch them concurrently, and for each result decide what changed, store it
in one transaction, schedule the next attempt; then rebuild the outputs
whose entries changed. A source's failure is recorded on its row and never
raised through the batch.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from feedhub.batches import BatchWriter, Stored
from feedhub.errors import ConfigError, ParseError, StoreError
from feedhub.fetch import Fetcher
from feedhub.models import (
    Config,
    FetchRequest,
    FetchResult,
    OutputConfig,
    StoredEntry,
)
from feedhub.publish import Publisher, build_outputs, output_source_names, select_for_output
from feedhub.retention import entries_to_remove, worth_vacuuming
from feedhub.sources import (
    CacheHints,
    Outcome,
    SourceState,
    body_unchanged,
    hints_from_headers,
    interleave_by_host,
    is_due,
    merge_hints,
    next_state,
    reenable,
)
from feedhub.store import Attempt, EntryFilter, SourceRow, SourceUpdate, Store

if TYPE_CHECKING:  # imported when the first body is parsed: a run of 304s never needs it
    from feedhub.workers import Parsed, ParsePool

Clock = Callable[[], datetime]
log = logging.getLogger("feedhub.update")


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def step(self, source: str, outcome: str) -> None: ...


# An empty output still needs an <updated>; a constant keeps rebuilds byte-identical.
EMPTY_OUTPUT_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
STATE_FILE = ".feedhub-outputs.json"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunSummary:
    fetched: int = 0
    not_modified: int = 0
    failed: int = 0
    entries_new: int = 0
    entries_updated: int = 0
    outputs_written: int = 0
    skipped: int = 0  # due sources another run had claimed
    build_seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, error)
    changed_sources: set[str] = field(default_factory=set)

    def merge(self, other: RunSummary) -> None:
        for name, value in other.counts().items():
            setattr(self, name, getattr(self, name) + value)
        self.failures += other.failures
        self.changed_sources |= other.changed_sources

    def line(self) -> str:
        text = (
            f"{self.fetched} fetched, {self.not_modified} not modified, {self.failed} failed; "
            f"{self.entries_new} new, {self.entries_updated} updated entries; "
            f"{self.outputs_written} output files written"
        )
        return text + (f"; {self.skipped} claimed by another run" if self.skipped else "")

    def counts(self) -> dict[str, float]:
        return {
            "build_seconds": round(self.build_seconds, 4),
            "fetched": self.fetched,
            "not_modified": self.not_modified,
            "failed": self.failed,
            "entries_new": self.entries_new,
            "entries_updated": self.entries_updated,
            "outputs_written": self.outputs_written,
        }


@dataclass(frozen=True)
class _Decided:
    """What a fetch attempt came to, kept for reporting once the attempt is stored."""

    source: str
    outcome: Outcome
    state: SourceState
    summary: RunSummary


def state_of(row: SourceRow) -> SourceState:
    return SourceState(
        status=row.status,  # type: ignore[arg-type]
        consecutive_errors=row.consecutive_errors,
        first_error_at=row.first_error_at,
        hints=CacheHints.from_json(row.hints),
        redirect_target=row.redirect_target,
        redirect_count=row.redirect_count,
        redirect_first_seen=row.redirect_first_seen,
        next_fetch_at=row.next_fetch_at,
        interval_reason=row.interval_reason,  # type: ignore[arg-type]
    )


def reenable_sources(store: Store, names: Sequence[str], *, now: datetime) -> list[str]:
    """Bring gone/broken sources back (sources.reenable), due at once."""
    rows = {r.name: r for r in store.sources(names)}
    missing = [n for n in names if n not in rows]
    if missing:
        raise ConfigError("", "NAME", f"no source named {', '.join(missing)}")
    for name in names:
        state = reenable(state_of(rows[name]), now)
        store.set_source_state(
            name, status=state.status, consecutive_errors=0, first_error_at=None,
            next_fetch_at=state.next_fetch_at, interval_reason=None,
        )  # fmt: skip
    return list(names)


def _sends_a_body(row: SourceRow) -> bool:
    """Whether fetching `row` is sure to bring a document: nothing to send a
    conditional request with, and no failure to expect again."""
    return row.etag is None and row.last_modified is None and row.consecutive_errors == 0


def due_sources(
    rows: Iterable[SourceRow], now: datetime, *, force: bool, names: Sequence[str] | None
) -> list[SourceRow]:
    """Which sources to fetch now. Naming a source forces it (but see is_due)."""
    wanted = set(names) if names else None
    return [
        row
        for row in rows
        if row.enabled
        and (wanted is None or row.name in wanted)
        and is_due(state_of(row), now, force=force or wanted is not None)
    ]


class Updater:
    """Runs fetches for one configuration against one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        parser: ParsePool[Parsed] | None = None,
        worker_id: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.parser = parser  # None: a pool per run
        self._pool: ParsePool[Parsed] | None = None
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.progress = progress
        self.source_configs = {s.name: s for s in config.sources}
        self._batches: BatchWriter[_Decided] | None = None  # one per fetch_claimed

    # --- a run -------------------------------------------------------------

    def run(self, *, force: bool = False, names: Sequence[str] | None = None) -> RunSummary:
        return asyncio.run(self.run_async(force=force, names=names))

    async def run_async(
        self, *, force: bool = False, names: Sequence[str] | None = None
    ) -> RunSummary:
        started = self.clock()
        summary = RunSummary()
        self.store.sync_sources(self.config.sources, started)
        due = due_sources(self.store.sources(), started, force=force, names=names)
        claimed = self.store.claim(
            [r.id for r in due], worker=self.worker_id, now=started,
            lease=self.config.settings.claim_lease, not_fetched_since=started,
        )  # fmt: skip
        summary.skipped = len(due) - len(claimed)
        await self.fetch_claimed([r for r in due if r.id in set(claimed)], summary)
        await self.build_changed(summary)
        self.store.record_run(started, self.clock(), summary.counts())
        return summary

    async def fetch_claimed(self, rows: Sequence[SourceRow], summary: RunSummary) -> None:
        """Fetch, parse and store claimed sources; the claims end with them.

        Fetches stay concurrent while documents are parsed on every core: each
        result becomes a task, bounded so that at most a few bodies per parser
        process wait in memory. Results are stored in batches by one writer
        thread (batches.py), so the event loop keeps the parsers fed meanwhile.
        """
        if self.progress:
            self.progress.start(len(rows))
        # The pool (and its forkserver) starts on the first body to parse: a run
        # of 304s never pays for it. A source with no validators yet will send a
        # body for sure, so then the forkserver boots now, its ~0.3 s of imports
        # overlapping the first fetches instead of delaying the first parse.
        self._pool = self.parser
        if self._pool is None and any(_sends_a_body(r) for r in rows):
            from feedhub.workers import ParsePool

            self._pool = ParsePool()
        try:
            async with BatchWriter(self.store, self._stored) as self._batches:
                await self._fetch_all(rows, summary)
        finally:
            self._batches = None
            if self._pool is not None and self._pool is not self.parser:
                self._pool.close()
            self._pool = None
            self.store.release(sorted(r.id for r in rows), worker=self.worker_id)

    async def _fetch_all(self, rows: Sequence[SourceRow], summary: RunSummary) -> None:
        if not rows:
            return
        by_name = {r.name: r for r in rows}
        requests = interleave_by_host(
            [FetchRequest(r.name, r.url, r.etag, r.last_modified) for r in rows],
            lambda request: urlsplit(request.url).hostname or "",
        )
        waiting = asyncio.Semaphore(2 * (os.cpu_count() or 2))
        async with Fetcher(self.config.settings) as fetcher, asyncio.TaskGroup() as group:
            async for result in fetcher.fetch_all(requests):
                await waiting.acquire()
                task = group.create_task(
                    self.update_source(by_name[result.source_name], result, summary)
                )
                task.add_done_callback(lambda _: waiting.release())

    async def build_changed(self, summary: RunSummary) -> None:
        """Rebuild what changed, in one place at a time across all workers, then
        ping the WebSub hubs of outputs whose feeds changed."""
        publisher = Publisher(self.config, self.store, clock=self.clock)
        began = time.monotonic()
        with self.store.exclusive("build"):
            written = publisher.build(changed_sources=summary.changed_sources)
        summary.build_seconds += time.monotonic() - began
        summary.outputs_written += len(written)
        await publisher.ping_hubs()

    async def work(
        self, stop: Callable[[], bool], *, batch: int = 50, idle: float = 30.0
    ) -> RunSummary:
        """Worker mode (`feedhub fetch --worker`): claim due sources in batches until
        `stop()`; several workers on several hosts share one database this way."""
        total = RunSummary()
        self.store.sync_sources(self.config.sources, self.clock())
        own_pool = self.parser is None
        if own_pool:
            from feedhub.workers import ParsePool

            self.parser = ParsePool()  # warm workers for the whole loop
        try:
            await self._work_loop(stop, batch, idle, total)
        finally:
            if own_pool and self.parser is not None:
                self.parser.close()
                self.parser = None
        return total

    async def _work_loop(
        self, stop: Callable[[], bool], batch: int, idle: float, total: RunSummary
    ) -> None:
        while not stop():
            started = self.clock()
            rows = self.store.claim_due(
                worker=self.worker_id, now=started, lease=self.config.settings.claim_lease,
                limit=batch,
            )  # fmt: skip
            if not rows:
                upcoming = self.store.next_due()
                wait = idle if upcoming is None else (upcoming - started).total_seconds()
                deadline = time.monotonic() + min(max(wait, 0.05), idle)
                while not stop() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                continue
            summary = RunSummary()
            await self.fetch_claimed(rows, summary)
            if summary.changed_sources:
                await self.build_changed(summary)
            self.store.record_run(started, self.clock(), summary.counts())
            log.info("batch of %d: %s", len(rows), summary.line())
            total.merge(summary)

    # --- one source ----------------------------------------------------------

    async def update_source(self, row: SourceRow, result: FetchResult, summary: RunSummary) -> None:
        """fetched bytes -> (unchanged? parse -> normalize) -> store -> schedule."""
        now = self.clock()
        previous = state_of(row)
        header_hints = hints_from_headers(result.headers, status=result.status, now=now)
        change: dict[str, object] = {}
        parsed: Parsed | None = None
        if result.not_modified:
            outcome = Outcome("not-modified", result.status)
        elif not result.ok:
            gone = result.status == 410
            outcome = Outcome("gone" if gone else "error", result.status, result.error)
        else:
            assert result.body is not None
            unchanged, digest = body_unchanged(row.body_hash, result.body)
            change.update(body_hash=digest, etag=result.headers.get("etag"),
                          last_modified=result.headers.get("last-modified"))  # fmt: skip
            if unchanged:  # the server ignores conditional GET; nothing to parse
                outcome = Outcome("not-modified", result.status)
            else:
                try:
                    parsed = await self._parse(result, now, row.parser)
                    outcome = Outcome("ok", result.status)
                except ParseError as exc:
                    outcome = Outcome("error", result.status, f"not a feed: {exc}")
                    change.update(body_hash=None)  # try parsing again next time
        hints = merge_hints(
            previous.hints, header_hints, status=result.status,
            document=parsed.meta if parsed else None,
        )  # fmt: skip
        source = self.source_configs.get(row.name)
        interval = (source.interval if source else None) or self.config.settings.interval
        step = next_state(
            previous, outcome, now=now, interval=interval,
            interval_explicit=bool(source and source.interval_explicit), hints=hints,
            permanent_redirect=result.permanent_redirect, rng=self.rng,
        )  # fmt: skip
        state = step.state
        update = SourceUpdate(
            status=state.status,
            last_fetch_at=now,
            next_fetch_at=state.next_fetch_at,
            consecutive_errors=state.consecutive_errors,
            first_error_at=state.first_error_at,
            last_http_status=result.status,
            last_error=outcome.error,
            interval_reason=state.interval_reason or "config",
            hints=state.hints.to_json(),
            redirect_target=state.redirect_target,
            redirect_count=state.redirect_count,
            redirect_first_seen=state.redirect_first_seen,
            last_success_at=now if outcome.kind in ("ok", "not-modified") else None,
            last_fetch_seconds=round(result.elapsed, 4),
            url=step.move_to,
            warning=parsed.warning if parsed else (row.warning if outcome.kind != "ok" else None),
        )
        if outcome.kind == "not-modified" and result.not_modified:
            update = replace(update, etag=result.headers.get("etag") or row.etag)
        if parsed is not None:
            meta = parsed.meta
            # A title written in feeds.toml names the source in provenance.
            title = source.title if source and source.title else meta.title
            update = replace(update, title=title, link=meta.link, feed_id=meta.id,
                             subtitle=meta.subtitle, language=meta.language,
                             parser=parsed.parser)  # fmt: skip
        update = replace(update, **change)  # type: ignore[arg-type]
        entries = parsed.entries if parsed else ()
        assert self._batches is not None, "sources are updated within fetch_claimed"
        decided = _Decided(row.name, outcome, state, summary)
        await self._batches.add(Attempt(row, update, entries, now), decided)

    def _stored(self, decided: _Decided, count: Stored) -> None:
        name, summary, outcome, state = (
            decided.source, decided.summary, decided.outcome, decided.state,
        )  # fmt: skip
        if isinstance(count, StoreError):
            summary.failed += 1
            summary.failures.append((name, f"could not store: {count}"))
            return
        new, updated = count
        self._count(summary, name, outcome, new, updated)
        log.info(
            "%s: %s%s, %d new, %d updated, next %s (%s)%s", name, outcome.kind,
            f" {outcome.http_status}" if outcome.http_status else "", new, updated,
            state.next_fetch_at.isoformat() if state.next_fetch_at else "never",
            state.interval_reason, f": {outcome.error}" if outcome.error else "",
        )  # fmt: skip

    async def _parse(
        self, result: FetchResult, now: datetime, previous_parser: str | None = None
    ) -> Parsed:
        """In a worker process, under a time and memory bound (issue 6): a
        document that makes the parser pathological costs one source, not the run.
        `previous_parser` (sources.parser) keeps the source on the reader it was read
        with until both readers agree on it (workers.parse_body)."""
        assert result.body is not None
        if self._pool is None:
            from feedhub.workers import ParsePool

            self._pool = ParsePool()
        body, url, headers = result.body, result.final_url, dict(result.headers)
        if previous_parser:  # only then, so a pool with a plain four-argument target works
            return await self._pool.parse(body, url, headers, now, previous_parser=previous_parser)
        return await self._pool.parse(body, url, headers, now)

    def _count(
        self, summary: RunSummary, name: str, outcome: Outcome, new: int, updated: int
    ) -> None:
        if outcome.kind == "ok":
            summary.fetched += 1
        elif outcome.kind == "not-modified":
            summary.not_modified += 1
        else:
            summary.failed += 1
            summary.failures.append((name, outcome.error or outcome.kind))
        summary.entries_new += new
        summary.entries_updated += updated
        if new or updated:
            summary.changed_sources.add(name)
        if self.progress:
            self.progress.step(name, outcome.kind)

    # --- outputs -------------------------------------------------------------
    def build(self, *, changed_sources: set[str] | None = None) -> list[Path]:
        """Rebuild outputs outside a fetch run (feedhub build), hubs included."""
        return build_outputs(
            self.config, self.store, clock=self.clock, changed_sources=changed_sources
        )

    def build_output(self, output: OutputConfig, source_ids: Sequence[int]) -> list[Path]:
        return Publisher(self.config, self.store, clock=self.clock).build_output(output, source_ids)


def recent_entries(
    config: Config,
    store: Store,
    *,
    source: str | None = None,
    output: str | None = None,
    limit: int = 20,
    now: datetime,
) -> list[StoredEntry]:
    """Newest entries of one source, of one output (as it publishes them), or of all."""
    rows = store.sources()
    if output is not None:
        chosen = next((o for o in config.outputs if o.name == output), None)
        if chosen is None:
            raise ConfigError(str(config.path), "--output", f"no output named {output!r}")
        ids = [r.id for r in rows if r.name in output_source_names(chosen, rows)]
        selection = select_for_output(store, chosen, ids, now=now)
        return list(selection.entries[:limit])
    flt = EntryFilter()
    if source is not None:
        match = [r.id for r in rows if r.name == source]
        if not match:
            raise ConfigError(str(config.path), "--source", f"no source named {source!r}")
        flt = EntryFilter(source_ids=tuple(match))
    return list(itertools.islice(store.iter_entries(flt, batch=limit), limit))


def set_curation(
    config: Config,
    store: Store,
    short_id: str,
    *,
    action: str,
    on: bool,
    output: str | None,
    now: datetime,
) -> tuple[StoredEntry, bool, list[Path]]:
    """pin/unpin/hide/unhide one entry, then rebuild the outputs it affects.

    Curation is keyed by the entry's row, which refetches and in-place updates
    keep, so it survives both. Returns (entry, whether anything changed, files
    rewritten).
    """
    if output is not None and output not in {o.name for o in config.outputs}:
        raise ConfigError(str(config.path), "--output", f"no output named {output!r}")
    if len(short_id) < 4:
        raise ConfigError(str(config.path), "ENTRY", "give at least 4 characters of the id")
    found = store.find_entries(short_id)
    if not found:
        raise ConfigError(str(config.path), "ENTRY", f"no entry with id {short_id!r}")
    if len(found) > 1:
        candidates = ", ".join(e.short_id for e in found)
        raise ConfigError(str(config.path), "ENTRY", f"{short_id!r} is ambiguous: {candidates}")
    stored = found[0]
    changed = store.set_curation(stored.id, output or "*", action, on=on, now=now)
    updater = Updater(config, store, clock=lambda: now)
    rows = store.sources()
    written: list[Path] = []
    for chosen in config.outputs:
        if output is None or chosen.name == output:
            members = output_source_names(chosen, rows)
            written += updater.build_output(chosen, [r.id for r in rows if r.name in members])
    return stored, changed, written


@dataclass(frozen=True)
class PruneReport:
    by_source: dict[str, int]  # entries removed (or that would be), per source
    vacuumed: bool

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


def prune(config: Config, store: Store, *, now: datetime, dry_run: bool = False) -> PruneReport:
    """Apply each source's keep rule; never touch pinned entries or what an output shows."""
    rows = store.sources()
    protected = store.pinned_ids()
    for output in config.outputs:
        members = output_source_names(output, rows)
        selection = select_for_output(
            store, output, [r.id for r in rows if r.name in members], now=now
        )
        protected |= {stored.id for stored in selection.entries}
    configured = {s.name: s for s in config.sources}
    by_source: dict[str, int] = {}
    remaining = 0
    for row in rows:
        source = configured.get(row.name)
        keep = (source.keep if source and source.keep else None) or config.settings.keep
        candidates = store.retention_candidates(row.id)
        doomed = entries_to_remove(candidates, keep, now=now, protected=protected)
        remaining += len(candidates) - len(doomed)
        if doomed:
            by_source[row.name] = (
                len(doomed) if dry_run else store.remove_entries(row.id, doomed, now=now)
            )
    vacuum = not dry_run and worth_vacuuming(sum(by_source.values()), remaining)
    if vacuum:
        store.vacuum()
    return PruneReport(by_source, vacuum)
