"""feedhub status: is feedhub healthy, in a few lines (or JSON for scripts)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from feedhub.cli.base import EXIT_OK, EXIT_PARTIAL, config_option, iso, load, main, now, open_store
from feedhub.errors import FeedhubError

if TYPE_CHECKING:
    from feedhub.models import Config
    from feedhub.store.stats import Health, OutputFiles

# A run older than this many default intervals means cron (or `feedhub run`) has
# stopped: a frequent cron records a run at every call, due sources or not.
STALE_RUNS = 3


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for scripts.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Summarize health: sources by status, entries, the last run, each output's age.

    Exits 0 when healthy and 1 when not: a source is broken, no run was recorded
    in the last 3 intervals (settings.interval; e.g. cron stopped), or an output
    is missing files. Sources in error (not yet broken) or gone do not count.

    \b
    Example:
      feedhub status
      feedhub status --json | jq .sources
      feedhub status > /dev/null || echo "feedhub needs attention"
    """
    from feedhub.store.stats import output_files, read_health

    config = load(config_path)
    moment = now()
    with open_store(config) as store:
        try:
            health = read_health(store.engine, now=moment)
        except FeedhubError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_PARTIAL) from None
    outputs = output_files(config)
    problems = find_problems(config, health, outputs)
    if as_json:
        click.echo(json.dumps(status_json(health, outputs, problems), indent=2))
    else:
        click.echo(status_text(health, outputs, problems))
    raise SystemExit(EXIT_PARTIAL if problems else EXIT_OK)


def find_problems(config: Config, health: Health, outputs: list[OutputFiles]) -> list[str]:
    problems = []
    if health.broken:
        names = ", ".join(health.broken_names)
        more = ", ..." if health.broken > len(health.broken_names) else ""
        problems.append(f"{_plural(health.broken, 'source')} broken: {names}{more}")
    limit = config.settings.interval * STALE_RUNS
    if health.last_run is None:
        problems.append("no run recorded yet: run feedhub fetch")
    elif health.taken_at - health.last_run.at > limit:
        idle = (health.taken_at - health.last_run.at).total_seconds()
        interval = config.settings.interval.total_seconds()
        problems.append(f"no run for {span(idle)} (more than {STALE_RUNS} x the {span(interval)} "
                        "interval): is cron or feedhub run still going?")  # fmt: skip
    for output in outputs:
        if output.missing:
            names = ", ".join(p.name for p in output.missing)
            problems.append(f"output {output.name} is missing {names}")
    return problems


def status_text(health: Health, outputs: list[OutputFiles], problems: list[str]) -> str:
    counts = health.sources
    parts = [f"{counts.get('ok', 0)} ok", f"{counts.get('not-modified', 0)} not modified",
             f"{counts.get('error', 0)} error", f"{counts.get('broken', 0)} broken",
             f"{counts.get('gone', 0)} gone"]  # fmt: skip
    if counts.get("new"):
        parts.append(f"{counts['new']} never fetched")
    lines = [
        f"sources: {health.sources_total:,} ({', '.join(parts)})",
        f"entries: {health.entries:,}",
    ]
    last = health.last_run
    if last is None:
        lines.append("last run: never")
    else:
        c = last.counts
        build = f"; built in {last.build_seconds:.2f} s" if last.build_seconds else ""
        when = f"{last.at.strftime('%Y-%m-%d %H:%M')} UTC ({ago(last.at, health.taken_at)})"
        lines.append(
            f"last run: {when}: "
            f"{c.fetched} fetched, {c.not_modified} not modified, {c.failed} failed; "
            f"{c.entries_new} new, {c.entries_updated} updated entries{build}"
        )
    ratio = health.not_modified_ratio
    if ratio is not None:
        hours = f"{health.window.total_seconds() / 3600:g}"
        lines.append(f"not modified: {ratio:.0%} of {health.recent.attempts:,} fetches "
                     f"in the last {hours} h")  # fmt: skip
    lines.append("outputs:" if outputs else "outputs: none configured")
    width = max((len(o.name) for o in outputs), default=0)
    for output in outputs:
        newest = output.newest_mtime
        if newest is None:
            state = "never written"
        else:
            changed = datetime.fromtimestamp(newest, health.taken_at.tzinfo)
            state = (
                f"changed {ago(changed, health.taken_at)}, {_plural(len(output.present), 'file')}"
            )
            if output.missing:
                state += f", missing {', '.join(p.name for p in output.missing)}"
        lines.append(f"  {output.name.ljust(width)}  {state}")
    if problems:
        lines.append("unhealthy:")
        lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)


def status_json(health: Health, outputs: list[OutputFiles], problems: list[str]) -> dict[str, Any]:
    last = health.last_run
    ratio = health.not_modified_ratio
    return {
        "healthy": not problems,
        "problems": problems,
        "sources": dict(health.sources),
        "sources_total": health.sources_total,
        "broken": list(health.broken_names),
        "entries": health.entries,
        "last_run": None if last is None else {
            "started_at": iso(last.started_at), "finished_at": iso(last.finished_at),
            "age_seconds": round((health.taken_at - last.at).total_seconds(), 3),
            "fetched": last.counts.fetched, "not_modified": last.counts.not_modified,
            "failed": last.counts.failed, "entries_new": last.counts.entries_new,
            "entries_updated": last.counts.entries_updated,
            "outputs_written": last.counts.outputs_written,
            "build_seconds": last.build_seconds,
        },
        "not_modified_ratio": None if ratio is None else round(ratio, 4),
        "window_hours": health.window.total_seconds() / 3600,
        "outputs": [output_json(o, health.taken_at) for o in outputs],
    }  # fmt: skip


def output_json(output: OutputFiles, now: datetime) -> dict[str, Any]:
    age = output.age_seconds(now)
    return {
        "name": output.name,
        "age_seconds": None if age is None else round(age, 3),
        "files": [
            {"path": str(path), "age_seconds": round(max(0.0, now.timestamp() - mtime), 3)}
            for path, mtime in output.present
        ],
        "missing": [str(path) for path in output.missing],
    }


def ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    return "in the future" if seconds < 0 else f"{span(seconds)} ago"  # hosts' clocks disagree


def span(seconds: float) -> str:
    """A rough, readable length of time: 42 s, 17 min, 5 h, 3 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size or (unit == "min" and seconds >= size):
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
