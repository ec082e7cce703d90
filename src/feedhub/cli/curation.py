"""Manual curation: pin, unpin, hide, unhide."""

from __future__ import annotations

from pathlib import Path

import click

from feedhub.cli.base import EXIT_USAGE, config_option, load, main, now, open_store
from feedhub.errors import ConfigError

ACTIONS = {
    "pin": ("pin", True, "pinned"),
    "unpin": ("pin", False, "unpinned"),
    "hide": ("hide", True, "hidden"),
    "unhide": ("hide", False, "shown again"),
}


def _curate(config_path: Path | None, command: str, entry: str, output: str | None) -> None:
    from feedhub.update import set_curation

    action, on, done = ACTIONS[command]
    config = load(config_path)
    with open_store(config) as store:
        try:
            stored, changed, written = set_curation(
                config, store, entry, action=action, on=on, output=output, now=now()
            )
        except ConfigError as exc:
            click.echo(f"error: {exc.key}: {exc.message}", err=True)
            raise SystemExit(EXIT_USAGE) from None
    where = f"in {output}" if output else "in every output"
    state = done if changed else f"already {done}"
    title = stored.entry.title[:60]
    click.echo(f"{stored.short_id} {title!r}: {state} {where}; {len(written)} files written")


ENTRY = click.argument("entry", metavar="ENTRY")
OUTPUT_REQUIRED = click.option(
    "--output", "output", required=True, metavar="NAME", help="The output."
)
OUTPUT_OPTIONAL = click.option(
    "--output", "output", metavar="NAME", help="Only this output (default: all)."
)


@main.command()
@config_option
@ENTRY
@OUTPUT_REQUIRED
def pin(config_path: Path | None, entry: str, output: str) -> None:
    """Always include ENTRY in an output, first. ENTRY is an id from `feedhub entries`.

    \b
    Example:
      feedhub pin 5fb14411 --output ai-policy
    """
    _curate(config_path, "pin", entry, output)


@main.command()
@config_option
@ENTRY
@OUTPUT_REQUIRED
def unpin(config_path: Path | None, entry: str, output: str) -> None:
    """Undo `feedhub pin`.

    \b
    Example:
      feedhub unpin 5fb14411 --output ai-policy
    """
    _curate(config_path, "unpin", entry, output)


@main.command()
@config_option
@ENTRY
@OUTPUT_OPTIONAL
def hide(config_path: Path | None, entry: str, output: str | None) -> None:
    """Never include ENTRY, in one output or in all of them.

    \b
    Examples:
      feedhub hide 74781b39                     # everywhere
      feedhub hide 74781b39 --output ai-policy
    """
    _curate(config_path, "hide", entry, output)


@main.command()
@config_option
@ENTRY
@OUTPUT_OPTIONAL
def unhide(config_path: Path | None, entry: str, output: str | None) -> None:
    """Undo `feedhub hide` (with the same --output, or none).

    \b
    Example:
      feedhub unhide 74781b39
    """
    _curate(config_path, "unhide", entry, output)
