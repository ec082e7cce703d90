"""Sweep a directory of real-world feed files through feedhub's parser (issue 6).

    python bench/sweep.py --corpus DIR [--timeout 30] [--json]

Each file (any name; gzip-compressed files are read as such) goes through the
same bounded worker pool `feedhub fetch` uses: parse + normalize under a time
and memory bound. One line per file: ok / recovered / rejected, entries kept,
and the reason; then totals. A crash of the sweep itself, or any file ending in
an exception that is not a clean ParseError, exits 1: the sweep must finish
with zero crashes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from feedhub.errors import ParseError
from feedhub.workers import ParsePool


async def sweep(files: list[Path], timeout: float) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    results: list[dict[str, object]] = []
    with ParsePool(timeout=timeout) as pool:
        for path in files:
            body = path.read_bytes()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            row: dict[str, object] = {"file": str(path), "bytes": len(body)}
            try:
                parsed = await pool.parse(body, path.resolve().as_uri(), {}, now)
            except ParseError as exc:
                row.update(outcome="rejected", entries=0, reason=str(exc)[:200])
            except Exception as exc:  # the sweep's point: count these, never stop
                row.update(outcome="crash", entries=0, reason=f"{type(exc).__name__}: {exc}")
            else:
                row.update(
                    outcome="recovered" if parsed.warning else "ok",
                    entries=len(parsed.entries),
                    reason=(parsed.warning or "")[:200],
                )
            results.append(row)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="a folder of feed files")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per document")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    args = parser.parse_args()
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    results = asyncio.run(sweep(files, args.timeout))
    for row in results:
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['outcome']:<10} {row['entries']:>6}  {row['file']}  {row['reason']}")
    totals = {
        k: sum(1 for r in results if r["outcome"] == k)
        for k in ("ok", "recovered", "rejected", "crash")
    }
    stored = sum(int(r["entries"]) for r in results)  # type: ignore[call-overload]
    print(
        f"{len(results)} files: "
        + ", ".join(f"{n} {k}" for k, n in totals.items())
        + f"; {stored} entries",
        file=sys.stderr,
    )
    return 1 if totals["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
