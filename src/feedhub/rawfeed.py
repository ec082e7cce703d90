"""From feedparser-shaped dicts to FeedMeta and RawEntry: one adapter for both XML readers.

feedparser's result (a FeedParserDict per feed and entry) and fastparse's (plain dicts
with the same keys, for the subset of keys read here) go through these same functions,
so the two paths can differ only in the dicts they build, never in how the dicts are
read. Pure functions, no I/O; parse.py's JSON Feed reader uses the small helpers too.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from feedhub.models import Author, Enclosure, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import MAX_KEY_CHARS, MAX_URL_CHARS, plain_text

__all__ = [
    "absolute_web_url",
    "authors_from",
    "dedupe",
    "enclosures_from",
    "entry_date",
    "feed_meta",
    "language_tag",
    "length_or_none",
    "numeric_date",
    "parsed_feed",
    "raw_entry",
    "strip_controls",
    "text_or_none",
]

_Dict = dict[str, Any]  # feedparser's FeedParserDict, or fastparse's plain dict
# C0 controls other than tab/newline, and lone surrogates (JSON "\ud800" decodes to one;
# they cannot be encoded as UTF-8 by the store or the outputs).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
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
_TEXT_KINDS = frozenset({"text/html", "text/plain", "application/xhtml+xml"})  # lowercase
# sy:updatePeriod in hours (RSS 1.0 Syndication module); month and year are nominal.
_SY_PERIOD_HOURS = {"hourly": 1, "daily": 24, "weekly": 168, "monthly": 720, "yearly": 8760}


def feed_meta(feed: _Dict, document_base: str, *, xml_text: bool = False) -> FeedMeta:
    return FeedMeta(
        title=_plain(_raw_text(feed, "title", document_base, xml_text)),
        link=absolute_web_url(_alternate_link(feed), document_base),
        subtitle=_plain(_raw_text(feed, "subtitle", document_base, xml_text)),
        id=_bounded_text(feed.get("id"), MAX_KEY_CHARS),
        language=language_tag(feed.get("language")),
        ttl_minutes=length_or_none(feed.get("ttl")) or None,
        update_period=_update_period(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
    )


def raw_entry(
    item: _Dict,
    document_base: str,
    version: str,
    feed_language: str | None,
    inherited_authors: tuple[Author, ...],
    *,
    xml_text: bool = False,
) -> RawEntry:
    # Plain loops rather than generators and next(): this runs for every entry, and
    # they made up ~15% of it (bench/fastparse_timing.py).
    get = item.get
    links = [link for link in get("links") or [] if link.get("href")]
    entry_id = text_or_none(get("id"))
    link = _alternate_link(item)
    title = _raw_text(item, "title", document_base, xml_text)
    content = None
    for part in get("content") or []:
        content = _raw_text_from_detail(part, document_base, xml_text)
        if content is not None:
            break
    summary = _raw_text(item, "summary", document_base, xml_text)
    if summary is not None and content is not None and summary.value == content.value:
        summary = None  # the same text given twice: content is the fuller element
    details = (
        *(get("content") or [])[:1],
        get("summary_detail"),
        get("title_detail"),
    )
    # xml:lang reaches entries only through their text constructs' details.
    language = feed_language
    for detail in details:
        if detail and (lang := detail.get("language")) and (found := language_tag(lang)):
            language = found
            break
    published = entry_date(get("published"), get("published_parsed"))
    raw_date = text_or_none(get("published")) if published else None
    # dict.get: FeedParserDict answers "updated" with "published" when it is missing.
    updated = entry_date(dict.get(item, "updated"), dict.get(item, "updated_parsed"))
    authors = authors_from(get("authors")) or inherited_authors
    categories: dict[str, None] = {}
    for tag in get("tags") or []:
        if category := text_or_none(tag.get("term") or tag.get("label")):
            categories[category] = None
    return RawEntry(
        id=entry_id,
        link=link,
        title=title,
        summary=summary,
        content=content,
        published=published,
        updated=updated,
        authors=authors,
        categories=tuple(categories),
        enclosures=enclosures_from(
            (text_or_none(link.get("href")), link.get("type"), link.get("length"))
            for link in links
            if link.get("rel") == "enclosure"
        ),
        comments=text_or_none(get("comments")) or _replies_link(links),
        guid_is_permalink=_guid_is_permalink(item, entry_id, link, version),
        base=document_base or None,
        language=language,
        published_raw=raw_date or text_or_none(dict.get(item, "updated")),
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


def _raw_text(item: _Dict, key: str, document_base: str, xml_text: bool) -> RawText | None:
    detail = item.get(f"{key}_detail")
    return _raw_text_from_detail(detail, document_base, xml_text) if detail else None


def _raw_text_from_detail(detail: _Dict, document_base: str, xml_text: bool) -> RawText | None:
    # Three of these an entry: the common cases skip work (str(), lower(), urljoin) whose
    # result they know (~2.7 -> ~1.5 us each on the farm feeds' entries).
    value = detail.get("value") or ""
    value = value if type(value) is str else str(value)
    value = _line_ends(value) if xml_text else strip_controls(value)
    if not value or value.isspace():  # `not value.strip()` without copying the text
        return None
    kind = detail.get("type") or "text/html"
    if type(kind) is not str or kind not in _TEXT_KINDS:
        kind = str(kind).lower()
    if kind not in ("text/html", "application/xhtml+xml"):
        if not kind.startswith("text/"):
            return None  # Atom out-of-line or binary content (RFC 4287 4.1.3): not text
        kind = "text/plain"
    own_base = detail.get("base")
    if not own_base:
        base = document_base  # urljoin(document_base, "")
    else:
        own_base = str(own_base)
        try:
            base = urljoin(document_base, own_base) if document_base else own_base
        except ValueError:  # an xml:base urllib cannot split, e.g. "http://[::"
            base = document_base
    return RawText(value=value, type=kind, base=base or None)


def _alternate_link(item: _Dict) -> str | None:
    for link in item.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and (href := text_or_none(link.get("href"))):
            return href
    # A guid with isPermaLink is copied into `link` without a links[] row.
    return text_or_none(item.get("link"))


def _replies_link(links: list[_Dict]) -> str | None:
    replies = [link for link in links if link.get("rel") == "replies"]
    html = [link for link in replies if link.get("type") in (None, "text/html")]
    chosen = html or replies
    return text_or_none(chosen[0].get("href")) if chosen else None


def authors_from(items: Iterable[_Dict] | None) -> tuple[Author, ...]:
    authors: list[Author] = []
    previous_email: str | None = None
    for item in items or []:
        email = text_or_none(item.get("email"))
        # feedparser copies the previous author's email into a following author that
        # has none (its _sync_author_detail parses the joined "name (email)" string).
        # Only a shared address is lost, and that is usually a no-reply one.
        shown_email = None if authors and email == previous_email else email
        previous_email = email
        name, uri = text_or_none(item.get("name")), text_or_none(item.get("href"))
        if name is not None or shown_email is not None or uri is not None:  # != Author()
            authors.append(Author(name=name, email=shown_email, uri=uri))
    return tuple(authors)


def absolute_web_url(link: str | None, base: str) -> str | None:
    """`link` made absolute against `base`, or None unless http(s) and of sane length."""
    if link and len(link) > MAX_URL_CHARS:
        return None
    try:
        absolute = urljoin(base, link) if link else None
        parts = urlsplit(absolute) if absolute else None
        return absolute if parts and parts.scheme in ("http", "https") and parts.hostname else None
    except ValueError:
        return None


def enclosures_from(rows: Iterable[tuple[str | None, object, object]]) -> tuple[Enclosure, ...]:
    found: dict[str, Enclosure] = {}
    for url, media_type, length in rows:
        if url and url not in found:
            found[url] = Enclosure(
                url=url,
                type=text_or_none(media_type) if isinstance(media_type, str) else None,
                length=length_or_none(length),
            )
    return tuple(found.values())


def length_or_none(value: object) -> int | None:
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
    return timedelta(hours=hours) / (length_or_none(frequency) or 1) if hours else None


def entry_date(text: object, parsed: object) -> datetime | None:
    """A date element as UTC: feedparser's reading, or ours for numeric dates."""
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped[:1].isdigit() or stripped.startswith("-"):
        return numeric_date(stripped)
    return _utc(parsed)


