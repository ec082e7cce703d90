"""Health figures, /metrics, /healthz and `feedhub status`, on real databases and servers.

The store runs on a real SQLite file and on PostgreSQL (db_url); HTTP goes to
real aiohttp servers on 127.0.0.1; the CLI runs as a subprocess after a real
`feedhub fetch` against tests/feedserver.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from feedhub import metrics as metrics_module
from feedhub.cli import main
from feedhub.config import load_config
from feedhub.metrics import StoreOpener, metrics_routes, render_metrics
from feedhub.models import Config, Entry, SourceConfig
from feedhub.serve import Handler, make_app, start_server
from feedhub.store import SourceUpdate, Store
from feedhub.store.stats import FETCH_SECONDS_BUCKETS, output_files, ping, read_health
from tests.feedserver import Document, FeedServer, rss

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NAMES = ["a", "b", "c", "d", "e", "f", "g"]


def entry(key: str) -> Entry:
    return Entry(key=key, title=f"entry {key}", link=f"https://e.example/{key}", content_hash=key)


def attempt(status: str, seconds: float) -> SourceUpdate:
    return SourceUpdate(
        status=status, last_fetch_at=NOW, next_fetch_at=NOW + timedelta(hours=1),
        consecutive_errors=0, first_error_at=None, last_http_status=200, last_error=None,
        interval_reason="config", hints={}, redirect_target=None, redirect_count=0,
        redirect_first_seen=None, last_fetch_seconds=seconds,
    )  # fmt: skip


def counts(fetched: int, not_modified: int, failed: int, new: int, updated: int,
           outputs: int, build: float) -> dict[str, float]:  # fmt: skip
    return {"fetched": fetched, "not_modified": not_modified, "failed": failed,
            "entries_new": new, "entries_updated": updated, "outputs_written": outputs,
            "build_seconds": build}  # fmt: skip


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """Sources in every status, a few entries, and three runs:

    a ok 0.03 s (2 entries), b not-modified 0.2 s (1 entry), c error 1.5 s,
    d broken 40 s, e gone 0.07 s (not polled: no duration), f new (never tried),
    g ok 0.05 s (on a bucket bound); "old" is broken but left feeds.toml (disabled).
    """
    s = Store.open(db_url)
    s.sync_sources([SourceConfig(n, f"https://{n}.example/feed") for n in [*NAMES, "old"]], NOW)
    s.set_source_state("old", status="broken", last_fetch_seconds=99.0)
    s.sync_sources([SourceConfig(n, f"https://{n}.example/feed") for n in NAMES], NOW)
    rows = {r.name: r for r in s.sources()}
    s.save_fetch(rows["a"], attempt("ok", 0.03), [entry("1"), entry("2")], now=NOW)
    s.save_fetch(rows["b"], attempt("not-modified", 0.2), [entry("3")], now=NOW)
    for name, status, seconds in [("c", "error", 1.5), ("d", "broken", 40.0),
                                  ("e", "gone", 0.07), ("g", "ok", 0.05)]:  # fmt: skip
        s.set_source_state(name, status=status, last_fetch_seconds=seconds)
    s.record_run(NOW - timedelta(days=3), NOW - timedelta(days=3), counts(5, 1, 0, 7, 0, 3, 0.5))
    s.record_run(NOW - timedelta(hours=2), NOW - timedelta(hours=2), counts(2, 3, 1, 1, 2, 1, 0.25))
    # A worker batch that built nothing records build_seconds 0.
    s.record_run(
        NOW - timedelta(minutes=10), NOW - timedelta(minutes=9), counts(0, 1, 0, 0, 0, 0, 0.0)
    )
    yield s
    s.close()


def make_config(tmp_path: Path, db_url: str, outputs: str = "") -> Config:
    path = tmp_path / "feeds.toml"
    path.write_text(f"""
[settings]
database_url = "{db_url}"
output_dir = "public"
base_url = "http://feeds.example/"
{outputs}
""")
    return load_config(path)


TWO_OUTPUTS = """
[[sources]]
name = "a"
url = "https://a.example/feed"

[[sources]]
name = "b"
url = "https://b.example/feed"
[[outputs]]
name = "news"
title = "News"
sources = ["a"]

