"""Reading entries back for outputs: the SELECT, its keyset pages, and rows to StoredEntry.

A build reads a few thousand entries a run, so what each row costs in Python
matters more than the SQL (bench/, 1M entries: ~2 ms of SQLite per output,
~40 µs of Python per row through SQLAlchemy's type processors). Columns are
therefore read as the driver returns them and converted here, once, by the
same rules the column types apply (schema.UTCDateTime, JSON, Boolean).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.types import NullType

from feedhub.models import Author, Enclosure, Entry, SourceInfo, StoredEntry
from feedhub.store.records import EntryFilter
from feedhub.store.schema import entries, sources

_T = TypeVar("_T")

# From two sources on, walking the (date, source) index beats merging per-source
# indexes; one source is served in order by its own (source, date) index.
MANY_SOURCES = 2
# Pages grow up to this many rows, so an output whose rules reject most entries
# reads on in few queries.
MAX_PAGE = 2000

_RAW = NullType()  # no result processing: the driver's value, converted below
# What an entry read needs, in the order _Reader.stored() unpacks it: not the search index's
# plain text (up to 50k characters a row), nor the dedup keys only the database uses.
_COLUMNS = (
    entries.c.id,
    entries.c.short_id,
    entries.c.public_id,
    entries.c.key,
    entries.c.title,
    entries.c.link,
    type_coerce(entries.c.published, _RAW).label("published"),
    type_coerce(entries.c.updated, _RAW).label("updated"),
    type_coerce(entries.c.first_seen_at, _RAW).label("first_seen_at"),
    type_coerce(entries.c.changed_at, _RAW).label("changed_at"),
    type_coerce(entries.c.sort_published, _RAW).label("sort_published"),
    type_coerce(entries.c.sort_updated, _RAW).label("sort_updated"),
    entries.c.summary,
    entries.c.content,
    type_coerce(entries.c.authors, _RAW).label("authors"),
    type_coerce(entries.c.categories, _RAW).label("categories"),
    type_coerce(entries.c.enclosures, _RAW).label("enclosures"),
    entries.c.comments,
    entries.c.language,
    type_coerce(entries.c.guid_is_permalink, _RAW).label("guid_is_permalink"),
    entries.c.content_hash,
    sources.c.name.label("source_name"),
    sources.c.url.label("source_url"),
    sources.c.title.label("source_title"),
    sources.c.link.label("source_link"),
    sources.c.feed_id.label("source_feed_id"),
)
_SORT_PUBLISHED, _SORT_UPDATED = 10, 11  # positions in _COLUMNS


def entry_select() -> Any:
    """SELECT of entries with their source's provenance, as _Reader.stored() reads it."""
    return select(*_COLUMNS).join(sources, sources.c.id == entries.c.source_id)


def iter_entries(
    connect: Callable[[], Any], dialect: str, flt: EntryFilter, *, batch: int
) -> Iterator[StoredEntry]:
    """Entries newest first, in keyset pages of `batch` rows, then growing."""
    sort = entries.c.sort_updated if flt.order == "updated" else entries.c.sort_published
    position = _SORT_UPDATED if flt.order == "updated" else _SORT_PUBLISHED
    query = entry_select().order_by(sort.desc(), entries.c.id.desc())
    if flt.source_ids is not None:
        if not flt.source_ids:
            return
        if len(flt.source_ids) >= MANY_SOURCES:
            # "source_id + 0" keeps the planner off the per-source index, so it
            # walks the date index newest first and stops at the page size. Left
            # to itself SQLite reads every entry of every selected source and
            # sorts them: 1.4 s instead of 2 ms for 500 sources at 1M entries
            # (bench/). A few sources are best served by the per-source index.
            query = query.where((entries.c.source_id + 0).in_(flt.source_ids))
        else:
            query = query.where(entries.c.source_id.in_(flt.source_ids))
    if flt.since is not None:
        query = query.where(sort >= flt.since)
    if flt.search:
        from feedhub.store.search import entry_matches

        query = query.where(entry_matches(dialect, flt.search))
    if flt.hide_copies_of:
        original = entries.alias("original")
        query = query.outerjoin(original, original.c.id == entries.c.duplicate_of).where(
            or_(original.c.id.is_(None), original.c.source_id.not_in(flt.hide_copies_of))
        )
    reader = _Reader()
    last: tuple[datetime, int] | None = None
    size = max(1, batch)
    while True:
        page_query = query.limit(size)
        if last is not None:
            # The redundant `sort <= last` gives the planner a range to seek to; from
            # the OR alone SQLite walks the index from the newest entry again on every
            # page, 115 ms instead of 5 for a page deep into 1M entries (bench/).
            page_query = page_query.where(
                sort <= last[0],
                or_(sort < last[0], and_(sort == last[0], entries.c.id < last[1])),
            )
        count, row = 0, None
        with connect() as conn:
            # Row by row: SQLite steps only as far as curate reads, so the rest of a
            # page an output does not need is never read from disk.
            for row in conn.execute(page_query):
                count += 1
                yield reader.stored(row)
        reader.forget()
        if count < size or row is None:
            return
        moment = _moment(row[position])
        assert moment is not None  # sort columns are NOT NULL
        last = (moment, row[0])
        size = min(MAX_PAGE, size * 4)


