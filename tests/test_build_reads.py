"""What a build reads back from the store (store/reads.py), on a real SQLite file and on
the real PostgreSQL server: entries exactly as written, pages that cover every entry
once in order, and curation for many outputs in one query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feedhub.models import Author, Enclosure, Entry, SourceConfig
from feedhub.store import EntryFilter, SourceUpdate, Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def attempt() -> SourceUpdate:
    return SourceUpdate(
        status="ok", last_fetch_at=NOW, next_fetch_at=NOW + timedelta(hours=1),
        consecutive_errors=0, first_error_at=None, last_http_status=200, last_error=None,
        interval_reason="config", hints={}, redirect_target=None, redirect_count=0,
        redirect_first_seen=None,
    )  # fmt: skip


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    s.sync_sources([SourceConfig("a", "https://a.example/feed"), SourceConfig("b", "https://b.example/feed")], NOW)  # fmt: skip
    return s


def test_entries_read_back_as_written(store: Store) -> None:
    plus_five = timezone(timedelta(hours=5))
    written = [
        Entry(
            key="full",
            title="Full ☕",
            link="https://a.example/full",
            published=datetime(2026, 11, 1, 10, 30, 15, 123456, tzinfo=UTC),
            updated=datetime(2026, 11, 2, 3, 4, 5, tzinfo=plus_five),
            authors=(
                Author("Ann", "ann@a.example", None),
                Author(None, None, "https://b.example/"),
            ),
            categories=("one", "two"),
            summary="<p>s</p>",
            content="<p>c</p>",
            enclosures=(Enclosure("https://a.example/x.mp3", "audio/mpeg", 12), Enclosure("u")),
            comments="https://a.example/full#c",
            language="en",
            guid_is_permalink=True,
            content_hash="h1",
        ),
        Entry(key="bare", title="", content_hash="h2"),
    ]
    a = store.source("a")
    assert a is not None
    store.save_fetch(a, attempt(), written, now=NOW)
    read = {s.entry.key: s for s in store.iter_entries(EntryFilter())}
    for entry in written:
        stored = read[entry.key]
        assert stored.entry == entry
        assert stored.entry.guid_is_permalink is entry.guid_is_permalink  # a bool, not 0/1
        for moment in (stored.entry.published, stored.entry.updated, stored.first_seen):
            assert moment is None or moment.tzinfo is UTC
        assert stored.first_seen == stored.changed_at == NOW
        assert stored.source.name == "a" and stored.source.url == "https://a.example/feed"
    assert store.entries_by_ids([read["bare"].id, 10**9, read["full"].id]) == [
        read["bare"],
        read["full"],
    ]


@pytest.mark.parametrize("batch", [1, 3, 50])
def test_pages_cover_every_entry_once_newest_first(store: Store, batch: int) -> None:
    a, b = store.source("a"), store.source("b")
    assert a is not None and b is not None
    # Many entries share a date, so pages must break ties by id across their boundaries.
    for source, offset in ((a, 0), (b, 1)):
        entries = [
            Entry(key=f"{source.name}{i}", title=f"t{i}", content_hash=f"h{i}",
                  published=NOW - timedelta(minutes=(i + offset) % 3))
            for i in range(40)
        ]  # fmt: skip
        store.save_fetch(source, attempt(), entries, now=NOW)
    flt = EntryFilter(source_ids=(a.id, b.id))
    read = list(store.iter_entries(flt, batch=batch))
    assert sorted(s.entry.key for s in read) == sorted(f"{n}{i}" for n in "ab" for i in range(40))
    order = [(s.published, s.id) for s in read]
    assert order == sorted(order, reverse=True)


def test_curations_of_many_outputs_match_one_by_one(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    store.save_fetch(a, attempt(), [Entry(key=str(i), title=str(i)) for i in range(5)], now=NOW)
    ids = sorted(s.id for s in store.iter_entries(EntryFilter()))
    actions = [
        (ids[0], "one", "pin"), (ids[1], "one", "pin"), (ids[2], "one", "hide"),
        (ids[3], "*", "hide"), (ids[4], "two", "pin"), (ids[0], "two", "hide"),
    ]  # fmt: skip
    for minute, (entry_id, output, action) in enumerate(actions):
        store.set_curation(entry_id, output, action, on=True, now=NOW + timedelta(minutes=minute))
    together = store.curations(["one", "two", "three"])
    assert together == {name: store.curation(name) for name in ("one", "two", "three")}
    assert together["one"] == ([ids[1], ids[0]], {ids[2], ids[3]})  # newest pin first
    assert together["three"] == ([], {ids[3]})
