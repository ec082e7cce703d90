"""Frozen dataclasses handed from one stage of the data flow to the next.

config -> sources -> fetch -> parse -> normalize -> store -> curate -> generate -> serve

Every datetime here is timezone-aware UTC. Nothing in this module does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

# --- config -------------------------------------------------------------------

RuleField = Literal["title", "content", "author", "category", "link", "source", "language"]
RuleAction = Literal["keep", "drop"]
RuleMatch = Literal["contains", "regex", "equals"]
Format = Literal["atom", "rss", "json"]


@dataclass(frozen=True)
class Keep:
    """Retention: what `feedhub prune` keeps of a source's entries (None: no bound)."""

    days: int | None = None  # entries older than this may go...
    min_entries: int = 0  # ...but the newest N of each source always stay
    max_entries: int | None = None  # and no source keeps more than this


@dataclass(frozen=True)
class Settings:
    database_url: str
    output_dir: Path
    base_url: str
    interval: timedelta = timedelta(hours=1)
    timeout: float = 30.0  # seconds; connect and between-reads bound
    total_timeout: float = 120.0  # seconds; a whole fetch, redirects included
    max_body_bytes: int = 10 * 1024 * 1024  # measured after decompression
    concurrency: int = 32
    per_host: int = 2
    host_delay: float = 0.0  # seconds between two requests to one host
    max_redirects: int = 5
    claim_lease: timedelta = timedelta(minutes=10)  # a killed worker's sources free up after this
    keep: Keep = Keep()  # default retention of every source
    database_timeout: float = 30.0  # seconds to wait for a database another process holds
    title: str = "feedhub"  # used on index pages


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str  # an http(s) URL, or an absolute file path (resolved against feeds.toml)
    tags: tuple[str, ...] = ()
    interval: timedelta | None = None  # None: settings.interval
    interval_explicit: bool = False  # the user wrote `interval` for this source
    enabled: bool = True
    title: str | None = None  # overrides the feed's own title in provenance
    keep: Keep | None = None  # None: settings.keep


@dataclass(frozen=True)
class Rule:
    fields: tuple[RuleField, ...]
    match: RuleMatch
    patterns: tuple[str, ...]
    action: RuleAction


@dataclass(frozen=True)
class OutputConfig:
    name: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    limit: int = 50
    order: Literal["published", "updated"] = "published"
    max_age: timedelta | None = None
    since: datetime | None = None
    dedup: bool = True
    formats: tuple[Format, ...] = ("atom", "rss", "json")
    private_token: str | None = None
    hubs: tuple[str, ...] = ()
    search: str | None = None  # only entries matching this full-text query


@dataclass(frozen=True)
class Config:
    path: Path  # the feeds.toml this was read from
    settings: Settings
    sources: tuple[SourceConfig, ...]
    outputs: tuple[OutputConfig, ...]
    warnings: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        return self.path.parent


# --- fetch --------------------------------------------------------------------


@dataclass(frozen=True)
class FetchRequest:
    source_name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What one fetch attempt produced. Exactly one of body / not_modified / error holds."""

    source_name: str
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int | None  # last HTTP status; None for local files and network errors
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes | None = None
    not_modified: bool = False
    error: str | None = None
    error_kind: str | None = None  # timeout, dns, refused, tls, http, too-large, ...
    # Set when every hop of the redirect chain was 301/308 (RFC 9110 15.4):
    permanent_redirect: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


# --- parse --------------------------------------------------------------------


@dataclass(frozen=True)
class Author:
    name: str | None = None
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class RawText:
    """A text construct as the document gave it, before sanitizing."""

    value: str
    type: str = "text/html"  # text/plain, text/html or application/xhtml+xml
    base: str | None = None  # the base URI in effect (xml:base, else document URL)


@dataclass(frozen=True)
class RawEntry:
    """One entry as read from the document: unsanitized, links possibly relative."""

    id: str | None = None
    link: str | None = None
    title: RawText | None = None
    summary: RawText | None = None
    content: RawText | None = None
    published: datetime | None = None
    updated: datetime | None = None
    authors: tuple[Author, ...] = ()
    categories: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    comments: str | None = None
    guid_is_permalink: bool | None = None
    base: str | None = None  # base URI for link, enclosures, comments
    language: str | None = None
    published_raw: str | None = None  # the date text, for identity hashing


@dataclass(frozen=True)
class FeedMeta:
    title: str | None = None
    link: str | None = None
    subtitle: str | None = None
    id: str | None = None
    language: str | None = None
    ttl_minutes: int | None = None  # RSS <ttl>
    update_period: timedelta | None = None  # sy:updatePeriod / sy:updateFrequency


@dataclass(frozen=True)
class ParsedFeed:
    meta: FeedMeta
    entries: tuple[RawEntry, ...]
    version: str  # e.g. rss20, atom10, rss10, json11
    bozo: str | None = None  # set when the document was recovered from an error
    discovered_feeds: tuple[str, ...] = ()  # an HTML page's rel=alternate feed links


# --- normalize ----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An entry as feedhub keeps it: identity fixed, UTC dates, absolute URLs, safe HTML."""

    key: str  # identity within its source: guid/id, else link, else a hash
    title: str  # plain text
    link: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    authors: tuple[Author, ...] = ()
    categories: tuple[str, ...] = ()
    summary: str | None = None  # sanitized HTML
    content: str | None = None  # sanitized HTML
    enclosures: tuple[Enclosure, ...] = ()
    comments: str | None = None
    language: str | None = None
    guid_is_permalink: bool = False
    content_hash: str = ""
    # Plain text of summary and content for the search index, derived in the
    # parser worker (off the store's critical path); not part of the hash.
    search_text: str | None = None

    def replace(self, **changes: object) -> Entry:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# --- store -> curate -> generate ----------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    """Provenance of a stored entry, for atom:source, RSS <source>, JSON _feedhub."""

    name: str
    url: str  # the feed URL
    title: str | None = None
    link: str | None = None  # the site
    feed_id: str | None = None


@dataclass(frozen=True)
class StoredEntry:
    """An entry read back from the store, with what outputs need around it."""

    id: int  # the row id
    short_id: str  # shown by `feedhub entries`, used by pin/hide
    public_id: str  # the id republished in outputs; never changes
    source: SourceInfo
    entry: Entry
    first_seen: datetime
    changed_at: datetime  # when the entry last changed in feedhub's store

    @property
    def published(self) -> datetime:
        return self.entry.published or self.first_seen

    @property
    def updated(self) -> datetime:
        return self.entry.updated or self.entry.published or self.first_seen


@dataclass(frozen=True)
class Selection:
    """What curate chose for one output, in order."""

    output: OutputConfig
    entries: tuple[StoredEntry, ...]
