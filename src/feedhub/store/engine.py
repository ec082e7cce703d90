"""Open a database: engine settings per backend, and schema migrations.

Alembic is imported only when the schema is behind, so short commands on an
up-to-date database start fast.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from feedhub.errors import DatabaseBusy, StoreError
from feedhub.store.schema import SCHEMA_REVISION

MIGRATIONS = Path(__file__).with_name("migrations")
# How long a writer waits for another process's lock before the run fails
# cleanly (issue 6); WAL makes readers never wait for writers.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database_url {url!r} is not a database URL: {exc}") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"no driver for {parsed.drivername!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine, busy_timeout_ms)
    return engine


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling issues BEGIN lazily and never for
        # SELECT, which breaks "one transaction per source"; let SQLAlchemy's
        # begin event emit BEGIN instead (the documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across process crashes in WAL mode, and 2x faster
        # than FULL; only an OS crash can lose the last transactions.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Checkpoint every 64 MiB of WAL instead of 4 MiB: a cold fetch writes tens
        # of MiB, and each checkpoint syncs the database file (bench/: -10%).
        cursor.execute("PRAGMA wal_autocheckpoint = 16384")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write transaction takes the write lock up front (IMMEDIATE), so a busy
        # database is waited for (busy_timeout) at BEGIN instead of failing
        # mid-transaction. Reads stay DEFERRED: in WAL mode they never wait for
        # writers nor block them, so a scrape or `feedhub sources` runs freely.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


WRITE_OPTION = "feedhub_write"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """engine.begin() for writes: on SQLite it takes the write lock at BEGIN."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            yield connection


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is already there."""
    try:
        if revision == "head" and current_revision(engine) == SCHEMA_REVISION:
            return
        from alembic import command

        with write_transaction(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise StoreError(f"cannot open the database: {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed: {exc}") from None


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class wrapped:
    """Turns SQLAlchemy errors into StoreError at the boundary, with the cause."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def __enter__(self) -> Connection:
        try:
            return self.context.__enter__()  # type: ignore[no-any-return]
        except SQLAlchemyError as exc:
            raise store_error(exc) from exc

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.context.__exit__(*exc_info)
        except SQLAlchemyError as exc:
            raise store_error(exc) from exc
        if exc_info[1] is not None and isinstance(exc_info[1], SQLAlchemyError):
            raise store_error(exc_info[1]) from exc_info[1]


def store_error(exc: SQLAlchemyError) -> StoreError:
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig):
        return DatabaseBusy("the database is locked by another process (waited, gave up)")
    return StoreError(f"database error: {getattr(exc, 'orig', None) or exc}")


@contextmanager
def exclusive_lock(engine: Engine, name: str, *, timeout: float = 300.0) -> Iterator[None]:
    """Hold a cluster-wide lock (output generation runs in one place at a time).

    PostgreSQL: a session advisory lock, which the server frees if the
    holder dies. SQLite: an flock on a file beside the database, which the
    kernel frees likewise; SQLite databases are single-machine anyway.
    """
    deadline = time.monotonic() + timeout
    if engine.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with wrapped(engine.connect()) as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() > deadline:
                    raise StoreError(f"another worker holds the {name} lock; gave up")
                time.sleep(0.05)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.{name}.lock", "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"another process holds the {name} lock; gave up") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def vacuum(engine: Engine) -> None:
    """Give freed pages back (SQLite VACUUM; PostgreSQL VACUUM ANALYZE), outside any
    transaction as both require."""
    try:
        if engine.dialect.name == "sqlite":
            # The raw connection is in autocommit mode (isolation_level None) and
            # skips the BEGIN IMMEDIATE our begin hook would issue.
            raw = engine.raw_connection()
            try:
                raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
            finally:
                raw.close()
            return
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM (ANALYZE) entries")
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise StoreError(f"vacuum failed: {exc}") from exc
