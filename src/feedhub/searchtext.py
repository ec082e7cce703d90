"""The plain text a search indexes, from sanitized HTML.

Its own module, free of SQLAlchemy, because the parser workers compute it
(feedhub.workers): off the store's path, on every core.
"""

from __future__ import annotations

import re
from html import unescape

# PostgreSQL limits a tsvector to 1 MB; one huge article must not fail a fetch.
MAX_SEARCH_TEXT = 50_000

# Tags that run inside a word's line of text; every other tag (p, li, br, td,
# h1...) separates words, so "<p>alpha</p><p>beta</p>" is not "alphabeta".
_INLINE_TAGS = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "i", "ins",
     "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var"}
)  # fmt: skip


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^>]*>|<!--.*?-->", re.DOTALL)


def html_text(html: str) -> str:
    """The words of an HTML fragment, one space between them, entities decoded.

    Stored HTML has been through nh3, so tags are well formed and a regular
    expression is enough: about ten times faster than html.parser, which
    mattered on the cold-fetch path (bench/).
    """

    return " ".join(unescape(_TAG.sub(_gap, html)).split())


def _gap(match: re.Match[str]) -> str:
    name = match[2]
    if name in _INLINE_TAGS:  # nh3 writes tag names in lower case
        return ""
    return "" if name is not None and name.lower() in _INLINE_TAGS else " "


def search_text(summary: str | None, content: str | None) -> str | None:
    """What the index holds besides the title: plain text of summary and content.

    A summary that is an excerpt of the content is left out, so its words do
    not count twice in the ranking. Cut at MAX_SEARCH_TEXT characters.
    """
    summary_text = html_text(summary) if summary else ""
    content_text = html_text(content) if content else ""
    if summary_text and summary_text in content_text:
        summary_text = ""
    text = " ".join(part for part in (summary_text, content_text) if part)
    return text[:MAX_SEARCH_TEXT] or None
