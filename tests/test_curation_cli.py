"""pin / hide through the CLI, surviving refetches, entry updates and rebuilds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import feedparser

from tests.feedserver import Document, FeedServer, rss


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedhub", "--config", str(config), *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))  # fmt: skip


def items(titles: list[str]) -> bytes:
    return rss("News", [{"title": t, "link": f"https://news.example/{i}", "guid": f"g{i}", "pubDate": f"Mon, {10 + i:02d} Nov 2026 09:00:00 +0000"} for i, t in enumerate(titles)])  # fmt: skip


def titles(path: Path) -> list[str]:
    return [e.title for e in feedparser.parse(path.read_bytes()).entries]


def test_pin_and_hide_survive_refetch_and_updates(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.documents["/n.xml"] = Document(
        items(["Oldest AI story", "Middle story", "Newest AI story"])
    )
    config = tmp_path / "feeds.toml"
    config.write_text(f'[[sources]]\nurl = "{feed_server.url("/n.xml")}"\nname = "news"\ntags = ["n"]\n\n[[outputs]]\nname = "ai"\ntags = ["n"]\ninclude = ["AI"]\nlimit = 1\n\n[[outputs]]\nname = "all"\ntags = ["n"]\n')  # fmt: skip
    assert run(config, "fetch").returncode == 0
    atom = tmp_path / "var/public/ai.atom"
    assert titles(atom) == ["Newest AI story"]
    listed = {e["title"]: e["id"] for e in json.loads(run(config, "entries", "--json").stdout)}

    pinned = run(config, "pin", listed["Oldest AI story"][:8], "--output", "ai")
    assert pinned.returncode == 0, pinned.stderr
    assert titles(atom) == ["Oldest AI story"]  # pinned first; limit 1

    hidden = run(config, "hide", listed["Middle story"])
    assert hidden.returncode == 0 and "every output" in hidden.stdout
    assert "Middle story" not in titles(tmp_path / "var/public/all.atom")

    # The source corrects an entry and the feed is fetched again: curation holds.
    feed_server.documents["/n.xml"] = Document(
        items(["Oldest AI story (updated)", "Middle story", "Newest AI story"])
    )
    assert "1 updated" in run(config, "fetch", "--all").stdout
    run(config, "build")
    assert titles(atom) == ["Oldest AI story (updated)"]
    assert "Middle story" not in titles(tmp_path / "var/public/all.atom")

    assert run(config, "unpin", listed["Oldest AI story"][:8], "--output", "ai").returncode == 0
    assert titles(atom) == ["Newest AI story"]
    assert run(config, "unhide", listed["Middle story"]).returncode == 0
    assert "Middle story" in titles(tmp_path / "var/public/all.atom")


def test_curation_errors_are_usage_errors(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.documents["/n.xml"] = Document(items(["One story"]))
    config = tmp_path / "feeds.toml"
    config.write_text(f'[[sources]]\nurl = "{feed_server.url("/n.xml")}"\nname = "news"\n\n[[outputs]]\nname = "all"\nsources = ["news"]\n')  # fmt: skip
    run(config, "fetch")
    assert run(config, "pin", "ffffffff", "--output", "all").returncode == 2
    missing_output = run(config, "hide", "ffffffff", "--output", "nope")
    assert missing_output.returncode == 2 and "no output named" in missing_output.stderr
