"""The command group and what every command shares: --config, loading, the store, tables.

Heavy modules are imported inside the commands, so `feedhub --help` and
other short commands start fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
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
        with Store.open(
            config.settings.database_url, timeout=config.settings.database_timeout
        ) as store:
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
    "--log-format",
    type=click.Choice(["auto", "text", "json"]),
    default="auto",
    show_default=True,
    help="json: one JSON object per line; auto: short lines on a terminal.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="FEEDHUB_CONFIG",
    help=CONFIG_HELP,
)
def main(verbose: int, quiet: bool, log_format: str, config_path: Path | None) -> None:
    """feedhub: follow many feeds, republish curated ones.

    \b
    Quick start:
      feedhub init mysite && cd mysite
      feedhub fetch          # poll due sources, store, rebuild outputs
      feedhub serve          # http://127.0.0.1:8080/
      feedhub -v --log-format json run   # structured logs for a log shipper
    """
    from feedhub.logs import setup_logging

    setup_logging(verbose=verbose, quiet=quiet, log_format=log_format)  # type: ignore[arg-type]
    click.get_current_context().obj = {"quiet": quiet}


def quiet() -> bool:
    """-q: print only errors (cron mails nothing when all went well)."""
    obj = click.get_current_context().find_root().obj
    return bool(obj and obj.get("quiet"))


def now() -> datetime:
    # Not update.system_clock: importing update pulls in the fetching stack.
    return datetime.now(UTC)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
