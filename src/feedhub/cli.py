"""The feedhub command line: each command parses its arguments, calls one function, prints.

Heavy modules are imported inside the commands, so `feedhub --help` and
other short commands start fast.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from feedhub import __version__
from feedhub.errors import ConfigError, FeedhubError

if TYPE_CHECKING:
    from feedhub.models import Config
    from feedhub.store import Store

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("feedhub")


CONFIG_HELP = "The feeds.toml to use [env FEEDHUB_CONFIG; default ./feeds.toml]."


def config_option(command: F) -> F:
    """--config on every command, and before it: `feedhub --config X fetch` works too."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=CONFIG_HELP,
    )(command)


def load(config_path: Path | None) -> Config:
    from feedhub.config import load_config

    if config_path is None:
        root = click.get_current_context().find_root()
        config_path = root.params.get("config_path") or Path("feeds.toml")
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    return config


@contextmanager
def open_store(config: Config) -> Iterator[Store]:
    from feedhub.store import Store

    try:
        with Store.open(config.settings.database_url) as store:
            yield store
    except FeedhubError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_PARTIAL) from None


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="feedhub")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="FEEDHUB_CONFIG",
    help=CONFIG_HELP,
)
def main(verbose: int, quiet: bool, config_path: Path | None) -> None:
    """feedhub: follow many feeds, republish curated ones.

    \b
    Quick start:
      feedhub init mysite && cd mysite
      feedhub fetch          # poll due sources, store, rebuild outputs
      feedhub serve          # http://127.0.0.1:8080/
    """
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Create a starter feeds.toml and var/ in DIRECTORY.

    \b
    Example:
      feedhub init ~/feeds && cd ~/feeds && feedhub fetch
    """
    from feedhub.config import write_starter

    try:
        path = write_starter(directory)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    click.echo(f"wrote {path}; edit it, then run: feedhub --config {path} fetch")


class _Bar:
    """A progress bar on a terminal, nothing otherwise (cron mails stay clean)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int) -> None:
        if sys.stderr.isatty() and total:
            self.bar = click.progressbar(length=total, label="fetching", file=sys.stderr)
            self.bar.__enter__()

    def step(self, source: str, outcome: str) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@main.command()
@config_option
@click.option("--all", "force", is_flag=True, help="Fetch every source, due or not.")
@click.option("--source", "names", multiple=True, metavar="NAME", help="Fetch only this source.")
def fetch(config_path: Path | None, force: bool, names: tuple[str, ...]) -> None:
    """Fetch the sources that are due, store new entries, rebuild outputs.

    Exit status: 0 when every source was fine, 1 when some failed (the others
    are stored), 2 for a usage or config error.

    \b
    Examples:
      feedhub fetch                      # from cron: */10 * * * *
      feedhub fetch --all                # ignore intervals (not Retry-After)
      feedhub fetch --source example
    """
    from feedhub.update import Updater

    config = load(config_path)
    unknown = set(names) - {s.name for s in config.sources}
    if unknown:
        click.echo(f"error: --source: no source named {', '.join(sorted(unknown))}", err=True)
        raise SystemExit(EXIT_USAGE)
    bar = _Bar()
    with open_store(config) as store:
        try:
            summary = Updater(config, store, progress=bar).run(force=force, names=names or None)
        except FeedhubError as exc:
            bar.close()
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_PARTIAL) from None
        bar.close()
    for name, error in summary.failures:
        click.echo(f"failed: {name}: {error}", err=True)
    click.echo(summary.line())
    raise SystemExit(EXIT_PARTIAL if summary.failed else EXIT_OK)


@main.command()
@config_option
def build(config_path: Path | None) -> None:
    """Rebuild every output from the database, without fetching.

    \b
    Example:
      feedhub build && ls var/public
    """
    from feedhub.update import Updater

    config = load(config_path)
    with open_store(config) as store:
        try:
            written = Updater(config, store).build()
        except FeedhubError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_PARTIAL) from None
    click.echo(f"{len(config.outputs)} outputs built, {len(written)} files written")


@main.command("sources")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def list_sources(config_path: Path | None, as_json: bool) -> None:
    """Show each source: status, last fetch, next due, errors.

    \b
    Examples:
      feedhub sources
      feedhub sources --json | jq '.[] | select(.status=="broken")'
    """
    config = load(config_path)
    with open_store(config) as store:
        store.sync_sources(config.sources, _now())
        rows = [r for r in store.sources() if r.enabled]
    if as_json:
        click.echo(json.dumps([source_json(r) for r in rows], indent=2))
        return
    table = [
        ("NAME", "STATUS", "LAST FETCH", "NEXT DUE", "ERR", "HTTP", "ENTRIES", "WHY", "LAST ERROR")
    ]
    for r in rows:
        table.append((r.name, r.status, when(r.last_fetch_at), when(r.next_fetch_at) if r.status != "gone" else "never",  # noqa: E501
                      str(r.consecutive_errors), str(r.last_http_status or "-"), str(r.entry_count),
                      r.interval_reason or "-", (r.last_error or "")[:60]))  # fmt: skip
    click.echo(format_table(table))


