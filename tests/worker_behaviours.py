"""What ParsePool workers run in tests/test_workers.py, instead of the real parser.

A module of its own, importing nothing heavy: every worker imports it on start (pickle
ships `behave` by reference), and importing pytest there would cost ~0.4 s per worker.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path

from feedhub.errors import ParseError

MiB = 2**20


def behave(body: bytes, url: str, headers: dict[str, str], now: datetime) -> object:
    """Runs in the worker; `url` says how to behave, `body` carries an argument."""
    if url == "pid":
        return os.getpid()
    if url == "echo":
        return body
    if url == "spin":  # body: a file to create once spinning, or nothing
        if body:
            Path(body.decode()).touch()
        while True:
            pass
    if url == "allocate":  # one huge request: fails at once under RLIMIT_AS
        return len(bytearray(4 * 2**30))
    if url == "grow":  # many small ones: the limit is reached gradually
        chunks: list[bytes] = []
        while True:
            chunks.append(bytes(MiB))
    if url == "exit":
        os._exit(3)
    if url == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if url == "raise":
        raise ValueError("boom")
    if url == "parse-error":
        raise ParseError("not a feed: junk")
    if url == "unpicklable":
        return lambda: None
    if url == "rendezvous":  # body: a directory; wait until two workers have checked in
        directory = Path(body.decode())
        (directory / str(os.getpid())).touch()
        started = time.monotonic()
        while len(list(directory.iterdir())) < 2 and time.monotonic() < started + 5:
            time.sleep(0.01)
        return os.getpid(), len(list(directory.iterdir()))
    if url == "outlive":  # body: a pid; return once that process is gone
        deadline = time.monotonic() + 5
        while alive(int(body)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return not alive(int(body))
    raise AssertionError(f"unknown behaviour {url}")


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie is dead: an orphan's reaper may be slow)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
