"""HTML pages and the OPML list that sit beside the feeds: NAME.html for each output,
index.html and outputs.opml for the public ones.

Pages are static and self-contained: no JavaScript, no external assets, so they work under
serve.py's `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'`.
Every value is HTML-escaped (_h); the only markup let through is entry HTML, sanitized
once more here (nh3 allowlist) even though normalize already did, because this is where
it meets a browser. Nothing depends on the wall clock, so unchanged input renders to
identical bytes and write_if_changed leaves the files (and their ETags) alone.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from markupsafe import Markup

from feedhub import PROJECT_URL, __version__
from feedhub.errors import GenerateError
from feedhub.jsonfeed import (
    clean,
    clean_authors,
    entry_title,
    language_tag,
    output_url,
    rfc3339,
    source_title,
    utc,
    xml_safe,
)
from feedhub.models import Format, OutputConfig, RawText, Selection, StoredEntry

__all__ = [
    "INDEX_FILE",
    "OPML_FILE",
    "feed_links",
    "render_index",
    "render_opml",
    "render_output_page",
]

INDEX_FILE = "index.html"
OPML_FILE = "outputs.opml"
OPML_DOCS = "http://opml.org/spec2.opml"
EXCERPT_CHARS = 400

FORMAT_LABELS: Mapping[Format, str] = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
MEDIA_TYPES: Mapping[Format, str] = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}
# OPML's xmlUrl names one feed; Atom carries the most (ids, updated, provenance).
FEED_PREFERENCE: tuple[Format, ...] = ("atom", "rss", "json")


# --- view models: everything the pages show, already cleaned -----------------------


@dataclass(frozen=True)
class FeedLink:
    format: Format
    label: str
    media_type: str
    url: str


@dataclass(frozen=True)
class _Moment:
    machine: str  # RFC 3339, for <time datetime>
    human: str


@dataclass(frozen=True)
class _AuthorView:
    name: str
    url: str | None


@dataclass(frozen=True)
class _EntryView:
    title: str
    link: str | None
    published: _Moment
    source_title: str
    source_link: str | None
    authors: tuple[_AuthorView, ...]
    body: Markup | None  # sanitized summary HTML
    excerpt: str | None  # plain text, when there is no summary
    language: str | None


@dataclass(frozen=True)
class _OutputView:
    title: str
    description: str | None
    page_url: str
    feeds: tuple[FeedLink, ...]
    preferred: FeedLink | None
    count: int | None


def feed_links(output: OutputConfig, base_url: str) -> tuple[FeedLink, ...]:
    """One link per format the output publishes, in its configured order."""
    return tuple(
        FeedLink(fmt, FORMAT_LABELS[fmt], MEDIA_TYPES[fmt], output_url(base_url, output.name, fmt))
        for fmt in dict.fromkeys(output.formats)
    )


def _preferred(feeds: Sequence[FeedLink]) -> FeedLink | None:
    by_format = {feed.format: feed for feed in feeds}
    return next((by_format[f] for f in FEED_PREFERENCE if f in by_format), None)


@functools.lru_cache(maxsize=4096)
def _web_link(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL. Normalize already guarantees this for
    entry links; checking again keeps a javascript: URL out of an href whatever the store
    holds."""
    url = clean(value)
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _moment(value: datetime) -> _Moment:
    return _Moment(rfc3339(value), f"{utc(value):%Y-%m-%d %H:%M} UTC")


def _safe_html(value: str | None) -> Markup | None:
    if not value:
        return None
    from feedhub.normalize import sanitize_html  # nh3: only when a page is rendered

    # xml_safe first: nh3 cannot take lone surrogates, and control characters are noise.
    html = sanitize_html(xml_safe(value), base=None)
    return Markup(html) if html else None  # safe: nh3 allowlist, http(s)/mailto URLs only


