"""The tables, in portable SQLAlchemy types so one schema serves SQLite and PostgreSQL.

Migrations in store/migrations/versions must produce exactly this
(tests/test_store.py compares them), so an existing database is upgraded in
place, never recreated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

SCHEMA_REVISION = "0007"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend stores.

    SQLite has no time zones; storing naive UTC and re-attaching UTC on read
    keeps comparisons and ordering correct on both backends.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", Text, nullable=False),  # where feedhub fetches now (moves on 301/308)
    Column("config_url", Text, nullable=False),  # as written in feeds.toml
    Column("enabled", Boolean, nullable=False, default=True),
    Column("title", Text),
    Column("link", Text),
    Column("feed_id", Text),
    Column("subtitle", Text),
    Column("language", String(35)),
    Column("status", String(20), nullable=False, default="new"),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("parser", String(20)),
    Column("last_fetch_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("next_fetch_at", UTCDateTime, index=True),
    Column("consecutive_errors", Integer, nullable=False, default=0),
    Column("first_error_at", UTCDateTime),
    Column("last_http_status", Integer),
    Column("last_error", Text),
    Column("warning", Text),
    Column("interval_reason", String(30)),
    Column("last_fetch_seconds", Float),  # duration of the last attempt, for metrics
    Column("hints", JSON),
    Column("redirect_target", Text),
    Column("redirect_count", Integer, nullable=False, default=0),
    Column("redirect_first_seen", UTCDateTime),
    Column("claimed_by", String(100)),
    Column("claim_expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

# Tags live in their own table so an output's selection is an indexed join,
# never a LIKE over a text column (issue 5 measured up to 210 ms at 1M rows).
source_tags = Table(
    "source_tags",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("tag", String(200), nullable=False, index=True),
    PrimaryKeyConstraint("source_id", "tag"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    # Keys can be long URLs; PostgreSQL btree entries are limited to ~2.7 kB, so
    # uniqueness is on a fixed-size hash and the key itself is kept beside it.
    Column("key_hash", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("public_id", Text, nullable=False),
    Column("short_id", String(16), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("link", Text),
    Column("canonical_link", Text),
    Column("title_norm", Text),
    Column("published", UTCDateTime),
    Column("updated", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("sort_published", UTCDateTime, nullable=False),
    Column("sort_updated", UTCDateTime, nullable=False),
    Column("summary", Text),
    Column("content", Text),
    # Plain text of summary and content, for full-text search (store/search.py).
    Column("search_text", Text),
    Column("authors", JSON),
    Column("categories", JSON),
    Column("enclosures", JSON),
    Column("comments", Text),
    Column("language", String(35)),
    Column("guid_is_permalink", Boolean, nullable=False, default=False),
    Column("content_hash", String(64), nullable=False),
    Column("duplicate_of", Integer, ForeignKey("entries.id", ondelete="SET NULL")),
    UniqueConstraint("source_id", "key_hash"),
    Index("ix_entries_source_sort_published", "source_id", "sort_published"),
    Index("ix_entries_source_sort_updated", "source_id", "sort_updated"),
    # Date first, source second: an output walks these newest first and tests the
    # source from the index alone, without touching the row (see iter_entries).
    Index("ix_entries_sort_published", "sort_published", "source_id"),
    Index("ix_entries_sort_updated", "sort_updated", "source_id"),
    Index("ix_entries_canonical_link", "canonical_link"),
    Index("ix_entries_key_hash", "key_hash"),  # the same guid from another source
    Index("ix_entries_title_norm", "title_norm"),
    # Copies of an original are found by it when dedup or retention rewrites them.
    Index("ix_entries_duplicate_of", "duplicate_of"),
)

# Manual curation, by output; output "*" hides an entry everywhere.
curation = Table(
    "curation",
    metadata,
    Column("output", String(200), nullable=False),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(10), nullable=False),  # pin, hide
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("output", "entry_id", "action"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("fetched", Integer, nullable=False, default=0),
    Column("not_modified", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("entries_new", Integer, nullable=False, default=0),
    Column("entries_updated", Integer, nullable=False, default=0),
    Column("outputs_written", Integer, nullable=False, default=0),
    Column("build_seconds", Float),
)

# Entries removed by retention leave their identity behind, so a feed that
# still lists them never brings them back (issue 8).
tombstones = Table(
    "tombstones",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("removed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("source_id", "key_hash"),
)


# Full-text search objects that migration 0004 creates per backend, outside
# `metadata` because SQLAlchemy cannot declare them portably: the FTS5 table
# entries_fts and its shadow tables (entries_fts_data, _idx, ...) on SQLite;
# the generated column entries.search_vector and its GIN index on PostgreSQL.
_EXTERNAL_NAMES = frozenset({"search_vector", "ix_entries_search_vector"})


def is_external_object(name: str | None) -> bool:
    """True for a database object the migrations made beyond `metadata` on purpose."""
    return name is not None and (name.startswith("entries_fts") or name in _EXTERNAL_NAMES)


def include_name(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic's include_name hook: compare (and autogenerate) only what `metadata`
    declares, so the search objects are never seen as stray and dropped."""
    return not is_external_object(name)
