"""Run one child process and measure it as a user would see it: wall time and peak RSS.

Wall time runs from just before the fork to the moment the child is reaped, so it
includes interpreter start-up and imports. Peak RSS is the larger of the kernel's
ru_maxrss (os.wait4: the child, or its largest waited-for descendant) and a sampled
sum over the child's process tree, which is what counts if the child runs worker
processes at once. CPU time (user + system) is the larger of wait4's (the child and
the descendants it reaped) and the sum over the sampled tree, so workers that a
forkserver reaped count too. On a machine shared with other work, wall time grows
with the contention and CPU time much less: compare both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.05  # seconds between RSS samples of the known tree
RESCAN_EVERY = 1.0  # seconds between scans of /proc for new descendants (~6 ms each)


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    peak_pss_mb: float = 0.0  # proportional: pages shared by processes of the tree count once

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def _usage(pid: int) -> tuple[int, int] | None:
    """(resident KiB, own CPU ticks) of a live process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields resume after the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:  # fields 14-15 (utime, stime) and 24 (rss in pages) of proc(5), counted from 3
        return int(fields[21]) * PAGE_KB, int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def _pss_kb(pid: int) -> int:
    """Proportional set size (KiB) from /proc/PID/smaps_rollup: a page shared by n
    processes counts 1/n in each. Summing RSS instead counts the forkserver's
    preloaded modules once per parser worker forked from it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(root: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(name))
    found, todo = set(), [root]
    while todo:
        for child in parents.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self.ticks: dict[int, int] = {}  # pid -> its own CPU ticks when last seen
        self.stop = threading.Event()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.ticks.values()) / TICKS

    def run(self) -> None:
        tree: set[int] = set()
        next_scan = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_scan:
                tree = _descendants(self.pid)
                next_scan = now + RESCAN_EVERY
            total = pss = 0
            for pid in (self.pid, *tree):
                usage = _usage(pid)
                if usage is not None:
                    total += usage[0]
                    pss += _pss_kb(pid)
                    self.ticks[pid] = usage[1]
            self.peak_kb = max(self.peak_kb, total)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.stop.wait(SAMPLE_EVERY)


class _Spawner:
    """A small process that forks the measured commands and reaps them (wait4).

    Linux carries a process's peak RSS across execve (the pre-exec image counts),
    so a command forked straight from this bench would report the bench's own
    RSS when that is larger (after building the 1M-entry database, 2.6 GB). The
    spawner stays ~10 MB, so the ru_maxrss it reads back belongs to the command.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), "--spawner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def request(self, job: dict[str, object]) -> tuple[int, Any]:
        """Start `job`; returns the command's pid and a reader of its final report."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        pid = json.loads(self.process.stdout.readline())["pid"]
        return pid, lambda: json.loads(self.process.stdout.readline())  # type: ignore[union-attr]


_spawner: _Spawner | None = None


def start_spawner() -> None:
    """Start the spawner now, while this process is still small (idempotent)."""
    global _spawner
    if _spawner is None or _spawner.process.poll() is not None:
        _spawner = _Spawner()


def run_measured(
    command: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Sample:
    """Run `command` to completion (killed after `timeout` s); never raises for its failure."""
    start_spawner()
    assert _spawner is not None
    with tempfile.NamedTemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
        job = {
            "command": list(command),
            "cwd": str(cwd) if cwd else None,
            "env": dict(env) if env is not None else dict(os.environ),
            "timeout": timeout,
            "stdout": out.name,
            "stderr": err.name,
        }
        pid, finish = _spawner.request(job)
        sampler = _TreeSampler(pid)
        sampler.start()
        report = finish()
        sampler.stop.set()
        sampler.join()
        return Sample(
            seconds=report["seconds"],
            peak_rss_mb=max(report["maxrss_kb"], sampler.peak_kb) / 1024,
            peak_pss_mb=sampler.peak_pss_kb / 1024,
            cpu_seconds=max(report["cpu_s"], sampler.cpu_seconds),
            returncode=report["returncode"],
            stdout=Path(out.name).read_bytes().decode(errors="replace"),
            stderr=Path(err.name).read_bytes().decode(errors="replace"),
            timed_out=report["timed_out"],
        )


def _serve_spawner() -> None:
    """The spawner's loop: one JSON job a line in, {"pid"} then the report out."""
    for line in sys.stdin:
        job = json.loads(line)
        with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                job["command"],
                cwd=job["cwd"],
                env=job["env"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # a timeout kills the whole tree, workers included
            )
            print(json.dumps({"pid": process.pid}), flush=True)
            timed_out = threading.Event()

            def kill(pid: int = process.pid, flag: threading.Event = timed_out) -> None:
                flag.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)

            timer = threading.Timer(job["timeout"], kill)
            timer.start()
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            timer.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
        report = {
            "seconds": seconds,
            "maxrss_kb": usage.ru_maxrss,  # KiB on Linux
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "returncode": process.returncode,
            "timed_out": timed_out.is_set(),
        }
        print(json.dumps(report), flush=True)


@dataclass
class Summary:
    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values), len(values))


if __name__ == "__main__" and sys.argv[1:] == ["--spawner"]:
    _serve_spawner()
