"""Database commands: migrate, copy-db."""

from __future__ import annotations

from pathlib import Path

import click

from feedhub.cli.base import EXIT_PARTIAL, config_option, load, main
from feedhub.errors import FeedhubError


@main.command()
@config_option
def migrate(config_path: Path | None) -> None:
    """Upgrade the database schema to this version of feedhub (safe to repeat).

    Every command also upgrades on open; run this before starting several
    workers so they do not race to do it.

    \b
    Example:
      feedhub migrate
    """
    from feedhub.store.engine import current_revision, make_engine
    from feedhub.store.engine import migrate as upgrade

    config = load(config_path)
    try:
        engine = make_engine(config.settings.database_url)
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        engine.dispose()
    except FeedhubError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_PARTIAL) from None
    click.echo(f"schema at {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@main.command("copy-db")
@click.argument("from_url")
@click.argument("to_url")
def copy_db(from_url: str, to_url: str) -> None:
    """Copy a whole database (entries, curation, source state) into an empty one.

    \b
    Example:
      feedhub copy-db sqlite:///var/feedhub.db postgresql+psycopg://feedhub@db/feedhub
    """
    from feedhub.store.copy import copy_database

    try:
        copied = copy_database(from_url, to_url)
    except FeedhubError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_PARTIAL) from None
    click.echo(", ".join(f"{n} {name}" for name, n in copied.items()) + " copied")
