"""Curated outputs through the CLI: rules, private outputs, WebSub, stable rebuilds."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.feedserver import Document, FeedServer, rss

TOKEN = "s3cret-token-0123456789"


def feedhub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedhub", "--config", str(config), *args], capture_output=True, text=True, timeout=120)  # fmt: skip


def setup(tmp_path: Path, server: FeedServer, hub: str) -> Path:
    server.documents["/gov.xml"] = Document(rss("Gov", [
        {"title": "National AI strategy published", "guid": "g1", "link": "https://gov.example/ai-strategy?utm_source=rss", "category": "AI", "pubDate": "Mon, 16 Nov 2026 09:00:00 +0000"},
        {"title": "Press release: AI office opens", "guid": "g2", "link": "https://gov.example/office", "pubDate": "Tue, 17 Nov 2026 09:00:00 +0000"},
        {"title": "Road works in the capital", "guid": "g3", "link": "https://gov.example/roads", "pubDate": "Wed, 18 Nov 2026 09:00:00 +0000"},
    ]))  # fmt: skip
    server.documents["/wire.xml"] = Document(rss("Wire", [
        {"title": "National AI strategy published!", "guid": "w1", "link": "https://GOV.example/ai-strategy#top", "pubDate": "Mon, 16 Nov 2026 10:00:00 +0000"},
        {"title": "Budget talks: what AI funding means", "guid": "w2", "link": "https://wire.example/budget", "pubDate": "Thu, 19 Nov 2026 09:00:00 +0000"},
    ]))  # fmt: skip
    config = tmp_path / "feeds.toml"
    config.write_text(f"""
[settings]
base_url = "http://feeds.example/"

[[sources]]
url = "{server.url("/gov.xml")}"
name = "gov"
tags = ["gov"]

[[sources]]
url = "{server.url("/wire.xml")}"
name = "wire"
tags = ["news"]

[[outputs]]
name = "ai-policy"
title = "AI policy"
tags = ["gov", "news"]
include = ["AI"]
hubs = ["{hub}"]

[[outputs.rules]]
field = "title"
regex = "^press release"
action = "drop"

[[outputs]]
name = "team"
title = "Team only"
sources = ["gov"]
token = "{TOKEN}"
""")
    return config


def test_rules_dedup_private_outputs_and_websub(tmp_path: Path, feed_server: FeedServer, httpserver: HTTPServer) -> None:  # fmt: skip
    pings: list[dict[str, list[str]]] = []
    lock = threading.Lock()

    def hub(request: Request) -> Response:
        with lock:
            pings.append({k: request.form.getlist(k) for k in request.form})
        return Response(status=204)

    httpserver.expect_request("/hub", method="POST").respond_with_handler(hub)
    config = setup(tmp_path, feed_server, httpserver.url_for("/hub"))
    result = feedhub(config, "fetch")
    assert result.returncode == 0, result.stderr
    public = tmp_path / "var/public"
    titles = [e.title for e in feedparser.parse((public / "ai-policy.atom").read_bytes()).entries]
    # include keeps AI stories, the regex rule drops the press release, and the
    # wire's copy of the strategy story (same canonical link) appears once.
    assert titles == ["Budget talks: what AI funding means", "National AI strategy published"]
    assert json.loads((public / "ai-policy.json").read_text())["title"] == "AI policy"

    # Private output: only under its token; never listed.
    assert (public / TOKEN / "team.atom").exists() and not (public / "team.atom").exists()
    for listing in ("index.html", "outputs.opml"):
        text = (public / listing).read_text()
        assert "ai-policy" in text and "team" not in text and TOKEN not in text

    # WebSub: the hub heard about the public output's feeds.
    assert pings and pings[0]["hub.mode"] == ["publish"]
    assert "http://feeds.example/ai-policy.atom" in pings[0]["hub.url"]
    assert all(TOKEN not in url for ping in pings for url in ping["hub.url"])

    # Rebuilding with the same entries rewrites nothing: readers keep getting 304s.
    before = {p: p.read_bytes() for p in public.rglob("*") if p.is_file() and not p.name.startswith(".")}  # fmt: skip
    assert "0 files written" in feedhub(config, "build").stdout
    assert {p: p.read_bytes() for p in before} == before


def test_serve_shows_a_private_output_only_with_its_token(tmp_path: Path, feed_server: FeedServer, httpserver: HTTPServer) -> None:  # fmt: skip
    import socket
    import time

    httpserver.expect_request("/hub", method="POST").respond_with_data("", status=204)
    config = setup(tmp_path, feed_server, httpserver.url_for("/hub"))
    feedhub(config, "fetch")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "feedhub", "--config", str(config), "serve", "--port", str(port)], stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/index.html", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with urllib.request.urlopen(f"{base}/{TOKEN}/team.atom", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/atom+xml")
        for path in ("/team.atom", f"/{TOKEN}/", f"/{TOKEN}"):
            try:
                urllib.request.urlopen(base + path, timeout=5)
                raise AssertionError(f"{path} was served")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_output_can_select_by_search_query(tmp_path: Path, feed_server: FeedServer, httpserver: HTTPServer, db_url: str) -> None:  # fmt: skip
    httpserver.expect_request("/hub", method="POST").respond_with_data("", status=204)
    config = setup(tmp_path, feed_server, httpserver.url_for("/hub"))
    text = config.read_text().replace('base_url = "http://feeds.example/"', f'base_url = "http://feeds.example/"\ndatabase_url = "{db_url}"')  # fmt: skip
    config.write_text(text + '\n[[outputs]]\nname = "found"\ntags = ["gov", "news"]\nsearch = \'strategy OR "road works" -capital\'\n')  # fmt: skip
    assert feedhub(config, "fetch").returncode == 0
    titles = [e.title for e in feedparser.parse((tmp_path / "var/public/found.atom").read_bytes()).entries]  # fmt: skip
    assert titles == ["National AI strategy published"]