[[outputs]]
name = "secret"
title = "Secret"
sources = ["b"]
formats = ["atom"]
token = "tok3n-abcdefghijklmnop"
"""


# --- the snapshot ------------------------------------------------------------------


def test_health_snapshot(store: Store) -> None:
    health = read_health(store.engine, now=NOW)
    assert dict(health.sources) == {
        "new": 1, "ok": 2, "not-modified": 1, "error": 1, "broken": 1, "gone": 1
    }  # fmt: skip
    assert health.sources_total == 7 and health.broken == 1
    assert health.broken_names == ("d",)  # "old" is disabled
    assert health.entries == 3
    total = health.runs
    assert (total.runs, total.fetched, total.not_modified, total.failed) == (3, 7, 5, 1)
    assert (total.entries_new, total.entries_updated, total.outputs_written) == (8, 2, 4)
    recent = health.recent  # the two runs of the last 24 h
    assert (recent.runs, recent.fetched, recent.not_modified, recent.failed) == (2, 2, 4, 1)
    assert health.not_modified_ratio == pytest.approx(4 / 7)
    assert health.last_run is not None
    assert health.last_run.at == NOW - timedelta(minutes=9)
    assert health.last_run.counts.not_modified == 1 and health.last_run.build_seconds == 0.0
    assert health.last_build_seconds == 0.25  # the latest run that built something
    durations = health.fetch_seconds
    assert durations.bounds == FETCH_SECONDS_BUCKETS
    # a 0.03, g 0.05 (le is inclusive), b 0.2, c 1.5, d 40; e is gone, f never tried.
    assert durations.cumulative == (2, 2, 3, 3, 3, 4, 4, 4, 4, 5)
    assert durations.total_seconds == pytest.approx(0.03 + 0.05 + 0.2 + 1.5 + 40.0)


def test_empty_database(db_url: str) -> None:
    with Store.open(db_url) as empty:
        health = read_health(empty.engine, now=NOW)
        assert health.sources_total == 0 and health.entries == 0
        assert health.last_run is None and health.last_build_seconds is None
        assert health.not_modified_ratio is None
        assert health.fetch_seconds.cumulative == (0,) * (len(FETCH_SECONDS_BUCKETS) + 1)
        assert ping(empty.engine) is None


# --- the exposition ----------------------------------------------------------------


def samples(
    text: str, *, openmetrics: bool = False
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse(text)
        for s in family.samples
    }


def test_metrics_values(store: Store, db_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, db_url)
    body, content_type = render_metrics(store, config, clock=lambda: NOW)
    assert content_type.startswith("text/plain; version=0.0.4")
    found = samples(body.decode())
    assert found[("feedhub_database_up", ())] == 1
    for status, count in {"ok": 2, "not-modified": 1, "error": 1, "broken": 1, "gone": 1,
                          "new": 1}.items():  # fmt: skip
        assert found[("feedhub_sources", (("status", status),))] == count
    assert found[("feedhub_sources_broken", ())] == 1
    assert found[("feedhub_fetches_total", (("outcome", "fetched"),))] == 7
    assert found[("feedhub_fetches_total", (("outcome", "not_modified"),))] == 5
    assert found[("feedhub_fetches_total", (("outcome", "failed"),))] == 1
    assert found[("feedhub_not_modified_ratio", ())] == pytest.approx(4 / 7)
    assert found[("feedhub_entries", ())] == 3
    assert found[("feedhub_entries_new_total", ())] == 8
    assert found[("feedhub_entries_updated_total", ())] == 2
    assert found[("feedhub_runs_total", ())] == 3
    assert found[("feedhub_output_build_seconds", ())] == 0.25
    last = (NOW - timedelta(minutes=9)).timestamp()
    assert found[("feedhub_last_run_timestamp_seconds", ())] == last
    bucket = "feedhub_fetch_duration_seconds_bucket"
    assert found[(bucket, (("le", "0.05"),))] == 2
    assert found[(bucket, (("le", "0.25"),))] == 3
    assert found[(bucket, (("le", "30.0"),))] == 4
    assert found[(bucket, (("le", "+Inf"),))] == 5
    assert found[("feedhub_fetch_duration_seconds_gcount", ())] == 5
    assert found[("feedhub_fetch_duration_seconds_gsum", ())] == pytest.approx(41.78)


def test_openmetrics_when_prometheus_asks_for_it(store: Store, db_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, db_url)
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    body, content_type = render_metrics(store, config, accept=accept, clock=lambda: NOW)
    assert content_type.startswith("application/openmetrics-text")
    text = body.decode()
    assert "# TYPE feedhub_fetch_duration_seconds gaugehistogram" in text
    assert "# TYPE feedhub_fetches counter" in text
    found = samples(text, openmetrics=True)
    assert found[("feedhub_fetches_total", (("outcome", "not_modified"),))] == 5
    assert found[("feedhub_fetch_duration_seconds_gcount", ())] == 5


def test_ratio_is_nan_without_recent_fetches(db_url: str, tmp_path: Path) -> None:
    with Store.open(db_url) as empty:
        body, _ = render_metrics(empty, make_config(tmp_path, db_url), clock=lambda: NOW)
    found = samples(body.decode())
    assert found[("feedhub_not_modified_ratio", ())] != found[("feedhub_not_modified_ratio", ())]
    assert ("feedhub_last_run_timestamp_seconds", ()) not in found
    assert found[("feedhub_fetches_total", (("outcome", "fetched"),))] == 0


def test_output_age_and_missing_files(store: Store, db_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, db_url, TWO_OUTPUTS)
    public = config.settings.output_dir
    public.mkdir()
    written = NOW.timestamp() - 300
    for name, mtime in [("news.atom", written - 60), ("news.rss", written), ("news.json", written),
                        ("news.html", written - 3600)]:  # fmt: skip
        (public / name).write_text("x")
        os.utime(public / name, (mtime, mtime))
    (public / "tok3n-abcdefghijklmnop").mkdir()
    (public / "tok3n-abcdefghijklmnop" / "secret.atom").write_text("x")
    os.utime(public / "tok3n-abcdefghijklmnop" / "secret.atom", (written - 30, written - 30))
    found = samples(render_metrics(store, config, clock=lambda: NOW)[0].decode())
    assert found[("feedhub_output_age_seconds", (("output", "news"),))] == pytest.approx(300)
    assert found[("feedhub_output_missing_files", (("output", "news"),))] == 0
    assert found[("feedhub_output_age_seconds", (("output", "secret"),))] == pytest.approx(330)
    assert found[("feedhub_output_missing_files", (("output", "secret"),))] == 1  # its page

    (public / "news.rss").unlink()
    (public / "news.json").unlink()
    (news, _) = output_files(config)
    assert [p.name for p in news.missing] == ["news.rss", "news.json"]
    assert news.age_seconds(NOW) == pytest.approx(360)
    for path in public.glob("news.*"):
        path.unlink()
    found = samples(render_metrics(store, config, clock=lambda: NOW)[0].decode())
    assert ("feedhub_output_age_seconds", (("output", "news"),)) not in found
    assert found[("feedhub_output_missing_files", (("output", "news"),))] == 4


# --- /metrics and /healthz over HTTP --------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict[str, object]:
        document = json.loads(self.body)
        assert isinstance(document, dict)
        return document


@dataclass
class Server:
    port: int

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()


StartServer = Callable[[Path, Sequence[tuple[str, str, Handler]]], Server]


@pytest.fixture
def start() -> Iterator[StartServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    def _start(root: Path, routes: Sequence[tuple[str, str, Handler]]) -> Server:
        app = make_app(root, extra_routes=routes)
        runner = asyncio.run_coroutine_threadsafe(start_server(app, "127.0.0.1", 0), loop).result(
            timeout=5
        )
        runners.append(runner)
        return Server(runner.addresses[0][1])

    yield _start
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_metrics_and_healthz_over_http(
    store: Store, db_url: str, tmp_path: Path, start: StartServer
) -> None:
    config = make_config(tmp_path, db_url, TWO_OUTPUTS)
    config.settings.output_dir.mkdir()
    (config.settings.output_dir / "news.atom").write_text("x")
    server = start(config.settings.output_dir, metrics_routes(lambda: store, config))

    reply = server.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert reply.headers["Cache-Control"] == "no-store"
    found = samples(reply.body.decode())
    assert found[("feedhub_sources", (("status", "broken"),))] == 1
    assert found[("feedhub_output_missing_files", (("output", "news"),))] == 3
    om = server.get("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.body.endswith(b"# EOF\n")

    health = server.get("/healthz")
    assert health.status == 200
    assert health.headers["Content-Type"].startswith("application/json")
    assert health.json() == {
        "status": "ok", "database": "ok", "output_dir": "ok", "last_run_at": "2026-11-20T11:51:00Z"
    }  # fmt: skip
    assert server.get("/healthz", method="HEAD").status == 200
    assert server.get("/news.atom").body == b"x"  # the files are still served


def test_healthz_503_without_the_tables(tmp_path: Path, start: StartServer) -> None:
    db_url = f"sqlite:///{tmp_path / 'empty.db'}"
    sqlite3.connect(tmp_path / "empty.db").close()  # a database, but not feedhub's
    config = make_config(tmp_path, db_url)
    config.settings.output_dir.mkdir()
    opener = StoreOpener(db_url)
    try:
        server = start(config.settings.output_dir, metrics_routes(opener, config))
        health = server.get("/healthz")
        assert health.status == 503
        document = health.json()
        assert document["status"] == "unavailable" and document["output_dir"] == "ok"
        assert "no such table: sources" in str(document["database"])
        # /metrics still answers, and says the database did not.
        reply = server.get("/metrics")
        assert reply.status == 200
        found = samples(reply.body.decode())
        assert found[("feedhub_database_up", ())] == 0
        assert ("feedhub_sources_broken", ()) not in found
    finally:
        opener.close()


def test_healthz_503_when_the_database_file_is_not_a_database(
    tmp_path: Path, start: StartServer
) -> None:
    path = tmp_path / "feedhub.db"
    path.write_bytes(b"this is not an SQLite file, whatever its name says" * 100)
    config = make_config(tmp_path, f"sqlite:///{path}")
    config.settings.output_dir.mkdir()
    opener = StoreOpener(config.settings.database_url)
    try:
        server = start(config.settings.output_dir, metrics_routes(opener, config))
        health = server.get("/healthz")
        assert health.status == 503
        assert "file is not a database" in str(health.json()["database"])
    finally:
        opener.close()


def test_healthz_503_without_the_output_dir(
    store: Store, db_url: str, tmp_path: Path, start: StartServer
) -> None:
    config = make_config(tmp_path, db_url)
    server = start(tmp_path, metrics_routes(lambda: store, config))
    health = server.get("/healthz")
    assert health.status == 503
    assert health.json()["database"] == "ok"
    assert "is not a directory" in str(health.json()["output_dir"])


def test_healthz_answers_in_time_while_the_database_is_locked(
    tmp_path: Path, start: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "feedhub.db"
    Store.open(f"sqlite:///{path}").close()
    config = make_config(tmp_path, f"sqlite:///{path}")
    config.settings.output_dir.mkdir()
    monkeypatch.setattr(metrics_module, "HEALTHZ_TIMEOUT", 0.3)
    opener = StoreOpener(config.settings.database_url)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        server = start(config.settings.output_dir, metrics_routes(opener, config))
        writer.execute("BEGIN EXCLUSIVE")  # another process mid-write
        # WAL: reads neither wait for nor block a writer, so health stays green.
        assert server.get("/healthz").status == 200
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    # A database that does not answer at all is reported within the bound.
    release = threading.Event()
    monkeypatch.setattr(metrics_module, "ping", lambda engine: release.wait(5))
    try:
        health = server.get("/healthz")
        assert health.status == 503
        assert health.json()["database"] == "no answer within 0.3 s"
    finally:
        release.set()
        opener.close()


# --- the command line ------------------------------------------------------------------


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedhub", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def run_here(config: Path, *args: str) -> Result:
    """The same command in this process: the machine's startup cost paid once."""
    return CliRunner().invoke(main, ["--config", str(config), *args])


