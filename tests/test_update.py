"""The fetch contract, end to end through the orchestrator, with the clock injected.

A scripted server on 127.0.0.1 plays each publisher behaviour; time moves only
when the test moves it, so nothing sleeps and nothing depends on timing luck.
"""

from __future__ import annotations

import itertools
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedhub.config import build_config
from feedhub.models import Config
from feedhub.store import EntryFilter, Store
from feedhub.update import Updater, reenable_sources
from tests.feedserver import Document, FeedServer, rss

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def feed(n: int = 2) -> bytes:
    return rss("Feed", [{"title": f"Post {i}", "link": f"https://site.example/{i}", "guid": f"id-{i}"} for i in range(n)])  # fmt: skip


def make_config(
    db_url: str, tmp_path: Path, server: FeedServer, *paths: str, extra: str = ""
) -> Config:
    sources = "".join(f'[[sources]]\nurl = "{server.url(p)}"\nname = "{p.strip("/").split(".")[0]}"\ntags = ["t"]\n{extra}\n' for p in paths)  # fmt: skip
    text = f'[settings]\ndatabase_url = "{db_url}"\noutput_dir = "{tmp_path}/public"\n{sources}[[outputs]]\nname = "out"\ntitle = "Out"\ntags = ["t"]\n'  # fmt: skip
    import tomllib

    return build_config(tmp_path / "feeds.toml", tomllib.loads(text), text)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def updater(config: Config, clock: Clock) -> tuple[Updater, Store]:
    store = Store.open(config.settings.database_url)
    return Updater(config, store, clock=clock, rng=random.Random(1)), store


