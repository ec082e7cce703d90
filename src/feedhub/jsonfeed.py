"""JSON Feed 1.1 serializer (https://www.jsonfeed.org/version/1.1/), and the helpers it
shares with generate.py.

feedgen has no JSON Feed support, so this module writes it with the standard library.
The shared helpers live here rather than in generate.py because generate.py imports this
module (it re-exports render_json); the reverse import would be circular.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from feedhub.models import Author, Enclosure, Entry, Selection, SourceInfo, StoredEntry

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
UNKNOWN_MEDIA_TYPE = "application/octet-stream"
UNTITLED = "(untitled)"

# What XML 1.0 section 2.2 `Char` leaves out (C0 controls, lone surrogates, U+FFFE/FFFF),
# which makes a parser reject the document. Listed rather than negating `Char`: the same
# set, compiled in 0.8 ms instead of 7 (a build pays it on every run).
NOT_XML_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# RFC 4287 atomLanguageTag (RFC 3066 shape); anything else fails the Atom schema.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# RFC 4287 atomMediaType is ".+/.+"; also refuse whitespace so it is a usable header value.
_MEDIA_TYPE = re.compile(r"[^\s/]+/[^\s/]+")
# RFC 4287 atomEmailAddress is ".+@.+".
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")


# --- helpers shared with generate.py -----------------------------------------


def xml_safe(text: str | None) -> str:
    """`text` without the characters XML 1.0 forbids; None becomes ""."""
    return NOT_XML_CHAR.sub("", text) if text else ""


@lru_cache(maxsize=4096)
def clean(text: str | None) -> str | None:
    """`text` made XML-safe and stripped; None when nothing is left. Cached: each
    format of an output cleans the same entry text."""
    cleaned = xml_safe(text).strip()
    return cleaned or None


def utc(moment: datetime) -> datetime:
    """`moment` in UTC to the second: sub-second digits only add noise to RFC 822/3339."""
    if moment.tzinfo is None:  # models promise aware datetimes; never guess a local zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    return utc(moment).isoformat().replace("+00:00", "Z")


def output_url(base_url: str, name: str, extension: str) -> str:
    # quote() so an output name can never be read as a URL scheme or carry a query.
    return urljoin(base_url, f"{quote(name)}.{extension}")


def feed_updated(selection: Selection, fallback: datetime) -> datetime:
    """The newest change among the entries, else `fallback`: never the wall clock, so
    re-rendering unchanged entries yields identical bytes."""
    if not selection.entries:
        return utc(fallback)
    return utc(max(max(s.changed_at, s.updated) for s in selection.entries))


def entry_title(entry: Entry) -> str:
    """A non-empty plain-text title: Atom requires one (RFC 4287 4.1.2)."""
    return clean(entry.title) or clean(entry.link) or UNTITLED


@lru_cache(maxsize=1024)
def source_title(source: SourceInfo) -> str:
    return clean(source.title) or clean(source.name) or source_feed_uri(source)


@lru_cache(maxsize=1024)
def source_feed_uri(source: SourceInfo) -> str:
    """The source's feed URL; a local-file source becomes a file: URI so it stays an IRI."""
    url = xml_safe(source.url).strip()
    if not urlsplit(url).scheme and url.startswith("/"):
        return PurePosixPath(url).as_uri()
    return url


@lru_cache(maxsize=256)
def language_tag(value: str | None) -> str | None:
    """A valid language tag, or None (never "": xml:lang="" is a schema false alarm)."""
    tag = (value or "").strip().replace("_", "-")
    return tag if _LANGUAGE_TAG.fullmatch(tag) else None


def common_language(entries: tuple[StoredEntry, ...]) -> str | None:
    """The language every entry shares, when all of them declare the same one."""
    tags = {language_tag(s.entry.language) for s in entries}
    if len(tags) == 1:
        return tags.pop()
    return None


def media_type(value: str | None) -> str | None:
    cleaned = clean(value)
    return cleaned if cleaned and _MEDIA_TYPE.fullmatch(cleaned) else None


def enclosure_length(enclosure: Enclosure) -> int | None:
    """The byte length when known; 0 or negative means the source did not know."""
    length = enclosure.length
    return length if length is not None and length > 0 else None


def clean_authors(entry: Entry) -> list[Author]:
    """The entry's authors with safe text, invalid e-mail addresses dropped, empties skipped."""
    return list(_clean_authors(entry.authors))


