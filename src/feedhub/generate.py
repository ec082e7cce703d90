"""Render a curated Selection as Atom 1.0 and RSS 2.0 (via feedgen) and JSON Feed 1.1,
and write the files (atomically, only when their bytes change: atomicfiles.py).

This is the only module that imports feedgen, and only once something is rendered: its
import (lxml, dateutil) costs ~60 ms, which a `feedhub fetch` of 304s, or a build whose
outputs are all unchanged, never needs. feedgen 1.0 builds an lxml tree and cannot
express everything a republished entry needs, so the tree from its `_create_atom()` /
`_create_rss()` (the methods its own `atom_str()` / `rss_str()` serialize) is finished here
before serializing:

- atom:source: feedgen writes only a title and a bare link; RFC 4287 4.2.11 provenance
  wants the source feed's id, self link and alternate link too.
- entry <link rel="enclosure"> and rel="replies" (RFC 4685): feedgen 1.0's entry link
  loop reads rel/type/length from the element it just created instead of the link data,
  so every entry link comes out bare (= rel="alternate"); and it refuses rel="replies".
- entry xml:lang: feedgen only has a feed-level language.
- RSS <atom:link rel="hub"> (WebSub, W3C REC 2018 section 4): feedgen copies only the
  first rel=self link into an RSS channel.

Outputs are reproducible: no date comes from the wall clock (feedgen defaults its
updated/lastBuildDate to now; both are always overwritten here), and entries keep the
selection's order (feedgen prepends unless told `order="append"`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from feedhub import PROJECT_URL, __version__
from feedhub.atomicfiles import make_directory, write_files, write_if_changed
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
    render_json,
    source_feed_uri,
    source_title,
    utc,
    xml_safe,
)
from feedhub.models import Format, Selection, SourceInfo, StoredEntry

__all__ = [
    "EPOCH",
    "generate_output",
    "make_directory",
    "render_atom",
    "render_json",
    "render_output_files",
    "render_rss",
    "write_files",
    "write_if_changed",
]

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


# feedgen.util.xml_elem(name, parent=None, **attributes): feedgen's element factory, used
# for the elements added to its tree so they are made as its own are.
_ElementFactory = Callable[..., Any]


# --- feed level -------------------------------------------------------------------


def _new_generator(
    selection: Selection, fmt: _XmlFormat, *, base_url: str, updated_fallback: datetime
) -> Any:
    from feedgen.feed import FeedGenerator  # ~60 ms: only when a feed is rendered

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


def _atom_source_element(source: SourceInfo, xml_elem: _ElementFactory) -> Any:
    element = xml_elem("source")
    feed_uri = source_feed_uri(source)
    xml_elem("id", element).text = clean(source.feed_id) or feed_uri
    xml_elem("title", element).text = source_title(source)
    site = clean(source.link)
    if site:
        xml_elem("link", element, rel="alternate", href=site)
    xml_elem("link", element, rel="self", href=feed_uri)
    return element


def _append_atom_enclosures(element: Any, stored: StoredEntry, xml_elem: _ElementFactory) -> None:
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
    # (feedgen.util needs lxml.etree imported first: feedgen.feed did, in _new_generator.)
    from feedgen.util import xml_elem

    feed_language = common_language(selection.entries)
    for element, stored in zip(feed.findall("entry"), selection.entries, strict=True):
        _append_atom_enclosures(element, stored, xml_elem)
        comments = clean(stored.entry.comments)
        if comments:
            xml_elem("link", element, rel="replies", type="text/html", href=comments)
        element.append(_atom_source_element(stored.source, xml_elem))
        language = language_tag(stored.entry.language)
        if language and language != feed_language:
            element.set(XML_LANG, language)


def _finish_rss(rss: Any, selection: Selection) -> None:
    hubs = [hub for hub in map(clean, selection.output.hubs) if hub]
    if not hubs:
        return
    from feedgen.util import xml_elem

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


# --- files ------------------------------------------------------------------------

_Renderer = Callable[..., bytes]
_RENDERERS: dict[str, _Renderer] = {"atom": render_atom, "rss": render_rss, "json": render_json}


def render_output_files(
    selection: Selection,
    *,
    output_dir: Path,
    base_url: str,
    updated_fallback: datetime = EPOCH,
) -> list[tuple[Path, bytes]]:
    """NAME.atom / NAME.rss / NAME.json for the output's formats, rendered, not written."""
    name = selection.output.name
    return [
        (
            output_dir / f"{name}.{fmt}",
            _RENDERERS[fmt](selection, base_url=base_url, updated_fallback=updated_fallback),
        )
        for fmt in dict.fromkeys(selection.output.formats)
    ]


def generate_output(
    selection: Selection,
    *,
    output_dir: Path,
    base_url: str,
    updated_fallback: datetime = EPOCH,
) -> list[Path]:
    """Write NAME.atom / NAME.rss / NAME.json for the output's formats into `output_dir`.

    Returns the paths actually rewritten. `updated_fallback` dates a feed with no entries;
    it must be stable between runs (never now()), so unchanged outputs stay byte-identical.
    """
    make_directory(output_dir)
    files = render_output_files(
        selection, output_dir=output_dir, base_url=base_url, updated_fallback=updated_fallback
    )
    return write_files(files)