def test_conditional_get_and_not_modified(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(feed())
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    assert up.run().fetched == 1
    clock.advance(hours=2)
    summary = up.run()
    assert summary.not_modified == 1 and summary.entries_new == 0
    last = feed_server.requests_for("/a.xml")[-1]
    assert last.status == 304 and last.headers["if-none-match"]
    row = store.source("a")
    assert row and row.status == "not-modified" and row.etag


def test_only_due_sources_are_fetched_and_all_forces(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(feed())
    up, _ = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    up.run()
    clock.advance(minutes=10)
    assert up.run().fetched + up.run().not_modified == 0  # not due for ~1 h
    assert len(feed_server.requests_for("/a.xml")) == 1
    assert up.run(force=True).not_modified == 1


def test_max_age_sets_the_next_fetch(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(feed(), headers={"Cache-Control": "max-age=10800"})
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    up.run()
    row = store.source("a")
    assert row and row.interval_reason == "max-age"
    assert row.next_fetch_at == START + timedelta(hours=3)
    # A 304 (which often omits the header) keeps honouring the stored hint.
    feed_server.documents["/a.xml"].headers = {}
    clock.advance(hours=3)
    up.run()
    row = store.source("a")
    assert (
        row
        and row.interval_reason == "max-age"
        and row.next_fetch_at == clock.now + timedelta(hours=3)
    )


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_even_by_all(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock, status: int
) -> None:
    feed_server.documents["/a.xml"] = Document(
        b"slow down", "text/plain", status=status, headers={"Retry-After": "7200"}
    )
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    assert up.run().failed == 1
    row = store.source("a")
    assert row and row.interval_reason == "retry-after" and row.last_http_status == status
    clock.advance(minutes=30)
    up.run(force=True)
    assert len(feed_server.requests_for("/a.xml")) == 1
    clock.advance(hours=2)
    up.run()
    assert len(feed_server.requests_for("/a.xml")) == 2


def test_gone_stops_polling_until_enabled(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(b"gone", "text/plain", status=410)
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    up.run()
    row = store.source("a")
    assert row and row.status == "gone" and row.next_fetch_at is None
    clock.advance(days=30)
    up.run(force=True)
    assert len(feed_server.requests_for("/a.xml")) == 1
    reenable_sources(store, ["a"], now=clock.now)
    feed_server.documents["/a.xml"] = Document(feed())
    assert up.run().fetched == 1


def test_errors_back_off_exponentially(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(b"oops", "text/plain", status=500)
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    delays = []
    for _ in range(4):
        up.run()
        row = store.source("a")
        assert row and row.next_fetch_at and row.interval_reason == "backoff"
        delays.append(row.next_fetch_at - clock.now)
        clock.now = row.next_fetch_at
    assert all(later > earlier * 1.5 for earlier, later in itertools.pairwise(delays))
    row = store.source("a")
    assert row and row.consecutive_errors == 4 and row.status == "error"


def test_broken_after_30_days_still_tried_daily(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(b"oops", "text/plain", status=404)
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    up.run()
    for _ in range(40):
        row = store.source("a")
        assert row and row.next_fetch_at
        clock.now = row.next_fetch_at
        up.run()
    row = store.source("a")
    assert row and row.status == "broken" and row.interval_reason == "broken"
    assert row.next_fetch_at == clock.now + timedelta(hours=24)


def test_permanent_redirect_moves_the_url_after_three_fetches_over_a_day(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/old.xml"] = Document(
        b"", status=301, headers={"Location": "/new.xml"}, conditional=False
    )
    feed_server.documents["/new.xml"] = Document(feed())
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/old.xml"), clock)
    up.run()
    first_ids = {e.public_id for e in store.iter_entries(EntryFilter())}
    for hours in (1, 22):  # 3 fetches, but over 23 h: not yet
        clock.advance(hours=hours)
        up.run(force=True)
        row = store.source("old")
        assert row and row.url == feed_server.url("/old.xml")
    clock.advance(hours=1)
    up.run(force=True)
    row = store.source("old")
    assert row and row.url == feed_server.url("/new.xml") and row.redirect_count == 0
    assert {e.public_id for e in store.iter_entries(EntryFilter())} == first_ids


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirects_never_move_the_url(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock, status: int
) -> None:
    feed_server.documents["/old.xml"] = Document(
        b"", status=status, headers={"Location": "/new.xml"}, conditional=False
    )
    feed_server.documents["/new.xml"] = Document(feed())
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/old.xml"), clock)
    for _ in range(4):
        up.run(force=True)
        clock.advance(hours=12)
    row = store.source("old")
    assert row and row.url == feed_server.url("/old.xml") and row.redirect_count == 0


def test_identical_body_without_conditional_get_is_not_parsed_again(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(feed(), conditional=False)
    up, _store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    assert up.run().fetched == 1
    clock.advance(hours=2)
    summary = up.run()
    assert summary.not_modified == 1 and summary.fetched == 0
    assert feed_server.requests_for("/a.xml")[-1].status == 200


def test_changed_entries_are_updated_in_place(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/a.xml"] = Document(feed())
    up, store = updater(make_config(db_url, tmp_path, feed_server, "/a.xml"), clock)
    up.run()
    before = {e.entry.key: e for e in store.iter_entries(EntryFilter())}
    feed_server.documents["/a.xml"] = Document(rss("Feed", [
        {"title": "Post 0 (corrected)", "link": "https://site.example/0", "guid": "id-0"},
        {"title": "Post 1", "link": "https://site.example/1", "guid": "id-1"},
    ]))  # fmt: skip
    clock.advance(hours=2)
    summary = up.run()
    assert (summary.entries_new, summary.entries_updated) == (0, 1)
    after = {e.entry.key: e for e in store.iter_entries(EntryFilter())}
    assert after["id-0"].entry.title == "Post 0 (corrected)"
    assert after["id-0"].public_id == before["id-0"].public_id
    assert after["id-0"].changed_at == clock.now and after["id-1"].changed_at == START


def test_a_broken_source_never_harms_the_others(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.documents["/good.xml"] = Document(feed(3))
    feed_server.documents["/html.xml"] = Document(
        b"<html><head><title>x</title></head><body>hi</body></html>", "text/html"
    )
    feed_server.documents["/bad.xml"] = Document(b"oops", status=500)
    up, store = updater(
        make_config(db_url, tmp_path, feed_server, "/good.xml", "/html.xml", "/bad.xml"), clock
    )
    summary = up.run()
    assert (summary.fetched, summary.failed, summary.entries_new) == (1, 2, 3)
    html = store.source("html")
    assert html and html.status == "error" and "not a feed" in (html.last_error or "")
    assert (tmp_path / "public" / "out.atom").exists()


def test_overlapping_runs_never_fetch_a_source_twice(
    db_url: str, tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    paths = [f"/s{i}.xml" for i in range(12)]
    for path in paths:
        feed_server.documents[path] = Document(feed())
    config = make_config(db_url, tmp_path, feed_server, *paths)
    Store.open(config.settings.database_url).close()  # migrate once, before the race
    results = []

    def one_run() -> None:
        up, _ = updater(config, clock)
        results.append(up.run())

    threads = [threading.Thread(target=one_run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for path in paths:
        assert len(feed_server.requests_for(path)) == 1, path
    assert sum(r.fetched for r in results) == len(paths)


def test_cache_max_age_follows_the_shortest_source_interval(tmp_path: Path) -> None:
    import tomllib

    from feedhub.publish import cache_max_ages

    text = '[settings]\ninterval = "2h"\n[[sources]]\nurl = "https://a.example/f"\nname = "a"\ntags = ["t"]\ninterval = "15m"\n[[sources]]\nurl = "https://b.example/f"\nname = "b"\n[[outputs]]\nname = "fast"\ntags = ["t"]\nsources = ["b"]\n[[outputs]]\nname = "slow"\nsources = ["b"]\nformats = ["atom"]\ntoken = "0123456789abcdef0123"\n'
    ages = cache_max_ages(build_config(tmp_path / "feeds.toml", tomllib.loads(text), text))
    assert ages["fast.atom"] == ages["fast.html"] == 900
    assert ages["0123456789abcdef0123/slow.atom"] == 7200 and "slow.rss" not in ages


class _SlowWriterStore(Store):
    """A real store whose batch writes take a while, as a busy disk's do; it notes
    how many batches the updater had handed over while each was being written."""

    updater: Updater | None = None
    seen_storing: list[int]

    def save_fetches(self, attempts):  # type: ignore[no-untyped-def]
        assert self.updater is not None and self.updater._batches is not None
        self.seen_storing.append(self.updater._batches.batches_in_hand)
        threading.Event().wait(0.05)
        return super().save_fetches(attempts)


def test_a_slow_writer_holds_fetches_back_instead_of_queueing_batches(
    db_url: str,
    tmp_path: Path,
    feed_server: FeedServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One small batch per source and a timer that fires at once: the writer is the
    # bottleneck, and at most two batches may be handed over at any time.
    import feedhub.batches

    monkeypatch.setattr(feedhub.batches, "FLUSH_ENTRIES", 1)
    monkeypatch.setattr(feedhub.batches, "FLUSH_SECONDS", 0.001)
    paths = [f"/s{i}.xml" for i in range(24)]
    for path in paths:
        feed_server.documents[path] = Document(feed(2))
    config = make_config(db_url, tmp_path, feed_server, *paths)
    store = _SlowWriterStore(Store.open(config.settings.database_url).engine)
    store.seen_storing = []
    up = Updater(config, store, clock=clock, rng=random.Random(1))
    store.updater = up
    summary = up.run()
    assert (summary.fetched, summary.entries_new) == (24, 48)
    assert store.seen_storing and max(store.seen_storing) <= feedhub.batches.MAX_BATCHES
    assert len(store.seen_storing) > 1  # batches, not one write at the end


def test_the_parser_pool_starts_with_a_run_that_will_parse_and_not_with_a_run_of_304s(
    db_url: str,
    tmp_path: Path,
    feed_server: FeedServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import feedhub.workers

    started: list[int] = []

    class CountingPool(feedhub.workers.ParsePool):  # type: ignore[type-arg]
        def __init__(self, *args: object, **kw: object) -> None:
            started.append(1)
            super().__init__(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(feedhub.workers, "ParsePool", CountingPool)
    feed_server.documents["/a.xml"] = Document(feed(2))
    config = make_config(db_url, tmp_path, feed_server, "/a.xml")
    up, _ = updater(config, clock)
    assert up.run().entries_new == 2
    assert started == [1]  # new sources: booted at once, overlapping the fetches
    clock.advance(hours=2)
    up, _ = updater(config, clock)
    assert up.run(force=True).not_modified == 1
    assert started == [1]  # every source had validators and answered 304: never booted
