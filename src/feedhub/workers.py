"""Parse + normalize feed documents in worker processes, each bounded in time and memory.

Why processes: feedparser is pure Python, so parsing in threads holds the GIL and uses
one core however many there are; fetching stays concurrent in the event loop.

Why bounds: hostile documents make feedparser pathological. Measured: a 96 KB feed with
regex-slow author fields takes 91 s, an enclosure with 20,000 attributes 11 s (100,000:
97 s; it is quadratic), and a 325 KB document that references a 100 KB entity 75,000
times makes the loose parser join a 7.5 GB string (expat refuses it, feedparser then
retries with its own parser, which expands "safe" entities). So each document gets a
wall-clock bound, enforced by the parent (the worker is SIGKILLed and replaced), and an
address-space bound (RLIMIT_AS) inside the worker, where a runaway allocation becomes
a MemoryError.

Why not ProcessPoolExecutor: it cannot stop one task; killing a worker breaks the
whole pool and fails every other document in flight. Here each worker has its own pair
of pipes and one task at a time, so a kill costs only that document.

Why forkserver: plain fork from a process running asyncio (and, in aiohttp, threads)
copies locks held by other threads; spawn pays the imports (~0.45 s) in every worker.
The forkserver is booted once per process with the parser modules preloaded (~0.5 s of
imports, in the background from ParsePool(); the first worker start waits for what is
left of it), and each worker is a fork of it. Measured on 2 busy cores: starting a
worker blocks the event loop ~4-20 ms and it takes its first task ~10-20 ms later; a
100 KB document costs ~0.4 ms of pipe round trip plus ~1 ms to pickle its ~100 KB
result, against ~200 ms to parse it with feedparser, or ~7 ms to read (fast reader),
normalize and index its 50 entries (bench/): the round trip is now a sixth of the work
of a clean feed, still well worth the bounds.

Parsed and parse_body live here, not in update, so workers never import the
orchestrator (aiohttp, SQLAlchemy: ~1 s) and update can import this module.

Which reader. parse_body keeps each source on the reader it was first read with
(sources.parser: "rss20" for feedparser, "rss20+fast" for parse.py's fast reader)
unless both readers agree on a document of it: a reader change that moved an entry's id
would show every subscriber a duplicate. New sources start on the fast reader where its
gate lets them; 1 document in 64 read fast is read by feedparser too, as a check.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import resource
import signal
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast, overload

from feedhub.errors import ParseError
from feedhub.models import Entry, FeedMeta, ParsedFeed
from feedhub.normalize import normalize_feed
from feedhub.parse import read_document
from feedhub.searchtext import search_text

__all__ = [
    "FAST_SUFFIX",
    "ParseMemoryError",
    "ParsePool",
    "ParseTimeout",
    "Parsed",
    "ParserCrashed",
    "parse_body",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# Python 3.11's forkserver never receives the main script's path (its ensure_running
# asks for a 'main_path' key that get_preparation_data does not produce), so every
# worker re-runs a script __main__ as __mp_main__: the `feedhub` console script imports
# feedhub.cli (~50 ms). Preloaded, that re-run finds the modules already imported.
_PRELOAD = ["feedhub.workers", "feedhub.cli"]
_FRAME_HEADER = struct.Struct("!Q")
_READ_CHUNK = 1 << 20
# The worker's own CPU bound past the time bound, for when the parent is gone and cannot
# stop it. Single-threaded, CPU time never runs ahead of wall time: the parent is first.
_CPU_BACKSTOP_SECONDS = 1
FAST_SUFFIX = "+fast"  # sources.parser of a source read by the fast reader
CHECK_ONE_IN = 64  # documents read fast that feedparser reads too, as a check


class ParseTimeout(ParseError):
    """Parsing one document took longer than the pool's time bound."""


class ParseMemoryError(ParseError):
    """Parsing one document needed more memory than the pool's memory bound."""


class ParserCrashed(ParseError):
    """The worker process died while parsing one document."""


@dataclass(frozen=True)
class Parsed:
    """What parse + normalize hand back for one body (picklable, for worker processes)."""

    meta: FeedMeta
    entries: tuple[Entry, ...]
    version: str
    warning: str | None
    fast: bool = False  # read by parse.py's fast reader rather than the reference

    @property
    def parser(self) -> str:
        """What sources.parser records: the version, and which reader read it."""
        return self.version + FAST_SUFFIX if self.fast else self.version


