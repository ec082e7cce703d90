"""Row <-> dataclass conversions and the identity rules of stored entries.

Kept apart from Store so the class reads as the list of what feedhub asks of
its database, and these rules can be tested without one.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Row, Table, insert, or_, select, update
from sqlalchemy.engine import Connection

from feedhub.curate import TITLE_WINDOW, canonical_url, dedup_title
from feedhub.models import Entry
from feedhub.searchtext import search_text
from feedhub.store.schema import entries

if TYPE_CHECKING:
    from feedhub.store.records import SourceRow

# Namespace of the UUIDv5 ids feedhub derives for entries whose own id is not
# an absolute IRI (RFC 4287 4.2.6 requires one); fixed forever.
ENTRY_NAMESPACE = uuid.UUID("5d0f5c4e-6f1c-4a5e-9a59-0c3f3c1f7e21")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def public_id_for(source_name: str, key: str) -> str:
    """The id an entry is republished under: its own when it is a usable absolute IRI."""
    if _SCHEME.match(key) and not re.search(r"[\s<>\"{}|\\^`]", key):
        scheme = key.split(":", 1)[0].lower()
        has_host = scheme not in ("http", "https") or bool(urlsplit(key).hostname)
        if has_host and scheme not in ("javascript", "data", "sha256"):
            return key
    return "urn:uuid:" + str(uuid.uuid5(ENTRY_NAMESPACE, f"{source_name}\n{key}"))


def short_id_for(public_id: str) -> str:
    return hashlib.sha256(public_id.encode()).hexdigest()[:12]


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def insert_ignoring(conn: Connection, table: Table, keys: list[str]) -> Any:
    """INSERT that skips rows whose unique `keys` another writer stored first."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)
    return insert(table)


def insert_ignoring_conflicts(conn: Connection) -> Any:
    """Entry INSERT that skips rows another writer stored first (issue 7: idempotent
    upserts when a source is claimed again after a lease expired)."""
    return insert_ignoring(conn, entries, ["source_id", "key_hash"])


