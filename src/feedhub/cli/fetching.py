"""Commands that do the work: init, fetch, build, run, enable."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from feedhub.cli.base import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    config_option,
    load,
    main,
    now,
    open_store,
    quiet,
)
from feedhub.errors import ConfigError, FeedhubError


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
@click.option(
    "--worker", is_flag=True, help="Loop, claiming batches of due sources, until SIGTERM/SIGINT."
)
@click.option(
    "--batch", default=50, show_default=True, type=click.IntRange(1), help="With --worker."
)
def fetch(
    config_path: Path | None, force: bool, names: tuple[str, ...], worker: bool, batch: int
) -> None:
    """Fetch the sources that are due, store new entries, rebuild outputs.

    Exit status: 0 when every source was fine, 1 when some failed (the others
    are stored), 2 for a usage or config error.

    \b
    Examples:
      feedhub fetch                      # from cron: */10 * * * *
      feedhub fetch --all                # ignore intervals (not Retry-After)
      feedhub fetch --source example
      feedhub fetch --worker             # one of several workers sharing PostgreSQL
    """
    from feedhub.update import Updater

    config = load(config_path)
    if worker:
        if force or names:
            click.echo("error: --worker takes due sources only (no --all or --source)", err=True)
            raise SystemExit(EXIT_USAGE)
        raise SystemExit(_work(config, batch))
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
    if not quiet():
        click.echo(summary.line())
    raise SystemExit(EXIT_PARTIAL if summary.failed else EXIT_OK)


def _work(config: Any, batch: int) -> int:
    import asyncio
    import signal

    from feedhub.update import Updater

    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("feedhub").info(
            "%s: finishing the batch in hand", signal.Signals(signum).name
        )
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if logging.getLogger().level == logging.WARNING:  # the default; -q stays quiet
        logging.getLogger("feedhub").setLevel(logging.INFO)
    with open_store(config) as store:
        try:
            total = asyncio.run(Updater(config, store).work(lambda: bool(stopping), batch=batch))
        except FeedhubError as exc:
            click.echo(f"error: {exc}", err=True)
            return EXIT_PARTIAL
    if not quiet():
        click.echo(total.line())
    return EXIT_OK


@main.command()
@config_option
def build(config_path: Path | None) -> None:
    """Rebuild every output from the database, without fetching.

    \b
    Example:
      feedhub build && ls var/public
    """
    from feedhub.publish import build_outputs

    config = load(config_path)
    with open_store(config) as store:
        try:
            written = build_outputs(config, store, clock=now)
        except FeedhubError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_PARTIAL) from None
    click.echo(f"{len(config.outputs)} outputs built, {len(written)} files written")


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
    import signal

    # systemctl reload may send SIGHUP before the daemon's handler exists: until
    # then a reload must not kill it (SIGHUP's default action).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from feedhub.scheduler import run_daemon

    config = load(config_path)
    if logging.getLogger().level == logging.WARNING:  # the default; -q stays quiet
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
        store.sync_sources(config.sources, now())
        try:
            done = reenable_sources(store, names, now=now())
        except ConfigError as exc:
            click.echo(f"error: {exc.message}", err=True)
            raise SystemExit(EXIT_USAGE) from None
    click.echo(f"re-enabled: {', '.join(done)}; the next fetch polls them")
