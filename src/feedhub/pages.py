"""HTML pages and the OPML list that sit beside the feeds: NAME.html for each output,
index.html and outputs.opml for the public ones.

Pages are static and self-contained: no JavaScript, no external assets, so they work under
serve.py's `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'`.
The pages are Jinja2 templates (templates/: base.html with its stylesheet page.css,
output.html, index.html), autoescaped: the only markup let through is entry HTML,
sanitized once more here (nh3 allowlist) even though normalize already did, because this
is where it meets a browser. Nothing depends on the wall clock, so unchanged input renders
to identical bytes and write_if_changed leaves the files (and their ETags) alone.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
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

if TYPE_CHECKING:
    import jinja2

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


# --- view models: everything the templates show, already cleaned -------------------


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


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2  # ~40 ms with its lexer: a build whose pages are unchanged never needs it

    return jinja2.Environment(
        loader=jinja2.PackageLoader("feedhub", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the build, not the page
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template: str, what: str, **context: object) -> bytes:
    import jinja2

    try:
        text = (
            _environment()
            .get_template(template)
            .render(version=__version__, project_url=PROJECT_URL, **context)
        )
        return text.encode("utf-8")
    except (jinja2.TemplateError, UnicodeError) as exc:
        raise GenerateError(f"{what}: cannot render {template}: {exc}") from exc


def render_output_page(selection: Selection, *, base_url: str, site_title: str) -> bytes:
    """NAME.html: the output's entries in the selection's order, with autodiscovery
    (`<link rel="alternate">`) and visible subscribe links for its formats only.

    `base_url` is the folder the output's files are published under (for a private
    output, the token folder). A private page gets noindex and no-referrer, and no link
    to the site index, which lives outside its folder.
    """
    output = selection.output
    private = output.private_token is not None
    entries = [_entry_view(stored) for stored in selection.entries]
    newest = max((s.published for s in selection.entries), default=None)
    return _render(
        "output.html",
        output.name,
        private=private,
        site_title=clean(site_title) or "feedhub",
        index_url=None if private else urljoin(base_url, INDEX_FILE),
        title=clean(output.title) or output.name,
        description=clean(output.description),
        feeds=feed_links(output, base_url),
        entries=entries,
        newest=_moment(newest) if newest else None,
    )


def _public(outputs: Sequence[OutputConfig]) -> list[OutputConfig]:
    return [output for output in outputs if not output.private_token]


def render_index(
    outputs: Sequence[OutputConfig],
    *,
    base_url: str,
    site_title: str,
    counts: Mapping[str, int] | None = None,
) -> bytes:
    """index.html: the public outputs (those without a private_token) in the given order,
    each with its page and feed links; `counts` (output name -> entries) adds a count."""
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
    return _render(
        "index.html",
        "index",
        private=False,
        site_title=clean(site_title) or "feedhub",
        outputs=views,
        opml_url=urljoin(base_url, quote(OPML_FILE)),
    )


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