def insert_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """INSERT entry rows (entry_values), skipping any another writer stored first.

    On SQLite the rows go straight to the driver, in the formats SQLAlchemy's own
    types write (DATETIME text, JSON text): its per-row bind processing cost
    more than SQLite's insert itself on a cold fetch (bench/). PostgreSQL keeps
    the Core statement, whose types psycopg needs.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(insert_ignoring_conflicts(conn), rows)
        return
    names = list(rows[0])
    converters = [_SQLITE_CONVERTERS.get(name) for name in names]
    statement = (
        f"INSERT INTO entries ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        " ON CONFLICT (source_id, key_hash) DO NOTHING"
    )
    conn.exec_driver_sql(
        statement,
        [
            tuple(
                value if value is None or convert is None else convert(value)
                for value, convert in zip(row.values(), converters, strict=True)
            )
            for row in rows
        ],
    )


def _sqlite_datetime(value: datetime) -> str:
    # What UTCDateTime (naive UTC) then SQLite's DATETIME type store: microseconds always.
    if value.tzinfo is UTC:  # normalize's dates: one call, not three (150,000 per cold fetch)
        return value.isoformat(" ", "microseconds")[:26]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_text(value: object) -> str:
    return json.dumps(value)


_DATETIME_COLUMNS = (
    *("published", "updated", "first_seen_at", "changed_at", "sort_published", "sort_updated"),
)
_SQLITE_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_DATETIME_COLUMNS, _sqlite_datetime),
    **dict.fromkeys(("authors", "categories", "enclosures"), _json_text),
    "guid_is_permalink": int,
}


# Index keys stay well under PostgreSQL's btree row limit (~2.7 kB); a longer
# link or title simply takes no part in dedup.
MAX_DEDUP_KEY = 1000


def canonical_link(link: str | None) -> str | None:
    canonical = canonical_url(link) if link else None
    return canonical if canonical and len(canonical) <= MAX_DEDUP_KEY else None


def title_key(title: str) -> str | None:
    key = dedup_title(title)
    return key if key and len(key) <= MAX_DEDUP_KEY else None


def entry_values(
    source_name: str, source_id: int, digest: str, entry: Entry, first_seen: datetime, now: datetime
) -> dict[str, Any]:
    public_id = public_id_for(source_name, entry.key)
    published = entry.published or first_seen
    return {
        "source_id": source_id,
        "key_hash": digest,
        "key": entry.key,
        "public_id": public_id,
        "short_id": short_id_for(public_id),
        "title": entry.title,
        "link": entry.link,
        "canonical_link": canonical_link(entry.link),
        "title_norm": title_key(entry.title),
        "published": entry.published,
        "updated": entry.updated,
        "first_seen_at": first_seen,
        "changed_at": now,
        "sort_published": published,
        "sort_updated": entry.updated or published,
        "summary": entry.summary,
        "content": entry.content,
        "search_text": entry.search_text
        if entry.search_text is not None
        else search_text(entry.summary, entry.content),
        "authors": [vars(a) for a in entry.authors],
        "categories": list(entry.categories),
        "enclosures": [vars(e) for e in entry.enclosures],
        "comments": entry.comments,
        "language": entry.language,
        "guid_is_permalink": entry.guid_is_permalink,
        "content_hash": entry.content_hash,
    }


def source_row(row: Row[Any], tags: tuple[str, ...]) -> SourceRow:
    from feedhub.store.records import SourceRow

    data = dict(row._mapping)
    data["hints"] = data.get("hints") or {}
    return SourceRow(tags=tags, **data)


def mark_duplicates(conn: Connection, source_id: int, inserted: list[dict[str, Any]]) -> int:
    """Record new entries that repeat a story already stored from another source.

    Same public id, same canonical link, or the same (long enough) title
    within 48 h: the earliest copy stays the original and every later copy
    points at it (issue 4). Queries on indexed columns only.
    """
    # Ids that are the entry's own (not derived per source) are their key,
    # so the same guid from another source has the same key hash.
    ids = {v["key_hash"] for v in inserted if v["public_id"] == v["key"]}
    links = {v["canonical_link"] for v in inserted if v["canonical_link"]}
    titles = {v["title_norm"] for v in inserted if v["title_norm"]}
    # One query per round of up to 300 values of each kind, the three tests OR-ed
    # (SQLite answers each from its own index): three queries per source cost a
    # cold fetch of the farm ~0.5 s, almost all of them finding nothing (bench/).
    wanted = [("key_hash", sorted(ids)), ("canonical_link", sorted(links)),
              ("title_norm", sorted(titles))]  # fmt: skip
    found: list[Any] = []
    for start in range(0, max(len(values) for _, values in wanted), 300):
        tests = [
            entries.c[field].in_(values[start : start + 300])
            for field, values in wanted
            if values[start : start + 300]
        ]
        found += conn.execute(
            select(entries.c.id, entries.c.key_hash, entries.c.public_id,
                   entries.c.canonical_link, entries.c.title_norm, entries.c.sort_published,
                   entries.c.duplicate_of)
            .where(entries.c.source_id != source_id, or_(*tests))
        ).all()  # fmt: skip
    if not found:
        return 0
    stored = {
        r.key_hash: (r.id, r.sort_published)
        for r in conn.execute(
            select(entries.c.id, entries.c.key_hash, entries.c.sort_published).where(
                entries.c.source_id == source_id,
                entries.c.key_hash.in_([v["key_hash"] for v in inserted]),
            )
        )
    }
    roots: dict[int, datetime] = {}  # original id -> its date
    root_ids = {r.duplicate_of or r.id for r in found}
    for start in range(0, len(root_ids), 400):
        chunk = sorted(root_ids)[start : start + 400]
        for row in conn.execute(
            select(entries.c.id, entries.c.sort_published).where(entries.c.id.in_(chunk))
        ):
            roots[row.id] = row.sort_published
    marked = 0
    for new in inserted:
        if new["key_hash"] not in stored:
            continue  # another writer stored it first; its own run marks it
        matches = {
            r.duplicate_of or r.id
            for r in found
            if (r.key_hash == new["key_hash"] and r.public_id == new["public_id"])
            or (new["canonical_link"] and r.canonical_link == new["canonical_link"])
            or (
                new["title_norm"]
                and r.title_norm == new["title_norm"]
                and abs(r.sort_published - new["sort_published"]) <= TITLE_WINDOW
            )
        }
        if not matches:
            continue
        # The earliest published copy is the original, whichever was stored
        # first, so sources fetched in any order give the same output.
        group = {i: roots[i] for i in matches if i in roots}
        group[stored[new["key_hash"]][0]] = stored[new["key_hash"]][1]
        winner = min(group, key=lambda i: (group[i], i))
        losers = [i for i in group if i != winner]
        conn.execute(
            update(entries)
            .where(or_(entries.c.id.in_(losers), entries.c.duplicate_of.in_(losers)))
            .values(duplicate_of=winner)
        )
        roots = {i: d for i, d in roots.items() if i not in losers}
        roots[winner] = group[winner]
        marked += 1
    return marked
