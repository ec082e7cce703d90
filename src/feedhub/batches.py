"""Store fetch attempts in batches, in one writer thread, with back pressure.

Why batches: a commit per source cost a cold fetch of the bench farm 500 commits,
each an FTS5 merge (2 s of the run). Why a thread: while the event loop wrote a
batch itself (~0.5 s), no fetch completed and no body reached a parser; the
thread keeps batches in order and never interleaved, and SQLite releases the GIL
while it works. Why back pressure: a writer slower than the fetches (10,000
sources on one disk) must hold the fetches back, not let batches pile up in
memory (the process grew from 208 MB to 350 MB before it did).

Each source stays all or nothing inside its batch; a batch the database refuses
is stored source by source, so one source's data never costs the others theirs,
except when the database is busy (DatabaseBusy), where retrying would only wait
again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

from feedhub.errors import DatabaseBusy, StoreError
from feedhub.store import Attempt, Store

__all__ = ["FLUSH_ENTRIES", "FLUSH_SECONDS", "FLUSH_SOURCES", "MAX_BATCHES", "BatchWriter"]

# At most this many entries or sources wait for a batch, for at most this long.
# 1,500 entries keep a cold fetch of the bench farm under 250 MB (2,500: 251 MB) at
# the same speed; fewer would mean more commits, each an FTS5 merge.
FLUSH_ENTRIES = 1500
FLUSH_SOURCES = 100
FLUSH_SECONDS = 1.0
MAX_BATCHES = 2  # handed to the writer at once: one being written, one waiting

T = TypeVar("T")
Stored = tuple[int, int] | StoreError  # (new, updated) entries, or why nothing was stored


class BatchWriter(Generic[T]):
    """`async with BatchWriter(store, on_stored) as writer: await writer.add(...)`.

    `on_stored(context, result)` runs in the event loop once an attempt is stored
    (or refused), with the context given to `add`. Leaving the block stores what
    is pending and waits for it, also when the block was cancelled.
    """

    def __init__(self, store: Store, on_stored: Callable[[T, Stored], None]) -> None:
        self.store = store
        self.on_stored = on_stored
        self._pending: list[tuple[Attempt, T]] = []
        self._pending_entries = 0
        self._timer: asyncio.TimerHandle | None = None
        self._storing: set[asyncio.Task[None]] = set()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="feedhub-store")

    @property
    def batches_in_hand(self) -> int:
        """Batches handed to the writer and not stored yet (never over MAX_BATCHES)."""
        return len(self._storing)

    async def __aenter__(self) -> BatchWriter[T]:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._hand_over()
            while self._storing:
                await asyncio.gather(*self._storing)
        finally:
            self._thread.shutdown(wait=True)

    async def add(self, attempt: Attempt, context: T) -> None:
        self._pending.append((attempt, context))
        self._pending_entries += len(attempt.entries)
        if self._pending_entries >= FLUSH_ENTRIES or len(self._pending) >= FLUSH_SOURCES:
            # Back pressure: while the writer has its fill of batches, parsed entries
            # wait here (a bounded few fetch tasks' worth) instead of piling up.
            while len(self._storing) >= MAX_BATCHES:
                await asyncio.wait(self._storing, return_when=asyncio.FIRST_COMPLETED)
            self._hand_over()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._on_timer)

    def _on_timer(self) -> None:
        """A small batch is worth storing now only when the writer has room; otherwise
        the pending attempts keep gathering until the size bound hands them over under
        back pressure (the timer alone queued a batch a second, without bound)."""
        self._timer = None
        if len(self._storing) < MAX_BATCHES:
            self._hand_over()
        elif self._pending:  # look again later: the next result may come much later
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._on_timer)

    def _hand_over(self) -> None:
        batch, self._pending, self._pending_entries = self._pending, [], 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if batch:
            task = asyncio.get_running_loop().create_task(self._store(batch))
            self._storing.add(task)
            task.add_done_callback(self._storing.discard)

    async def _store(self, batch: list[tuple[Attempt, T]]) -> None:
        attempts = [attempt for attempt, _ in batch]
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._thread, self._save, attempts)
        for (_, context), result in zip(batch, results, strict=True):
            self.on_stored(context, result)

    def _save(self, attempts: list[Attempt]) -> list[Stored]:
        """In the writer thread: one transaction, or one per source if that fails."""
        try:
            return list(self.store.save_fetches(attempts))
        except StoreError as exc:
            if len(attempts) == 1 or isinstance(exc, DatabaseBusy):
                return [exc] * len(attempts)
            return [self._save_alone(attempt) for attempt in attempts]

    def _save_alone(self, attempt: Attempt) -> Stored:
        try:
            return self.store.save_fetches([attempt])[0]
        except StoreError as exc:
            return exc
