"""ParsePool: parsing in worker processes, bounded in time and memory, never hanging.

Workers run tests.worker_behaviours.behave to misbehave on request (the `url` argument
names the behaviour). Liveness is read from /proc, so "the worker is gone" is checked,
not assumed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from feedhub.errors import ParseError
from feedhub.workers import (
    Parsed,
    ParseMemoryError,
    ParsePool,
    ParserCrashed,
    ParseTimeout,
    parse_body,
)
from tests.worker_behaviours import alive, behave

FEEDS = Path(__file__).parent / "data" / "feeds"
REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MiB = 2**20
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def pool() -> Iterator[ParsePool[object]]:
    with ParsePool(target=behave, processes=2, timeout=10, memory_limit=256 * MiB) as pool:
        yield pool


async def until_workers(pool: ParsePool[Any], count: int) -> list[int]:
    while len(pool.worker_pids()) < count:
        await asyncio.sleep(0.001)
    return pool.worker_pids()


# --- the real parser -------------------------------------------------------------------


def test_a_real_feed_parses_as_it_does_inline() -> None:
    body = (FEEDS / "rss20.xml").read_bytes()
    url, headers = "https://blog.example.com/feed", {"content-type": "application/rss+xml"}
    with ParsePool() as pool:
        parsed = run(pool.parse(body, url, headers, NOW))
    assert isinstance(parsed, Parsed)
    assert parsed.entries
    assert parsed == parse_body(body, url, headers, NOW)


def test_keyword_options_reach_the_target_and_plain_targets_get_none() -> None:
    body = (FEEDS / "rss20.xml").read_bytes()
    with ParsePool() as pool:
        fast = run(pool.parse(body, "https://e.example/", {}, NOW, previous_parser="rss20+fast"))
        # A feedparser source whose readings agree moves to the fast reader.
        moved = run(pool.parse(body, "https://e.example/", {}, NOW, previous_parser="rss20"))
    assert fast.parser == moved.parser == "rss20+fast"
    assert fast == parse_body(body, "https://e.example/", {}, NOW, previous_parser="rss20")
    with ParsePool(target=behave) as plain:  # four positional parameters, no keywords
        assert run(plain.parse(b"echo", "echo", {}, NOW)) == b"echo"


def test_not_a_feed_passes_through_as_the_parsers_parse_error() -> None:
    with ParsePool() as pool, pytest.raises(ParseError, match="HTML page") as caught:
        run(pool.parse(b"<html><body>hi</body></html>", "https://e.example/", {}, NOW))
    assert type(caught.value) is ParseError


def billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(levels) + "\n]>\n"
        '<rss version="2.0"><channel><title>&lol9;</title>'
        "<item><title>x</title><description>&lol9;</description></item></channel></rss>"
    ).encode()


def quadratic_blowup() -> bytes:
    # expat refuses the amplification; feedparser's loose parser then expands this
    # "safe" (plain text) entity: 75,000 x 100 KB = a 7.5 GB string from 325 KB.
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "a" * 100_000 + '">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>x</title>'
        "<description>" + "&a;" * 75_000 + "</description></item></channel></rss>"
    ).encode()


def deep_unclosed_elements() -> bytes:
    # What the pre-parse guards still let through and feedparser is slow on:
    # 240,000 unclosed elements in one item (about 13 s unbounded).
    return (
        '<rss version="2.0"><channel><title>t</title><item><title>x</title><description>'
        + "<x>" * 240_000
        + "</description></item></channel></rss>"
    ).encode()


def test_entity_bombs_end_in_a_feed_or_a_parse_error_within_the_bounds() -> None:
    """The parser refuses or defuses entity bombs before expanding them (parse.py);
    the pool's bounds are the backstop, so either way it ends quickly."""
    with ParsePool(timeout=10, memory_limit=256 * MiB) as pool:
        started = time.monotonic()
        for bomb in (billion_laughs(), quadratic_blowup()):
            try:
                parsed = run(pool.parse(bomb, "https://e.example/", {}, NOW))
            except ParseError as exc:
                assert "entit" in str(exc) or "more than 256 MiB" in str(exc)
            else:
                assert parsed.warning  # recovered, and says so
        assert time.monotonic() - started < 10
        assert run(pool.parse((FEEDS / "rss20.xml").read_bytes(), "https://e.example/", {}, NOW))


