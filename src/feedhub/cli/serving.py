"""feedhub serve."""

from __future__ import annotations

from pathlib import Path

import click

from feedhub.cli.base import (
    EXIT_PARTIAL,
    config_option,
    load,
    main,
)
from feedhub.errors import FeedhubError


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve(config_path: Path | None, host: str, port: int) -> None:
    """Serve the output directory over HTTP (ETag, 304, gzip).

    Also answers /healthz (200 when the database and the output directory are
    usable, else 503 with the reason, as JSON) and /metrics (Prometheus: sources
    by status, fetches by outcome, fetch durations, entries, output ages), both
    read from the database at each request, so they show what cron's
    `feedhub fetch` did.

    \b
    Example:
      feedhub serve --port 8080   # then subscribe to http://127.0.0.1:8080/NAME.atom
      curl http://127.0.0.1:8080/healthz
    """
    from feedhub.metrics import StoreOpener, metrics_routes
    from feedhub.publish import cache_max_ages
    from feedhub.serve import serve as run_server

    config = load(config_path)
    config.settings.output_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"serving {config.settings.output_dir} on http://{host}:{port}/", err=True)
    store = StoreOpener(config.settings.database_url)  # opened at the first request
    try:
        run_server(
            config.settings.output_dir, host=host, port=port, max_age=cache_max_ages(config),
            extra_routes=metrics_routes(store, config),
        )  # fmt: skip
    except FeedhubError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_PARTIAL) from None
    finally:
        store.close()
