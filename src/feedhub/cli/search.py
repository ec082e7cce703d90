"""feedhub search: full-text search over stored entries' titles and text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from feedhub.cli.base import (
    EXIT_USAGE,
    config_option,
    format_table,
    iso,
    load,
    main,
    now,
    open_store,
    when,
)


def parse_since(value: str, moment: datetime) -> datetime:
    """An age ("7d", "12h", "1w") before `moment`, or a date/time ("2026-01-31"), in UTC."""
    from feedhub.config import parse_duration

    try:
        return moment - parse_duration(value)
    except ValueError:
        pass
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an age such as 7d nor a date such as 2026-01-31"
        ) from None
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)


@main.command()
@config_option
@click.argument("words", nargs=-1, required=True, metavar="QUERY...")
@click.option(
    "--source", "source_names", multiple=True, metavar="NAME", help="Only this source (repeatable)."
)
@click.option("--since", metavar="AGE|DATE", help="Only entries published since: 7d, 2026-01-31.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON objects, with scores.")
def search(
    config_path: Path | None,
    words: tuple[str, ...],
    source_names: tuple[str, ...],
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Find stored entries by words in their title and text, best matches first.

    All words must appear; "quoted words" must appear as a phrase; OR between
    words accepts either; -word excludes entries with it (quote the query or
    put -- before it, or -word is read as an option). A title match ranks
    higher than one in the text; equal matches show newest first.

    \b
    Examples:
      feedhub search climate policy
      feedhub search '"open data"' OR transparency --since 7d
      feedhub search --source ministry --json -- ai -sponsored
    """
    config = load(config_path)
    start = parse_since(since, now()) if since else None
    with open_store(config) as store:
        stored = {r.name: r.id for r in store.sources()}
        known = stored.keys() | {s.name for s in config.sources}
        unknown = [name for name in source_names if name not in known]
        if unknown:
            click.echo(f"error: --source: no source named {unknown[0]!r}", err=True)
            raise SystemExit(EXIT_USAGE)
        source_ids = [stored[n] for n in source_names if n in stored] if source_names else None
        found = store.search(" ".join(words), source_ids=source_ids, since=start, limit=limit)
    if as_json:
        items = [
            {"id": e.short_id, "public_id": e.public_id, "source": e.source.name,
             "title": e.entry.title, "link": e.entry.link, "published": iso(e.published),
             "score": score}
            for e, score in found
        ]  # fmt: skip
        click.echo(json.dumps(items, indent=2))
        return
    if not found:
        click.echo("no entries match", err=True)
        return
    table = [("ID", "PUBLISHED", "SOURCE", "TITLE")]
    table += [(e.short_id, when(e.published), e.source.name, e.entry.title[:80]) for e, _ in found]
    click.echo(format_table(table))
