"""What `feedhub prune` removes: a pure decision per source.

Entries are candidates newest first. The newest `min` always stay; beyond
them an entry goes when it is older than `days` or past the `max` newest.
Pinned entries and entries an output currently shows never go, whatever the
rule, so pruning never changes a published feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from feedhub.models import Keep


def entries_to_remove(
    newest_first: Sequence[tuple[int, datetime]],
    keep: Keep,
    *,
    now: datetime,
    protected: set[int] | frozenset[int] = frozenset(),
) -> list[int]:
    """Row ids to remove from one source's (id, date) list, newest first."""
    oldest = now - timedelta(days=keep.days) if keep.days is not None else None
    remove = []
    for position, (row_id, when) in enumerate(newest_first):
        if position < keep.min_entries or row_id in protected:
            continue
        too_old = oldest is not None and when < oldest
        too_many = keep.max_entries is not None and position >= keep.max_entries
        if too_old or too_many:
            remove.append(row_id)
    return remove


def worth_vacuuming(removed: int, remaining: int) -> bool:
    """Reclaim disk when a prune freed a real share of the table (SQLite VACUUM
    rewrites the whole file, so not for a handful of rows)."""
    return removed >= 10_000 or (removed > 0 and removed >= 0.2 * (removed + remaining))
