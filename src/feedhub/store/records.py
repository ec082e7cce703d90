"""The records Store reads and writes sources with, and the filter it reads entries by.

Frozen dataclasses, apart from Store so the class reads as what feedhub asks
of its database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedhub.models import Entry, SourceInfo


@dataclass(frozen=True)
class SourceRow:
    id: int
    name: str
    url: str
    config_url: str
    enabled: bool
    status: str
    title: str | None = None
    link: str | None = None
    feed_id: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    next_fetch_at: datetime | None = None
    consecutive_errors: int = 0
    first_error_at: datetime | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    warning: str | None = None
    interval_reason: str | None = None
    hints: Mapping[str, Any] = field(default_factory=dict)
    redirect_target: str | None = None
    redirect_count: int = 0
    redirect_first_seen: datetime | None = None
    last_fetch_seconds: float | None = None
    tags: tuple[str, ...] = ()
    entry_count: int = 0
    parser: str | None = None  # which reader read it last, e.g. "rss20" or "rss20+fast"

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(self.name, self.url, self.title, self.link, self.feed_id)


@dataclass(frozen=True)
class SourceUpdate:
    """Everything one fetch attempt changes on a source's row (None: leave as is)."""

    status: str
    last_fetch_at: datetime
    next_fetch_at: datetime | None
    consecutive_errors: int
    first_error_at: datetime | None
    last_http_status: int | None
    last_error: str | None
    interval_reason: str
    hints: Mapping[str, Any]
    redirect_target: str | None
    redirect_count: int
    redirect_first_seen: datetime | None
    warning: str | None = None
    last_success_at: datetime | None = None
    url: str | None = None  # a permanent move
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    title: str | None = None
    link: str | None = None
    feed_id: str | None = None
    subtitle: str | None = None
    language: str | None = None
    parser: str | None = None
    last_fetch_seconds: float | None = None


@dataclass(frozen=True)
class Attempt:
    """One fetch attempt to record: the source's new state and the entries it read."""

    source: SourceRow
    change: SourceUpdate
    entries: Sequence[Entry]
    now: datetime  # first seen / changed time of the entries it stores


@dataclass(frozen=True)
class EntryFilter:
    source_ids: tuple[int, ...] | None = None  # None: every source
    order: str = "published"
    since: datetime | None = None
    # Hide copies of stories whose original comes from one of these sources
    # (an output's own sources, when it deduplicates).
    hide_copies_of: tuple[int, ...] = ()
    search: str | None = None  # a full-text query the entries must match