def entries_by_ids(conn: Connection, ids: Sequence[int]) -> list[StoredEntry]:
    reader = _Reader()
    found: dict[int, StoredEntry] = {}
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        query = entry_select().where(entries.c.id.in_(list(ids[start : start + 500])))
        found.update((row[0], reader.stored(row)) for row in conn.execute(query))
    return [found[i] for i in ids if i in found]


def _moment(value: Any) -> datetime | None:
    """schema.UTCDateTime's reading: SQLite gives text, PostgreSQL naive UTC datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        try:  # naive UTC text, as SQLAlchemy writes it; 5x faster than .replace(tzinfo=)
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            value = datetime.fromisoformat(value)  # text with an offset of its own
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Reader:
    """Rows to StoredEntry. Sources, author lists and the like repeat from row to row,
    so each distinct one is built once (per page: a long read stays in bounded memory).
    JSON columns come as text from SQLite and decoded from PostgreSQL's driver."""

    def __init__(self) -> None:
        self.sources: dict[tuple[Any, ...], SourceInfo] = {}
        self.authors: dict[str, tuple[Author, ...]] = {}
        self.categories: dict[str, tuple[str, ...]] = {}
        self.enclosures: dict[str, tuple[Enclosure, ...]] = {}

    def forget(self) -> None:
        for cache in (self.sources, self.authors, self.categories, self.enclosures):
            cache.clear()

    def stored(self, row: Sequence[Any]) -> StoredEntry:
        (row_id, short_id, public_id, key, title, link, published, updated, first_seen,
         changed_at, _, _, summary, content, authors, categories, enclosures, comments,
         language, permalink, content_hash, *provenance) = row  # fmt: skip
        source_key = tuple(provenance)
        source = self.sources.get(source_key)
        if source is None:
            source = self.sources[source_key] = SourceInfo(*provenance)
        entry = Entry(
            key=key,
            title=title,
            link=link,
            published=_moment(published),
            updated=_moment(updated),
            authors=self._authors(authors),
            categories=self._categories(categories),
            summary=summary,
            content=content,
            enclosures=self._enclosures(enclosures),
            comments=comments,
            language=language,
            guid_is_permalink=bool(permalink),
            content_hash=content_hash,
        )
        first = _moment(first_seen)
        changed = _moment(changed_at)
        assert first is not None and changed is not None  # NOT NULL columns
        return StoredEntry(row_id, short_id, public_id, source, entry, first, changed)

    def _authors(self, value: Any) -> tuple[Author, ...]:
        return _decoded(self.authors, value, lambda items: tuple(Author(**a) for a in items))

    def _categories(self, value: Any) -> tuple[str, ...]:
        return _decoded(self.categories, value, tuple)

    def _enclosures(self, value: Any) -> tuple[Enclosure, ...]:
        return _decoded(self.enclosures, value, lambda items: tuple(Enclosure(**e) for e in items))


def _decoded(cache: dict[str, _T], value: Any, build: Callable[[list[Any]], _T]) -> _T:
    """A JSON column's value as built by `build`, once per distinct text: the driver
    returns text (SQLite) or decoded lists (PostgreSQL), and most rows repeat a few
    author and category lists."""
    if not isinstance(value, str):
        return build(value or [])
    found = cache.get(value)
    if found is None:
        found = cache[value] = build(json.loads(value) or [])
    return found