def numeric_date(text: str) -> datetime | None:
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
        year, month, day, hour, minute, second = map(int, parsed[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def dedupe(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def _plain(text: RawText | None) -> str | None:
    return (plain_text(text) or None) if text is not None else None


def strip_controls(value: str) -> str:
    if value.isprintable():  # no control characters, no surrogates: nothing to do
        return value
    return _CONTROL_CHARS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _line_ends(value: str) -> str:
    """strip_controls(value) for text lxml read from XML 1.0, in which the only C0
    controls are tab, newline and carriage return and there is no lone surrogate;
    without the check for the others (isprintable: ~20% of parsed_feed on the farm
    feeds of bench/fastparse_timing.py, more where text has newlines)."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


def text_or_none(value: object) -> str | None:
    """A str value stripped, control characters removed; None when missing or blank."""
    if not isinstance(value, str):
        return None
    if not value.isprintable():  # strip_controls, inline: ~40 calls an entry
        value = _CONTROL_CHARS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value.strip() or None


def _bounded_text(value: object, limit: int) -> str | None:
    text = text_or_none(value)
    return text if text is None or len(text) <= limit else None


def language_tag(value: object) -> str | None:
    """A language tag (RFC 5646 shape, at most 35 characters), else None."""
    text = text_or_none(value)
    if text is None or len(text) > _MAX_LANGUAGE_CHARS or not _LANGUAGE_TAG.fullmatch(text):
        return None
    return text


def parsed_feed(
    feed: _Dict,
    items: Iterable[_Dict],
    version: str,
    document_base: str,
    bozo: str | None,
    *,
    xml_text: bool = False,
) -> ParsedFeed:
    """The ParsedFeed of a feed dict and its entry dicts. `xml_text`: the dicts' texts
    are as lxml read them from XML (see _line_ends), as fastparse's are."""
    meta = feed_meta(feed, document_base, xml_text=xml_text)
    # Atom entries without authors have the feed's (RFC 4287 4.2.1); RSS has no such rule.
    inherit = authors_from(feed.get("authors")) if version.startswith("atom") else ()
    entries = tuple(
        raw_entry(item, document_base, version, meta.language, inherit, xml_text=xml_text)
        for item in items
    )
    return ParsedFeed(meta=meta, entries=entries, version=version or "unknown", bozo=bozo)
