"""The whole pipeline through the CLI, as a user runs it: local feeds over HTTP ->
`feedhub fetch` -> Atom/RSS/JSON files a reader app would see exactly as meant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from tests.conftest import REPO, require_atom_validators
from tests.feedserver import Document, FeedServer, rss

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://lab.example/blog/">
  <title>AI Lab Notes</title><id>tag:lab.example,2026:notes</id>
  <link href="https://lab.example/blog/"/>
  <updated>2026-11-20T10:00:00Z</updated>
  <entry>
    <title>Evaluating AI models for public use</title>
    <id>tag:lab.example,2026:eval</id>
    <link href="posts/eval"/>
    <published>2026-11-20T11:00:00+01:00</published>
    <updated>2026-11-20T10:00:00Z</updated>
    <author><name>Ada Li</name><email>ada@lab.example</email></author>
    <content type="html">&lt;p onclick="x()"&gt;Benchmarks &lt;script&gt;bad()&lt;/script&gt;matter.&lt;/p&gt;</content>
  </entry>
</feed>"""


def run(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedhub", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def write_config(tmp_path: Path, server: FeedServer, db_url: str | None = None) -> Path:
    config = tmp_path / "feeds.toml"
    database = f'database_url = "{db_url}"' if db_url else ""
    config.write_text(f"""
[settings]
base_url = "http://feeds.example/"
{database}

[[sources]]
url = "{server.url("/ministry.xml")}"
name = "ministry"
tags = ["policy"]

[[sources]]
url = "{server.url("/lab.atom")}"
name = "lab"
tags = ["policy", "research"]

[[sources]]
url = "{server.url("/missing.xml")}"
name = "missing"
tags = ["policy"]

[[outputs]]
name = "ai-policy"
title = "AI policy"
description = "Curated AI policy news"
tags = ["policy"]
include = ["AI"]
exclude = ["sponsored"]
""")
    return config


@pytest.fixture
def served(feed_server: FeedServer) -> FeedServer:
    feed_server.documents["/ministry.xml"] = Document(rss("Ministry", [
        {"title": "AI guidance published", "link": "https://ministry.example/ai",
         "guid_permalink": "https://ministry.example/ai",
         "pubDate": "Tue, 10 Nov 2026 09:00:00 +0100", "dc:creator": "Press Office",
         "description": "How departments may use AI."},
        {"title": "Sponsored: AI summit", "link": "https://ministry.example/summit",
         "guid": "summit-1", "pubDate": "Mon, 09 Nov 2026 09:00:00 +0000"},
        {"title": "Budget tables", "link": "https://ministry.example/budget",
         "guid": "budget-1", "pubDate": "Sun, 08 Nov 2026 09:00:00 +0000"},
    ], link="https://ministry.example/"))  # fmt: skip
    feed_server.documents["/lab.atom"] = Document(ATOM, "application/atom+xml")
    return feed_server


def test_fetch_publishes_exactly_the_curated_entries(
    tmp_path: Path, served: FeedServer, db_url: str
) -> None:
    config = write_config(tmp_path, served, db_url)
    result = run(config, "fetch")
    # One source is missing (404): reported, exit 1, the others stored.
    assert result.returncode == 1, result.stderr
    assert "missing" in result.stderr and "404" in result.stderr
    assert "2 fetched" in result.stdout and "1 failed" in result.stdout
    assert "3 new" not in result.stdout and "4 new" in result.stdout

    public = tmp_path / "var" / "public"
    atom = feedparser.parse((public / "ai-policy.atom").read_bytes())
    rss_feed = feedparser.parse((public / "ai-policy.rss").read_bytes())
    for parsed in (atom, rss_feed):
        assert not parsed.bozo, parsed.bozo_exception
        assert [e.title for e in parsed.entries] == [
            "Evaluating AI models for public use",
            "AI guidance published",
        ]
    first, second = atom.entries
    assert first.id == "tag:lab.example,2026:eval"
    assert first.link == "https://lab.example/blog/posts/eval"
    assert first.author_detail.name == "Ada Li"
    assert first.published_parsed[:6] == (2026, 11, 20, 10, 0, 0)
    assert first.source.title == "AI Lab Notes"
    assert "<script" not in first.content[0].value and "onclick" not in first.content[0].value
    assert second.id == "https://ministry.example/ai"
    assert second.author == "Press Office"
    assert second.published_parsed[:6] == (2026, 11, 10, 8, 0, 0)
    assert rss_feed.entries[1].id == "https://ministry.example/ai"
    assert rss_feed.entries[1].source.href == served.url("/ministry.xml")
    assert (public / "ai-policy.json").exists()
    assert json.loads((public / "ai-policy.json").read_text())["items"][0]["id"] == first.id
    rnc, sch = require_atom_validators()
    for command in (["jing", "-c", str(rnc)], ["xmllint", "--noout", "--schematron", str(sch)]):
        checked = subprocess.run(
            [*command, str(public / "ai-policy.atom")], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_second_fetch_is_conditional_and_rewrites_nothing(
    tmp_path: Path, served: FeedServer
) -> None:
    config = write_config(tmp_path, served)
    run(config, "fetch")
    public = tmp_path / "var" / "public"
    before = {p.name: p.stat().st_mtime_ns for p in public.iterdir()}
    second = run(config, "fetch", "--all")
    assert "0 fetched, 2 not modified, 1 failed" in second.stdout, second.stdout + second.stderr
    assert "0 output files written" in second.stdout
    for path in ("/ministry.xml", "/lab.atom"):
        last = served.requests_for(path)[-1]
        assert last.headers.get("if-none-match") and last.headers.get("if-modified-since")
        assert last.status == 304
    assert {p.name: p.stat().st_mtime_ns for p in public.iterdir()} == before


def test_sources_json_and_entries(tmp_path: Path, served: FeedServer) -> None:
    config = write_config(tmp_path, served)
    run(config, "fetch")
    listed = json.loads(run(config, "sources", "--json").stdout)
    by_name = {s["name"]: s for s in listed}
    assert by_name["missing"]["status"] == "error"
    assert by_name["missing"]["last_http_status"] == 404
    assert by_name["ministry"]["entry_count"] == 3
    assert by_name["lab"]["next_fetch_at"].endswith("Z")
    entries = run(config, "entries", "--output", "ai-policy").stdout
    assert "Evaluating AI models" in entries and "Budget tables" not in entries
    assert "Budget tables" in run(config, "entries", "--source", "ministry").stdout


def test_config_error_exits_2_and_fetches_nothing(tmp_path: Path, served: FeedServer) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(f'[[sources]]\nurl = "{served.url("/ministry.xml")}"\ninterval = true\n')
    result = run(config, "fetch")
    assert result.returncode == 2
    assert str(config) in result.stderr and "sources[0].interval" in result.stderr
    assert served.log == []


def test_config_from_environment_variable(tmp_path: Path, served: FeedServer) -> None:
    config = write_config(tmp_path, served)
    result = subprocess.run([sys.executable, "-m", "feedhub", "sources", "--json"], capture_output=True,
                            text=True, env={**os.environ, "FEEDHUB_CONFIG": str(config)}, cwd=tmp_path.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 3


def test_offline_example_runs_with_no_network(tmp_path: Path) -> None:
    import shutil

    example = tmp_path / "offline"
    shutil.copytree(REPO / "examples" / "offline", example, ignore=shutil.ignore_patterns("var"))
    result = run(example / "feeds.toml", "fetch")
    assert result.returncode == 0, result.stderr
    published = feedparser.parse((example / "var/public/ai-policy.atom").read_bytes())
    titles = [e.title for e in published.entries]
    assert titles and all("Sponsored" not in t for t in titles)


def test_every_command_has_help_with_an_example() -> None:
    from feedhub.cli import main

    for name, command in main.commands.items():
        assert command.help and "Example" in command.help, name


def test_json_logs_are_one_object_per_line(tmp_path: Path, served: FeedServer) -> None:
    config = write_config(tmp_path, served)
    result = subprocess.run([sys.executable, "-m", "feedhub", "--log-format", "json", "-v", "--config", str(config), "fetch"], capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r["logger"] == "feedhub.update" and r["level"] == "info" and "ministry" in r["message"] for r in records)  # fmt: skip
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    quiet = subprocess.run([sys.executable, "-m", "feedhub", "-q", "--config", str(config), "fetch"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "INFO" not in quiet.stderr and quiet.stdout == ""
