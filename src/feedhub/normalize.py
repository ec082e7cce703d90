"""Turn RawEntry values into Entry values: identity, UTC dates, absolute URLs, safe HTML.

Pure functions, no I/O. Everything here is deterministic across runs and processes, so
an unchanged entry produces the same key and content_hash every time it is fetched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

import nh3

from feedhub.models import Author, Enclosure, Entry, ParsedFeed, RawEntry, RawText

__all__ = ["content_hash", "entry_key", "normalize_entries", "plain_text", "sanitize_html"]

MAX_TITLE_CHARS = 1000
MAX_CATEGORY_CHARS = 200
MAX_CATEGORIES = 100
# Feeds that pre-date their own timestamps are common (clock skew, time zones written
# wrong); more than this ahead of `now` is taken as a bogus date.
FUTURE_TOLERANCE = timedelta(days=2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_WEB_SCHEMES = frozenset({"http", "https"})
_CONTENT_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Browsers drop these anywhere in a URL before reading its scheme (WHATWG URL spec),
# so "java\tscript:" is javascript:.
_URL_INVISIBLES = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")

_ALLOWED_TAGS = frozenset(
    {
        *("a", "abbr", "acronym", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite"),
        *("code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em"),
        *("figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img"),
        *("ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s"),
        *("samp", "small", "span", "strike", "strong", "sub", "summary", "sup", "table"),
        *("tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr"),
    }
)
# Removed together with their content. Anything else not allowed is unwrapped (text kept).
_DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "svg", "math", "iframe", "object", "embed", "noscript", "template"}
)
_COMMON_ATTRIBUTES = frozenset({"title", "lang", "dir"})
# No class/id (page collisions), no style (CSS expressions, overlays), no on* handlers,
# no srcset (a list of URLs the scheme check below would have to parse; src suffices).
_ALLOWED_ATTRIBUTES = {
    "*": set(_COMMON_ATTRIBUTES),
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope", "abbr"},
    "col": {"span"},
    "colgroup": {"span"},
    "details": {"open"},
}
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})


# --- public API ---------------------------------------------------------------------


def normalize_entries(feed: ParsedFeed, *, source_url: str, now: datetime) -> tuple[Entry, ...]:
    """Entries of `feed` ready for the store, in document order, one per key."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    seen: set[str] = set()
    entries: list[Entry] = []
    for raw in feed.entries:
        key = entry_key(raw)
        if key in seen:  # a feed repeating a guid: the first occurrence wins
            continue
        seen.add(key)
        entries.append(_normalize_entry(raw, key, source_url=source_url, now=now))
    return tuple(entries)


def entry_key(raw: RawEntry) -> str:
    """The identity of an entry within its source.

    1. the id (RSS guid, Atom id, JSON Feed id), stripped, when not blank;
    2. else the link exactly as the document resolves it: parse.py resolves it only
       against the document's own xml:base, so a relative link stays relative here;
    3. else "sha256:" + sha256 of title, date text and content (or summary).

    The fetch URL never enters the key, so entries keep their identity when a source
    moves or redirects. A javascript:/data: link is no identity (normalize drops it).
    """
    if raw.id and raw.id.strip():
        return raw.id.strip()
    link = (raw.link or "").strip()
    if link and _scheme(link) in (None, *_WEB_SCHEMES):
        return link
    body = raw.content or raw.summary
    date_text = raw.published_raw or (raw.published.isoformat() if raw.published else "")
    parts = (raw.title.value if raw.title else "", date_text, body.value if body else "")
    joined = "\x1f".join(part.strip() for part in parts)
    digest = hashlib.sha256(joined.encode("utf-8", "surrogatepass"))
    return "sha256:" + digest.hexdigest()