def parse_body(
    body: bytes,
    url: str,
    headers: dict[str, str],
    now: datetime,
    *,
    previous_parser: str | None = None,
) -> Parsed:
    """parse -> normalize for one document; what a ParsePool worker runs by default.

    `previous_parser`: the source's sources.parser, None for a new source (see the
    module doc for how it picks the reader)."""
    feed, fast = _read(body, url, headers, previous_parser)
    normalized, cuts = normalize_feed(feed, source_url=url, now=now)
    entries = tuple(e.replace(search_text=search_text(e.summary, e.content)) for e in normalized)
    # What was repaired (bozo) and what was cut to the caps: the source's warning.
    warning = "; ".join(filter(None, (feed.bozo, *cuts))) or None
    return Parsed(feed.meta, entries, feed.version, warning, fast)


def _read(
    body: bytes, url: str, headers: dict[str, str], previous: str | None
) -> tuple[ParsedFeed, bool]:
    """The reading to keep, and whether the fast reader made it."""
    if previous is None or previous.endswith(FAST_SUFFIX):
        check = zlib.crc32(body) % CHECK_ONE_IN == 0
        readings = read_document(body, url=url, headers=headers, reference=check)
        if readings.fast is None:
            return readings.feed, False
        difference = readings.difference() if check else None
        if difference is None:
            return readings.fast, True
        log.warning(
            "%s: the fast reader and feedparser disagree on %s; kept feedparser's reading",
            url, difference,
        )  # fmt: skip
        return readings.feed_reference, False
    # Read by the reference so far: the fast reader takes over only where both agree.
    readings = read_document(body, url=url, headers=headers, reference=True)
    if readings.fast is not None:
        difference = readings.difference()
        if difference is None:
            return readings.fast, True
        log.info("%s: stays with feedparser: the fast reader differs on %s", url, difference)
    return readings.feed_reference, False


