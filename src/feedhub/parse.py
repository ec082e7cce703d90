"""Turn a fetched document into a ParsedFeed. The only module that imports feedparser.

RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 go through feedparser; JSON Feed 1.0/1.1 through a
small reader here. Nothing here sanitizes HTML or filters URL schemes: normalize does.

Hostile documents. feedparser never sees the fetched bytes: xmlprep.prepare_xml
decodes, repairs and bounds them first (entity expansion, external entities, attribute
floods, inputs that make feedparser's own code quadratic); see that module. What it
repaired is reported in ParsedFeed.bozo next to feedparser's own complaint.

Base URIs. feedparser is given NO base URI, so `RawEntry.link` (and Atom link hrefs)
are resolved only against the document's own xml:base and stay relative otherwise.
That keeps entry identity (normalize.entry_key) independent of where the document was
fetched from. `RawEntry.base` carries the document base (Content-Location, else the
final URL) to finish the job, and `RawText.base` is the xml:base in effect already
joined onto that document base.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _HTMLSanitizer

from feedhub import fastparse
from feedhub.errors import ParseError
from feedhub.models import Author, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import MAX_ENTRIES
from feedhub.rawfeed import (
    absolute_web_url,
    dedupe,
    enclosures_from,
    language_tag,
    parsed_feed,
    strip_controls,
    text_or_none,
)
from feedhub.xmlprep import Prepared, prepare_xml

__all__ = ["Readings", "discover_feed_links", "parse_document", "read_document"]

log = logging.getLogger(__name__)

_Dict = dict[str, Any]  # feedparser's FeedParserDict, or a decoded JSON object
_JSON_MEDIA_TYPES = frozenset({"application/feed+json", "application/json"})
_FEED_LINK_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json"}
)
_JSON_FEED_PREFIX = "https://jsonfeed.org/version/"
_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
_MAX_BOZO_LEN = 500
# Feed links an HTML page advertises. A regex rather than html.parser, which is
# quadratic on inputs like "<a " * 30000 (minutes) and raises on "<![x".
_LINK_OR_BASE = re.compile(r"<(link|base)\b([^<>]{0,4096})>", re.IGNORECASE)
_HTML_ATTRIBUTE = re.compile(
    r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"""
)
# What the fast reader must know of feedparser without importing it.
_REFERENCE_FACTS = fastparse.ReferenceFacts(
    html_elements=frozenset(_HTMLSanitizer.acceptable_elements),
    namespaces={uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()},
)


@dataclass(frozen=True)
class Readings:
    """One document as read by the fast reader, by the reference (feedparser, or the
    JSON Feed reader), or both."""

    fast: ParsedFeed | None  # None: not asked for, or the fast reader declined
    reference: ParsedFeed | None  # None: not asked for and the fast reader read it

    @property
    def feed(self) -> ParsedFeed:
        """The fast reader's reading when there is one, else the reference's."""
        feed = self.fast or self.reference
        assert feed is not None
        return feed

    @property
    def feed_reference(self) -> ParsedFeed:
        """The reference's reading when there is one, else the fast reader's."""
        feed = self.reference or self.fast
        assert feed is not None
        return feed

    def difference(self) -> str | None:
        """The first field where the two readings differ, e.g. "entries[3].link";
        None when they agree (or only one reader read the document)."""
        if self.fast is None or self.reference is None or self.fast == self.reference:
            return None
        fast, reference = self.fast, self.reference
        for name in ("version", "bozo"):
            if getattr(fast, name) != getattr(reference, name):
                return name
        if fast.meta != reference.meta:
            return "meta." + _first_field(fast.meta, reference.meta)
        if len(fast.entries) != len(reference.entries):
            return "the number of entries"
        for index, (one, other) in enumerate(zip(fast.entries, reference.entries, strict=True)):
            if one != other:
                return f"entries[{index}].{_first_field(one, other)}"
        return "discovered_feeds"


def _first_field(one: Any, other: Any) -> str:
    names = (field.name for field in dataclasses.fields(one))
    return next((name for name in names if getattr(one, name) != getattr(other, name)), "?")


def parse_document(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    max_entries: int = MAX_ENTRIES,
    fast: bool = True,
) -> ParsedFeed:
    """Read RSS, Atom or JSON Feed from `body`, fetched from `url` (the final URL).

    Raises ParseError when the document is not a feed (HTML, empty, other JSON, junk)
    or is an attack (entity expansion, attribute floods). A feed recovered from an
    error, or read only up to `max_entries` entries, comes back with `bozo` saying so.
    `fast`: let the fast reader read the clean RSS 2.0 and Atom 1.0 documents it can
    (the same result for ~1/5 of the CPU, bench/fastparse_timing.py); feedparser reads
    the rest, and everything if False.
    """
    readings = read_document(
        body, url=url, headers=headers, max_entries=max_entries, fast=fast, reference=not fast
    )
    return readings.feed