def test_a_pathologically_slow_feed_is_stopped_at_the_time_bound() -> None:
    with ParsePool(timeout=1) as pool:
        started = time.monotonic()
        with pytest.raises(ParseTimeout, match="longer than 1 s; the worker was stopped"):
            run(pool.parse(deep_unclosed_elements(), "https://e.example/", {}, NOW))
        assert time.monotonic() - started < 1 + 2


def test_large_documents_and_results_cross_the_pipes_whole(pool: ParsePool[Any]) -> None:
    # Far over a pipe's 64 KiB buffer both ways: sent and read in pieces, never blocking.
    body = os.urandom(3 * MiB)
    assert run(pool.parse(body, "echo", {}, NOW)) == body


def test_a_stalled_worker_cannot_block_the_event_loop(pool: ParsePool[Any]) -> None:
    idle = run(pool.parse(b"", "pid", {}, NOW))
    os.kill(idle, signal.SIGSTOP)  # reads nothing more: a big task fills the pipe
    started = time.monotonic()
    with pytest.raises(ParseTimeout):
        run(pool.parse(bytes(MiB), "echo", {}, NOW, timeout=0.5))
    assert time.monotonic() - started < 0.5 + 2
    assert not alive(idle)
    assert run(pool.parse(b"", "pid", {}, NOW)) != idle


# --- bounds, crashes, errors -----------------------------------------------------------


def test_two_documents_run_at_once_in_two_processes(pool: ParsePool[Any], tmp_path: Path) -> None:
    async def both() -> tuple[Any, Any]:
        directory = str(tmp_path).encode()
        return await asyncio.gather(
            pool.parse(directory, "rendezvous", {}, NOW),
            pool.parse(directory, "rendezvous", {}, NOW),
        )

    # Each waits (up to 5 s) until both have started: only concurrent runs see two.
    (pid_a, seen_a), (pid_b, seen_b) = run(both())
    assert pid_a != pid_b
    assert seen_a == seen_b == 2


def test_an_endless_parse_is_stopped_and_other_documents_are_not_lost(
    pool: ParsePool[Any],
) -> None:
    async def scenario() -> tuple[float, bool]:
        started = time.monotonic()
        spinning = asyncio.create_task(pool.parse(b"", "spin", {}, NOW, timeout=0.5))
        [spinner] = await until_workers(pool, 1)
        # In flight on the other worker while the spinner is killed; returns once it is.
        survivor = pool.parse(str(spinner).encode(), "outlive", {}, NOW)
        with pytest.raises(ParseTimeout, match=r"longer than 0.5 s; the worker was stopped"):
            await spinning
        stopped_after = time.monotonic() - started
        assert not alive(spinner)
        return stopped_after, await survivor

    stopped_after, survivor_saw_the_kill = run(scenario())
    assert stopped_after < 0.5 + 2
    assert survivor_saw_the_kill
    assert run(pool.parse(b"", "pid", {}, NOW)) in pool.worker_pids()  # replaced


@pytest.mark.parametrize("how", ["allocate", "grow"])
def test_a_parse_past_the_memory_bound_is_stopped(pool: ParsePool[Any], how: str) -> None:
    with pytest.raises(ParseMemoryError, match="parsing needed more than 256 MiB"):
        run(pool.parse(b"", how, {}, NOW))
    assert run(pool.parse(b"", "pid", {}, NOW)) in pool.worker_pids()


@pytest.mark.parametrize(
    ("how", "reason"), [("exit", "exited with code 3"), ("sigkill", "killed by SIGKILL")]
)
def test_a_worker_that_dies_costs_one_document(pool: ParsePool[Any], how: str, reason: str) -> None:
    first = run(pool.parse(b"", "pid", {}, NOW))
    with pytest.raises(ParserCrashed, match=reason):
        run(pool.parse(b"", how, {}, NOW))
    assert not alive(first)
    assert run(pool.parse(b"", "pid", {}, NOW)) != first


