"""Parse-only time of 50 farm feeds through the reference (feedparser) and the fast path.

    .venv/bin/python bench/fastparse_timing.py [--rounds N]

Each feed is read by parse_document once per path and round; the best round of CPU
time is kept (the machine is shared: wall time says more about the neighbours). The
fast path is then split into its stages, each timed alone the same way: xmlprep's
prepare_xml, fastparse's reader (lxml and the dicts) and rawfeed's conversion.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from farm import FarmSpec, render_feed

from feedhub import fastparse, rawfeed, xmlprep
from feedhub.normalize import MAX_ENTRIES
from feedhub.parse import _REFERENCE_FACTS, parse_document, read_document

URL = "http://127.0.0.1/feeds/x"


def best_of(rounds: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    bodies = [render_feed(FarmSpec(), i) for i in range(0, 500, 10)]
    entries = 0
    for body in bodies:
        readings = read_document(body, url=URL, fast=True, reference=True)
        assert readings.fast is not None, "the fast path declined a farm feed"
        assert readings.fast == readings.reference, "the paths disagree on a farm feed"
        entries += len(readings.fast.entries)
    best: dict[bool, float] = {}
    for _ in range(rounds):
        for fast in (False, True):
            started = time.process_time()
            for body in bodies:
                parse_document(body, url=URL, fast=fast)
            elapsed = time.process_time() - started
            best[fast] = min(best.get(fast, elapsed), elapsed)
    size = sum(len(body) for body in bodies) / 2**20
    print(f"{len(bodies)} farm feeds, {entries} entries, {size:.1f} MiB; best of {rounds}:")
    for fast, name in ((False, "feedparser"), (True, "fast path")):
        per_entry = best[fast] / entries * 1e6
        print(f"  {name:10}  {best[fast]:6.3f} s  {per_entry:6.1f} us/entry")
    print(f"  speed-up    {best[False] / best[True]:.1f}x")
    prepared = [xmlprep.prepare_xml(b, charset=None, max_entries=MAX_ENTRIES) for b in bodies]
    read = [fastparse.read(p.data, _REFERENCE_FACTS) for p in prepared]
    stages: dict[str, Callable[[], object]] = {
        "prepare_xml": lambda: [
            xmlprep.prepare_xml(b, charset=None, max_entries=MAX_ENTRIES) for b in bodies
        ],
        "reader": lambda: [fastparse.read(p.data, _REFERENCE_FACTS) for p in prepared],
        "conversion": lambda: [
            rawfeed.parsed_feed(r.feed, r.entries, r.version, URL, None, xml_text=True)
            for r in read
        ],
    }
    print("  fast path stages:")
    for name, work in stages.items():
        print(f"    {name:11} {best_of(rounds, work):6.3f} s")


if __name__ == "__main__":
    main()
