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

import email.utils
import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from feedhub.errors import ParseError
from feedhub.models import Author, Enclosure, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import MAX_ENTRIES, MAX_KEY_CHARS, MAX_URL_CHARS, plain_text
from feedhub.xmlprep import prepare_xml

__all__ = ["discover_feed_links", "parse_document"]

_Dict = dict[str, Any]  # feedparser's FeedParserDict, or a decoded JSON object
_JSON_MEDIA_TYPES = frozenset({"application/feed+json", "application/json"})
_FEED_LINK_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json"}
)
_JSON_FEED_PREFIX = "https://jsonfeed.org/version/"
_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
# C0 controls other than tab/newline, and lone surrogates (JSON "\ud800" decodes to one;
# they cannot be encoded as UTF-8 by the store or the outputs).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_MAX_BOZO_LEN = 500
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,6}")
_MAX_LANGUAGE_CHARS = 35  # RFC 5646 4.4.1 asks implementations to allow at least this
# feedparser's ISO 8601 reader matches any prefix and fills what is missing from today's
# date: "2020/1/10 14:33:00" became 2020-11-01 in a November. Dates that start with a
# digit or "-" are read here instead, strictly.
_NUMERIC_DATE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
# Feed links an HTML page advertises. A regex rather than html.parser, which is
# quadratic on inputs like "<a " * 30000 (minutes) and raises on "<![x".
_LINK_OR_BASE = re.compile(r"<(link|base)\b([^<>]{0,4096})>", re.IGNORECASE)
_HTML_ATTRIBUTE = re.compile(
    r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"""
)
# sy:updatePeriod in hours (RSS 1.0 Syndication module); month and year are nominal.
_SY_PERIOD_HOURS = {"hourly": 1, "daily": 24, "weekly": 168, "monthly": 720, "yearly": 8760}


def parse_document(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Read RSS, Atom or JSON Feed from `body`, fetched from `url` (the final URL).

    Raises ParseError when the document is not a feed (HTML, empty, other JSON, junk)
    or is an attack (entity expansion, attribute floods). A feed recovered from an
    error, or read only up to `max_entries` entries, comes back with `bozo` saying so.
    """
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    document_base = _document_base(url, lowered.get("content-location"))
    stripped = body.lstrip(_BOM_AND_SPACE)
    if not stripped:
        raise ParseError("the document is empty")
    media_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if stripped.startswith((b"{", b"[")) or (
        media_type in _JSON_MEDIA_TYPES and not stripped.startswith(b"<")
    ):
        return _parse_json_feed(body, document_base, max_entries)
    return _parse_xml_feed(body, document_base, lowered, url, max_entries)


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


def _parse_xml_feed(
    body: bytes, document_base: str, headers: Mapping[str, str], url: str, max_entries: int
) -> ParsedFeed:
    content_type = headers.get("content-type", "")
    charset = re.search(r";\s*charset=[\"']?([^\s;\"']+)", content_type, re.IGNORECASE)
    prepared = prepare_xml(body, charset=charset and charset.group(1), max_entries=max_entries)
    # The document is UTF-8 now, and says so; Content-Location stays out because
    # feedparser must not resolve links (see the module doc).
    passed = {"content-type": "application/xml; charset=utf-8"}
    if headers.get("content-language"):
        passed["content-language"] = headers["content-language"]
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
    try:
        feed_data: _Dict = result.get("feed") or {}
        meta = _feed_meta(feed_data, document_base)
        feed_authors = _authors(feed_data.get("authors"))
        inherit = feed_authors if version.startswith("atom") else ()
        entries = tuple(
            _raw_entry(item, document_base, version, meta.language, inherit) for item in raw_entries
        )
    except Exception as exc:  # a malformed structure feedparser let through
        raise ParseError(f"cannot read the feed structure: {exc!r}") from exc
    return ParsedFeed(
        meta=meta,
        entries=entries,
        version=version or "unknown",
        bozo=_bozo_message(problem, prepared.repairs),
    )


def _bozo_message(problem: object, repairs: Iterable[str] = ()) -> str | None:
    """What was wrong with the document: the repairs made before parsing, then the
    error feedparser recovered from."""
    parts = list(repairs)
    # A non-XML Content-Type (feeds served as text/html or text/plain) is the server's
    # mistake, not the document's; nothing was recovered.
    if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
        parts.append(_clean(str(problem)).strip() or type(problem).__name__)
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


def _feed_meta(feed: _Dict, document_base: str) -> FeedMeta:
    return FeedMeta(
        title=_plain(_raw_text(feed, "title", document_base)),
        link=_absolute(_alternate_link(feed), document_base),
        subtitle=_plain(_raw_text(feed, "subtitle", document_base)),
        id=_bounded_text(feed.get("id"), MAX_KEY_CHARS),
        language=_language(feed.get("language")),
        ttl_minutes=_length(feed.get("ttl")) or None,
        update_period=_update_period(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
    )


def _raw_entry(
    item: _Dict,
    document_base: str,
    version: str,
    feed_language: str | None,
    inherited_authors: tuple[Author, ...],
) -> RawEntry:
    links = [link for link in item.get("links") or [] if link.get("href")]
    entry_id = _text(item.get("id"))
    link = _alternate_link(item)
    title = _raw_text(item, "title", document_base)
    contents = (_raw_text_from_detail(part, document_base) for part in item.get("content") or [])
    content = next((text for text in contents if text is not None), None)
    summary = _raw_text(item, "summary", document_base)
    if summary is not None and content is not None and summary.value == content.value:
        summary = None  # the same text given twice: content is the fuller element
    details = (
        *(item.get("content") or [])[:1],
        item.get("summary_detail"),
        item.get("title_detail"),
    )
    # xml:lang reaches entries only through their text constructs' details.
    languages = (_language(detail.get("language")) for detail in details if detail)
    language = next((found for found in languages if found), feed_language)
    published = _entry_date(item.get("published"), item.get("published_parsed"))
    raw_date = _text(item.get("published")) if published else None
    return RawEntry(
        id=entry_id,
        link=link,
        title=title,
        summary=summary,
        content=content,
        published=published,
        # dict.get: FeedParserDict answers "updated" with "published" when it is missing.
        updated=_entry_date(dict.get(item, "updated"), dict.get(item, "updated_parsed")),
        authors=_authors(item.get("authors")) or inherited_authors,
        categories=_dedupe(
            _text(tag.get("term") or tag.get("label")) for tag in item.get("tags") or []
        ),
        enclosures=_enclosures(
            (_text(link.get("href")), link.get("type"), link.get("length"))
            for link in links
            if link.get("rel") == "enclosure"
        ),
        comments=_text(item.get("comments")) or _replies_link(links),
        guid_is_permalink=_guid_is_permalink(item, entry_id, link, version),
        base=document_base or None,
        language=language,
        published_raw=raw_date or _text(dict.get(item, "updated")),
    )


def _guid_is_permalink(
    item: _Dict, entry_id: str | None, link: str | None, version: str
) -> bool | None:
    # RSS 0.90 and 1.0 have no <guid>; their id is rdf:about.
    if not version.startswith("rss") or version in ("rss090", "rss10") or entry_id is None:
        return None
    # feedparser's guidislink is isPermaLink AND "no <link> was seen before <guid>", so
    # it reads False for <link>...<guid>same URL</guid>; equality restores that case.
    return bool(item.get("guidislink")) or entry_id == link


def _raw_text(item: _Dict, key: str, document_base: str) -> RawText | None:
    detail = item.get(f"{key}_detail")
    return _raw_text_from_detail(detail, document_base) if detail else None


def _raw_text_from_detail(detail: _Dict, document_base: str) -> RawText | None:
    value = _clean(str(detail.get("value") or ""))
    if not value.strip():
        return None
    kind = str(detail.get("type") or "text/html").lower()
    if kind not in ("text/html", "application/xhtml+xml"):
        if not kind.startswith("text/"):
            return None  # Atom out-of-line or binary content (RFC 4287 4.1.3): not text
        kind = "text/plain"
    own_base = str(detail.get("base") or "")
    try:
        base = urljoin(document_base, own_base) if document_base else own_base
    except ValueError:  # an xml:base urllib cannot split, e.g. "http://[::"
        base = document_base
    return RawText(value=value, type=kind, base=base or None)


def _alternate_link(item: _Dict) -> str | None:
    for link in item.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and _text(link.get("href")):
            return _text(link.get("href"))
    # A guid with isPermaLink is copied into `link` without a links[] row.
    return _text(item.get("link"))


def _replies_link(links: list[_Dict]) -> str | None:
    replies = [link for link in links if link.get("rel") == "replies"]
    html = [link for link in replies if link.get("type") in (None, "text/html")]
    chosen = html or replies
    return _text(chosen[0].get("href")) if chosen else None


def _authors(items: Iterable[_Dict] | None) -> tuple[Author, ...]:
    authors: list[Author] = []
    previous_email: str | None = None
    for item in items or []:
        email = _text(item.get("email"))
        # feedparser copies the previous author's email into a following author that
        # has none (its _sync_author_detail parses the joined "name (email)" string).
        # Only a shared address is lost, and that is usually a no-reply one.
        shown_email = None if authors and email == previous_email else email
        previous_email = email
        author = Author(
            name=_text(item.get("name")), email=shown_email, uri=_text(item.get("href"))
        )
        if author != Author():
            authors.append(author)
    return tuple(authors)


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
    language = _language(document.get("language"))
    repairs = []
    if len(items) > max_entries:
        repairs.append(f"the document has {len(items)} entries; read the first {max_entries}")
        items = items[:max_entries]
    meta = FeedMeta(
        title=_text(document.get("title")),
        link=_absolute(_text(document.get("home_page_url")), document_base),
        subtitle=_text(document.get("description")),
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
        value = _text(item.get(key))
        return RawText(value=value, type=kind, base=base) if value else None

    raw_id = item.get("id")
    entry_id = _text(str(raw_id)) if isinstance(raw_id, (str, int)) else None
    tags = item.get("tags")
    attachments = item.get("attachments")
    return RawEntry(
        id=entry_id,
        link=_text(item.get("url")) or _text(item.get("external_url")),
        title=text("title", "text/plain"),
        summary=text("summary", "text/plain"),
        content=text("content_html", "text/html") or text("content_text", "text/plain"),
        published=_rfc3339(item.get("date_published")),
        updated=_rfc3339(item.get("date_modified")),
        # JSON Feed 1.1: an item without authors has the feed's authors.
        authors=_json_authors(item) or feed_authors,
        categories=_dedupe(_text(tag) for tag in tags) if isinstance(tags, list) else (),
        enclosures=_enclosures(
            (_text(a.get("url")), a.get("mime_type"), a.get("size_in_bytes"))
            for a in (attachments if isinstance(attachments, list) else [])
            if isinstance(a, dict)
        ),
        base=base,
        language=_language(item.get("language")) or feed_language,
        published_raw=_text(item.get("date_published")),
    )


def _json_authors(holder: _Dict) -> tuple[Author, ...]:
    found = holder.get("authors")  # 1.1
    if not isinstance(found, list):
        single = holder.get("author")  # 1.0
        found = [single] if isinstance(single, dict) else []
    authors = (
        Author(name=_text(a.get("name")), uri=_text(a.get("url")))
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
    return _absolute((content_location or "").strip(), url) or url


def _absolute(link: str | None, base: str) -> str | None:
    """`link` made absolute against `base`, or None unless http(s) and of sane length."""
    if link and len(link) > MAX_URL_CHARS:
        return None
    try:
        absolute = urljoin(base, link) if link else None
        parts = urlsplit(absolute) if absolute else None
        return absolute if parts and parts.scheme in ("http", "https") and parts.hostname else None
    except ValueError:
        return None


def _enclosures(rows: Iterable[tuple[str | None, object, object]]) -> tuple[Enclosure, ...]:
    found: dict[str, Enclosure] = {}
    for url, media_type, length in rows:
        if url and url not in found:
            found[url] = Enclosure(
                url=url,
                type=_text(media_type) if isinstance(media_type, str) else None,
                length=_length(length),
            )
    return tuple(found.values())


def _length(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _update_period(period: object, frequency: object) -> timedelta | None:
    hours = _SY_PERIOD_HOURS.get(str(period).strip().lower()) if period is not None else None
    # updateFrequency defaults to 1 when missing
    return timedelta(hours=hours) / (_length(frequency) or 1) if hours else None


def _entry_date(text: object, parsed: object) -> datetime | None:
    """A date element as UTC: feedparser's reading, or ours for numeric dates."""
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped[:1].isdigit() or stripped.startswith("-"):
        return _numeric_date(stripped)
    return _utc(parsed)


def _numeric_date(text: str) -> datetime | None:
    match = _NUMERIC_DATE.fullmatch(text)
    try:
        if match is not None:
            year, month, day, hour, minute, second = (int(p or 0) for p in match.groups()[:6])
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            return moment - _offset(match.group(7))
        with_t = datetime.fromisoformat(text)  # the basic format, e.g. 20240102T103000Z
    except (ValueError, OverflowError):
        try:  # RFC 822 without the weekday: "02 Jan 2024 10:30:00 GMT"
            with_t = email.utils.parsedate_to_datetime(text)
        except (ValueError, TypeError, IndexError):
            return None
    return with_t.astimezone(UTC) if with_t.tzinfo else with_t.replace(tzinfo=UTC)


def _offset(zone: str | None) -> timedelta:
    if not zone or zone.upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return -offset if zone[0] == "-" else offset


def _utc(parsed: object) -> datetime | None:
    # feedparser's *_parsed is a UTC struct_time; years it cannot place come back None.
    if not isinstance(parsed, tuple) or len(parsed) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in parsed[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _dedupe(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def _plain(text: RawText | None) -> str | None:
    return (plain_text(text) or None) if text is not None else None


def _clean(value: str) -> str:
    return _CONTROL_CHARS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _text(value: object) -> str | None:
    """A str value stripped, control characters removed; None when missing or blank."""
    return (_clean(value).strip() or None) if isinstance(value, str) else None


def _bounded_text(value: object, limit: int) -> str | None:
    text = _text(value)
    return text if text is None or len(text) <= limit else None


def _language(value: object) -> str | None:
    """A language tag (RFC 5646 shape, at most 35 characters), else None."""
    text = _text(value)
    if text is None or len(text) > _MAX_LANGUAGE_CHARS or not _LANGUAGE_TAG.fullmatch(text):
        return None
    return text