def read_document(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    max_entries: int = MAX_ENTRIES,
    fast: bool = True,
    reference: bool = False,
) -> Readings:
    """parse_document's work, by the fast reader (`fast`, when its gate lets it), by
    the reference (`reference`, or when the fast reader did not read it), or by both,
    for a caller that compares them. Raises what parse_document raises."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    document_base = _document_base(url, lowered.get("content-location"))
    stripped = body.lstrip(_BOM_AND_SPACE)
    if not stripped:
        raise ParseError("the document is empty")
    media_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if stripped.startswith((b"{", b"[")) or (
        media_type in _JSON_MEDIA_TYPES and not stripped.startswith(b"<")
    ):
        return Readings(None, _parse_json_feed(body, document_base, max_entries))
    content_type = lowered.get("content-type", "")
    charset = re.search(r";\s*charset=[\"']?([^\s;\"']+)", content_type, re.IGNORECASE)
    prepared = prepare_xml(body, charset=charset and charset.group(1), max_entries=max_entries)
    language = lowered.get("content-language") or None
    fast_feed = _fast_feed(prepared, document_base, language) if fast else None
    if fast_feed is not None and not reference:
        return Readings(fast_feed, None)
    return Readings(fast_feed, _parse_xml_feed(prepared, body, document_base, language, url))


def discover_feed_links(body: bytes, *, url: str) -> tuple[str, ...]:
    """Feed URLs an HTML page advertises with <link rel=alternate type=...>, absolute."""
    base = url
    links: list[str] = []
    for tag in _LINK_OR_BASE.finditer(body.decode("utf-8", "replace")):
        found: dict[str, str] = {}
        for attribute in _HTML_ATTRIBUTE.finditer(tag.group(2)):
            value = next((part for part in attribute.groups()[1:] if part is not None), "")
            found.setdefault(attribute.group(1).lower(), html.unescape(value).strip())
        href = found.get("href")
        if not href:
            continue
        try:
            if tag.group(1).lower() == "base":
                base = urljoin(base, href)
                continue
            rels = found.get("rel", "").lower().split()
            media_type = found.get("type", "").split(";", 1)[0].strip().lower()
            if "alternate" in rels and media_type in _FEED_LINK_TYPES:
                links.append(urljoin(base, href))
        except ValueError:  # an href urllib cannot split, e.g. "http://[::"
            continue
    return tuple(dict.fromkeys(links))


# --- XML through feedparser ---------------------------------------------------------


def _fast_feed(prepared: Prepared, document_base: str, language: str | None) -> ParsedFeed | None:
    """The fast reader's reading, or None where the gate keeps the document for
    feedparser: anything xmlprep repaired, and whatever fastparse declines (DTDs,
    entities, xml:base, XML that is not well-formed, roots other than RSS 2.0 and
    Atom 1.0, ...)."""
    if prepared.repairs:
        return None
    try:
        reading = fastparse.read(prepared.data, _REFERENCE_FACTS, language=language)
        feed, entries, version = reading.feed, reading.entries, reading.version
        return parsed_feed(feed, entries, version, document_base, None, xml_text=True)
    except Exception as exc:  # declined, not well-formed, or a bug: feedparser reads it
        log.debug("fast reader declined: %s", exc)
        return None


def _parse_xml_feed(
    prepared: Prepared, body: bytes, document_base: str, language: str | None, url: str
) -> ParsedFeed:
    # The document is UTF-8 now, and says so; Content-Location stays out because
    # feedparser must not resolve links (see the module doc).
    passed = {"content-type": "application/xml; charset=utf-8"}
    if language:
        passed["content-language"] = language
    try:
        # BytesIO, never bytes or str: feedparser treats a str as a URL or a file name
        # to open, and even bytes are first tried as a file path.
        result = feedparser.parse(
            io.BytesIO(prepared.data),
            response_headers=passed,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser has no exception root of its own
        raise ParseError(f"feedparser failed: {exc!r}") from exc
    version = str(result.get("version") or "")
    raw_entries = list(result.get("entries") or [])
    problem = result.get("bozo_exception") if result.get("bozo") else None
    if not version and not raw_entries:
        raise ParseError(_not_a_feed_message(body, url, problem))
    bozo = _bozo_message(problem, prepared.repairs)
    try:
        feed_data: _Dict = result.get("feed") or {}
        return parsed_feed(feed_data, raw_entries, version, document_base, bozo)
    except Exception as exc:  # a malformed structure feedparser let through
        raise ParseError(f"cannot read the feed structure: {exc!r}") from exc


def _bozo_message(problem: object, repairs: Iterable[str] = ()) -> str | None:
    """What was wrong with the document: the repairs made before parsing, then the
    error feedparser recovered from."""
    parts = list(repairs)
    # A non-XML Content-Type (feeds served as text/html or text/plain) is the server's
    # mistake, not the document's; nothing was recovered.
    if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
        parts.append(strip_controls(str(problem)).strip() or type(problem).__name__)
    text = "; ".join(parts)
    return (text[: _MAX_BOZO_LEN - 1] + "…" if len(text) > _MAX_BOZO_LEN else text) or None


def _not_a_feed_message(body: bytes, url: str, problem: object) -> str:
    head = body[:4096].lower()
    if b"<html" in head or b"<!doctype html" in head:
        links = discover_feed_links(body, url=url)
        if links:
            return "this is an HTML page; it advertises feeds: " + ", ".join(links)
        return "this is an HTML page, not a feed, and it advertises no feeds"
    detail = f" ({_bozo_message(problem)})" if problem is not None else ""
    return f"not an RSS, Atom or JSON feed{detail}"


# --- JSON Feed ----------------------------------------------------------------------


def _parse_json_feed(body: bytes, document_base: str, max_entries: int) -> ParsedFeed:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not a feed: the JSON does not parse ({exc})") from exc
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(_JSON_FEED_PREFIX):
        raise ParseError("not a feed: JSON without a https://jsonfeed.org/version/ version")
    items = document.get("items", [])
    if not isinstance(items, list):
        raise ParseError("JSON Feed 'items' is not a list")
    number = version.removeprefix(_JSON_FEED_PREFIX).strip("/")
    language = language_tag(document.get("language"))
    repairs = []
    if len(items) > max_entries:
        repairs.append(f"the document has {len(items)} entries; read the first {max_entries}")
        items = items[:max_entries]
    meta = FeedMeta(
        title=text_or_none(document.get("title")),
        link=absolute_web_url(text_or_none(document.get("home_page_url")), document_base),
        subtitle=text_or_none(document.get("description")),
        language=language,
    )
    feed_authors = _json_authors(document)
    entries = tuple(
        _json_entry(item, document_base, language, feed_authors)
        for item in items
        if isinstance(item, dict)
    )
    return ParsedFeed(
        meta=meta,
        entries=entries,
        version="json" + ("10" if number == "1" else number.replace(".", "")),
        bozo=_bozo_message(None, repairs),
    )


def _json_entry(
    item: _Dict,
    document_base: str,
    feed_language: str | None,
    feed_authors: tuple[Author, ...],
) -> RawEntry:
    base = document_base or None

    def text(key: str, kind: str) -> RawText | None:
        value = text_or_none(item.get(key))
        return RawText(value=value, type=kind, base=base) if value else None

    raw_id = item.get("id")
    entry_id = text_or_none(str(raw_id)) if isinstance(raw_id, (str, int)) else None
    tags = item.get("tags")
    attachments = item.get("attachments")
    return RawEntry(
        id=entry_id,
        link=text_or_none(item.get("url")) or text_or_none(item.get("external_url")),
        title=text("title", "text/plain"),
        summary=text("summary", "text/plain"),
        content=text("content_html", "text/html") or text("content_text", "text/plain"),
        published=_rfc3339(item.get("date_published")),
        updated=_rfc3339(item.get("date_modified")),
        # JSON Feed 1.1: an item without authors has the feed's authors.
        authors=_json_authors(item) or feed_authors,
        categories=dedupe(text_or_none(tag) for tag in tags) if isinstance(tags, list) else (),
        enclosures=enclosures_from(
            (text_or_none(a.get("url")), a.get("mime_type"), a.get("size_in_bytes"))
            for a in (attachments if isinstance(attachments, list) else [])
            if isinstance(a, dict)
        ),
        base=base,
        language=language_tag(item.get("language")) or feed_language,
        published_raw=text_or_none(item.get("date_published")),
    )


def _json_authors(holder: _Dict) -> tuple[Author, ...]:
    found = holder.get("authors")  # 1.1
    if not isinstance(found, list):
        single = holder.get("author")  # 1.0
        found = [single] if isinstance(single, dict) else []
    authors = (
        Author(name=text_or_none(a.get("name")), uri=text_or_none(a.get("url")))
        for a in found
        if isinstance(a, dict)
    )
    return tuple(author for author in authors if author != Author())


def _rfc3339(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip()) if isinstance(value, str) else None
    except ValueError:
        return None
    # RFC 3339 requires an offset; a date without one is read as UTC, not local time.
    return moment and (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC))


# --- small helpers ------------------------------------------------------------------


def _document_base(url: str, content_location: str | None) -> str:
    # RFC 2616 section 14.14 made Content-Location the base URI; RFC 9110 dropped that,
    # but servers serving one feed under several URLs still rely on it, as feedparser does.
    return absolute_web_url((content_location or "").strip(), url) or url