class ParsePool(Generic[T]):
    """Up to `processes` worker processes, started on demand, one document each at a time.

    `parse` raises ParseTimeout after `timeout` seconds, ParseMemoryError when the
    document needs more than `memory_limit` bytes of address space beyond what the
    worker had mapped at start, ParserCrashed when the worker dies; a worker past a
    bound is killed and the next document gets a fresh one. ParseError from the target
    passes through; any other exception becomes ParseError("parser failed: ...").

    `target` runs in the worker instead of parse_body (tests use it for hostile
    behaviour); it must be a module-level function, pickled by reference.

    Usable across event loops (nothing is bound to a loop while idle), but from one
    thread. close() kills every worker; so does leaving `with` / `async with`.
    """

    @overload
    def __init__(
        self: ParsePool[Parsed],
        *,
        processes: int | None = None,
        timeout: float = 30.0,
        memory_limit: int = 1024 * 2**20,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        target: Callable[[bytes, str, dict[str, str], datetime], T],
        processes: int | None = None,
        timeout: float = 30.0,
        memory_limit: int = 1024 * 2**20,
    ) -> None: ...

    def __init__(
        self,
        *,
        target: Callable[[bytes, str, dict[str, str], datetime], Any] = parse_body,
        processes: int | None = None,
        timeout: float = 30.0,
        memory_limit: int = 1024 * 2**20,
    ) -> None:
        self.processes = len(os.sched_getaffinity(0)) if processes is None else processes
        if self.processes < 1 or timeout <= 0 or memory_limit <= 0:
            raise ValueError("processes, timeout and memory_limit must be positive")
        try:  # a lambda or closure fails here, not in the first parse
            pickle.dumps(target)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(f"target must be a module-level function: {exc}") from exc
        self.timeout = timeout
        self.memory_limit = memory_limit
        self._target = target
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        # Boot the forkserver now, so its imports overlap the first fetches; the first
        # worker start waits for it. Later pools in this process reuse it.
        _CONTEXT.set_forkserver_preload(_PRELOAD)
        multiprocessing.forkserver.ensure_running()

    async def parse(
        self,
        body: bytes,
        url: str,
        headers: dict[str, str],
        now: datetime,
        *,
        timeout: float | None = None,
        **options: object,
    ) -> T:
        """The target's result for one document, computed in a worker under the bounds.

        `timeout` replaces the pool's time bound for this document; `options` go to the
        target as keyword arguments (none at all when there are none).
        """
        timeout = timeout or self.timeout
        cpu_limit = timeout + _CPU_BACKSTOP_SECONDS
        task = pickle.dumps(
            (cpu_limit, (body, url, headers, now), options), pickle.HIGHEST_PROTOCOL
        )
        loop = asyncio.get_running_loop()
        while True:
            worker = await self._acquire()
            try:
                reply = worker.begin(loop, task)
                break
            except _WorkerGone:
                if not worker.tasks_done:  # died on start: retrying would only repeat it
                    raise self._crashed(worker, timeout) from None
                self._discard(worker)  # died while idle: this document never reached it
            except BaseException:
                self._discard(worker)
                raise
        try:
            frame = await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            self._discard(worker)
            raise ParseTimeout(
                f"parsing took longer than {timeout:g} s; the worker was stopped"
            ) from None
        except _WorkerGone:
            raise self._crashed(worker, timeout) from None
        except BaseException:  # cancelled, or the pool closed: the worker's state is unknown
            self._discard(worker)
            raise
        finally:
            worker.end()
        try:
            kind, value = pickle.loads(frame)
        except Exception as exc:  # e.g. a result class the parent cannot import
            self._discard(worker)
            raise ParseError(f"parser failed: unreadable result: {exc!r}") from exc
        if kind == "memory":
            self._discard(worker)  # a fresh worker rather than a fragmented heap
            raise ParseMemoryError(f"parsing needed more than {self.memory_limit // 2**20} MiB")
        worker.tasks_done += 1
        self._release(worker)
        if kind == "error":
            raise value
        return cast(T, value)

    def close(self) -> None:
        """Kill every worker; parse() calls in flight raise ParseError. Idempotent."""
        self._closed = True
        for worker in list(self._workers):
            self._discard(worker)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ParseError("the parser pool was closed"))

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        return sorted(w.pid for w in self._workers)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- workers, parent side ---------------------------------------------------------

    async def _acquire(self) -> _Worker:
        while True:
            if self._closed:
                raise ParseError("the parser pool was closed")
            if self._idle:
                return self._idle.pop()
            if len(self._workers) < self.processes:
                worker = self._start_worker()
                self._workers.add(worker)
                return worker
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken and cancelled at once: pass the turn on
                raise

    def _release(self, worker: _Worker) -> None:
        if self._closed:
            worker.stop()
        else:
            self._idle.append(worker)
            self._wake_one()

    def _discard(self, worker: _Worker) -> None:
        worker.stop()
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _crashed(self, worker: _Worker, timeout: float) -> ParseError:
        exit_code = worker.stop(grace=1.0)  # EOF came first; the exit status follows
        self._discard(worker)
        if exit_code == -signal.SIGXCPU:  # the worker's own CPU backstop (see _serve)
            return ParseTimeout(f"parsing took longer than {timeout:g} s of CPU time")
        if exit_code is not None and exit_code < 0:
            how = f"was killed by {signal.Signals(-exit_code).name}"
        else:
            how = f"exited with code {exit_code}"
        return ParserCrashed(f"the parser process {how} while parsing")

    def _start_worker(self) -> _Worker:
        task_reader, task_writer = _CONTEXT.Pipe(duplex=False)
        result_reader, result_writer = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(
            target=_serve,
            args=(task_reader, result_writer, self._target, self.memory_limit),
            name="feedhub-parser",
            daemon=True,  # multiprocessing's atexit hook kills workers a caller forgot
        )
        try:
            process.start()
        except OSError as exc:
            task_writer.close()
            result_reader.close()
            raise ParseError(f"cannot start a parser process: {exc}") from exc
        finally:
            # Only the worker may hold these ends: then its read sees EOF when we exit.
            task_reader.close()
            result_writer.close()
        os.set_blocking(task_writer.fileno(), False)
        os.set_blocking(result_reader.fileno(), False)
        log.debug("started parser worker %s", process.pid)
        return _Worker(process, task_writer, result_reader)


class _WorkerGone(Exception):
    """The worker's result pipe reached EOF: it exited or was killed."""


