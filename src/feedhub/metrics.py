"""Prometheus /metrics and /healthz for `feedhub serve` (and `feedhub run --serve`).

The server is usually not the process that fetches (cron runs `feedhub fetch`),
so there are no in-process counters: a custom collector reads the store at
scrape time (feedhub.store.stats) and the output files' mtimes. Counters are
sums over the runs table, so they only grow while runs are kept.

Metrics (all prefixed feedhub_):
  database_up                    1 when the database answered this scrape; when 0,
                                 only it and the output metrics are exposed
  sources{status}                enabled sources by status (new, ok, not-modified,
                                 error, broken, gone)
  sources_broken                 enabled sources marked broken
  fetches_total{outcome}         attempts recorded by runs: fetched, not_modified, failed
  not_modified_ratio             not_modified / all attempts of runs started in the
                                 last 24 h; NaN when there were none
  fetch_duration_seconds         gauge histogram of each polled (not gone) source's
                                 last attempt
  entries                        entries stored
  entries_new_total, entries_updated_total, runs_total, output_files_written_total
  output_build_seconds           build time of the latest run that built outputs
  last_run_timestamp_seconds     when the latest run ended
  output_age_seconds{output}     now - mtime of the output's newest file
  output_missing_files{output}   files of the output that do not exist
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from feedhub.errors import FeedhubError
from feedhub.models import Config
from feedhub.serve import Handler
from feedhub.store import Store
from feedhub.store.stats import Health, OutputFiles, output_files, ping, read_health

__all__ = [
    "HEALTHZ_TIMEOUT",
    "FeedhubCollector",
    "StoreOpener",
    "metrics_routes",
    "render_metrics",
]

log = logging.getLogger("feedhub.metrics")

Route = tuple[str, str, Handler]
Clock = Callable[[], datetime]
# A probe (Kubernetes, a load balancer) gives up after a few seconds; answering 503 in
# time beats hanging for SQLite's 30 s busy timeout behind a long write.
HEALTHZ_TIMEOUT = 5.0
NO_STORE = {"Cache-Control": "no-store"}  # a cached health answer is a wrong one


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- the collector -----------------------------------------------------------------


class FeedhubCollector(Collector):
    """Reads the store and the output directory at every scrape."""

    def __init__(
        self,
        store: Callable[[], Store],
        config: Config | Callable[[], Config],
        *,
        clock: Clock = _utcnow,
    ) -> None:
        self._store = store
        self._config = config if callable(config) else lambda: config
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        config = self._config()
        try:
            health: Health | None = read_health(self._store().engine, now=now)
        except FeedhubError as exc:
            log.warning("metrics: %s", exc)
            health = None
        yield GaugeMetricFamily(
            "feedhub_database_up",
            "1 when feedhub's database answered this scrape, else 0 (store metrics absent).",
            value=0 if health is None else 1,
        )
        if health is not None:
            yield from _store_metrics(health)
        yield from _output_metrics(output_files(config), now)


def _store_metrics(health: Health) -> Iterable[Metric]:
    by_status = GaugeMetricFamily(
        "feedhub_sources", "Enabled sources by status.", labels=["status"]
    )
    for status, count in sorted(health.sources.items()):
        by_status.add_metric([status], count)
    yield by_status
    yield GaugeMetricFamily(
        "feedhub_sources_broken",
        "Enabled sources marked broken (failing for days, retried daily).",
        value=health.broken,
    )

    fetches = CounterMetricFamily(
        "feedhub_fetches_total", "Fetch attempts recorded by runs, by outcome.", labels=["outcome"]
    )
    fetches.add_metric(["fetched"], health.runs.fetched)
    fetches.add_metric(["not_modified"], health.runs.not_modified)
    fetches.add_metric(["failed"], health.runs.failed)
    yield fetches
    ratio = health.not_modified_ratio
    yield GaugeMetricFamily(
        "feedhub_not_modified_ratio",
        f"Share of the attempts of runs started in the last {_hours(health)} h that were "
        "answered not modified (304 or an unchanged body); NaN without attempts.",
        value=math.nan if ratio is None else ratio,
    )

    durations = health.fetch_seconds
    buckets = [
        (repr(bound), float(count))  # as prometheus_client writes le: 1.0, 0.05
        for bound, count in zip(durations.bounds, durations.cumulative[:-1], strict=True)
    ]
    buckets.append(("+Inf", float(durations.count)))
    # A gauge histogram, not a histogram: it describes the sources as they are now
    # and its buckets go down as well as up (OpenMetrics 1.0, "GaugeHistogram").
    yield GaugeHistogramMetricFamily(
        "feedhub_fetch_duration_seconds",
        "Duration of each polled source's last fetch attempt.",
        buckets=buckets,
        gsum_value=durations.total_seconds,
        unit="seconds",
    )

    yield GaugeMetricFamily("feedhub_entries", "Entries stored.", value=health.entries)
    for name, value, text in (
        ("feedhub_entries_new_total", health.runs.entries_new, "Entries stored for the first time."),  # noqa: E501
        ("feedhub_entries_updated_total", health.runs.entries_updated, "Stored entries that changed."),  # noqa: E501
        ("feedhub_runs_total", health.runs.runs, "Fetch runs (or worker batches) recorded."),
        ("feedhub_output_files_written_total", health.runs.outputs_written,
         "Output files rewritten because their bytes changed."),
    ):  # fmt: skip
        yield CounterMetricFamily(name, text, value=value)

    if health.last_build_seconds is not None:
        yield GaugeMetricFamily(
            "feedhub_output_build_seconds",
            "How long the latest run that built outputs spent building them.",
            value=health.last_build_seconds,
            unit="seconds",
        )
    if health.last_run is not None:
        yield GaugeMetricFamily(
            "feedhub_last_run_timestamp_seconds",
            "When the latest run ended, in seconds since the Unix epoch.",
            value=health.last_run.at.timestamp(),
            unit="seconds",
        )


def _hours(health: Health) -> str:
    return f"{health.window.total_seconds() / 3600:g}"


def _output_metrics(files: list[OutputFiles], now: datetime) -> Iterable[Metric]:
    age = GaugeMetricFamily(
        "feedhub_output_age_seconds",
        "Seconds since the output's newest file changed (absent while it has no file).",
        labels=["output"],
        unit="seconds",
    )
    missing = GaugeMetricFamily(
        "feedhub_output_missing_files",
        "Files of the output (each format and its page) that do not exist.",
        labels=["output"],
    )
    for output in files:
        seconds = output.age_seconds(now)
        if seconds is not None:
            age.add_metric([output.name], seconds)
        missing.add_metric([output.name], len(output.missing))
    yield age
    yield missing


# --- rendering and routes --------------------------------------------------------------


def _registry(collector: FeedhubCollector) -> CollectorRegistry:
    # Never the global default registry: two apps (or tests) in one process would
    # register the same names twice and clash.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def _render(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    # Prometheus asks for OpenMetrics in its Accept header; anything else gets the
    # classic text format 0.0.4.
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def render_metrics(
    store: Store, config: Config, *, accept: str = "", clock: Clock = _utcnow
) -> tuple[bytes, str]:
    """The exposition body and its Content-Type. Blocks on the database: from an
    event loop, call it in a thread."""
    return _render(_registry(FeedhubCollector(lambda: store, config, clock=clock)), accept)


class StoreOpener:
    """A store opened once, at first use, for a server's lifetime (thread-safe).

    The schema is never migrated from here: the server reads a database the
    fetcher owns, and a failure to open is retried at the next request.
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._lock = threading.Lock()
        self._store: Store | None = None

    def __call__(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.database_url, migrate_schema=False)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def metrics_routes(
    store_factory: Callable[[], Store],
    config: Config | Callable[[], Config],
    *,
    clock: Clock = _utcnow,
) -> list[Route]:
    """GET/HEAD /metrics and /healthz, for serve.make_app(extra_routes=...).

    `store_factory` is called in a worker thread at each request (a StoreOpener,
    or `lambda: store` for a store already open); `config` may be a callable so
    a daemon that reloads feeds.toml is followed. Database work never runs on
    the event loop.
    """
    collector = FeedhubCollector(store_factory, config, clock=clock)
    registry = _registry(collector)
    current_config = config if callable(config) else lambda: config

    async def metrics(request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        body, content_type = await asyncio.to_thread(_render, registry, accept)
        return web.Response(body=body, headers={**NO_STORE, "Content-Type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        """200 when the database answers with feedhub's tables and the output
        directory exists, else 503; each check says what it found."""
        output_dir = current_config().settings.output_dir
        checks = {"database": "ok", "output_dir": "ok"}
        last_run: datetime | None = None
        try:
            last_run = await asyncio.wait_for(
                asyncio.to_thread(lambda: ping(store_factory().engine)), HEALTHZ_TIMEOUT
            )
        except TimeoutError:
            checks["database"] = f"no answer within {HEALTHZ_TIMEOUT:g} s"
        except FeedhubError as exc:
            checks["database"] = str(exc)
        if not await asyncio.to_thread(output_dir.is_dir):
            checks["output_dir"] = f"{output_dir} is not a directory"
        healthy = all(value == "ok" for value in checks.values())
        document = {
            "status": "ok" if healthy else "unavailable",
            **checks,
            "last_run_at": last_run.isoformat().replace("+00:00", "Z") if last_run else None,
        }
        if not healthy:
            log.warning("healthz: %s", document)
        return web.json_response(document, status=200 if healthy else 503, headers=NO_STORE)

    return [
        ("GET", "/metrics", metrics),
        ("HEAD", "/metrics", metrics),
        ("GET", "/healthz", healthz),
        ("HEAD", "/healthz", healthz),
    ]