def source_json(r: Any) -> dict[str, Any]:
    return {
        "name": r.name,
        "url": r.url,
        "status": r.status,
        "tags": list(r.tags),
        "title": r.title,
        "last_fetch_at": iso(r.last_fetch_at),
        "last_success_at": iso(r.last_success_at),
        "next_fetch_at": iso(r.next_fetch_at),
        "consecutive_errors": r.consecutive_errors,
        "last_http_status": r.last_http_status,
        "last_error": r.last_error,
        "warning": r.warning,
        "interval_reason": r.interval_reason,
        "entry_count": r.entry_count,
    }


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@main.command()
@config_option
@click.option("--source", "source", metavar="NAME", help="Only this source's entries.")
@click.option("--output", "output", metavar="NAME", help="The entries this output publishes.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON objects for scripts.")
def entries(
    config_path: Path | None, source: str | None, output: str | None, limit: int, as_json: bool
) -> None:
    """Show recent entries, newest first, with their short ids.

    \b
    Examples:
      feedhub entries --limit 5
      feedhub entries --source example
      feedhub entries --output ai-policy
    """
    from feedhub.update import recent_entries

    config = load(config_path)
    with open_store(config) as store:
        try:
            found = recent_entries(
                config, store, source=source, output=output, limit=limit, now=_now()
            )
        except ConfigError as exc:
            click.echo(f"error: {exc.key}: {exc.message}", err=True)
            raise SystemExit(EXIT_USAGE) from None
    if as_json:
        items = [
            {"id": e.short_id, "public_id": e.public_id, "source": e.source.name,
             "title": e.entry.title, "link": e.entry.link, "published": iso(e.published)}
            for e in found
        ]  # fmt: skip
        click.echo(json.dumps(items, indent=2))
        return
    table = [("ID", "PUBLISHED", "SOURCE", "TITLE")]
    table += [(e.short_id, when(e.published), e.source.name, e.entry.title[:80]) for e in found]
    click.echo(format_table(table))


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve(config_path: Path | None, host: str, port: int) -> None:
    """Serve the output directory over HTTP (ETag, 304, gzip).

    \b
    Example:
      feedhub serve --port 8080   # then subscribe to http://127.0.0.1:8080/NAME.atom
    """
    from feedhub.serve import serve as run_server

    config = load(config_path)
    config.settings.output_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"serving {config.settings.output_dir} on http://{host}:{port}/", err=True)
    run_server(config.settings.output_dir, host=host, port=port)


@main.command()
@config_option
@click.option("--serve", "serve_too", is_flag=True, help="Also serve the outputs over HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--max-runs", type=click.IntRange(1), help="Stop after N fetch runs.")
def run(
    config_path: Path | None, serve_too: bool, host: str, port: int, max_runs: int | None
) -> None:
    """Run as a daemon: fetch each source when it is due, rebuild outputs.

    Reloads feeds.toml when it changes (or on SIGHUP), keeping the last good
    one if an edit is wrong; SIGTERM or Ctrl-C finish the run in hand.

    \b
    Examples:
      feedhub run --serve --port 8080
      feedhub -v run            # one log line per fetch
    """
    from feedhub.scheduler import run_daemon

    config = load(config_path)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("feedhub").setLevel(logging.INFO)
    try:
        status = run_daemon(
            config.path, max_runs=max_runs, serve_address=(host, port) if serve_too else None
        )
    except FeedhubError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_PARTIAL) from None
    raise SystemExit(status)


@main.command()
@config_option
@click.argument("names", nargs=-1, required=True)
def enable(config_path: Path | None, names: tuple[str, ...]) -> None:
    """Poll a gone or broken source again, starting now.

    \b
    Example:
      feedhub enable example      # after a 410 Gone that was a mistake
    """
    from feedhub.update import reenable_sources

    config = load(config_path)
    with open_store(config) as store:
        store.sync_sources(config.sources, _now())
        try:
            done = reenable_sources(store, names, now=_now())
        except ConfigError as exc:
            click.echo(f"error: {exc.message}", err=True)
            raise SystemExit(EXIT_USAGE) from None
    click.echo(f"re-enabled: {', '.join(done)}; the next fetch polls them")


def _now() -> datetime:
    from feedhub.update import system_clock

    return system_clock()
