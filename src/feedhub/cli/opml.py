"""Commands that move subscriptions between feedhub and other readers: import, export."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from feedhub.cli.base import EXIT_USAGE, config_option, load, main, open_store
from feedhub.errors import ConfigError, ParseError

if TYPE_CHECKING:
    from feedhub.models import Config, SourceInfo


@main.command("import")
@config_option
@click.argument("file", type=click.File("rb"), metavar="FILE.opml")
@click.option("--dry-run", is_flag=True, help="Show what would be added; change nothing.")
def import_opml(config_path: Path | None, file: IO[bytes], dry_run: bool) -> None:
    """Add the feeds of an OPML file (from Feedly, Inoreader, ...) to feeds.toml.

    Folders and OPML categories become tags. Feeds already configured, listed
    twice, or not http(s) are skipped and listed. feeds.toml keeps its
    comments and layout; the new [[sources]] go after the existing ones.
    FILE.opml may be "-" for standard input.

    \b
    Examples:
      feedhub import feedly.opml --dry-run
      feedhub import subscriptions.opml
    """
    from feedhub.opml import add_sources_to_config, parse_opml

    config = load(config_path)
    try:
        document = parse_opml(file.read())
        report = add_sources_to_config(config.path, document.feeds, dry_run=dry_run)
    except ParseError as exc:
        click.echo(f"error: {file.name}: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    verb = "would add" if dry_run else "added"
    for source in report.added:
        tags = f"  [{', '.join(source.tags)}]" if source.tags else ""
        off = "  (disabled)" if not source.enabled else ""
        click.echo(f"{verb}    {source.name}  {source.url}{tags}{off}")
    for skip in (*document.skipped, *report.skipped):
        click.echo(f"skipped  {skip.url or skip.title or '-'}  ({skip.reason})")
    skipped = len(document.skipped) + len(report.skipped)
    summary = f"{len(report.added)} {verb}, {skipped} skipped"
    click.echo(summary + ("" if report.written or not report.added else "; nothing written"))


@main.command("export")
@config_option
@click.option(
    "-o",
    "--out",
    "out",
    type=click.File("wb", atomic=True),
    default="-",
    metavar="FILE",
    help="Write the OPML here [default: standard output].",
)
def export_opml(config_path: Path | None, out: IO[bytes]) -> None:
    """Write every configured source as OPML 2.0, for other readers or a backup.

    Each feed sits in a folder named after its first tag, and carries all its
    tags in the OPML category attribute. Titles and site links come from the
    database once feeds have been fetched. Local-file sources are left out.

    \b
    Examples:
      feedhub export -o subscriptions.opml
      feedhub export | less
    """
    from feedhub.opml import feeds_for_export, write_opml

    config = load(config_path)
    stored = _stored_sources(config) if _database_exists(config) else {}
    feeds, local = feeds_for_export(config.sources, stored)
    for source in local:
        click.echo(f"warning: {source.name}: a local file, not exported", err=True)
    out.write(write_opml(feeds, title=config.settings.title))


def _database_exists(config: Config) -> bool:
    """False for an SQLite file not yet created: export must not create one as a side effect."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(config.settings.database_url)
    except ArgumentError:
        return False
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database
    return bool(database) and database != ":memory:" and Path(str(database)).is_file()


def _stored_sources(config: Config) -> dict[str, SourceInfo]:
    with open_store(config) as store:
        return {row.name: row.info for row in store.sources([s.name for s in config.sources])}
