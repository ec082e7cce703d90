"""All SQL of feedhub lives behind this package: Store is its one door."""

from feedhub.store.records import Attempt, EntryFilter, SourceRow, SourceUpdate
from feedhub.store.rows import public_id_for
from feedhub.store.store import Store

__all__ = ["Attempt", "EntryFilter", "SourceRow", "SourceUpdate", "Store", "public_id_for"]
