"""All SQL of feedhub lives behind this package: Store is its one door."""

from feedhub.store.rows import public_id_for
from feedhub.store.store import EntryFilter, SourceRow, SourceUpdate, Store

__all__ = ["EntryFilter", "SourceRow", "SourceUpdate", "Store", "public_id_for"]
