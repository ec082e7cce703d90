"""Database commands: migrate, copy-db, prune."""

from __future__ import annotations

from pathlib import Path

import click

from feedhub.cli.base import EXIT_PARTIAL, config_option, load, main, now, open_store
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


@main.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
def prune(config_path: Path | None, dry_run: bool) -> None:
    """Remove old entries by the keep rules ([settings] keep, or per source).

    Pinned entries and entries an output currently shows are never removed;
    removed entries leave a tombstone so feeds that still list them do not
    bring them back. The database is vacuumed when a prune freed enough.

    \b
    Examples:
      feedhub prune --dry-run
      feedhub prune            # from cron, daily
    """
    from feedhub.update import prune as run_prune

    config = load(config_path)
    with open_store(config) as store:
        try:
            report = run_prune(config, store, now=now(), dry_run=dry_run)
        except FeedhubError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_PARTIAL) from None
    verb = "would remove" if dry_run else "removed"
    for name, count in sorted(report.by_source.items()):
        click.echo(f"{name}: {verb} {count}")
    click.echo(
        f"{verb} {report.total} entries" + ("; database vacuumed" if report.vacuumed else "")
    )
