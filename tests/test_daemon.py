"""`feedhub run`: decisions with a fake clock, and short real runs that end by themselves."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedhub.scheduler import MAX_SLEEP, Daemon
from tests.feedserver import Document, FeedServer, rss

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def write_config(tmp_path: Path, server: FeedServer, interval: str = "1h") -> Path:
    server.documents["/a.xml"] = Document(rss("A", [{"title": "One", "guid": "1", "link": "https://a.example/1"}]))  # fmt: skip
    path = tmp_path / "feeds.toml"
    path.write_text(f'[[sources]]\nurl = "{server.url("/a.xml")}"\nname = "a"\ntags = ["t"]\ninterval = "{interval}"\n\n[[outputs]]\nname = "out"\ntags = ["t"]\n')  # fmt: skip
    return path


def test_daemon_sleeps_until_the_next_source_is_due(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    clock = [NOW]
    daemon = Daemon(write_config(tmp_path, feed_server), clock=lambda: clock[0])
    assert daemon.next_wake() == NOW  # a new source is due at once
    daemon.run_once()
    wake = daemon.next_wake()
    assert NOW + timedelta(minutes=4) < wake <= NOW + MAX_SLEEP  # 1 h interval, bounded sleep
    clock[0] = NOW + timedelta(hours=2)
    assert daemon.next_wake() == clock[0]
    daemon.close()


def test_reload_keeps_the_last_good_config(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, feed_server)
    daemon = Daemon(path, clock=lambda: NOW)
    assert not daemon.reload()  # unchanged
    path.write_text(
        path.read_text() + '\n[[sources]]\nurl = "https://b.example/feed"\nname = "b"\n'
    )
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert daemon.reload() and {s.name for s in daemon.config.sources} == {"a", "b"}
    path.write_text("[[sources]\nbroken")
    os.utime(path, (time.time() + 10, time.time() + 10))
    with caplog.at_level(logging.ERROR):
        assert not daemon.reload()
    assert "keeping the previous one" in caplog.text and str(path) in caplog.text
    assert {s.name for s in daemon.config.sources} == {"a", "b"}
    daemon.close()


def feedhub(*args: str) -> list[str]:
    return [sys.executable, "-m", "feedhub", *args]


def test_run_stops_by_itself_after_max_runs(tmp_path: Path, feed_server: FeedServer) -> None:
    config = write_config(tmp_path, feed_server, interval="1s")
    result = subprocess.run(feedhub("--config", str(config), "run", "--max-runs", "2"), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(feed_server.requests_for("/a.xml")) == 2
    assert "a: ok 200, 1 new" in result.stderr  # one log line per fetch
    assert (tmp_path / "var/public/out.atom").exists()


def wait_for(process: subprocess.Popen[bytes], text: str, timeout: float = 30) -> str:
    """Read stderr until `text` appears (bounded: fails rather than hangs)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stderr], [], [], 0.2)
        if ready:
            seen += os.read(process.stderr.fileno(), 65536)
            if text.encode() in seen:
                return seen.decode()
    process.kill()
    raise AssertionError(f"{text!r} not seen in: {seen.decode()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_finish_the_run_and_exit_0(
    tmp_path: Path, feed_server: FeedServer, signum: int
) -> None:
    config = write_config(tmp_path, feed_server)
    port = free_port()
    process = subprocess.Popen(env={**os.environ, "PYTHONFAULTHANDLER": "1"}, args=feedhub("--config", str(config), "run", "--serve", "--port", str(port)), stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for(process, "run 1:")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/out.atom", timeout=10) as response:
            assert response.status == 200 and b"<feed" in response.read()
        process.send_signal(signum)
        try:
            assert process.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.wait()
            raise AssertionError(os.read(process.stderr.fileno(), 100000).decode()) from None
    finally:
        if process.poll() is None:
            process.kill()