def _excerpt(html: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    """The start of an HTML body as plain text, cut at a word boundary. Plain text because
    cutting HTML mid-element would need a re-balancing parser; autoescaping then makes it
    safe by construction."""
    if not html:
        return None
    from feedhub.normalize import plain_text

    text = plain_text(RawText(xml_safe(html), "text/html"))
    if len(text) <= limit:
        return text or None
    cut = text[: limit + 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else text[:limit]
    return cut.rstrip(" ,;:.-–—") + "…"


def _entry_view(stored: StoredEntry) -> _EntryView:
    entry = stored.entry
    body = _safe_html(entry.summary)
    return _EntryView(
        title=entry_title(entry),
        link=_web_link(entry.link),
        published=_moment(stored.published),
        source_title=source_title(stored.source),
        source_link=_web_link(stored.source.link),
        authors=tuple(
            _AuthorView(a.name or a.email or a.uri or "", _web_link(a.uri))
            for a in clean_authors(entry)
        ),
        body=body,
        excerpt=None if body else _excerpt(entry.content),
        language=language_tag(entry.language),
    )


# --- rendering ----------------------------------------------------------------------
# The pages are written here as text, byte for byte what the Jinja2 templates they
# replace rendered (tests/page_templates/, checked in test_render_identity.py): Jinja2
# cost ~45 ms of every build that wrote a page (import, lexer, template compiling). Every
# value goes through _h() but the entry body, which nh3 sanitized (_safe_html).


def _h(text: str | int) -> str:
    """Text or an attribute value for HTML, escaped as Jinja2's autoescape did
    (markupsafe): & < > " ' as entities."""
    text = str(text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&#34;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    return text


@functools.cache
def _style() -> str:
    """The stylesheet every page carries inline (serve.py's CSP allows no other)."""
    css = (Path(__file__).parent / "templates" / "page.css").read_text("utf-8")
    return f"<style>\n{css}</style>\n"


def _document(*, private: bool, title: str, head: str, page: str) -> str:
    """The frame every page shares: `head` and `page` are HTML, `title` is text."""
    robots = (
        # A private page's URL is its secret: keep it out of search engines and Referer
        # headers.
        '<meta name="robots" content="noindex, nofollow">\n'
        '<meta name="referrer" content="no-referrer">\n'
        if private
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f'<meta name="generator" content="feedhub {_h(__version__)}">\n'
        f"{robots}<title>{_h(title)}</title>\n{head}{_style()}</head>\n<body>\n"
        f'<div class="page">\n{page}<footer>\n'
        f'<p>Published with <a href="{_h(PROJECT_URL)}">feedhub</a>.</p>\n'
        "</footer>\n</div>\n</body>\n</html>\n"
    )


def _feed_list(feeds: Sequence[FeedLink]) -> str:
    return "".join(
        f'<li><a href="{_h(f.url)}" type="{_h(f.media_type)}">{_h(f.label)}</a></li>\n'
        for f in feeds
    )


def _linked(url: str | None, text: str) -> str:
    return f'<a href="{_h(url)}">{_h(text)}</a>' if url else _h(text)


def _plural(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


def _entry_html(entry: _EntryView) -> str:
    lang = f' lang="{_h(entry.language)}"' if entry.language else ""
    authors = ""
    if entry.authors:
        names = ",".join(f" {_linked(a.url, a.name)}" for a in entry.authors)
        authors = f' · <span class="authors">by{names}</span>'
    if entry.body:
        body = f'<div class="body">{entry.body}</div>\n'  # sanitized HTML, as is
    elif entry.excerpt:
        body = f'<div class="body"><p>{_h(entry.excerpt)}</p></div>\n'
    else:
        body = ""
    return (
        f"<li>\n<article{lang}>\n<header>\n<h2>{_linked(entry.link, entry.title)}</h2>\n"
        f'<p class="byline"><time datetime="{_h(entry.published.machine)}">'
        f"{_h(entry.published.human)}</time>\n"
        f'· <span class="source">{_linked(entry.source_link, entry.source_title)}</span>'
        f"{authors}</p>\n</header>\n{body}</article>\n</li>\n"
    )


def _output_html(
    *,
    private: bool,
    site_title: str,
    index_url: str | None,
    title: str,
    description: str | None,
    feeds: tuple[FeedLink, ...],
    entries: list[_EntryView],
    newest: _Moment | None,
) -> str:
    head = "".join(
        f'<link rel="alternate" type="{_h(f.media_type)}" title="{_h(title)} ({_h(f.label)})"'
        f' href="{_h(f.url)}">\n'
        for f in feeds
    )
    parts = [
        f'<header>\n<p class="site-name">{_linked(index_url, site_title)}</p>\n'
        f"<h1>{_h(title)}</h1>\n"
    ]
    if description:
        parts.append(f'<p class="description">{_h(description)}</p>\n')
    if feeds:
        parts.append(
            '<nav class="subscribe" aria-label="Subscribe">Subscribe:\n<ul>\n'
            f"{_feed_list(feeds)}</ul>\n</nav>\n"
        )
    latest = (
        f' · latest <time datetime="{_h(newest.machine)}">{_h(newest.human)}</time>'
        if newest
        else ""
    )
    parts.append(f'<p class="meta">{_plural(len(entries))}{latest}</p>\n</header>\n<main>\n')
    if entries:
        parts.append('<ol class="entries">\n')
        parts += [_entry_html(entry) for entry in entries]
        parts.append("</ol>\n")
    else:
        parts.append("<p>No entries yet.</p>\n")
    parts.append("</main>\n")
    return _document(
        private=private, title=f"{title} · {site_title}", head=head, page="".join(parts)
    )


def _index_html(*, site_title: str, outputs: list[_OutputView], opml_url: str) -> str:
    head = "".join(
        f'<link rel="alternate" type="{_h(o.preferred.media_type)}" title="{_h(o.title)}"'
        f' href="{_h(o.preferred.url)}">\n'
        for o in outputs
        if o.preferred
    )
    parts = [f"<header>\n<h1>{_h(site_title)}</h1>\n"]
    if outputs:
        parts.append(
            f'<p class="meta">All feeds as <a href="{_h(opml_url)}" type="text/x-opml">OPML</a>,'
            " to import into a feed reader.</p>\n"
        )
    parts.append("</header>\n<main>\n")
    if outputs:
        parts.append('<ul class="outputs">\n')
        for o in outputs:
            parts.append(
                f'<li>\n<article>\n<h2><a href="{_h(o.page_url)}">{_h(o.title)}</a></h2>\n'
            )
            if o.description:
                parts.append(f'<p class="description">{_h(o.description)}</p>\n')
            if o.count is not None:
                parts.append(f'<p class="meta">{_plural(o.count)}</p>\n')
            if o.feeds:
                parts.append(
                    f'<nav class="feeds" aria-label="Feeds of {_h(o.title)}">Subscribe:\n'
                    f"<ul>\n{_feed_list(o.feeds)}</ul>\n</nav>\n"
                )
            parts.append("</article>\n</li>\n")
        parts.append("</ul>\n")
    else:
        parts.append("<p>No public feeds.</p>\n")
    parts.append("</main>\n")
    return _document(private=False, title=site_title, head=head, page="".join(parts))


def _encoded(html: str, what: str, page: str) -> bytes:
    try:
        return html.encode("utf-8")
    except UnicodeError as exc:
        raise GenerateError(f"{what}: cannot render {page}: {exc}") from exc


def output_page_context(selection: Selection, *, base_url: str, site_title: str) -> dict[str, Any]:
    """What NAME.html shows, cleaned (the reference templates in tests/ render it too)."""
    output = selection.output
    private = output.private_token is not None
    newest = max((s.published for s in selection.entries), default=None)
    return {
        "private": private,
        "site_title": clean(site_title) or "feedhub",
        "index_url": None if private else urljoin(base_url, INDEX_FILE),
        "title": clean(output.title) or output.name,
        "description": clean(output.description),
        "feeds": feed_links(output, base_url),
        "entries": [_entry_view(stored) for stored in selection.entries],
        "newest": _moment(newest) if newest else None,
    }


def render_output_page(selection: Selection, *, base_url: str, site_title: str) -> bytes:
    """NAME.html: the output's entries in the selection's order, with autodiscovery
    (`<link rel="alternate">`) and visible subscribe links for its formats only.

    `base_url` is the folder the output's files are published under (for a private
    output, the token folder). A private page gets noindex and no-referrer, and no link
    to the site index, which lives outside its folder.
    """
    context = output_page_context(selection, base_url=base_url, site_title=site_title)
    return _encoded(_output_html(**context), selection.output.name, "output.html")


def _public(outputs: Sequence[OutputConfig]) -> list[OutputConfig]:
    return [output for output in outputs if not output.private_token]


def index_context(
    outputs: Sequence[OutputConfig],
    *,
    base_url: str,
    site_title: str,
    counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    views = []
    for output in _public(outputs):
        feeds = feed_links(output, base_url)
        views.append(
            _OutputView(
                title=clean(output.title) or output.name,
                description=clean(output.description),
                page_url=output_url(base_url, output.name, "html"),
                feeds=feeds,
                preferred=_preferred(feeds),
                count=counts.get(output.name) if counts is not None else None,
            )
        )
    return {
        "site_title": clean(site_title) or "feedhub",
        "outputs": views,
        "opml_url": urljoin(base_url, quote(OPML_FILE)),
    }


def render_index(
    outputs: Sequence[OutputConfig],
    *,
    base_url: str,
    site_title: str,
    counts: Mapping[str, int] | None = None,
) -> bytes:
    """index.html: the public outputs (those without a private_token) in the given order,
    each with its page and feed links; `counts` (output name -> entries) adds a count."""
    context = index_context(outputs, base_url=base_url, site_title=site_title, counts=counts)
    return _encoded(_index_html(**context), "index", "index.html")


def render_opml(outputs: Sequence[OutputConfig], *, base_url: str, site_title: str) -> bytes:
    """outputs.opml: an OPML 2.0 subscription list of the public outputs, one
    `<outline type="rss">` each (OPML 2.0 "subscription lists": text, xmlUrl required;
    htmlUrl, title, description optional). xmlUrl is the Atom file when the output has
    one, else RSS, else JSON Feed; an output publishing no feed is left out."""
    import xml.etree.ElementTree as ET  # only when the output list changed

    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = clean(site_title) or "feedhub"
    ET.SubElement(head, "docs").text = OPML_DOCS
    body = ET.SubElement(root, "body")
    for output in _public(outputs):
        preferred = _preferred(feed_links(output, base_url))
        if preferred is None:
            continue
        title = clean(output.title) or output.name
        outline = ET.SubElement(body, "outline", type="rss", text=title, title=title)
        description = clean(output.description)
        if description:
            outline.set("description", description)
        outline.set("xmlUrl", preferred.url)
        outline.set("htmlUrl", output_url(base_url, output.name, "html"))
    ET.indent(root)
    try:
        document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    except (ValueError, UnicodeError) as exc:
        raise GenerateError(f"cannot render {OPML_FILE}: {exc}") from exc
    return document + b"\n"
