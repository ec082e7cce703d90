"""Commands that look at the store: sources, entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
from feedhub.errors import ConfigError


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
        store.sync_sources(config.sources, now())
        rows = [r for r in store.sources(with_counts=True) if r.enabled]
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
                config, store, source=source, output=output, limit=limit, now=now()
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
