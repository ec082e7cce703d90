"""A feedhub database of 1M entries over the farm's sources, for the build scenario.

The schema comes from feedhub itself (Store.open runs the migrations, and
sync_sources writes the sources and their tags); the entries are then bulk
inserted with sqlite3 in one transaction, in feedhub's own column formats (the
same key hashes, public ids, canonical links and normalized titles it would
store), because going through save_fetch a million times would take an hour.

Entries here are shorter than the farm's (one paragraph of content) to keep the
file near 1 GB; output building reads only the newest pages of each output.
The file is cached under bench/.work/, keyed by the parameters and the schema
revision, so only the first run pays for it (about a minute).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from farm import KEYWORDS, FarmSpec, _text, feed_profile

WORK_DIR = Path(__file__).resolve().parent / ".work"
DB_VERSION = 2  # bump when the generated rows change
_COLUMNS = (
    "id", "source_id", "key_hash", "key", "public_id", "short_id", "title", "link",
    "canonical_link", "title_norm", "published", "updated", "first_seen_at", "changed_at",
    "sort_published", "sort_updated", "summary", "content", "authors", "categories",
    "enclosures", "comments", "language", "guid_is_permalink", "content_hash", "duplicate_of",
)  # fmt: skip
# A small share of stories is carried by several sources (wire copy), so dedup has work.
_SHARED_STORY_RATE = 0.02
_SHARED_STORIES = 20_000
_SHARED_PREFIX = "https://wire.example.org/story/"


def database_path(spec: FarmSpec, total: int) -> Path:
    from feedhub.store.schema import SCHEMA_REVISION

    key = f"db-v{DB_VERSION}-r{SCHEMA_REVISION}-n{spec.feeds}-e{total}-s{spec.seed}"
    return WORK_DIR / f"{key}.sqlite"


def ensure_database(spec: FarmSpec, total: int, config_path: Path) -> Path:
    """The cached database for (spec, total); built first if missing. Returns its path.

    `config_path` is a feeds.toml listing the farm's sources (its database_url is
    ignored); their names and tags are what the outputs select on.
    """
    path = database_path(spec, total)
    if path.exists():
        return path
    upgraded = _upgrade_older(path)
    if upgraded is not None:
        return upgraded
    from feedhub.config import load_config
    from feedhub.store import Store

    started = time.perf_counter()
    tmp = path.with_name(path.stem + ".tmp.sqlite")
    # Interrupted builds, and caches of an older schema or generator (~2 GB each), go first.
    version = path.name.split("-")[1:3]
    for leftover in WORK_DIR.glob("db-*.sqlite*"):
        if ".tmp." in leftover.name or leftover.name.split("-")[1:3] != version:
            leftover.unlink()
    tmp.parent.mkdir(parents=True, exist_ok=True)
    config = load_config(config_path)
    with Store.open(f"sqlite:///{tmp}") as store:
        store.sync_sources(config.sources, datetime.now(UTC))
    connection = sqlite3.connect(tmp, isolation_level=None)
    try:
        _fill(connection, spec, total)
    finally:
        connection.close()
    for leftover in tmp.parent.glob(tmp.name + "-*"):
        leftover.unlink()
    tmp.replace(path)
    print(f"  built {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def _upgrade_older(path: Path) -> Path | None:
    """The same rows under an older schema revision, migrated by feedhub as a user's
    database would be and renamed to `path`; None when there is none. Cheaper than
    generating a million rows again for a migration that changes no data."""
    from feedhub.store import Store

    prefix, _, rest = path.name.partition("-r")
    suffix = rest.split("-", 1)[1]
    for older in sorted(WORK_DIR.glob(f"{prefix}-r*-{suffix}")):
        if older == path:
            continue
        print(f"  migrating {older.name} to the current schema", flush=True)
        Store.open(f"sqlite:///{older}").close()
        connection = sqlite3.connect(older)  # fold the WAL in before the file moves
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.close()
        older.replace(path)
        return path
    return None


def _fill(connection: sqlite3.Connection, spec: FarmSpec, total: int) -> None:
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -1500000")  # 1.5 GB: keeps index inserts in memory
    ids = dict(connection.execute("SELECT name, id FROM sources"))
    columns = {row[1]: row for row in connection.execute("PRAGMA table_info(entries)")}
    derived = [name for name in _derived_columns() if name in columns]
    filled = {*_COLUMNS, *derived}
    required = {name for name, row in columns.items() if row[3] and row[4] is None}
    if set(_COLUMNS) - set(columns) or required - filled:
        raise SystemExit(
            "builddb: the entries table changed (missing "
            f"{sorted(set(_COLUMNS) - set(columns))}, unfilled {sorted(required - filled)});"
            " update bench/builddb.py"
        )
    left_empty = sorted(set(columns) - filled)
    if left_empty:
        print(f"  note: entries columns left NULL: {', '.join(left_empty)}", flush=True)
    connection.execute("BEGIN")
    for index in range(spec.feeds):
        feed = feed_profile(spec, index)
        connection.execute(
            "UPDATE sources SET title = ?, link = ?, feed_id = ?, status = 'ok', language = 'en'"
            " WHERE id = ?",
            (feed.title, f"https://{feed.host}/", f"tag:{feed.host},2025:feed", ids[feed.name]),
        )
    names = [*_COLUMNS, *derived]
    placeholders = ", ".join("?" for _ in names)
    insert = f"INSERT INTO entries ({', '.join(names)}) VALUES ({placeholders})"
    batch: list[tuple[Any, ...]] = []
    for row in _rows(spec, total, ids, tuple(derived)):
        batch.append(row)
        if len(batch) >= 20_000:
            connection.executemany(insert, batch)
            batch.clear()
    connection.executemany(insert, batch)
    # feedhub indexes the rows it inserts itself (Store.save_fetches), not by a trigger.
    connection.execute("INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')")
    connection.execute("COMMIT")
    connection.execute("PRAGMA journal_mode = WAL")  # what feedhub sets on every connection


def _identity_helpers() -> tuple[Any, Any, Any]:
    """feedhub's own rules for public ids, canonical links and title keys.

    They have moved between modules as the store was split up; whichever module
    has them now is used, so the rows match what feedhub itself would write.
    """
    import importlib

    found: dict[str, Any] = {}
    for module_name in ("feedhub.store.rows", "feedhub.store.store"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for wanted, names in (
            ("public_id", ("public_id_for",)),
            ("link", ("canonical_link",)),
            ("title", ("title_key", "normalized_title")),
        ):
            for name in names:
                if wanted not in found and hasattr(module, name):
                    found[wanted] = getattr(module, name)
    missing = {"public_id", "link", "title"} - set(found)
    if missing:
        raise SystemExit(f"builddb: feedhub no longer exposes {sorted(missing)}; update bench")
    return found["public_id"], found["link"], found["title"]


def _derived_columns() -> dict[str, Any]:
    """Columns added since this file was written that feedhub derives from an entry.

    Each maps to fn(summary, content); a column feedhub has, but neither this
    table nor _COLUMNS knows, is left NULL (and named when the database is built).
    """
    derived: dict[str, Any] = {}
    try:
        from feedhub.searchtext import search_text

        derived["search_text"] = search_text
    except ImportError:
        pass
    return derived


def _source_rows(job: tuple[FarmSpec, int, int, int, tuple[str, ...]]) -> list[tuple[Any, ...]]:
    """The rows of one source, oldest first: id and duplicate_of are set in order later."""
    spec, index, count, source_id, derived = job
    public_id_for, canonical_link, title_key = _identity_helpers()
    derive = [_derived_columns()[name] for name in derived]
    text = _text(spec.seed)
    feed = feed_profile(spec, index)
    rng = random.Random(f"db:{spec.seed}:{index}")
    authors = [
        json.dumps([{"name": name, "email": email, "uri": None}]) for name, email in feed.authors
    ]
    atom = feed.kind == "atom"
    rows = []
    carried: set[int] = set()  # a source carries a wire story once
    # Oldest first, so the (source_id, sort_published) index is appended to.
    oldest = feed.newest - feed.step * (count - 1)
    for number in range(count):
        published = oldest + feed.step * number
        story = rng.randrange(_SHARED_STORIES) if rng.random() < _SHARED_STORY_RATE else -1
        if story >= 0 and story not in carried:
            carried.add(story)
            title = text.title(random.Random(f"db-shared:{spec.seed}:{story}"))
            link = f"{_SHARED_PREFIX}{story}"
        else:
            title = text.title(rng)
            slug = "-".join(title.lower().split()[:6])
            link = f"https://{feed.host}/{published:%Y/%m}/{slug}-{number}"
        key = f"tag:{feed.host},2025:entry-{number}" if atom else link
        public_id = public_id_for(feed.name, key)
        content = f"<p>{' '.join(rng.choices(text.sentences, k=rng.randint(1, 3)))}</p>"
        # SQLAlchemy stores DateTime in SQLite as naive UTC "YYYY-MM-DD HH:MM:SS.ffffff".
        stamp = published.replace(tzinfo=None).isoformat(" ") + ".000000"
        sort_updated = stamp
        updated = None
        if atom:
            moment = published + timedelta(minutes=rng.choice((0, 0, 0, 5, 90)))
            updated = sort_updated = moment.replace(tzinfo=None).isoformat(" ") + ".000000"
        enclosures = "[]"
        if rng.random() < 0.1:
            enclosures = json.dumps(
                [{"url": f"https://media.{feed.host}/{number}.mp3", "type": "audio/mpeg",
                  "length": rng.randint(10**5, 10**8)}]
            )  # fmt: skip
        summary = rng.choice(text.sentences)
        rows.append(
            (
                source_id,
                hashlib.sha256(key.encode()).hexdigest(),
                key,
                public_id,
                hashlib.sha256(public_id.encode()).hexdigest()[:12],
                title,
                link,
                canonical_link(link),
                title_key(title),
                stamp,
                updated,
                stamp,
                stamp,
                stamp,
                sort_updated,
                summary,
                content,
                rng.choice(authors),
                json.dumps([rng.choice(feed.tags), rng.choice(KEYWORDS)]),
                enclosures,
                None,
                "en",
                0 if atom else 1,
                hashlib.sha256(content.encode()).hexdigest(),
                *(fn(summary, content) for fn in derive),
            )
        )
    return rows


def _rows(
    spec: FarmSpec, total: int, ids: dict[str, int], derived: tuple[str, ...]
) -> Iterator[tuple[Any, ...]]:
    """Every row, in id order; sources are generated in worker processes, in order."""
    _identity_helpers()  # fail early, before forking
    per_source, extra = divmod(total, spec.feeds)
    jobs = [
        (spec, i, per_source + (1 if i < extra else 0), ids[feed_profile(spec, i).name], derived)
        for i in range(spec.feeds)
    ]
    first_copy: dict[str, int] = {}  # shared link -> id of its first stored copy
    row_id = 0  # the table starts empty, so ids are 1, 2, 3... in insertion order
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        for rows in pool.imap(_source_rows, jobs, chunksize=4):
            for row in rows:
                row_id += 1
                duplicate_of = None
                link = row[6]
                if link.startswith(_SHARED_PREFIX):
                    # As the store marks them: later copies point at the first one stored.
                    first = first_copy.setdefault(link, row_id)
                    duplicate_of = first if first != row_id else None
                fixed = len(_COLUMNS) - 2  # all but id and duplicate_of
                yield (row_id, *row[:fixed], duplicate_of, *row[fixed:])