def sanitize_html(html_text: str, *, base: str | None) -> str:
    """Feed HTML made safe to embed: an allowlist of tags and attributes (nh3), URLs
    limited to http/https/mailto and resolved against `base`."""

    def filter_attribute(tag: str, name: str, value: str) -> str | None:
        if name in _URL_ATTRIBUTES:
            return _safe_content_url(value, base)
        return value

    return nh3.clean(
        _CONTROL_CHARS.sub("", html_text),
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        attribute_filter=filter_attribute,
        url_schemes=set(_CONTENT_URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    ).strip()


def plain_text(text: RawText) -> str:
    """A text construct as one line of plain text (titles): tags stripped and entities
    decoded when it is HTML, whitespace collapsed, at most MAX_TITLE_CHARS characters."""
    value = _CONTROL_CHARS.sub("", text.value)
    if _is_html(text.type):
        extractor = _TextExtractor()
        extractor.feed(value)
        extractor.close()
        value = "".join(extractor.parts)
    return " ".join(value.split())[:MAX_TITLE_CHARS].rstrip()


# --- one entry ----------------------------------------------------------------------


def _normalize_entry(raw: RawEntry, key: str, *, source_url: str, now: datetime) -> Entry:
    base = raw.base or source_url
    link = _web_url(raw.link, base)
    if link is None and raw.guid_is_permalink and raw.id:
        link = _web_url(raw.id, base)
    content = _html_of(raw.content, base)
    summary = _html_of(raw.summary, base)
    if summary == content:
        summary = None
    updated = _sane_date(raw.updated, now)
    entry = Entry(
        key=key,
        title=plain_text(raw.title) if raw.title else "",
        link=link,
        # Atom requires only <updated> and RSS 1.0 has only dc:date (read as updated);
        # without this fallback a whole first fetch would sort by first-seen time.
        published=_sane_date(raw.published, now) or updated,
        updated=updated,
        authors=_authors(raw.authors, base),
        categories=_categories(raw.categories),
        summary=summary,
        content=content,
        enclosures=_enclosures(raw.enclosures, base),
        comments=_web_url(raw.comments, base),
        language=_blank_to_none(raw.language),
        guid_is_permalink=bool(raw.guid_is_permalink),
    )
    return entry.replace(content_hash=content_hash(entry))


def content_hash(entry: Entry) -> str:
    """sha256 over canonical JSON of every field but content_hash itself."""
    fields = dataclasses.asdict(entry)
    fields.pop("content_hash")
    canonical = json.dumps(
        fields,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


def _html_of(text: RawText | None, base: str) -> str | None:
    if text is None:
        return None
    if _is_html(text.type):
        cleaned = sanitize_html(text.value, base=text.base or base)
    else:
        cleaned = _plain_to_html(text.value)
    return cleaned or None


def _plain_to_html(value: str) -> str:
    # Plain text keeps its paragraphs and line breaks once it is shown as HTML.
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", value) if part.strip()]
    rendered = (
        "<br>".join(html.escape(line.strip()) for line in part.splitlines()) for part in paragraphs
    )
    if len(paragraphs) == 1:
        return next(rendered)
    return "".join(f"<p>{part}</p>" for part in rendered)


def _sane_date(moment: datetime | None, now: datetime) -> datetime | None:
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment < EPOCH or moment > now + FUTURE_TOLERANCE:
        return None
    return moment


def _authors(authors: Iterable[Author], base: str) -> tuple[Author, ...]:
    kept: list[Author] = []
    for author in authors:
        cleaned = Author(
            name=_blank_to_none(author.name),
            email=_blank_to_none(author.email),
            uri=_web_url(author.uri, base),
        )
        if cleaned != Author() and cleaned not in kept:
            kept.append(cleaned)
    return tuple(kept)


def _categories(categories: Iterable[str]) -> tuple[str, ...]:
    capped = (" ".join(term.split())[:MAX_CATEGORY_CHARS].strip() for term in categories)
    return tuple(dict.fromkeys(term for term in capped if term))[:MAX_CATEGORIES]


def _enclosures(enclosures: Iterable[Enclosure], base: str) -> tuple[Enclosure, ...]:
    kept: dict[str, Enclosure] = {}
    for enclosure in enclosures:
        url = _web_url(enclosure.url, base)
        if url is None or url in kept:
            continue
        length = (
            enclosure.length if enclosure.length is not None and enclosure.length >= 0 else None
        )
        kept[url] = Enclosure(url=url, type=_blank_to_none(enclosure.type), length=length)
    return tuple(kept.values())


# --- URLs and text ------------------------------------------------------------------


def _web_url(value: str | None, base: str | None) -> str | None:
    """`value` resolved against `base`, kept only when it is http(s)."""
    resolved = _resolve(value, base)
    if resolved is None or _scheme(resolved) not in _WEB_SCHEMES:
        return None
    return resolved


def _safe_content_url(value: str, base: str | None) -> str | None:
    resolved = _resolve(value, base)
    if resolved is None:
        return None
    scheme = _scheme(resolved)
    if scheme is None:
        return resolved  # still relative: there was no base to resolve it against
    return resolved if scheme in _CONTENT_URL_SCHEMES else None


def _resolve(value: str | None, base: str | None) -> str | None:
    if value is None:
        return None
    cleaned = _URL_INVISIBLES.sub("", _CONTROL_CHARS.sub("", value)).strip(" \x0c")
    if not cleaned:
        return None
    if base and _scheme(cleaned) is None:
        try:
            return urljoin(base, cleaned)
        except ValueError:  # e.g. an unbalanced IPv6 bracket
            return None
    return cleaned


def _scheme(url: str) -> str | None:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def _is_html(kind: str) -> bool:
    return "html" in kind


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = _CONTROL_CHARS.sub("", value).strip()
    return stripped or None


class _TextExtractor(HTMLParser):
    """Text of an HTML fragment, with script/style bodies left out."""

    _SILENT = frozenset({"script", "style", "template", "noscript"})
    _BREAKING = frozenset({"br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._silent_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SILENT:
            self._silent_depth += 1
        elif tag in self._BREAKING:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SILENT:
            self._silent_depth = max(0, self._silent_depth - 1)
        elif tag in self._BREAKING:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._silent_depth:
            self.parts.append(data)
