"""The feedhub command line: each command parses its arguments, calls one function, prints.

Commands live in modules by what they do; importing them registers them on
`main`. Heavy modules are imported inside the commands, so `feedhub --help`
and other short commands start fast.
"""

from feedhub.cli import curation, database, fetching, inspect, opml, search, serving, status
from feedhub.cli.base import main

__all__ = [
    "curation",
    "database",
    "fetching",
    "inspect",
    "main",
    "opml",
    "search",
    "serving",
    "status",
]
