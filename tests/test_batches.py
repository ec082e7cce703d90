"""BatchWriter: attempts stored in batches by one writer thread, failures kept apart."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

from feedhub.batches import BatchWriter, Stored
from feedhub.errors import DatabaseBusy, StoreError
from feedhub.models import SourceConfig
from feedhub.store import Attempt, EntryFilter, Store
from tests.test_store import NOW, attempt, entry


def open_store(path: Path, **kw: float) -> Store:
    store = Store.open(f"sqlite:///{path}", **kw)
    store.sync_sources([SourceConfig(n, f"https://{n}.example/f") for n in "abc"], NOW)
    return store


def store_all(store: Store, attempts: list[Attempt]) -> list[tuple[str, Stored]]:
    results: list[tuple[str, Stored]] = []

    async def go() -> None:
        async with BatchWriter(store, lambda name, result: results.append((name, result))) as w:
            for item in attempts:
                await w.add(item, item.source.name)

    asyncio.run(go())
    return results


def test_attempts_are_stored_and_reported_in_order(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.db")
    rows = {r.name: r for r in store.sources()}
    results = store_all(store, [
        Attempt(rows["a"], attempt(), [entry("1"), entry("2")], NOW),
        Attempt(rows["b"], attempt(), [], NOW),
        Attempt(rows["c"], attempt(), [entry("3")], NOW),
    ])  # fmt: skip
    assert results == [("a", (2, 0)), ("b", (0, 0)), ("c", (1, 0))]
    assert len(list(store.iter_entries(EntryFilter()))) == 3


def test_a_source_the_database_refuses_costs_only_itself(tmp_path: Path) -> None:
    # A source row that vanished meanwhile: its entries break the foreign key, the
    # batch is refused, and the others are stored one by one.
    store = open_store(tmp_path / "f.db")
    rows = {r.name: r for r in store.sources()}
    gone = replace(rows["b"], id=999_999)
    results = store_all(store, [
        Attempt(rows["a"], attempt(), [entry("1")], NOW),
        Attempt(gone, attempt(), [entry("2")], NOW),
        Attempt(rows["c"], attempt(), [entry("3")], NOW),
    ])  # fmt: skip
    assert [name for name, _ in results] == ["a", "b", "c"]
    assert results[0][1] == (1, 0) and results[2][1] == (1, 0)
    assert isinstance(results[1][1], StoreError)
    assert sorted(e.entry.key for e in store.iter_entries(EntryFilter())) == ["1", "3"]


def test_a_busy_database_fails_every_attempt_of_the_batch_once(tmp_path: Path) -> None:
    # Retrying source by source would only wait out the busy timeout again for each.
    store = open_store(tmp_path / "f.db", timeout=0.2)
    rows = {r.name: r for r in store.sources()}
    holder = sqlite3.connect(tmp_path / "f.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        results = store_all(store, [
            Attempt(rows["a"], attempt(), [entry("1")], NOW),
            Attempt(rows["c"], attempt(), [entry("3")], NOW),
        ])  # fmt: skip
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [name for name, _ in results] == ["a", "c"]
    assert all(isinstance(result, DatabaseBusy) for _, result in results)
    assert list(store.iter_entries(EntryFilter())) == []
