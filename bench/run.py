"""feedhub's benchmark: fetch and build scenarios against a loopback feed farm, with baselines.

    .venv/bin/python bench/run.py            # the full run (see bench/README.md)
    .venv/bin/python bench/run.py --quick    # 100 feeds, smaller database and scale farm

Every measured command is its own process, timed from fork to exit (interpreter
start and imports included, as users run it), with its peak RSS. Figures are
printed and written to bench/results.json; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from builddb import ensure_database
from configs import bench_outputs, write_config
from farm import FarmProcess, FarmSpec
from measure import Sample, Summary, run_measured, start_spawner

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "results.json"
SCENARIOS = ("cold", "warm", "churn", "build", "scale")
RSS_LIMIT_MB = 250.0
# Issue 5's targets: seconds for the whole `feedhub` process on this machine.
TARGETS = {"cold": 3.0, "warm": 0.5, "churn": 0.8, "build": 1.0, "scale-cold": 60.0}
TARGETS["scale-warm"] = 5.0
READER_SPEEDUP = 8.0  # cold: at least this many times faster than reader
_SUMMARY = re.compile(r"(\d+) fetched, (\d+) not modified, (\d+) failed; (\d+) new, (\d+) updated")


@dataclass
class Row:
    scenario: str
    tool: str
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    entries: int | None = None  # entries new at the farm per run (what a reader must store)
    reported: int | None = None  # entries the tool said it stored (feedhub) or parsed
    requests: dict[str, int] = field(default_factory=dict)  # farm counts of the last run
    failures: list[str] = field(default_factory=list)
    target: str = ""
    met: bool | None = None
    speedup: float | None = None  # this baseline's median / feedhub's median
    stopped_after: float | None = None  # seconds, when a run hit its timeout
    note: str = ""

    def add(self, sample: Sample, requests: dict[str, int] | None = None) -> None:
        if sample.ok:
            self.samples.append(sample.seconds)
            self.cpu_samples.append(sample.cpu_seconds)
        else:
            reason = "timed out" if sample.timed_out else f"exit {sample.returncode}"
            if sample.timed_out:
                self.stopped_after = sample.seconds
            self.failures.append(f"{reason} after {sample.seconds:.1f} s: {sample.stderr[-300:]}")
        self.peak_rss_mb = max(self.peak_rss_mb, sample.peak_rss_mb)
        self.peak_pss_mb = max(self.peak_pss_mb, sample.peak_pss_mb)
        if requests is not None:
            self.requests = {k: v for k, v in requests.items() if v}

    @property
    def summary(self) -> Summary | None:
        return Summary.of(self.samples) if self.samples else None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        start_spawner()  # while this process is small: see measure._Spawner
        self.spec = FarmSpec(args.feeds, args.entries, args.seed)
        self.rows: list[Row] = []
        self.python = sys.executable
        self.feedhub = self._feedhub_command()
        self.reader_version = _version("reader") if importlib.util.find_spec("reader") else None
        self.work = Path(tempfile.mkdtemp(prefix="run-", dir=_mkdir(WORK_DIR)))
        self.farm: FarmProcess | None = None
        self.primed: dict[str, Path] = {}  # tool -> its state after a cold run
        self.profile: dict[str, Any] = {}
        self.build_config: Path | None = None
        self.farm_info: dict[str, Any] = {}
        self.env = {k: v for k, v in os.environ.items() if k != "FEEDHUB_CONFIG"}
        self.load_before = [round(x, 2) for x in os.getloadavg()]
        if self.load_before[0] > 0.5:
            self.say(
                f"note: load average {self.load_before[0]} before starting: other work is"
                " running here, so wall times will be inflated (CPU times much less)"
            )

    @staticmethod
    def _feedhub_command() -> list[str]:
        beside = Path(sys.executable).parent / "feedhub"
        found = str(beside) if beside.exists() else shutil.which("feedhub")
        if not found:
            raise SystemExit("no feedhub command: run this with the venv's python")
        return [found]

    def has_row(self, scenario: str, tool: str) -> bool:
        return any((r.scenario, r.tool) == (scenario, tool) for r in self.rows)

    def row(self, scenario: str, tool: str) -> Row:
        for row in self.rows:
            if (row.scenario, row.tool) == (scenario, tool):
                return row
        self.rows.append(Row(scenario, tool))
        return self.rows[-1]

    def say(self, text: str) -> None:
        print(text, flush=True)

    # --- measured commands ---------------------------------------------------

    def measured(
        self, command: list[str], timeout: float | None = None
    ) -> tuple[Sample, dict[str, int]]:
        assert self.farm is not None
        self.farm.reset_stats()
        sample = run_measured(command, timeout=timeout or self.args.timeout, env=self.env)
        return sample, self.farm.stats()

    def fetch_config(self, directory: Path) -> Path:
        assert self.farm is not None
        return write_config(
            directory / "feeds.toml",
            spec=self.farm.spec,
            base_url=self.farm.base_url,
            database_url=f"sqlite:///{directory / 'feedhub.db'}",
            output_dir=directory / "public",
            concurrency=self.args.concurrency,
            outputs=bench_outputs(self.farm.spec),
        )

    def feedhub_fetch(self, config: Path, timeout: float | None = None) -> tuple[Sample, Any]:
        return self.measured([*self.feedhub, "--config", str(config), "fetch", "--all"], timeout)

    def baseline(self, tool: str, state: Path, conditional: bool) -> tuple[Sample, Any]:
        command = [self.python, str(BENCH_DIR / "baselines.py"), tool, "--state", str(state)]
        command += ["--urls", str(self.urls_file())]
        if tool == "reader":
            command += ["--workers", str(self.args.reader_workers)]
        if conditional:
            command.append("--conditional")
        return self.measured(command)

    def urls_file(self) -> Path:
        assert self.farm is not None
        path = self.work / f"urls-{self.farm.port}.txt"
        if not path.exists():
            path.write_text("\n".join(self.farm.url(i) for i in range(self.farm.spec.feeds)))
        return path

    def baselines(self) -> list[str]:
        if self.args.no_baselines:
            return []
        return ["serial", "reader"] if self.reader_version else ["serial"]

    def tool_name(self, tool: str) -> str:
        return {
            "feedhub": "feedhub",
            "serial": "serial urllib+feedparser loop",
            "reader": f"reader {self.reader_version} (workers={self.args.reader_workers})",
        }[tool]

    # --- scenarios -------------------------------------------------------------

    def cold(self, *, record: bool = True) -> None:
        rounds = self.args.repeat if record else 1
        for round_ in range(rounds):
            directory = _mkdir(self.work / f"feedhub-cold-{round_}")
            sample, stats = self.feedhub_fetch(self.fetch_config(directory))
            self.primed["feedhub"] = directory / "feeds.toml"
            everything = self.spec.feeds * self.spec.entries
            if record:
                self._record_fetch("cold", "feedhub", sample, stats, everything)
            if round_ >= (self.args.baseline_repeat if record else 1):
                continue
            for tool in self.baselines():
                state = self.work / f"{tool}-cold-{round_}.{'json' if tool == 'serial' else 'db'}"
                sample, stats = self.baseline(tool, state, conditional=False)
                self.primed[tool] = state
                if record:
                    self._record_fetch("cold", tool, sample, stats, everything)

    def ensure_primed(self) -> None:
        if "feedhub" not in self.primed:
            self.say("  (priming: one untimed cold run of each tool)")
            self.cold(record=False)

    def warm_or_churn(self, scenario: str) -> None:
        self.ensure_primed()
        assert self.farm is not None
        for _ in range(self.args.repeat):
            new_entries = None
            if scenario == "churn":
                churn = self.farm.churn(self.args.churn, self.args.churn_entries)
                new_entries = int(churn["new_entries"])
            sample, stats = self.feedhub_fetch(self.primed["feedhub"])
            self._record_fetch(scenario, "feedhub", sample, stats, new_entries)
            for tool in self.baselines():
                sample, stats = self.baseline(tool, self.primed[tool], conditional=True)
                self._record_fetch(scenario, tool, sample, stats, new_entries)

    def _record_fetch(
        self, scenario: str, tool: str, sample: Sample, stats: dict[str, int], entries: int | None
    ) -> None:
        row = self.row(scenario, tool)
        row.add(sample, stats)
        row.entries = entries
        if tool == "feedhub":
            match = _SUMMARY.search(sample.stdout)
            if match:
                row.reported = int(match.group(4))
        elif sample.stdout.strip():
            with contextlib.suppress(ValueError, KeyError, IndexError):
                row.reported = int(json.loads(sample.stdout.strip().splitlines()[-1])["entries"])
        self.say(
            f"  {scenario:<10} {self.tool_name(tool):<36} {sample.seconds:7.2f} s"
            f"  cpu {sample.cpu_seconds:6.2f} s  {sample.peak_rss_mb:5.0f} MB"
            f" (pss {sample.peak_pss_mb:.0f})  {_requests_text(stats)}  entries {row.reported}"
            + ("" if sample.ok else "  FAILED: " + (sample.stderr.strip()[-200:] or "?"))
        )

    def build(self) -> None:
        total = self.args.db_entries
        directory = _mkdir(self.work / "build")
        config = write_config(
            directory / "feeds.toml",
            spec=self.spec,
            base_url="http://127.0.0.1:9",  # never fetched: build reads only the database
            database_url="sqlite:///PLACEHOLDER",
            output_dir=directory / "public",
            concurrency=self.args.concurrency,
            outputs=bench_outputs(self.spec),
        )
        self.say(f"  database of {total:,} entries (cached under bench/.work/ once built)")
        database = ensure_database(self.spec, total, config)
        text = config.read_text().replace("sqlite:///PLACEHOLDER", f"sqlite:///{database}")
        config.write_text(text)
        row = self.row("build", "feedhub")
        for _ in range(self.args.repeat):
            shutil.rmtree(directory / "public", ignore_errors=True)
            command = [*self.feedhub, "--config", str(config), "build"]
            sample = run_measured(command, timeout=self.args.timeout, env=self.env)
            row.add(sample)
            self.build_config = config
            self.say(
                f"  build      feedhub build ({len(bench_outputs(self.spec))} outputs)"
                f"{'':<11} {sample.seconds:7.2f} s  cpu {sample.cpu_seconds:6.2f} s"
                f"  {sample.peak_rss_mb:5.0f} MB (pss {sample.peak_pss_mb:.0f})  "
                f"{sample.stdout.strip()[-80:] if sample.ok else 'FAILED: ' + sample.stderr[-200:]}"
            )

    def scale(self) -> None:
        spec = FarmSpec(self.args.scale_feeds, self.args.entries, self.args.seed)
        cold = self.row("cold", "feedhub").summary if self.has_row("cold", "feedhub") else None
        if cold and not self.args.force_scale:
            projected = cold.median * spec.feeds / self.spec.feeds
            if projected > 2 * self.args.scale_timeout:
                row = self.row("scale-cold", "feedhub")
                row.note = f"skipped (~{projected:.0f} s projected)"
                self.say(
                    f"  {row.note} from the {self.spec.feeds}-feed cold run;"
                    " --force-scale runs it anyway"
                )
                return
        self.say(f"  starting the {spec.feeds}-feed farm (generated once, then cached)")
        with FarmProcess(spec, ready_timeout=3600) as farm:
            self.farm = farm
            directory = _mkdir(self.work / "scale")
            config = self.fetch_config(directory)
            sample, stats = self.feedhub_fetch(config, timeout=self.args.scale_timeout)
            self._record_fetch("scale-cold", "feedhub", sample, stats, spec.feeds * spec.entries)
            if not sample.ok:
                self.say("  scale-warm skipped: needs a completed cold run")
                return
            for _ in range(self.args.repeat):
                sample, stats = self.feedhub_fetch(config, timeout=self.args.scale_timeout)
                self._record_fetch("scale-warm", "feedhub", sample, stats, None)

    def profile_fetch(self) -> None:
        """Stage timers of a cold, a warm and a churn run; a cProfile of a cold one."""
        assert self.farm is not None
        for label, mode, fresh in (
            ("cold-stages", "stages", True),
            ("warm-stages", "stages", False),
            ("churn-stages", "stages", False),
            ("cold-cprofile", "cprofile", True),
            ("offline-parse", "offline", False),
        ):
            if label == "churn-stages":
                self.farm.churn(self.args.churn, self.args.churn_entries)
            directory = self.work / ("profile-" + ("cprofile" if mode == "cprofile" else "stages"))
            if fresh:
                shutil.rmtree(directory, ignore_errors=True)
                _mkdir(directory)
            self.profile_one(label, mode, self.fetch_config(directory), "fetch --all")

    def profile_one(self, label: str, mode: str, config: Path, feedhub_command: str) -> None:
        command = [self.python, str(BENCH_DIR / "profile_fetch.py"), "--config", str(config)]
        command += ["--command", feedhub_command, mode]
        if mode == "cprofile":  # kept for digging: python -m pstats bench/.work/profile-...
            command += ["--dump", str(WORK_DIR / f"profile-{label}.pstats")]
        sample = run_measured(command, timeout=self.args.timeout * 3, env=self.env)
        try:
            report = json.loads(sample.stdout[sample.stdout.index("{") :])
        except ValueError:
            report = {"error": sample.stderr[-500:]}
        report["measured_wall_s"] = round(sample.seconds, 3)
        self.profile[label] = report
        self.say(f"\n--- profile: {label} ({sample.seconds:.1f} s) ---")
        self.say(_profile_text(report))

    # --- the whole run ---------------------------------------------------------

    def run(self) -> None:
        only = self.args.only
        fetch_scenarios = [s for s in ("cold", "warm", "churn") if s in only]
        try:
            if fetch_scenarios:
                self.say(f"farm: {self.spec.feeds} feeds x {self.spec.entries} entries")
                with FarmProcess(self.spec) as farm:
                    self.farm = farm
                    self.farm_info = dict(farm.info)
                    self.say(
                        f"  serving {farm.info['identity_bytes'] / 1e6:.1f} MB"
                        f" ({farm.info['gzip_bytes'] / 1e6:.1f} MB gzipped) on {farm.base_url}"
                    )
                    for scenario in fetch_scenarios:
                        self.say(f"\n== {scenario} ==")
                        if scenario == "cold":
                            self.cold()
                        else:
                            self.warm_or_churn(scenario)
                    if self.args.profile and "cold" in only:
                        self.profile_fetch()
            if "build" in only:
                self.say("\n== build ==")
                self.build()
                if self.args.profile and self.build_config:
                    for label, mode in (("build-stages", "stages"), ("build-cprofile", "cprofile")):
                        shutil.rmtree(self.work / "build" / "public", ignore_errors=True)
                        self.profile_one(label, mode, self.build_config, "build")
            if "scale" in only:
                self.say(f"\n== scale ({self.args.scale_feeds} feeds) ==")
                self.scale()
        finally:
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
        self.judge()
        self.say("\n" + self.table())
        self.write_results()

    def judge(self) -> None:
        feedhub = {r.scenario: r for r in self.rows if r.tool == "feedhub"}
        for row in self.rows:
            base = feedhub.get(row.scenario)
            if row.tool != "feedhub" and base and base.summary and row.summary:
                row.speedup = row.summary.median / base.summary.median
        for scenario, row in feedhub.items():
            limit = TARGETS.get(scenario)
            parts = [f"<= {limit:g} s"] if limit else []
            ok = [row.summary is not None and row.summary.median <= limit] if limit else []
            if scenario == "cold" and self.reader_version and not self.args.no_baselines:
                reader = self.row("cold", "reader")
                parts.append(f">= {READER_SPEEDUP:g}x reader")
                ok.append(reader.speedup is not None and reader.speedup >= READER_SPEEDUP)
            parts.append(f"RSS <= {RSS_LIMIT_MB:g} MB")
            ok.append(0 < row.peak_rss_mb <= RSS_LIMIT_MB)
            row.target = ", ".join(parts)
            measured = row.samples or row.failures
            row.met = (all(ok) and not row.failures) if measured else None

    def table(self) -> str:
        header = ("scenario", "tool", "median", "min-max", "CPU", "feedhub speedup", "entries/s")
        header += ("peak RSS", "peak PSS", "requests", "target", "met")
        lines = [header]
        for row in self.rows:
            summary = row.summary
            median = f"{summary.median:.2f} s" if summary else "-"
            if not summary and row.stopped_after:
                median = f"> {row.stopped_after:.0f} s (stopped)"
            elif not summary and row.note:
                median = row.note
            spread = (
                f"{summary.low:.2f}-{summary.high:.2f} s (n={summary.runs})" if summary else "-"
            )
            rate = "-"
            if summary and row.entries:
                rate = f"{row.entries / summary.median:,.0f}"
            speedup = f"{row.speedup:.1f}x" if row.speedup else ""
            cpu = f"{statistics.median(row.cpu_samples):.2f} s" if row.cpu_samples else "-"
            met = "" if row.met is None else ("yes" if row.met else "NO")
            if row.failures:
                met += f" ({len(row.failures)} failed)"
            lines.append(
                (row.scenario, self.tool_name(row.tool), median, spread, cpu, speedup, rate,
                 f"{row.peak_rss_mb:.0f} MB" if row.peak_rss_mb else "-",
                 f"{row.peak_pss_mb:.0f} MB" if row.peak_pss_mb else "-",
                 _requests_text(row.requests), row.target, met)
            )  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
        ]
        text.insert(1, "  ".join("-" * w for w in widths))
        markdown = ["| " + " | ".join(line) + " |" for line in lines]
        markdown.insert(1, "|" + "|".join("---" for _ in header) + "|")
        self.markdown = "\n".join(markdown)
        return "\n".join(line.rstrip() for line in text)

    def write_results(self) -> None:
        results = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "load_before": self.load_before,
                "load_after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "feedhub_commit": _git_commit(),
            "reader": self.reader_version,
            "params": {k: v for k, v in vars(self.args).items() if k != "only"}
            | {"only": list(self.args.only)},
            "farm": self.farm_info,
            "rows": [
                {
                    "scenario": r.scenario,
                    "tool": self.tool_name(r.tool),
                    "samples_s": [round(s, 3) for s in r.samples],
                    "cpu_s": [round(s, 3) for s in r.cpu_samples],
                    "reported_entries": r.reported,
                    "median_s": round(r.summary.median, 3) if r.summary else None,
                    "entries": r.entries,
                    "peak_rss_mb": round(r.peak_rss_mb, 1),
                    "peak_pss_mb": round(r.peak_pss_mb, 1),
                    "requests": r.requests,
                    "feedhub_speedup": round(r.speedup, 2) if r.speedup else None,
                    "target": r.target,
                    "met": r.met,
                    "failures": r.failures,
                    "note": r.note,
                }
                for r in self.rows
            ],
            "table_markdown": self.markdown,
            "profile": self.profile,
        }
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        self.say(f"\nwrote {RESULTS.relative_to(BENCH_DIR.parent)}")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return done.stdout.strip() or None


def _requests_text(stats: dict[str, int]) -> str:
    if not stats:
        return "-"
    return f"{stats.get('status_200', 0)}x200 {stats.get('status_304', 0)}x304"


def _profile_text(report: dict[str, Any]) -> str:
    if "error" in report:
        return "failed: " + str(report["error"])
    lines = [
        f"wall {report.get('wall_s')} s (process {report.get('measured_wall_s')} s), "
        f"CPU of this process {report.get('process_cpu_s')} s, imports "
        f"{report.get('import_seconds')} s, peak RSS {report.get('peak_rss_mb')} MB"
    ]
    per_output = 0
    for name, stage in report.get("stages", {}).items():
        if name.startswith(" "):  # one output's share: the six costliest are enough here
            per_output += 1
            if per_output > 6:
                continue
        lines.append(
            f"  {name:<28} cpu {stage['cpu_s']:8.3f} s  wall {stage['wall_s']:8.3f} s"
            f"  calls {stage['calls']}"
        )
    if "offline" in report:
        offline = dict(report["offline"])
        top = offline.pop("top_of_first_100", "").split("\n")
        lines.append("  " + json.dumps(offline))
        start = next((i for i, line in enumerate(top) if "ncalls" in line), 0)
        lines += top[start : start + 16]
    if "top" in report:
        top = report["top"].split("\n")
        start = next((i for i, line in enumerate(top) if "ncalls" in line), 0)
        lines += top[start : start + 26]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50, help="entries per feed")
    parser.add_argument("--seed", type=int, default=5, help="farm seed (same seed, same bytes)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per feedhub measurement")
    parser.add_argument(
        "--baseline-repeat", type=int, default=1, help="cold runs of each baseline (slow ones)"
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--scale-feeds", type=int, default=10_000)
    parser.add_argument(
        "--scale-timeout", type=float, default=180.0, help="s; a slower scale run is stopped"
    )
    parser.add_argument("--db-entries", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.1, help="fraction of feeds per round")
    parser.add_argument("--churn-entries", type=int, default=5, help="new entries per feed")
    parser.add_argument("--concurrency", type=int, default=64, help="feedhub settings")
    parser.add_argument("--reader-workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="s per measured command")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--force-scale",
        action="store_true",
        help="run the scale scenario even when the cold run projects it far over its timeout",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile a cold fetch and a build"
    )
    parser.add_argument("--quick", action="store_true", help="100 feeds, 100k entries, 1k scale")
    parser.add_argument("--keep", action="store_true", help="keep this run's work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.db_entries, args.scale_feeds = 100, 100_000, 1000
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {SCENARIOS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    Bench(args).run()
    print(f"bench took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