@lru_cache(maxsize=1024)
def _clean_authors(entry_authors: tuple[Author, ...]) -> tuple[Author, ...]:
    authors: list[Author] = []
    for author in entry_authors:
        email = clean(author.email)
        cleaned = Author(
            name=clean(author.name),
            email=email if email and _EMAIL.fullmatch(email) else None,
            uri=clean(author.uri),
        )
        if cleaned.name or cleaned.email or cleaned.uri:
            authors.append(cleaned)
    return tuple(authors)


def clean_categories(entry: Entry) -> list[str]:
    return list(_clean_categories(entry.categories))


@lru_cache(maxsize=1024)
def _clean_categories(categories: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for category in categories:
        term = clean(category)
        if term:
            seen.setdefault(term)
    return tuple(seen)


# --- JSON Feed ------------------------------------------------------------------


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: JSON Feed `summary` is plain text, ours is HTML."""
    if "<" not in html and "&" not in html:
        return " ".join(html.split())  # no markup, no references: the parser's text as is
    extractor = _text_extractor()()
    extractor.feed(html)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


@lru_cache(maxsize=1)
def _text_extractor() -> type[Any]:
    from html.parser import HTMLParser  # only for summaries with markup

    class TextExtractor(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    return TextExtractor


def _json_author(author: Author) -> dict[str, str] | None:
    # JSON Feed has no e-mail field; its spec allows a mailto: URL instead.
    url = author.uri or (f"mailto:{author.email}" if author.email else None)
    result: dict[str, str] = {}
    if author.name:
        result["name"] = author.name
    if url:
        result["url"] = url
    return result or None


def _json_attachment(enclosure: Enclosure) -> dict[str, Any] | None:
    url = clean(enclosure.url)
    if not url:
        return None
    # mime_type is required by JSON Feed 1.1 even when the source did not say.
    attachment: dict[str, Any] = {
        "url": url,
        "mime_type": media_type(enclosure.type) or UNKNOWN_MEDIA_TYPE,
    }
    length = enclosure_length(enclosure)
    if length is not None:
        attachment["size_in_bytes"] = length
    return attachment


def _json_source(source: SourceInfo) -> dict[str, str]:
    result = {"name": xml_safe(source.name), "title": source_title(source)}
    site = clean(source.link)
    if site:
        result["url"] = site
    result["feed_url"] = source_feed_uri(source)
    return result


def _json_item(stored: StoredEntry) -> dict[str, Any]:
    entry = stored.entry
    content = clean(entry.content)
    summary = clean(entry.summary)
    item: dict[str, Any] = {"id": xml_safe(stored.public_id)}
    link = clean(entry.link)
    if link:
        item["url"] = link
    title = clean(entry.title)
    if title:  # optional in JSON Feed, unlike Atom; readers show the content instead
        item["title"] = title
    # One of content_html / content_text is required.
    item["content_html"] = content or summary or ""
    if summary:
        summary_text = html_to_text(summary)
        if summary_text:
            item["summary"] = summary_text
    item["date_published"] = rfc3339(stored.published)
    item["date_modified"] = rfc3339(stored.updated)
    authors = [a for a in map(_json_author, clean_authors(entry)) if a]
    if authors:
        item["authors"] = authors
    tags = clean_categories(entry)
    if tags:
        item["tags"] = tags
    attachments = [a for a in map(_json_attachment, entry.enclosures) if a]
    if attachments:
        item["attachments"] = attachments
    language = language_tag(entry.language)
    if language:
        item["language"] = language
    # Underscore keys are JSON Feed's extension mechanism; readers ignore what they do not know.
    item["_feedhub"] = {"source": _json_source(stored.source)}
    return item


def render_json(selection: Selection, *, base_url: str, updated_fallback: datetime) -> bytes:
    """The selection as a JSON Feed 1.1 document, UTF-8, deterministic byte for byte.

    `updated_fallback` is accepted so all renderers share one signature; JSON Feed 1.1 has
    no feed-level date, so it is unused.
    """
    del updated_fallback
    output = selection.output
    title = clean(output.title) or output.name
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": title,
        "home_page_url": output_url(base_url, output.name, "html"),
        "feed_url": output_url(base_url, output.name, "json"),
    }
    description = clean(output.description)
    if description:
        feed["description"] = description
    language = common_language(selection.entries)
    if language:
        feed["language"] = language
    hubs = [{"type": "WebSub", "url": url} for url in map(clean, output.hubs) if url]
    if hubs:
        feed["hubs"] = hubs
    feed["items"] = [_json_item(stored) for stored in selection.entries]
    # Insertion order is fixed above, so the output is stable without sort_keys and keeps
    # `version` first as readers sniffing the format expect.
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
