"""Parse-only time of 50 farm feeds through the reference (feedparser) and the fast path.

    .venv/bin/python bench/fastparse_timing.py [--rounds N]

Each feed is read by parse_document once per path and round; the best round of CPU
time is kept (the machine is shared: wall time says more about the neighbours).
"""

from __future__ import annotations

import argparse
import time

from farm import FarmSpec, render_feed

from feedhub.parse import parse_document, read_document

URL = "http://127.0.0.1/feeds/x"


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


if __name__ == "__main__":
    main()
