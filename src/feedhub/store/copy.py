"""Move a whole database to another backend (SQLite -> PostgreSQL), losing nothing."""

from __future__ import annotations

from sqlalchemy import func, select, text

from feedhub.errors import StoreError
from feedhub.store.engine import write_transaction
from feedhub.store.schema import metadata
from feedhub.store.search import rebuild_index
from feedhub.store.store import Store

BATCH = 2000


def copy_database(from_url: str, to_url: str) -> dict[str, int]:
    """Copy every table, row ids included, into an empty database; returns rows per table.

    Ids are kept so entry ids, curation and duplicate links stay valid; tables
    go in dependency order and rows in id order (a duplicate always points at
    an earlier entry). Counts are compared at the end.
    """
    source = Store.open(from_url)
    target = Store.open(to_url)
    try:
        with target.engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(metadata.tables["sources"])).scalar():
                raise StoreError(
                    f"{_safe(to_url)} already has sources; copy-db needs an empty database"
                )
        copied: dict[str, int] = {}
        with source.engine.connect() as reader, write_transaction(target.engine) as writer:
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns)
                count = 0
                result = reader.execution_options(yield_per=BATCH).execute(
                    select(table).order_by(*order)
                )
                for rows in result.partitions():
                    writer.execute(table.insert(), [dict(r._mapping) for r in rows])
                    count += len(rows)
                copied[table.name] = count
            rebuild_index(writer)  # rows copied in bulk skip the per-batch indexing
            if writer.dialect.name == "postgresql":
                for table in metadata.sorted_tables:
                    if (
                        "id" in table.c
                        and table.c.id.autoincrement is not False
                        and table.c.id.primary_key
                    ):
                        writer.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        ))  # fmt: skip
        with target.engine.connect() as conn:
            for name, count in copied.items():
                found = conn.execute(
                    select(func.count()).select_from(metadata.tables[name])
                ).scalar()
                if found != count:
                    raise StoreError(f"copy-db: {name} has {found} rows, expected {count}")
        return copied
    finally:
        source.close()
        target.close()


def _safe(url: str) -> str:
    """A URL fit for messages: no password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