class _Worker:
    """One worker process and the parent's ends of its two pipes (both non-blocking).

    Neither direction may block the event loop: a worker still starting up, or killed
    halfway through a reply, would otherwise stall every fetch and every time bound.
    """

    def __init__(
        self, process: multiprocessing.process.BaseProcess, tasks: Connection, results: Connection
    ) -> None:
        self.process = process
        self.pid = cast(int, process.pid)
        self.tasks = tasks
        self.results = results
        self.unsent = memoryview(b"")
        self.received = bytearray()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.reply: asyncio.Future[bytes] | None = None
        self.exit_code: int | None = None
        self.tasks_done = 0

    def begin(self, loop: asyncio.AbstractEventLoop, task: bytes) -> asyncio.Future[bytes]:
        """Start sending one task; the returned future gets the reply frame.

        Raises _WorkerGone if the worker had exited before (EPIPE on the first write).
        """
        self.unsent = memoryview(_FRAME_HEADER.pack(len(task)) + task)
        self._send()
        self.loop = loop
        self.reply = loop.create_future()
        loop.add_reader(self.results.fileno(), self._on_readable)
        if self.unsent:  # the pipe is full: go on when the worker has read some
            loop.add_writer(self.tasks.fileno(), self._on_writable)
        return self.reply

    def end(self) -> None:
        if self.loop is not None:
            self.loop.remove_reader(self.results.fileno())
            self.loop.remove_writer(self.tasks.fileno())
            self.loop = None
        self.reply = None
        self.unsent = memoryview(b"")

    def _send(self) -> None:
        try:
            while self.unsent:
                self.unsent = self.unsent[os.write(self.tasks.fileno(), self.unsent) :]
        except BlockingIOError:
            pass
        except OSError as exc:  # EPIPE: the worker died
            self.unsent = memoryview(b"")
            raise _WorkerGone() from exc

    def _on_writable(self) -> None:
        try:
            self._send()
        except _WorkerGone as exc:
            self._fail(exc)
        if not self.unsent and self.loop is not None:
            self.loop.remove_writer(self.tasks.fileno())

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self.results.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._fail(_WorkerGone())
            return
        self.received += chunk
        if len(self.received) >= _FRAME_HEADER.size:
            (size,) = _FRAME_HEADER.unpack_from(self.received)
            end = _FRAME_HEADER.size + size
            if len(self.received) >= end and self.reply is not None and not self.reply.done():
                self.reply.set_result(bytes(self.received[_FRAME_HEADER.size : end]))
                del self.received[:end]

    def _fail(self, exc: BaseException) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_exception(exc)

    def stop(self, grace: float = 0.0) -> int | None:
        """Stop the process (killing it after `grace` s) and return its exit code. Idempotent."""
        if self.tasks.closed:
            return self.exit_code
        self._fail(ParseError("the parser pool was closed"))
        self.end()
        self.tasks.close()  # EOF: an idle worker exits by itself
        self.results.close()
        if grace:
            self.process.join(grace)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(timeout=5)  # SIGKILL cannot be caught; only D state delays it
        self.exit_code = self.process.exitcode
        if self.exit_code is not None:
            self.process.close()
        log.debug("stopped parser worker %s (exit code %s)", self.pid, self.exit_code)
        return self.exit_code


# --- the worker process ---------------------------------------------------------------


def _serve(
    tasks: Connection,
    results: Connection,
    target: Callable[[bytes, str, dict[str, str], datetime], object],
    memory_limit: int,
) -> None:
    """Worker main loop: one task in, one reply out, until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU must not dump a core
    _limit(resource.RLIMIT_AS, _address_space() + memory_limit)
    while (task := _read_frame(tasks.fileno())) is not None:
        cpu_limit, args, options = pickle.loads(task)
        used = resource.getrusage(resource.RUSAGE_SELF)
        _limit(resource.RLIMIT_CPU, math.ceil(used.ru_utime + used.ru_stime + cpu_limit))
        try:
            _write_frame(results.fileno(), _run(target, args, options))
        except BrokenPipeError:  # the parent stopped listening: nobody wants the result
            return


def _run(
    target: Callable[..., object], args: tuple[object, ...], options: dict[str, object]
) -> bytes:
    out_of_memory = False
    error: ParseError | None = None
    try:
        result = target(*args, **options) if options else target(*args)
        return pickle.dumps(("ok", result), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # MemoryError included; its traceback holds the allocations
        if _caused_by(exc, MemoryError):
            out_of_memory = True
        elif isinstance(exc, ParseError):
            error = exc
        else:
            error = ParseError(f"parser failed: {type(exc).__name__}: {exc}")
    if out_of_memory:  # only now, outside the except block, is the failed work freed
        return pickle.dumps(("memory", None))
    try:
        return pickle.dumps(("error", error))
    except Exception:  # an exception subclass pickle cannot rebuild
        return pickle.dumps(("error", ParseError(str(error))))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    # parse.py wraps feedparser's MemoryError as ParseError("feedparser failed: ...").
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _address_space() -> int:
    # Linux: /proc/self/statm's first field is the virtual size in pages.
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _limit(which: int, soft: int) -> None:
    _, hard = resource.getrlimit(which)
    resource.setrlimit(which, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


# --- framing: 8-byte big-endian length, then the pickle ------------------------------


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_FRAME_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int) -> bytes | None:
    header = _read_exactly(fd, _FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = _FRAME_HEADER.unpack(header)
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes | None:
    """Blocking read of `size` bytes; None at EOF (the parent closed the pipe or died)."""
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, _READ_CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)