def test_a_worker_that_died_while_idle_is_replaced_unnoticed(pool: ParsePool[Any]) -> None:
    idle = run(pool.parse(b"", "pid", {}, NOW))
    os.kill(idle, signal.SIGKILL)  # as the kernel's OOM killer might
    deadline = time.monotonic() + 5
    while alive(idle) and time.monotonic() < deadline:  # a zombie has closed its pipes
        time.sleep(0.001)
    replacement = run(pool.parse(b"", "pid", {}, NOW))
    assert replacement != idle
    assert pool.worker_pids() == [replacement]


def test_exceptions_become_parse_errors(pool: ParsePool[Any]) -> None:
    with pytest.raises(ParseError, match=r"^parser failed: ValueError: boom$"):
        run(pool.parse(b"", "raise", {}, NOW))
    with pytest.raises(ParseError, match=r"^not a feed: junk$"):
        run(pool.parse(b"", "parse-error", {}, NOW))
    with pytest.raises(ParseError, match=r"^parser failed: .*lambda"):
        run(pool.parse(b"", "unpicklable", {}, NOW))
    assert run(pool.parse(b"", "pid", {}, NOW)) in pool.worker_pids()


def test_a_target_pickle_cannot_ship_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="module-level function"):
        ParsePool(target=lambda body, url, headers, now: None)


# --- no hanging, no leftovers ----------------------------------------------------------


def test_closing_the_pool_stops_every_worker(pool: ParsePool[Any]) -> None:
    async def two_at_once() -> list[int]:
        return list(await asyncio.gather(*(pool.parse(b"", "pid", {}, NOW) for _ in range(2))))

    pids = run(two_at_once())
    assert sorted(pids) == pool.worker_pids()
    pool.close()
    assert not any(alive(pid) for pid in pids)
    assert pool.worker_pids() == []
    with pytest.raises(ParseError, match="closed"):
        run(pool.parse(b"", "pid", {}, NOW))


def test_closing_fails_documents_in_flight_and_waiting() -> None:
    async def scenario() -> tuple[BaseException | object, ...]:
        with ParsePool(target=behave, processes=1, timeout=10) as pool:
            running = asyncio.create_task(pool.parse(b"", "spin", {}, NOW))
            waiting = asyncio.create_task(pool.parse(b"", "pid", {}, NOW))
            [pid] = await until_workers(pool, 1)
            await asyncio.sleep(0)  # let `waiting` queue up behind the busy worker
        assert not alive(pid)
        return tuple(await asyncio.gather(running, waiting, return_exceptions=True))

    results = run(scenario())
    assert all(isinstance(result, ParseError) for result in results), results


def test_a_cancelled_parse_stops_its_worker(pool: ParsePool[Any]) -> None:
    async def scenario() -> int:
        task = asyncio.create_task(pool.parse(b"", "spin", {}, NOW))
        [pid] = await until_workers(pool, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    assert not alive(run(scenario()))
    assert pool.worker_pids() == []


def test_workers_exit_when_the_parent_dies(tmp_path: Path) -> None:
    # One worker idle (it reads EOF), one spinning (its own CPU limit stops it).
    spinning = tmp_path / "spinning"
    script = textwrap.dedent(
        f"""
        import asyncio, os, pathlib
        from datetime import UTC, datetime
        from feedhub.workers import ParsePool
        from tests.worker_behaviours import behave

        async def main():
            pool = ParsePool(target=behave, processes=2, timeout=0.5)
            now = datetime.now(UTC)
            await asyncio.gather(pool.parse(b"", "pid", {{}}, now), pool.parse(b"", "pid", {{}}, now))
            asyncio.create_task(pool.parse({str(spinning).encode()!r}, "spin", {{}}, now))
            while not pathlib.Path({str(spinning)!r}).exists():
                await asyncio.sleep(0.001)
            print(*pool.worker_pids(), flush=True)
            os._exit(0)  # no close(), no atexit: as if killed

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=20
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2, done.stderr
    deadline = time.monotonic() + 20  # the spinner has ~1.5-2.5 s of CPU time left
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)
