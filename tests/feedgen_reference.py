"""The Atom and RSS renderers feedhub used before it wrote XML itself: feedgen 1.0 and lxml.

Kept as the reference generate.py is checked against (tests/test_render_identity.py):
outputs must stay byte-identical, so readers polling them keep getting 304s and
ETags hold across the upgrade.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, Literal

from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from feedhub import PROJECT_URL, __version__
from feedhub.errors import GenerateError
from feedhub.jsonfeed import (
    UNKNOWN_MEDIA_TYPE,
    clean,
    clean_authors,
    clean_categories,
    common_language,
    enclosure_length,
    entry_title,
    feed_updated,
    language_tag,
    media_type,
    output_url,
    source_feed_uri,
    source_title,
    utc,
    xml_safe,
)
from feedhub.models import Format, Selection, SourceInfo, StoredEntry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RSS_DOCS = "https://www.rssboard.org/rss-specification"
FEED_MEDIA_TYPES: dict[Format, str] = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}

_XmlFormat = Literal["atom", "rss"]


# --- feed level -------------------------------------------------------------------


def _new_generator(
    selection: Selection, fmt: _XmlFormat, *, base_url: str, updated_fallback: datetime
) -> Any:
    output = selection.output
    fg = FeedGenerator()
    if fmt == "rss":
        # dc:creator carries authors without an e-mail address: RSS <author> must be one
        # (RSS Advisory Board profile, "author"). Loaded before entries exist so each gets it.
        fg.load_extension("dc", atom=False, rss=True)
    title = clean(output.title) or output.name
    self_url = output_url(base_url, output.name, fmt)
    fg.id(self_url)
    fg.title(title)
    fg.link(href=self_url, rel="self", type=FEED_MEDIA_TYPES[fmt])
    for hub in filter(None, map(clean, output.hubs)):
        fg.link(href=hub, rel="hub")
    # feedgen makes the *last* link added the RSS channel <link>, so the alternate goes last.
    fg.link(href=output_url(base_url, output.name, "html"), rel="alternate", type="text/html")
    description = clean(output.description)
    if fmt == "rss":
        fg.description(description or title)  # RSS 2.0 requires a non-empty description
        fg.generator(f"feedhub {__version__} ({PROJECT_URL})")
        fg.docs(RSS_DOCS)
    else:
        if description:
            fg.subtitle(description)
        fg.generator("feedhub", version=__version__, uri=PROJECT_URL)
    # Sets atom:updated and RSS lastBuildDate alike, replacing feedgen's default of now().
    fg.updated(feed_updated(selection, updated_fallback))
    language = common_language(selection.entries)
    if language:
        fg.language(language)
    return fg


# --- entry level ------------------------------------------------------------------


def _add_common_entry_fields(fe: Any, stored: StoredEntry) -> None:
    entry = stored.entry
    fe.title(entry_title(entry))
    link = clean(entry.link)
    if link:
        fe.link(href=link, rel="alternate")
    fe.published(utc(stored.published))
    fe.updated(utc(stored.updated))
    categories = clean_categories(entry)
    if categories:
        fe.category([{"term": term} for term in categories])


def _add_atom_entry(fg: Any, stored: StoredEntry) -> None:
    entry = stored.entry
    fe = fg.add_entry(order="append")
    fe.id(xml_safe(stored.public_id))
    _add_common_entry_fields(fe, stored)

    authors = [
        {"name": a.name or a.email or a.uri, "email": a.email, "uri": a.uri}
        for a in clean_authors(entry)
    ]
    if not authors:
        # RFC 4287 4.1.2 (and its Schematron): every entry needs an atom:author unless the
        # feed has one, and an aggregate has no author of its own. The source is the
        # closest thing to an author we know.
        authors = [{"name": source_title(stored.source)}]
    fe.author(authors)

    summary = clean(entry.summary)
    content = clean(entry.content)
    if content is None and not clean(entry.link):
        # RFC 4287 4.1.1.1: without an alternate link an entry needs atom:content.
        content = summary or ""
    if content is not None:
        fe.content(content, type="html")
    if summary:
        fe.summary(summary, type="html")


def _add_rss_item(fg: Any, stored: StoredEntry) -> None:
    entry = stored.entry
    fe = fg.add_entry(order="append")
    public_id = xml_safe(stored.public_id)
    link = clean(entry.link)
    # isPermaLink="true" promises the guid is a URL a reader may open as the item's page.
    permalink = (
        entry.guid_is_permalink
        and public_id.startswith(("http://", "https://"))
        and public_id == link
    )
    fe.guid(public_id, permalink=permalink)
    _add_common_entry_fields(fe, stored)

    authors = clean_authors(entry)
    with_email = [{"name": a.name, "email": a.email} for a in authors if a.email]
    if with_email:
        fe.author(with_email)  # feedgen writes "email (name)" per RSS 2.0
    creators = [a.name or a.uri for a in authors if not a.email]
    if creators:
        fe.dc.dc_creator(creators)

    summary = clean(entry.summary)
    content = clean(entry.content)
    # feedgen: summary -> <description>; content -> <content:encoded>, or <description>
    # when there is no summary.
    if summary:
        fe.summary(summary)
    if content:
        fe.content(content)

    # RSS 2.0 allows one enclosure per item, and requires its length and type.
    for enclosure in entry.enclosures:
        url = clean(enclosure.url)
        if url:
            fe.enclosure(
                url=url,
                length=str(enclosure_length(enclosure) or 0),
                type=media_type(enclosure.type) or UNKNOWN_MEDIA_TYPE,
            )
            break

    comments = clean(entry.comments)
    if comments:
        fe.comments(comments)
    fe.source(url=source_feed_uri(stored.source), title=source_title(stored.source))


# --- tree post-processing ---------------------------------------------------------


def _atom_source_element(source: SourceInfo) -> Any:
    element = xml_elem("source")
    feed_uri = source_feed_uri(source)
    xml_elem("id", element).text = clean(source.feed_id) or feed_uri
    xml_elem("title", element).text = source_title(source)
    site = clean(source.link)
    if site:
        xml_elem("link", element, rel="alternate", href=site)
    xml_elem("link", element, rel="self", href=feed_uri)
    return element


def _append_atom_enclosures(element: Any, stored: StoredEntry) -> None:
    for enclosure in stored.entry.enclosures:
        url = clean(enclosure.url)
        if not url:
            continue
        link = xml_elem("link", element, rel="enclosure", href=url)
        kind = media_type(enclosure.type)
        if kind:
            link.set("type", kind)
        length = enclosure_length(enclosure)
        if length is not None:
            link.set("length", str(length))


def _finish_atom(feed: Any, selection: Selection) -> None:
    # feedgen builds the Atom tree from un-namespaced elements under a root carrying a
    # literal xmlns attribute, so the serialized text is Atom; added elements follow suit.
    feed_language = common_language(selection.entries)
    for element, stored in zip(feed.findall("entry"), selection.entries, strict=True):
        _append_atom_enclosures(element, stored)
        comments = clean(stored.entry.comments)
        if comments:
            xml_elem("link", element, rel="replies", type="text/html", href=comments)
        element.append(_atom_source_element(stored.source))
        language = language_tag(stored.entry.language)
        if language and language != feed_language:
            element.set(XML_LANG, language)


def _finish_rss(rss: Any, selection: Selection) -> None:
    hubs = [hub for hub in map(clean, selection.output.hubs) if hub]
    if not hubs:
        return
    channel = rss.find("channel")
    self_link = channel.find(f"{{{ATOM_NS}}}link")
    position = channel.index(self_link) + 1
    for offset, hub in enumerate(hubs):
        channel.insert(position + offset, xml_elem(f"{{{ATOM_NS}}}link", rel="hub", href=hub))


def _serialize(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.write(buffer, pretty_print=True, encoding="UTF-8", xml_declaration=True)
    return buffer.getvalue()


# --- public renderers -------------------------------------------------------------


def render_atom(selection: Selection, *, base_url: str, updated_fallback: datetime) -> bytes:
    """The selection as an Atom 1.0 (RFC 4287) document, identical bytes for identical input."""
    try:
        fg = _new_generator(selection, "atom", base_url=base_url, updated_fallback=updated_fallback)
        for stored in selection.entries:
            _add_atom_entry(fg, stored)
        feed, document = fg._create_atom()
        _finish_atom(feed, selection)
        return _serialize(document)
    except (ValueError, TypeError) as exc:  # feedgen's and lxml's way of refusing data
        raise GenerateError(f"{selection.output.name}: cannot render Atom: {exc}") from exc


def render_rss(selection: Selection, *, base_url: str, updated_fallback: datetime) -> bytes:
    """The selection as an RSS 2.0 document, identical bytes for identical input."""
    try:
        fg = _new_generator(selection, "rss", base_url=base_url, updated_fallback=updated_fallback)
        for stored in selection.entries:
            _add_rss_item(fg, stored)
        rss, document = fg._create_rss()
        _finish_rss(rss, selection)
        return _serialize(document)
    except (ValueError, TypeError) as exc:
        raise GenerateError(f"{selection.output.name}: cannot render RSS: {exc}") from exc
