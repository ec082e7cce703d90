"""The store on a real SQLite file and on the real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from feedhub.errors import StoreError
from feedhub.models import Author, Enclosure, Entry, SourceConfig
from feedhub.store import EntryFilter, SourceUpdate, Store, public_id_for
from feedhub.store.engine import current_revision
from feedhub.store.rows import entry_values, insert_entries, key_hash
from feedhub.store.schema import SCHEMA_REVISION, entries, include_name, metadata

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def entry(key: str, title: str = "t", **kw: object) -> Entry:
    base = Entry(key=key, title=title, link=f"https://e.example/{key}", content_hash=f"h-{title}")
    return base.replace(**kw)


def attempt(**kw: object) -> SourceUpdate:
    values: dict[str, object] = dict(
        status="ok", last_fetch_at=NOW, next_fetch_at=NOW + timedelta(hours=1),
        consecutive_errors=0, first_error_at=None, last_http_status=200, last_error=None,
        interval_reason="config", hints={}, redirect_target=None, redirect_count=0,
        redirect_first_seen=None,
    )  # fmt: skip
    values.update(kw)
    return SourceUpdate(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    s.sync_sources([SourceConfig("a", "https://a.example/feed", ("x",)), SourceConfig("b", "https://b.example/feed")], NOW)  # fmt: skip
    return s


def test_migrations_build_exactly_the_declared_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store.open(db_url)
    assert current_revision(store.engine) == SCHEMA_REVISION
    with store.engine.connect() as conn:
        # The full-text search objects are outside metadata on purpose (schema.is_external_object).
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    store = Store.open(url)
    store.sync_sources([SourceConfig("a", "https://a.example/feed")], NOW)
    store.close()
    again = Store.open(url)
    assert [s.name for s in again.sources()] == ["a"]


def test_sqlite_is_tuned(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'f.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_new_changed_and_unchanged_entries(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    new, updated = store.save_fetch(a, attempt(), [entry("1", "one"), entry("2", "two")], now=NOW)
    assert (new, updated) == (2, 0)
    first = {e.entry.key: e for e in store.iter_entries(EntryFilter())}
    later = NOW + timedelta(hours=1)
    new, updated = store.save_fetch(
        a, attempt(), [entry("1", "one"), entry("2", "two!")], now=later
    )
    assert (new, updated) == (0, 1)
    after = {e.entry.key: e for e in store.iter_entries(EntryFilter())}
    assert after["2"].entry.title == "two!"
    assert after["2"].id == first["2"].id and after["2"].public_id == first["2"].public_id
    assert after["2"].first_seen == NOW and after["2"].changed_at == later
    assert after["1"].changed_at == NOW  # unchanged: not rewritten


def test_fields_round_trip_in_utc(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    full = entry(
        "k", published=when, updated=when + timedelta(hours=1),
        authors=(Author("Ann", "ann@x.example", "https://x.example/ann"),),
        categories=("AI", "policy"), summary="<p>s</p>", content="<p>c</p>",
        enclosures=(Enclosure("https://x.example/a.mp3", "audio/mpeg", 123),),
        comments="https://x.example/c", language="en", guid_is_permalink=True,
    )  # fmt: skip
    store.save_fetch(a, attempt(), [full], now=NOW)
    (stored,) = store.iter_entries(EntryFilter())
    assert stored.entry == full
    assert stored.published.tzinfo is not None and stored.source.name == "a"


def test_identity_survives_a_source_url_change(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    store.save_fetch(a, attempt(), [entry("1")], now=NOW)
    before = next(store.iter_entries(EntryFilter()))
    store.sync_sources([SourceConfig("a", "https://new.example/feed"), SourceConfig("b", "https://b.example/feed")], NOW)  # fmt: skip
    a = store.source("a")
    assert a is not None and a.url == "https://new.example/feed"
    store.save_fetch(a, attempt(), [entry("1")], now=NOW)
    (after,) = store.iter_entries(EntryFilter())
    assert after.id == before.id and after.public_id == before.public_id


def test_public_ids() -> None:
    assert public_id_for("s", "https://e.example/1") == "https://e.example/1"
    assert public_id_for("s", "tag:e.example,2026:1") == "tag:e.example,2026:1"
    derived = public_id_for("s", "1234")
    assert derived.startswith("urn:uuid:") and derived == public_id_for("s", "1234")
    assert public_id_for("other", "1234") != derived
    assert public_id_for("s", "sha256:abc").startswith("urn:uuid:")
    assert public_id_for("s", "http:/no-host").startswith("urn:uuid:")


def test_claims_are_exclusive_until_the_lease_expires(store: Store) -> None:
    ids = [s.id for s in store.sources()]
    lease = timedelta(minutes=10)
    assert store.claim(ids, worker="w1", now=NOW, lease=lease) == sorted(ids)
    assert store.claim(ids, worker="w2", now=NOW + timedelta(minutes=5), lease=lease) == []
    # A killed run never releases; its lease expires and another worker takes over.
    assert store.claim(ids, worker="w2", now=NOW + timedelta(minutes=11), lease=lease) == sorted(ids)  # fmt: skip
    store.release(ids, worker="w1")  # not w1's any more: no effect
    assert store.claim(ids, worker="w3", now=NOW + timedelta(minutes=12), lease=lease) == []
    store.release(ids, worker="w2")
    assert store.claim(ids, worker="w3", now=NOW + timedelta(minutes=12), lease=lease) == sorted(ids)  # fmt: skip


def test_a_failed_save_writes_nothing(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    # The source update fails after the entries were written (a naive datetime is
    # refused at bind time): the transaction must take the entries back with it.
    with pytest.raises((StoreError, ValueError)):
        store.save_fetch(a, attempt(next_fetch_at=datetime(2026, 1, 1)), [entry("1")], now=NOW)
    assert list(store.iter_entries(EntryFilter())) == []


def test_keyset_pages_cover_every_entry_once(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    batch = [entry(str(i), published=NOW - timedelta(minutes=i % 7)) for i in range(53)]
    store.save_fetch(a, attempt(), batch, now=NOW)
    seen = [e.entry.key for e in store.iter_entries(EntryFilter(), batch=10)]
    assert sorted(seen) == sorted(str(i) for i in range(53))
    times = [e.published for e in store.iter_entries(EntryFilter(), batch=10)]
    assert times == sorted(times, reverse=True)


def test_tags_select_sources(store: Store) -> None:
    a, b = store.source("a"), store.source("b")
    assert a and b
    assert store.source_ids_for([], ["x"]) == (a.id,)
    assert store.source_ids_for(["b"], ["x"]) == tuple(sorted((a.id, b.id)))
    assert a.tags == ("x",)


def test_sources_missing_from_config_are_disabled_not_deleted(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    store.save_fetch(a, attempt(), [entry("1")], now=NOW)
    store.sync_sources([SourceConfig("b", "https://b.example/feed")], NOW)
    a = store.source("a")
    assert a is not None and not a.enabled and a.entry_count == 1


def test_curation_pins_and_hides(store: Store) -> None:
    a = store.source("a")
    assert a is not None
    store.save_fetch(a, attempt(), [entry("1"), entry("2")], now=NOW)
    one, two = sorted(store.iter_entries(EntryFilter()), key=lambda e: e.entry.key)
    assert store.set_curation(one.id, "out", "pin", on=True, now=NOW)
    assert not store.set_curation(one.id, "out", "pin", on=True, now=NOW)
    assert store.set_curation(two.id, "*", "hide", on=True, now=NOW)
    pinned, hidden = store.curation("out")
    assert pinned == [one.id] and hidden == {two.id}
    assert store.find_entries(one.short_id[:6])[0].id == one.id


def test_an_old_database_is_upgraded_in_place(tmp_path: Path) -> None:
    from alembic import command

    from feedhub.store.engine import alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO sources (name, url, config_url, enabled, status, consecutive_errors, redirect_count, created_at) VALUES ('old', 'https://o.example/f', 'https://o.example/f', 1, 'ok', 0, 0, '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = Store.open(url)
    assert current_revision(store.engine) == SCHEMA_REVISION
    assert [s.name for s in store.sources()] == ["old"]


def test_copies_of_a_story_point_at_the_earliest(store: Store) -> None:
    a, b = store.source("a"), store.source("b")
    assert a and b
    title = "Government publishes its national AI strategy today"
    store.save_fetch(
        a,
        attempt(),
        [entry("https://a.example/1", title="one", link="https://news.example/story?utm_source=a")],
        now=NOW,
    )
    store.save_fetch(b, attempt(), [
        entry("b-1", title="two", link="https://NEWS.example/story#top"),  # same canonical link
        entry("https://a.example/1", title="three", link=None),  # same guid
        entry("b-3", title=title + "!", link=None, published=NOW),  # title, within 48 h...
        entry("b-4", title="Update", link=None),  # too short a title to match anything
    ], now=NOW)  # fmt: skip
    store.save_fetch(a, attempt(), [entry("a-2", title=title, link=None, published=NOW + timedelta(hours=47))], now=NOW + timedelta(hours=1))  # fmt: skip
    rows = {e.entry.key: e for e in store.iter_entries(EntryFilter())}
    original = rows["https://a.example/1"]
    only_a = EntryFilter(source_ids=(a.id,), hide_copies_of=(a.id,))
    both = EntryFilter(source_ids=(a.id, b.id), hide_copies_of=(a.id, b.id))
    visible = {e.entry.key for e in store.iter_entries(both)}
    assert original.entry.key in visible
    assert "b-1" not in visible and "b-4" in visible
    assert ("b-3" in visible) != ("a-2" in visible)  # one copy of the titled story
    # An output without the original's source still shows the copy.
    assert {
        e.entry.key
        for e in store.iter_entries(EntryFilter(source_ids=(b.id,), hide_copies_of=(b.id,)))
    } >= {"b-1"}
    assert {e.entry.key for e in store.iter_entries(only_a)} == {"https://a.example/1", "a-2"}


def test_sqlite_fast_insert_writes_what_the_core_insert_writes(tmp_path: Path) -> None:
    # insert_entries hands SQLite its values directly; they must be byte for byte
    # what SQLAlchemy's types write, or reads, comparisons and ORDER BY would differ.
    store = Store.open(f"sqlite:///{tmp_path / 'f.db'}")
    store.sync_sources([SourceConfig("a", "https://a.example/f"), SourceConfig("b", "https://b.example/f")], NOW)  # fmt: skip
    full = entry("1", "one").replace(
        authors=(Author(name="Ann", email="ann@example.org", uri="https://ann.example/"),),
        categories=("x", "ÿ"), enclosures=(Enclosure("https://e.example/a.mp3", "audio/mpeg", 3),),
        updated=NOW - timedelta(seconds=1, microseconds=5), guid_is_permalink=True,
    )  # fmt: skip
    rows = {r.name: r for r in store.sources()}
    with store.engine.begin() as conn:
        fast = entry_values("a", rows["a"].id, key_hash(full.key), full, NOW, NOW)
        core = entry_values("b", rows["b"].id, key_hash(full.key), full, NOW, NOW)
        insert_entries(conn, [fast])
        conn.execute(insert(entries), [core])
        stored = conn.exec_driver_sql("SELECT * FROM entries ORDER BY source_id").all()
    skip = {"id", "source_id", "public_id", "short_id"}
    names = [c.name for c in entries.c]
    a, b = ({n: v for n, v in zip(names, row, strict=True) if n not in skip} for row in stored)
    assert a == b
    assert all(e.entry.authors == full.authors for e in store.iter_entries(EntryFilter()))


def test_dedup_and_retention_find_copies_by_index_not_by_scanning(tmp_path: Path) -> None:
    # Recording a duplicate rewrites the copies of the losing original, retention
    # clears pointers to removed originals: without an index on duplicate_of each
    # scanned every entry (1.4 s per duplicate at 500,000 entries).
    store = Store.open(f"sqlite:///{tmp_path / 'f.db'}")
    statements = [
        "UPDATE entries SET duplicate_of = 5 WHERE id IN (1, 2) OR duplicate_of IN (1, 2)",
        "UPDATE entries SET duplicate_of = NULL WHERE duplicate_of IN (3, 4)",
    ]
    with store.engine.connect() as conn:
        for statement in statements:
            plan = " / ".join(
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement)
            )
            assert "SCAN entries" not in plan and "ix_entries_duplicate_of" in plan, plan
