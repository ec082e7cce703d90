"""`feedhub run`: the same work as `feedhub fetch`, as a long-running daemon.

APScheduler 3 runs one fetch job at a time, rescheduled after each run for
the moment the next source is due (the store's next_fetch_at), so the
daemon sleeps exactly as long as it can. A config watcher reloads
feeds.toml when it changes or on SIGHUP; a broken edit is reported and the
last good configuration kept. SIGTERM/SIGINT let the run in hand finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from feedhub.config import load_config
from feedhub.errors import ConfigError, FeedhubError
from feedhub.models import Config
from feedhub.store import Store
from feedhub.update import Clock, RunSummary, Updater, system_clock
from feedhub.workers import ParsePool

log = logging.getLogger("feedhub.run")
# Upper bound on one sleep: other workers may add due work, and a clock
# jump must not park the daemon for days.
MAX_SLEEP = timedelta(minutes=5)
CONFIG_POLL_SECONDS = 5.0


class Daemon:
    """The daemon's decisions, apart from APScheduler and signals (tested with a fake clock)."""

    def __init__(
        self,
        config_path: Path,
        *,
        clock: Clock = system_clock,
        max_runs: int | None = None,
        on_config: Callable[[Config], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock
        self.max_runs = max_runs
        self.runs = 0
        self.on_config = on_config
        self.config = load_config(config_path)
        self._mtime = self._config_mtime()
        settings = self.config.settings
        self.store = Store.open(settings.database_url, timeout=settings.database_timeout)
        self.store.sync_sources(self.config.sources, clock())
        self.parser = ParsePool()  # one pool for the daemon's life: workers stay warm

    def _config_mtime(self) -> float | None:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    def reload(self, *, force: bool = False) -> bool:
        """Re-read feeds.toml if it changed; returns whether a new config is in force."""
        mtime = self._config_mtime()
        if not force and mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("config not reloaded, keeping the previous one: %s", exc)
            return False
        if config.settings.database_url != self.config.settings.database_url:
            log.error("database_url changed; restart feedhub run to use it")
            return False
        for warning in config.warnings:
            log.warning("%s", warning)
        self.config = config
        log.info(
            "reloaded %s: %d sources, %d outputs",
            self.config_path,
            len(config.sources),
            len(config.outputs),
        )
        if self.on_config:
            self.on_config(config)
        return True

    def run_once(self) -> RunSummary:
        self.runs += 1
        summary = Updater(self.config, self.store, clock=self.clock, parser=self.parser).run()
        log.info("run %d: %s", self.runs, summary.line())
        return summary

    def finished(self) -> bool:
        return self.max_runs is not None and self.runs >= self.max_runs

    def next_wake(self) -> datetime:
        """When the next source is due (now for a new one), at most MAX_SLEEP away."""
        now = self.clock()
        wanted = {s.name for s in self.config.sources if s.enabled}
        due = [
            row.next_fetch_at or now
            for row in self.store.sources(wanted)
            if row.enabled and row.status != "gone"
        ]
        return max(now, min([*due, now + MAX_SLEEP]))

    def close(self) -> None:
        self.parser.close()
        self.store.close()


def run_daemon(
    config_path: Path,
    *,
    max_runs: int | None = None,
    serve_address: tuple[str, int] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or max_runs); returns the exit status."""
    from apscheduler.schedulers.background import BackgroundScheduler

    daemon = Daemon(config_path, max_runs=max_runs)
    stop = threading.Event()
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
    )
    server = _start_server(daemon, serve_address) if serve_address else None

    # A job must never call into the scheduler while shutdown() holds its lock
    # and waits for that very job (a deadlock seen in practice). So the main
    # thread first waits for the run in hand under `work`, marks `stopping`,
    # and only then shuts the scheduler down without waiting.
    work = threading.Lock()
    stopping = threading.Event()

    def schedule_fetch(when: datetime) -> None:
        scheduler.add_job(fetch_job, "date", run_date=when, id="fetch", replace_existing=True)

    def fetch_job() -> None:
        with work:
            if stopping.is_set():
                return
            try:
                daemon.run_once()
            except FeedhubError as exc:  # e.g. the database locked too long: try again later
                log.error("run failed: %s", exc)
            except Exception:  # never let one bad run end the daemon silently
                log.exception("run failed unexpectedly")
            if daemon.finished():
                stop.set()
                return
            wake = daemon.next_wake()
            log.debug("next run at %s", wake.isoformat())
            schedule_fetch(wake)

    def config_job() -> None:
        with work:
            if stopping.is_set():
                return
            if daemon.reload():
                schedule_fetch(daemon.clock())  # sources may have been added: look now

    def on_stop(signum: int, _frame: Any) -> None:
        log.info("%s received: finishing the work in hand", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: Any) -> None:
        def reload() -> None:
            with work:
                if not stopping.is_set() and daemon.reload(force=True):
                    schedule_fetch(daemon.clock())

        threading.Thread(target=reload, daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    schedule_fetch(daemon.clock())
    scheduler.add_job(config_job, "interval", seconds=CONFIG_POLL_SECONDS, id="config")
    scheduler.start()
    log.info(
        "feedhub run: %d sources, %d outputs",
        len(daemon.config.sources),
        len(daemon.config.outputs),
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        with work:  # the run in hand completes and is stored
            stopping.set()
        scheduler.shutdown(wait=False)
        if server is not None:
            server.stop()
        daemon.close()
    return 0


class _ServerThread:
    """feedhub serve inside the daemon, on its own event loop thread."""

    def __init__(
        self,
        output_dir: Path,
        host: str,
        port: int,
        max_age: dict[str, int],
        extra_routes: list[Any],
    ) -> None:
        import asyncio

        from feedhub.serve import make_app, start_server

        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None

        async def start() -> Any:
            app = make_app(output_dir, max_age=max_age, extra_routes=extra_routes)
            return await start_server(app, host, port)

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.runner = self.loop.run_until_complete(start())
            except BaseException as exc:
                self.error = exc
                self.ready.set()
                return
            self.ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())

        self.thread = threading.Thread(target=main, name="feedhub-serve", daemon=True)
        self.thread.start()
        self.ready.wait()
        if self.error is not None:
            raise FeedhubError(f"cannot serve on {host}:{port}: {self.error}")

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def _start_server(daemon: Daemon, address: tuple[str, int]) -> _ServerThread:
    output_dir = daemon.config.settings.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    log.info("serving %s on http://%s:%d/", output_dir, *address)
    from feedhub.metrics import metrics_routes
    from feedhub.publish import cache_max_ages

    # /metrics and /healthz read the daemon's own store; the config callable
    # follows reloads.
    routes = metrics_routes(lambda: daemon.store, lambda: daemon.config)
    return _ServerThread(output_dir, *address, cache_max_ages(daemon.config), routes)