def make_site(tmp_path: Path, feed_server: FeedServer, db_url: str) -> Path:
    """A feeds.toml with two good sources and one output, after one real fetch."""
    items = [{"title": f"Post {i}", "link": f"https://site.example/{i}", "guid": f"p{i}",
              "pubDate": f"Tue, 1{i} Nov 2026 09:00:00 +0000"} for i in range(3)]  # fmt: skip
    feed_server.documents["/one.xml"] = Document(rss("One", items))
    feed_server.documents["/two.xml"] = Document(rss("Two", items[:1]))
    config = tmp_path / "feeds.toml"
    config.write_text(f"""
[settings]
database_url = "{db_url}"
base_url = "http://feeds.example/"
output_dir = "public"

[[sources]]
url = "{feed_server.url("/one.xml")}"
name = "one"
tags = ["all"]

[[sources]]
url = "{feed_server.url("/two.xml")}"
name = "two"
tags = ["all"]

[[outputs]]
name = "digest"
title = "Digest"
tags = ["all"]
""")
    fetched = run_here(config, "fetch")
    assert fetched.exit_code == 0, fetched.output
    return config


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer, db_url: str) -> Path:
    return make_site(tmp_path, feed_server, db_url)


def test_status_after_a_real_fetch(site: Path) -> None:
    result = run(site, "status")  # the real command line, once
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "sources: 2 (2 ok, 0 not modified, 0 error, 0 broken, 0 gone)"
    assert lines[1] == "entries: 4"
    assert lines[2].startswith("last run: ") and " UTC (" in lines[2]
    assert "): 2 fetched, 0 not modified, 0 failed; 4 new, 0 updated entries; built in " in lines[2]
    assert "not modified: 0% of 2 fetches in the last 24 h" in lines
    assert lines[-2] == "outputs:"
    assert lines[-1].startswith("  digest  changed ") and lines[-1].endswith(", 4 files")

    as_json = run_here(site, "status", "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["healthy"] is True and document["problems"] == []
    assert document["sources"]["ok"] == 2 and document["entries"] == 4
    assert document["last_run"]["fetched"] == 2 and document["last_run"]["entries_new"] == 4
    (digest,) = document["outputs"]
    assert digest["name"] == "digest" and digest["missing"] == []
    assert len(digest["files"]) == 4 and 0 <= digest["age_seconds"] < 60


def test_status_exits_1_when_unhealthy(site: Path) -> None:
    config = load_config(site)
    with Store.open(config.settings.database_url) as store:
        store.set_source_state("two", status="broken")
        long_ago = NOW - timedelta(days=400)
        store.record_run(long_ago, long_ago, counts(0, 0, 0, 0, 0, 0, 0))
    (config.settings.output_dir / "digest.json").unlink()
    result = run_here(site, "status")
    assert result.exit_code == 1, result.output
    assert "1 broken" in result.stdout
    unhealthy = result.stdout.split("unhealthy:\n", 1)[1].splitlines()
    assert unhealthy[0] == "  1 source broken: two"
    assert unhealthy[1].startswith("  no run for ") and "3 x the 60 min interval" in unhealthy[1]
    assert unhealthy[2] == "  output digest is missing digest.json"
    as_json = run_here(site, "status", "--json")
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert document["healthy"] is False and len(document["problems"]) == 3
    assert document["broken"] == ["two"]


def test_serve_answers_healthz_and_metrics(tmp_path: Path, feed_server: FeedServer) -> None:
    # The wiring of `feedhub serve`; the figures themselves were checked on both backends.
    site = make_site(tmp_path, feed_server, f"sqlite:///{tmp_path / 'feedhub.db'}")
    with subprocess.Popen(
        [sys.executable, "-u", "-m", "feedhub", "-v", "--config", str(site), "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if "serving on http://127.0.0.1:" in line:
                    break
            port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
            server = Server(port)
            health = server.get("/healthz")
            assert health.status == 200 and health.json()["status"] == "ok"
            found = samples(server.get("/metrics").body.decode())
            assert found[("feedhub_sources", (("status", "ok"),))] == 2
            assert found[("feedhub_entries", ())] == 4
            assert found[("feedhub_output_missing_files", (("output", "digest"),))] == 0
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "Traceback" not in output
