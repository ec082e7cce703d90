"""The one exception tree of feedhub.

Foreign exceptions (aiohttp, feedparser, SQLAlchemy, OS errors) are wrapped at
the module boundary that meets them, so callers only ever catch these.
"""

from __future__ import annotations


class FeedhubError(Exception):
    """Base of every error feedhub raises on purpose."""


class ConfigError(FeedhubError):
    """feeds.toml (or a command-line value) is wrong; nothing is fetched."""

    def __init__(self, path: str, key: str | None, message: str, line: int | None = None) -> None:
        self.path = path
        self.key = key
        self.line = line
        self.message = message
        where = path + (f":{line}" if line else "")
        what = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {what}")


class FetchError(FeedhubError):
    """A source could not be fetched. `kind` is a short machine-readable reason."""

    def __init__(self, kind: str, message: str, http_status: int | None = None) -> None:
        self.kind = kind
        self.http_status = http_status
        super().__init__(message)


class ParseError(FeedhubError):
    """A fetched document is not a feed feedhub can read."""


class StoreError(FeedhubError):
    """The database refused a read or write (locked, read-only, corrupt)."""


class DatabaseBusy(StoreError):
    """Another process held the database past the wait allowed: retrying now is futile."""


class GenerateError(FeedhubError):
    """An output file could not be written; the previous file is left in place."""
