"""Where a `feedhub fetch` (or build) spends its time: stage timers, or cProfile over every thread.

    python bench/profile_fetch.py --config feeds.toml stages     # CPU and wall per stage
    python bench/profile_fetch.py --config feeds.toml cprofile   # top functions, all threads
    python bench/profile_fetch.py --config feeds.toml offline    # parse/normalize per feed

Runs the real command (`feedhub --config X fetch --all`, or --command, through
feedhub's click entry point) in this process. `stages` wraps feedhub's stage functions with
timers (thread CPU time and wall time per call), which costs next to nothing;
`cprofile` profiles the main thread and every thread started during the run
(executor workers included) and merges them, which slows the run down ~2x and
favours Python-heavy code, so read its ranking, not its absolute times.
Work done in worker *processes* is invisible to both; the summary line says so
by comparing this process's CPU time with the wall time. `offline` therefore
downloads every source once (untimed) and then times parse_document and
normalize_entries on each body, one after another in this process: the CPU cost
of the parsing stages whatever the concurrency design around them.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import importlib
import io
import json
import pstats
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# (module, attribute) of each stage, where the module looks the name up at call
# time. Missing ones are skipped: src/ is being reorganized while this is used.
STAGES = (
    ("feedhub.config", "load_config"),
    ("feedhub.store.store", "Store.sync_sources"),
    ("feedhub.store.store", "Store.sources"),
    ("feedhub.store.store", "Store.claim"),
    ("feedhub.update", "parse_document"),
    ("feedhub.update", "normalize_entries"),
    ("feedhub.workers", "parse_document"),
    ("feedhub.workers", "normalize_entries"),
    ("feedhub.store.store", "Store.save_fetch"),
    ("feedhub.store.store", "Store.save_fetches"),
    ("feedhub.update", "next_state"),
    ("feedhub.update", "merge_hints"),
    ("feedhub.publish", "Publisher.build"),
    ("feedhub.publish", "Publisher.build_output"),
    ("feedhub.publish", "Publisher.write_output"),
    ("feedhub.publish", "Publisher.build_index"),
    ("feedhub.publish", "select_for_output"),
    ("feedhub.publish", "generate_output"),
    ("feedhub.update", "Updater.build"),
    ("feedhub.store.store", "Store.record_run"),
)


# Stages also timed per output: how to find the output's name in their arguments.
PER_OUTPUT: dict[str, Callable[[tuple[Any, ...]], str]] = {
    "select_for_output": lambda args: args[1].name,  # (store, output, ...)
    "Publisher.write_output": lambda args: args[1].output.name,  # (self, selection)
}


class StageTimes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                keys = [name]
                if name in PER_OUTPUT:
                    with contextlib.suppress(AttributeError, IndexError):
                        keys.append(f"  {name}[{PER_OUTPUT[name](args)}]")
                with self.lock:
                    for key in keys:
                        self.cpu[key] += cpu
                        self.wall[key] += wall
                        self.calls[key] += 1

        return timed


def install_timers(times: StageTimes) -> list[str]:
    installed = []
    for module_name, attribute in STAGES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner: Any = module
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None or getattr(original, "__wrapped__", None):
            continue
        setattr(owner, name, times.wrap(attribute, original))
        installed.append(attribute)
    return installed


def profile_all_threads(profiles: list[cProfile.Profile]) -> None:
    """Give every thread started from now on its own profiler, kept in `profiles`."""
    original_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profiles.append(profiler)
        profiler.enable()
        try:
            original_run(self)
        finally:
            profiler.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def run_command(config: str, command: list[str]) -> int:
    from feedhub.cli import main

    try:
        main(["--config", config, *command], standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def offline(config_path: str) -> dict[str, Any]:
    import gzip
    import urllib.request
    from datetime import UTC, datetime

    from feedhub.config import load_config
    from feedhub.normalize import normalize_entries
    from feedhub.parse import parse_document

    config = load_config(config_path)
    bodies = []
    for source in config.sources:
        request = urllib.request.Request(source.url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
        if headers.pop("content-encoding", None) == "gzip":
            body = gzip.decompress(body)
        bodies.append((source.url, body, headers))
    now = datetime.now(UTC)
    parse_s = normalize_s = 0.0
    entries = 0
    for url, body, headers in bodies:
        started = time.process_time()
        feed = parse_document(body, url=url, headers=headers)
        parsed = time.process_time()
        entries += len(normalize_entries(feed, source_url=url, now=now))
        parse_s += parsed - started
        normalize_s += time.process_time() - parsed
    megabytes = sum(len(body) for _, body, _ in bodies) / 1e6
    # Where that time goes, on a sample (parsing runs in worker processes in a real
    # fetch, out of sight of the cprofile mode).
    profiler = cProfile.Profile()
    profiler.enable()
    for url, body, headers in bodies[:100]:
        normalize_entries(parse_document(body, url=url, headers=headers), source_url=url, now=now)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return {
        "top_of_first_100": out.getvalue(),
        "feeds": len(bodies),
        "entries": entries,
        "megabytes": round(megabytes, 1),
        "parse_document_cpu_s": round(parse_s, 3),
        "normalize_entries_cpu_s": round(normalize_s, 3),
        "parse_mb_per_s": round(megabytes / parse_s, 2) if parse_s else None,
        "per_feed_ms": round((parse_s + normalize_s) / max(1, len(bodies)) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", help="cprofile: also save the merged stats here (pstats)")
    parser.add_argument("--command", default="fetch --all", help="the feedhub command to run")
    parser.add_argument("mode", choices=("stages", "cprofile", "offline"))
    args = parser.parse_args()
    started = time.perf_counter()
    import_started = time.perf_counter()
    importlib.import_module("feedhub.update")
    imports = time.perf_counter() - import_started
    report: dict[str, Any] = {"mode": args.mode, "import_seconds": round(imports, 3)}
    if args.mode == "offline":
        report["offline"] = offline(args.config)
        status = 0
    elif args.mode == "stages":
        times = StageTimes()
        report["timed"] = install_timers(times)
        status = run_command(args.config, args.command.split())
        report["stages"] = {
            name: {
                "cpu_s": round(times.cpu[name], 3),
                "wall_s": round(times.wall[name], 3),
                "calls": times.calls[name],
            }
            for name in sorted(times.cpu, key=lambda n: -times.cpu[n])
        }
    else:
        profiles: list[cProfile.Profile] = []
        profile_all_threads(profiles)
        main_profile = cProfile.Profile()
        main_profile.enable()
        status = run_command(args.config, args.command.split())
        main_profile.disable()
        stats = pstats.Stats(main_profile)
        for profiler in profiles:
            profiler.disable()
            try:
                stats.add(profiler)
            except TypeError:  # a thread that never ran any Python code
                continue
        if args.dump:
            stats.dump_stats(args.dump)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        report["threads_profiled"] = len(profiles) + 1
        report["top"] = out.getvalue()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - started
    report.update(
        status=status,
        wall_s=round(wall, 3),
        process_cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
    )
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
