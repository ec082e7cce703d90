"""Worker scaling on PostgreSQL (issue 7): 1, 2 and 4 `feedhub fetch --worker`
processes against one database and the loopback feed farm, next to one
`feedhub fetch` process on SQLite, all cold (empty database), in one run.

    python bench/workers.py [--feeds 500] [--entries 50] [--workers 1,2,4]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each PostgreSQL run gets a schema of its own, dropped afterwards. Prints
sources/s per setting and the scaling ratio against one worker; writes
bench/workers.json. Only 127.0.0.1 is contacted; every process is stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from configs import write_config
from farm import FarmProcess, FarmSpec

HERE = Path(__file__).resolve().parent
FEEDHUB = [sys.executable, "-m", "feedhub"]


def fetched(engine_url: str) -> int:
    """Sources fetched so far (the workers add the source rows themselves)."""
    engine = create_engine(engine_url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM sources WHERE last_fetch_at IS NOT NULL"
            return int(conn.execute(text(query)).scalar() or 0)
    finally:
        engine.dispose()


def run_workers(farm: FarmProcess, spec: FarmSpec, base: str, workers: int, work: Path) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        config = write_config(
            work / f"pg{workers}" / "feeds.toml", spec=spec, base_url=farm.base_url,
            database_url=url, output_dir=work / f"pg{workers}" / "public", concurrency=32,
            outputs=[],
        )  # fmt: skip
        subprocess.run(
            [*FEEDHUB, "--config", str(config), "migrate"], check=True, capture_output=True
        )
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [*FEEDHUB, "-q", "--config", str(config), "fetch", "--worker", "--batch", "25"]
            )
            for _ in range(workers)
        ]
        try:
            deadline = started + 900
            while fetched(url) < spec.feeds and time.monotonic() < deadline:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        return elapsed
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_sqlite(farm: FarmProcess, spec: FarmSpec, work: Path) -> float:
    config = write_config(
        work / "sqlite" / "feeds.toml", spec=spec, base_url=farm.base_url,
        database_url=f"sqlite:///{work / 'sqlite' / 'feedhub.db'}",
        output_dir=work / "sqlite" / "public", concurrency=32, outputs=[],
    )  # fmt: skip
    started = time.monotonic()
    subprocess.run([*FEEDHUB, "-q", "--config", str(config), "fetch", "--all"], check=False)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    spec = FarmSpec(feeds=args.feeds, entries=args.entries)
    counts = [int(n) for n in args.workers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="feedhub-workers-"))
    results: dict[str, float] = {}
    try:
        with FarmProcess(spec) as farm:
            results["sqlite, 1 process"] = run_sqlite(farm, spec, work)
            for n in counts:
                results[f"postgresql, {n} worker{'s' if n > 1 else ''}"] = run_workers(
                    farm, spec, args.database, n, work
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    one = next((v for k, v in results.items() if k.endswith(" 1 worker")), None)
    print(f"{'setting':<24} {'cold fetch':>10} {'sources/s':>10} {'vs 1 worker':>12}")
    for name, seconds in results.items():
        ratio = f"{one / seconds:.2f}x" if one and name.startswith("postgresql") else "-"
        print(f"{name:<24} {seconds:>9.2f}s {spec.feeds / seconds:>10.1f} {ratio:>12}")
    (HERE / "workers.json").write_text(
        json.dumps({"feeds": spec.feeds, "entries": spec.entries, "seconds": results}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
