"""The baselines feedhub is measured against, each run as its own process by run.py.

serial: a plain loop, one feed after another: urllib GET (gzip, and conditional
        with the validators of the previous run when --conditional), then
        feedparser.parse(bytes). Stores nothing: the floor of the naive approach.
reader: the `reader` library (pip install reader) doing its own fetching, parsing
        and storing in SQLite with update_feeds(scheduled=False), i.e. every feed
        now, like `feedhub fetch --all`.

Each prints one JSON line: fetched, not_modified, failed, entries.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

USER_AGENT = "feedhub-bench-baseline/1 (+loopback)"


def serial(urls: list[str], state_path: Path, conditional: bool) -> dict[str, int]:
    import feedparser  # imported here: its import time is part of what is measured

    state: dict[str, list[str | None]] = {}
    if conditional and state_path.exists():
        state = json.loads(state_path.read_text())
    counts = {"fetched": 0, "not_modified": 0, "failed": 0, "entries": 0}
    for url in urls:
        headers = {"Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
        etag, modified = state.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=60) as r:
                body = r.read()
                response_headers = {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                counts["not_modified"] += 1
            else:
                counts["failed"] += 1
            continue
        except OSError:
            counts["failed"] += 1
            continue
        if response_headers.get("content-encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, zlib.error):
                counts["failed"] += 1
                continue
        response_headers.pop("content-encoding", None)
        parsed = feedparser.parse(body, response_headers=response_headers)
        counts["fetched"] += 1
        counts["entries"] += len(parsed.entries)
        state[url] = [response_headers.get("etag"), response_headers.get("last-modified")]
    state_path.write_text(json.dumps(state))
    return counts


def reader_update(urls: list[str], database: Path, workers: int) -> dict[str, int]:
    from reader import make_reader

    reader: Any = make_reader(str(database))
    for url in urls:
        reader.add_feed(url, exist_ok=True)
    counts = {"fetched": 0, "not_modified": 0, "failed": 0, "entries": 0}
    for result in reader.update_feeds_iter(scheduled=False, workers=workers):
        value = result.value
        if isinstance(value, Exception):
            counts["failed"] += 1
        elif value is None or (value.new == 0 and value.modified == 0):
            counts["not_modified"] += 1
        else:
            counts["fetched"] += 1
            counts["entries"] += value.new
    reader.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tool", choices=("serial", "reader"))
    parser.add_argument("--urls", type=Path, required=True, help="file: one feed URL a line")
    parser.add_argument("--state", type=Path, required=True, help="validators / reader database")
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    urls = args.urls.read_text().split()
    if args.tool == "serial":
        counts = serial(urls, args.state, args.conditional)
    else:
        counts = reader_update(urls, args.state, args.workers)
    print(json.dumps(counts))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
