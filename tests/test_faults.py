"""Faults: a locked database, a process killed at any point, a full disk.

Each test drives the real CLI in a subprocess, as cron or systemd would.
"""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from tests.feedserver import Document, FeedServer, rss

FEEDS, ENTRIES = 30, 20


def feedhub(config: Path, *args: str, **kw: object) -> list[str]:
    return [sys.executable, "-m", "feedhub", "--config", str(config), *args]


def make_farm(server: FeedServer, delay: float = 0.0) -> None:
    for i in range(FEEDS):
        items = [{"title": f"Feed {i} story {j} about policy", "guid": f"f{i}-{j}", "link": f"https://f{i}.example/{j}", "description": "<p>" + "words " * 200 + "</p>"} for j in range(ENTRIES)]  # fmt: skip
        server.documents[f"/f{i}.xml"] = Document(rss(f"Feed {i}", items), delay=delay)


def write_config(tmp_path: Path, server: FeedServer, extra: str = "", outputs: int = 3) -> Path:
    sources = "".join(f'[[sources]]\nurl = "{server.url(f"/f{i}.xml")}"\nname = "f{i}"\ntags = ["all"]\n\n' for i in range(FEEDS))  # fmt: skip
    outs = "".join(f'[[outputs]]\nname = "out{k}"\ntitle = "Output {k}"\ntags = ["all"]\nlimit = 100\n\n' for k in range(outputs))  # fmt: skip
    config = tmp_path / "feeds.toml"
    config.write_text(f"[settings]\nconcurrency = 4\nper_host = 4\n{extra}\n\n{sources}{outs}")
    return config


def db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "var" / "feedhub.db")


def check_consistent(tmp_path: Path) -> int:
    """integrity ok, no entry twice, every output file complete; returns entries stored."""
    with db(tmp_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries'").fetchone():
            return 0  # killed before its first migration committed: nothing to lose
        total = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        distinct = conn.execute("SELECT count(DISTINCT source_id || ' ' || key) FROM entries").fetchone()[0]  # fmt: skip
        assert total == distinct
    public = tmp_path / "var" / "public"
    for path in public.glob("*.*") if public.exists() else ():
        if path.suffix in (".atom", ".rss", ".opml"):
            etree.fromstring(path.read_bytes())  # raises on a truncated file
    return int(total)


def test_a_locked_database_fails_the_run_cleanly(tmp_path: Path, feed_server: FeedServer) -> None:
    make_farm(feed_server)
    config = write_config(tmp_path, feed_server, extra="database_timeout = 1")
    assert (
        subprocess.run(feedhub(config, "migrate"), capture_output=True, timeout=60).returncode == 0
    )
    holder = db(tmp_path)
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        result = subprocess.run(
            feedhub(config, "fetch"), capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1 and "locked" in result.stderr, result.stderr
        assert time.monotonic() - started < 20  # waited about the bound, not forever
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert check_consistent(tmp_path) == 0
    assert (
        subprocess.run(feedhub(config, "fetch"), capture_output=True, timeout=120).returncode == 0
    )
    assert check_consistent(tmp_path) == FEEDS * ENTRIES


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [0, 1, 10, 20, FEEDS])
def test_sigkill_during_fetch_loses_nothing_committed(tmp_path: Path, feed_server: FeedServer, kill_at: int) -> None:  # fmt: skip
    """Wherever the kill lands (judged by how many feeds the farm has served, not
    by a clock), the database is intact, every stored entry stays stored exactly
    once, output files are whole, and the next run completes."""
    make_farm(feed_server, delay=0.1)
    config = write_config(tmp_path, feed_server)
    process = subprocess.Popen(feedhub(config, "fetch"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while len(feed_server.log) < kill_at and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    stored = 0
    if (tmp_path / "var" / "feedhub.db").exists():
        stored = check_consistent(tmp_path)
        # The killed run's claims would expire after the lease (10 min); stand in
        # for that wait here rather than sleeping.
        with db(tmp_path) as conn:
            conn.execute("UPDATE sources SET claimed_by = NULL, claim_expires_at = NULL")
    result = subprocess.run(feedhub(config, "fetch"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert check_consistent(tmp_path) == FEEDS * ENTRIES >= stored


@pytest.mark.slow
def test_sigkill_during_build_leaves_old_or_new_files(tmp_path: Path, feed_server: FeedServer) -> None:  # fmt: skip
    make_farm(feed_server)
    config = write_config(tmp_path, feed_server, outputs=20)
    assert (
        subprocess.run(feedhub(config, "fetch"), capture_output=True, timeout=120).returncode == 0
    )
    before = {p.name: p.read_bytes() for p in (tmp_path / "var/public").glob("out*.atom")}
    config.write_text(config.read_text().replace('title = "Output', 'title = "Renamed output'))
    for delay in (0.2, 0.5, 0.8):
        process = subprocess.Popen(feedhub(config, "build"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        check_consistent(tmp_path)
        for path in (tmp_path / "var/public").glob("out*.atom"):
            data = path.read_bytes()
            assert data == before[path.name] or b"Renamed output" in data
    assert (
        subprocess.run(feedhub(config, "build"), capture_output=True, timeout=120).returncode == 0
    )
    assert all(b"Renamed output" in p.read_bytes() for p in (tmp_path / "var/public").glob("out*.atom"))  # fmt: skip


def test_a_full_disk_while_generating_keeps_the_previous_outputs(tmp_path: Path, feed_server: FeedServer) -> None:  # fmt: skip
    make_farm(feed_server)
    config = write_config(tmp_path, feed_server, outputs=1)
    assert (
        subprocess.run(feedhub(config, "fetch"), capture_output=True, timeout=120).returncode == 0
    )
    atom = tmp_path / "var/public/out0.atom"
    before = atom.read_bytes()
    config.write_text(config.read_text().replace('title = "Output 0"', 'title = "Changed"'))

    def small_disk() -> None:
        # No file may grow past 64 KiB (writes fail with EFBIG, as on a full disk):
        # room for SQLite's 32 KiB shared-memory file, not for the ~120 KiB feed.
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    result = subprocess.run(feedhub(config, "build"), capture_output=True, text=True, timeout=120, preexec_fn=small_disk)  # fmt: skip
    assert result.returncode == 1
    assert "error:" in result.stderr and "out0" in result.stderr, result.stderr
    assert atom.read_bytes() == before
    assert not [p for p in atom.parent.iterdir() if p.name.startswith(".") and "tmp" in p.name]
