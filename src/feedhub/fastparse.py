"""A fast reader for clean RSS 2.0 and Atom 1.0, with lxml, that reads what feedparser reads.

feedparser costs ~0.35 ms an entry in pure Python, the largest cost of a cold fetch. This
module reads the common, clean shapes ~15x faster and declines everything else, so parse.py
hands those documents to feedparser, which stays the reference.

How it stays identical. It does not reinterpret feeds: for each element it knows, it does
what feedparser's handler for that element does (feedparser/mixin.py and namespaces/,
6.0.x), building the same dict keys that rawfeed.py reads, in document order, with
feedparser's quirks (an Atom <id> that becomes the link when no alternate link came first,
"utf-8 read as latin-1" repaired in text, the previous author's e-mail copied into the
next author, looks_like_html upgrading RSS titles). rawfeed turns both paths' dicts into
FeedMeta and RawEntry with the same code.

What it declines (raises Unsupported). Any element outside the tables below, which list
per level the elements checked against feedparser's handlers: those it reads, and those
feedparser keeps only under keys nobody reads (slash:comments, itunes:duration...). Any
attribute it does not know on an element it reads; text elements with markup or comments
inside; a second copy of a single-valued element; RSS dates in a form it cannot read
exactly as feedparser's RFC 822 reader does; Atom xhtml it cannot serialize exactly as
feedparser does; namespace declarations that would change feedparser's view of a
prefix or of the version; C1 control characters (feedparser maps them to cp1252). It
never sees a DOCTYPE, entities, xml:base or a repaired document: parse.py's gate keeps
those for feedparser.

It imports nothing of feedparser: what it needs to know of it (its HTML element list, its
namespace table) comes in a ReferenceFacts from parse.py.
"""

from __future__ import annotations

import html.entities
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

__all__ = ["Reading", "ReferenceFacts", "Unsupported", "read"]

_Dict = dict[str, Any]
_ATOM = "http://www.w3.org/2005/Atom"
_XHTML = "http://www.w3.org/1999/xhtml"
_XHTML_DIV = "{http://www.w3.org/1999/xhtml}div"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"  # Apple's spelling
_SY = "{http://purl.org/rss/1.0/modules/syndication/}"
_MEDIA = "{http://search.yahoo.com/mrss/}"
_A = "{" + _ATOM + "}"
_QUOTE = {'"': "&quot;"}  # feedparser's strattrs
# Attribute names feedparser or rawfeed act on, in any namespace.
_READ_ATTRIBUTES = frozenset(
    {"rel", "type", "href", "url", "uri", "length", "term", "scheme", "label", "domain"}
    | {"base", "lang", "ispermalink", "src", "mode", "version", "text", "about", "lastmod"}
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Namespaces whose mere declaration on the root makes feedparser name the version.
_VERSION_NAMESPACES = frozenset(
    {"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"}
)
_XMLNS = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_OUR_PREFIXES = frozenset(
    {"content", "dc", "itunes", "media", "slash", "wfw", "sy", "feedburner", "thr", "xhtml"}
    | {"xml", "gd", "app", "opensearch"}
)
# U+0080-U+009F as UTF-8 or as character references.
_C1 = re.compile(rb"\xc2[\x80-\x9f]|&#(?:[xX]0*[89][0-9a-fA-F]|0*1(?:2[89]|[3-5][0-9]));")
_RSS2_VERSION = re.compile(r"2\.0(?:\.\d+)?")
# feedparser's urls._urljoin with an empty base: extra slashes after "scheme://" go.
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
# feedparser's _sync_author_detail, verbatim: the e-mail inside an author string.
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|"""
    r"""(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
# The one RFC 822 shape read here, with its weekday (without one, a date starts with a
# digit and rawfeed reads it itself); anything else is feedparser's to read.
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) (GMT|UT|UTC|Z|[+-]\d{4}|[ECMP][SD]T)"
)
_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
_ZONE_HOURS = {"EDT": -4, "EST": -5, "CDT": -5, "CST": -6, "MDT": -6, "MST": -7, "PDT": -7}
_ZONE_HOURS["PST"] = -8
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, recover=False, huge_tree=False, load_dtd=False
)


class Unsupported(Exception):
    """The document has something this reader cannot promise to read as feedparser does."""


@dataclass(frozen=True)
class ReferenceFacts:
    """What this reader must know of feedparser, which it does not import."""

    html_elements: frozenset[str]  # _HTMLSanitizer.acceptable_elements (looks_like_html)
    namespaces: Mapping[str, str]  # namespace URI, lowercased -> feedparser's prefix


@dataclass(frozen=True)
class Reading:
    """feedparser-shaped dicts (the keys rawfeed reads) of one document."""

    version: str
    feed: _Dict
    entries: list[_Dict]


def read(data: bytes, facts: ReferenceFacts, *, language: str | None = None) -> Reading:
    """Read `data` (UTF-8 XML from xmlprep) as feedparser would, or raise Unsupported
    (or lxml's XMLSyntaxError). `language` is the Content-Language feedparser is given."""
    if _C1.search(data):
        raise Unsupported("C1 control characters (feedparser reads them as cp1252)")
    _check_declarations(data, facts)
    root = etree.fromstring(data, _PARSER)
    if any(uri.lower() in _VERSION_NAMESPACES for uri in root.nsmap.values()):
        raise Unsupported("an RSS 0.90/1.0 namespace on the root")
    reader = _Reader(facts)
    lang = _lang(root, language)
    feed: _Dict = {}
    if language:
        feed["language"] = language.replace("_", "-")
    if lang:
        feed["language"] = lang.replace("_", "-")
    if root.tag == "rss":
        _only_attributes(root, {"version"})
        if not _RSS2_VERSION.fullmatch(root.get("version", "")):
            raise Unsupported(f"RSS version {root.get('version')!r}")
        channels = [child for child in root if isinstance(child.tag, str)]
        if [child.tag for child in channels] != ["channel"]:
            raise Unsupported("<rss> without exactly one <channel>")
        entries = reader.rss_channel(channels[0], feed, lang)
        return Reading("rss20", feed, entries)
    if root.tag == _A + "feed":
        _only_attributes(root, set())
        return Reading("atom10", feed, reader.atom_feed(root, feed, lang))
    raise Unsupported(f"root element {root.tag}")


def _check_declarations(data: bytes, facts: ReferenceFacts) -> None:
    # feedparser maps a document prefix bound to a known namespace onto that namespace's
    # own prefix, for every later element: xmlns:content="<dc>" would make content:encoded
    # dc:encoded. Harmless unless the document prefix is one the elements read here have
    # (Medium binds cc to the Harvard Creative Commons module, whose prefix differs).
    for match in _XMLNS.finditer(data):
        prefix = (match.group(1) or b"").decode("utf-8", "replace")
        uri = (match.group(2) or match.group(3) or b"").decode("utf-8", "replace").lower()
        known = "" if "backend.userland.com/rss" in uri else facts.namespaces.get(uri)
        if known is not None and prefix.lower() in _OUR_PREFIXES and prefix != known:
            raise Unsupported(f"prefix {prefix!r} bound to another known namespace")


class _Reader:
    def __init__(self, facts: ReferenceFacts) -> None:
        self.facts = facts
        self.rss_item: dict[str, Callable[[etree._Element, _Dict, _State], None]] = {
            "title": self._rss_title,
            "link": self._rss_link,
            "description": self._rss_description,
            "guid": self._guid,
            "pubDate": self._published,
            "author": self._rss_author,
            _DC + "creator": self._rss_author,
            _ITUNES + "author": self._rss_author,
            "category": self._category,
            "comments": self._comments,
            "enclosure": self._enclosure,
            _CONTENT + "encoded": self._content_encoded,
            _DC + "date": self._updated,
            _A + "updated": self._updated,  # Medium's items
            _ITUNES + "summary": self._summary,
            _ITUNES + "keywords": self._itunes_keywords,
            **dict.fromkeys(_RSS_ITEM_IGNORED, _ignored),
        }
        self.atom_entry: dict[str, Callable[[etree._Element, _Dict, _State], None]] = {
            _A + "id": self._guid,
            _A + "title": self._atom_text,
            _A + "summary": self._summary,
            _A + "content": self._atom_content,
            _A + "link": self._link,
            _A + "published": self._published,
            _A + "updated": self._updated,
            _A + "author": self._atom_author,
            _A + "category": self._category,
            _A + "contributor": self._contributor,
            **dict.fromkeys(_ATOM_ENTRY_IGNORED, _ignored),
        }

    # --- RSS 2.0 ---------------------------------------------------------------------

    def rss_channel(self, channel: etree._Element, feed: _Dict, lang: str | None) -> list[_Dict]:
        _only_attributes(channel, set())
        lang = _lang(channel, lang)
        entries: list[_Dict] = []
        seen: set[str] = set()
        for child in channel:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # comments and processing instructions: SAX never reports them
            tag = _CANONICAL.get(tag, tag)
            if tag == "item":
                entries.append(self._entry(child, self.rss_item, _lang(child, lang), rss=True))
                continue
            if tag in _CHANNEL_SINGLE:
                if tag in seen:
                    raise Unsupported(f"a second <{tag}> in the channel")
                seen.add(tag)
            handler = _RSS_CHANNEL.get(tag)
            if handler is None:
                raise Unsupported(f"channel element {tag}")
            handler(self, child, feed, _lang(child, lang))
        return entries

    def _channel_title(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        feed["title_detail"] = self._detail(el, "text/plain", lang, rss=True)

    def _channel_description(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        if "summary" in feed:  # feedparser would read it as the channel's content
            raise Unsupported("channel <description> after a summary")
        feed["subtitle_detail"] = self._detail(el, "text/html", lang, rss=True)

    def _channel_subtitle(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        feed["subtitle_detail"] = self._detail(el, "text/plain", lang, rss=True)

    def _channel_summary(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        if "summary" in feed:
            raise Unsupported("a second channel summary")
        feed["summary"] = self._detail(el, "text/plain", lang, rss=True)["value"]

    def _channel_link(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        _only_attributes(el, set())
        feed.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
        value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", _popped(_resolve(_text(el).strip())))
        feed["link"] = value
        feed["links"][-1]["href"] = value

    def _channel_atom_link(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        self._link(el, feed, _State(lang))

    def _channel_value(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        # <language>, <ttl>, sy:updatePeriod, sy:updateFrequency: kept as text under
        # feedparser's name for them.
        _only_attributes(el, set())
        feed[_FEED_KEYS[_CANONICAL.get(el.tag, el.tag)]] = _popped(_text(el).strip())

    def _channel_image(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        # Its children fill feedparser's feed.image, but any other child makes feedparser
        # leave "image mode" and file the following ones under the channel.
        _only_attributes(el, set())
        for child in _elements(el):
            if child.tag not in ("title", "url", "link", "width", "height", "description"):
                raise Unsupported(f"image element {child.tag}")
            _only_attributes(child, set())
            _text(child)

    def _channel_nested(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        # itunes:owner (name, email) and itunes:category (nested): feed-level authors
        # and tags, which nothing reads for RSS.
        for child in el.iter():
            if (
                isinstance(child.tag, str)
                and _CANONICAL.get(child.tag, child.tag) not in _NESTED_OK
            ):
                raise Unsupported(f"{child.tag} inside {el.tag}")

    def _rss_title(self, el: etree._Element, e: _Dict, state: _State) -> None:
        self._single(e, "title_detail")
        e["title_detail"] = self._detail(el, "text/plain", state.lang_of(el), rss=True)

    def _rss_link(self, el: etree._Element, e: _Dict, state: _State) -> None:
        _only_attributes(el, set())
        e.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
        value = _popped(_resolve(_text(el).strip())).replace("&amp;", "&")
        value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value)
        e["link"] = value
        if value:
            e["links"][-1]["href"] = value

    def _rss_description(self, el: etree._Element, e: _Dict, state: _State) -> None:
        if "summary" in e and not state.has_content:
            self._content(el, e, state, "text/plain")  # feedparser's "second summary"
            return
        self._single(e, "summary_detail")
        detail = self._detail(el, "text/html", state.lang_of(el), rss=True)
        e["summary"] = detail["value"]
        e["summary_detail"] = detail

    def _content_encoded(self, el: etree._Element, e: _Dict, state: _State) -> None:
        self._content(el, e, state, "text/html")

    def _rss_author(self, el: etree._Element, e: _Dict, state: _State) -> None:
        _only_attributes(el, set())
        e.setdefault("authors", []).append({})
        e["author"] = _popped(_text(el).strip())
        _sync_author_detail(e)

    def _itunes_keywords(self, el: etree._Element, e: _Dict, state: _State) -> None:
        _only_attributes(el, set())
        for term in _popped(_text(el).strip()).split(","):
            if term.strip():
                _add_tag(e, term.strip(), "http://www.itunes.com/", None)

    def _comments(self, el: etree._Element, e: _Dict, state: _State) -> None:
        _only_attributes(el, set())
        e["comments"] = _popped(_resolve(_text(el).strip()))

    def _enclosure(self, el: etree._Element, e: _Dict, state: _State) -> None:
        attrs = _lower_attributes(el)
        _enforce_href(attrs)
        attrs["rel"] = "enclosure"
        e.setdefault("links", []).append(attrs)
        if len(el):
            raise Unsupported("markup inside <enclosure>")

    # --- Atom 1.0 --------------------------------------------------------------------

    def atom_feed(self, root: etree._Element, feed: _Dict, lang: str | None) -> list[_Dict]:
        entries: list[_Dict] = []
        seen: set[str] = set()
        state = _State(lang)
        for child in root:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag == _A + "entry":
                entries.append(self._entry(child, self.atom_entry, _lang(child, lang), rss=False))
                continue
            if tag in seen and tag not in _ATOM_REPEATABLE:
                raise Unsupported(f"a second {tag} in the feed")
            seen.add(tag)
            if tag in (_A + "title", _A + "subtitle"):
                key = tag[len(_A) :] + "_detail"
                feed[key] = self._atom_detail(child, state.lang_of(child))
            elif tag == _A + "id":
                self._guid(child, feed, state)
            elif tag == _A + "link":
                self._link(child, feed, state)
            elif tag == _A + "author":
                self._atom_author(child, feed, state)
            elif tag == _A + "contributor":
                self._contributor(child, feed, state)
            elif tag in _ATOM_FEED_IGNORED:
                _ignored(child, feed, state)
            else:
                raise Unsupported(f"feed element {tag}")
        return entries

    def _atom_text(self, el: etree._Element, e: _Dict, state: _State) -> None:
        key = el.tag[len(_A) :] + "_detail"
        self._single(e, key)
        e[key] = self._atom_detail(el, state.lang_of(el))

    def _atom_content(self, el: etree._Element, e: _Dict, state: _State) -> None:
        self._content(el, e, state, "text/plain")

    def _atom_author(self, el: etree._Element, e: _Dict, state: _State) -> None:
        _only_attributes(el, set())
        e.setdefault("authors", []).append({})
        _whitespace_only(el)
        for child in _elements(el):
            if child.tag == _A + "name" or child.tag == _A + "email":
                # Pushed without expecting text: no latin-1 repair, only stripped.
                _only_attributes(child, set())
                _save_author(e, child.tag[len(_A) :], _text(child).strip())
            elif child.tag == _A + "uri":
                _only_attributes(child, set())
                _save_author(e, "href", _popped(_resolve(_text(child).strip())))
            elif child.tag != "{http://schemas.google.com/g/2005}image" or len(child):
                raise Unsupported(f"author element {child.tag}")
        e["author"] = ""  # the author element's own (blank) text, then the sync
        _sync_author_detail(e)

    def _contributor(self, el: etree._Element, e: _Dict, state: _State) -> None:
        # Kept in "contributors", which nothing reads; its <uri> also lands in "href".
        _only_attributes(el, set())
        _whitespace_only(el)
        for child in _elements(el):
            if child.tag not in (_A + "name", _A + "email", _A + "uri"):
                raise Unsupported(f"contributor element {child.tag}")
            _only_attributes(child, set())
            _text(child)

    def _atom_detail(self, el: etree._Element, lang: str | None) -> _Dict:
        _only_attributes(el, {"type"})
        kind = {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}.get(
            el.get("type", "text").lower()
        )
        if kind is None:
            raise Unsupported(f"Atom text type {el.get('type')!r}")
        if kind != "application/xhtml+xml":
            return self._detail(el, kind, lang, rss=False)
        return {"type": kind, "language": _language(lang), "base": "", "value": _xhtml(el)}

    # --- shared by both formats --------------------------------------------------------

    def _entry(
        self,
        item: etree._Element,
        handlers: Mapping[str, Callable[[etree._Element, _Dict, _State], None]],
        lang: str | None,
        *,
        rss: bool,
    ) -> _Dict:
        _only_attributes(item, set())
        e: _Dict = {}
        state = _State(lang)
        for child in item:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            handler = handlers.get(_CANONICAL.get(tag, tag))
            if handler is None:
                raise Unsupported(f"{'item' if rss else 'entry'} element {tag}")
            handler(child, e, state)
        return e

    def _detail(self, el: etree._Element, kind: str, lang: str | None, *, rss: bool) -> _Dict:
        if rss:
            _only_attributes(el, set())
        value = _text(el).strip()
        if rss and kind == "text/plain" and self._looks_like_html(value):
            kind = "text/html"
        return {"type": kind, "language": _language(lang), "base": "", "value": _popped(value)}

    def _content(self, el: etree._Element, e: _Dict, state: _State, default: str) -> None:
        # feedparser's _start_content / _end_content: content, and a summary only as a
        # plain key (no summary_detail) when none came before.
        state.has_content = True
        if el.tag == _A + "content":
            detail = self._atom_detail(el, state.lang_of(el))
        else:
            detail = self._detail(el, default, state.lang_of(el), rss=True)
        e.setdefault("content", []).append(detail)
        if len(e["content"]) > 1:
            raise Unsupported("a second content element")
        e.setdefault("summary", detail["value"])

    def _summary(self, el: etree._Element, e: _Dict, state: _State) -> None:
        if "summary" in e and not state.has_content:
            self._content(el, e, state, "text/plain")
            return
        self._single(e, "summary_detail")
        if el.tag == _A + "summary":
            detail = self._atom_detail(el, state.lang_of(el))
        else:
            detail = self._detail(el, "text/plain", state.lang_of(el), rss=True)
        e["summary"] = detail["value"]
        e["summary_detail"] = detail

    def _guid(self, el: etree._Element, e: _Dict, state: _State) -> None:
        _only_attributes(el, {"isPermaLink"} if el.tag == "guid" else set())
        state.guid_is_link = el.get("isPermaLink", "true") == "true"
        value = _text(el).strip()
        value = _popped(_resolve(value) if state.guid_is_link else value)
        self._single(e, "id")
        e["id"] = value
        e.setdefault("guidislink", state.guid_is_link and "link" not in e)
        if state.guid_is_link:
            e.setdefault("link", value)

    def _published(self, el: etree._Element, e: _Dict, state: _State) -> None:
        self._date(el, e, "published")

    def _updated(self, el: etree._Element, e: _Dict, state: _State) -> None:
        self._date(el, e, "updated")

    def _date(self, el: etree._Element, e: _Dict, key: str) -> None:
        _only_attributes(el, set())
        self._single(e, key)
        e[key] = value = _popped(_text(el).strip())
        e[key + "_parsed"] = _rfc822(value)

    def _category(self, el: etree._Element, e: _Dict, state: _State) -> None:
        attrs = _lower_attributes(el)
        term, label = attrs.get("term"), attrs.get("label")
        _add_tag(e, term, attrs.get("scheme", attrs.get("domain")), label)
        value = _popped(_text(el).strip())
        if value:
            tags = e["tags"]
            if tags and not tags[-1]["term"]:
                tags[-1]["term"] = value
            else:
                _add_tag(e, value, None, None)

    def _link(self, el: etree._Element, e: _Dict, state: _State) -> None:
        attrs = _lower_attributes(el)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        _enforce_href(attrs)
        if "href" not in attrs or len(el) or (el.text or "").strip():
            raise Unsupported("a link without href, or with content")
        attrs["href"] = _resolve(attrs["href"])
        e.setdefault("links", []).append(attrs)
        if attrs["rel"] == "alternate" and _content_type(attrs["type"]) in _HTML_TYPES:
            e["link"] = attrs["href"]

    def _single(self, e: _Dict, key: str) -> None:
        if key in e:
            raise Unsupported(f"a second element for {key}")

    def _looks_like_html(self, value: str) -> bool:
        # feedparser's _FeedParserMixin.looks_like_html, verbatim.
        if not (re.search(r"</(\w+)>", value) or re.search(r"&#?\w+;", value)):
            return False
        elements = self.facts.html_elements
        if any(t for t in re.findall(r"</?(\w+)", value) if t.lower() not in elements):
            return False
        entities = html.entities.entitydefs
        return not any(e for e in re.findall(r"&(\w+);", value) if e not in entities)


class _State:
    """Per item/entry state feedparser keeps on its parser object."""

    def __init__(self, lang: str | None) -> None:
        self.lang = lang
        self.has_content = False
        self.guid_is_link = False

    def lang_of(self, el: etree._Element) -> str | None:
        return _lang(el, self.lang)


def _ignored(el: etree._Element, e: _Dict, state: _State) -> None:
    # Checked in feedparser: stored under keys rawfeed never reads. Children would be
    # handled by feedparser on their own, so there must be none.
    if len(el) and any(isinstance(child.tag, str) for child in el):
        raise Unsupported(f"markup inside {el.tag}")
    _no_base(el)


def _no_base(el: etree._Element) -> None:
    # feedparser takes any attribute named "base", in any namespace and any case, as
    # the base URI from there on, even past the element's end.
    if any(str(key).rpartition("}")[2].lower() == "base" for key in el.attrib):
        raise Unsupported(f"a base attribute on {el.tag}")


def _channel_ignored(reader: _Reader, el: etree._Element, feed: _Dict, lang: str | None) -> None:
    _ignored(el, feed, _State(lang))


def _xhtml(el: etree._Element) -> str:
    """feedparser's serialization of Atom type="xhtml": the div's content, tags rebuilt
    from the SAX events (lowercased names, <br/> as <br></br>, text escaped)."""
    children = [child for child in el if isinstance(child.tag, str)]
    if len(children) != 1 or children[0].tag != _XHTML_DIV:
        raise Unsupported("xhtml content that is not one div")
    if (el.text or "").strip() or (children[0].tail or "").strip():
        raise Unsupported("text around the xhtml div")
    pieces: list[str] = []
    _serialize_children(children[0], pieces)
    return _popped("".join(pieces).strip())


def _serialize_children(el: etree._Element, pieces: list[str]) -> None:
    pieces.append(escape(el.text or ""))
    for child in el:
        if isinstance(child.tag, str):
            _serialize(child, pieces)
        pieces.append(escape(child.tail or ""))


def _serialize(el: etree._Element, pieces: list[str]) -> None:
    namespace, _, local = el.tag[1:].partition("}")
    name = local.lower()
    # svg and math switch feedparser into other modes; body ends the content.
    if namespace != _XHTML or name in ("svg", "math", "body"):
        raise Unsupported(f"xhtml element {el.tag}")
    attrs: dict[str, str] = {}
    for key, value in el.attrib.items():
        lowered = str(key).lower()
        if lowered.startswith("{") or lowered in attrs or lowered in ("base", "lang"):
            raise Unsupported(f"xhtml attribute {key}")
        attrs[lowered] = str(value).lower() if lowered in ("rel", "type") else str(value)
    quoted = "".join(f' {k}="{escape(v, _QUOTE)}"' for k, v in attrs.items())
    pieces.append(f"<{name}{quoted}>")
    _serialize_children(el, pieces)
    pieces.append(f"</{name}>")


def _sync_author_detail(context: _Dict) -> None:
    # feedparser's _sync_author_detail, step for step: with no author details yet, the
    # last author string is split into name and e-mail into the newest author.
    detail = context["authors"][-1] if context.get("authors") else {}
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name:
            context["author"] = name
        elif email:
            context["author"] = email
        return
    author, email = context.get("author"), None
    if not author:
        return
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def _save_author(context: _Dict, key: str, value: str) -> None:
    _sync_author_detail(context)
    context.setdefault("authors", [{}])
    context["authors"][-1][key] = value


def _add_tag(context: _Dict, term: str | None, scheme: str | None, label: str | None) -> None:
    tags = context.setdefault("tags", [])
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


def _enforce_href(attrs: dict[str, str]) -> None:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href


def _lower_attributes(el: etree._Element) -> dict[str, str]:
    """Attributes as feedparser's strict parser names them (names lowercased, rel and
    type values too). feedparser files a namespaced attribute under its bare name as
    well, so one is refused when that name is one read here (thr:count is harmless)."""
    attrs: dict[str, str] = {}
    for key, value in el.attrib.items():
        lowered = str(key).lower()
        if lowered.startswith("{"):
            if lowered.rpartition("}")[2] in _READ_ATTRIBUTES:
                raise Unsupported(f"attribute {key} on {el.tag}")
            continue
        if lowered in attrs or lowered in ("base", "lang"):
            raise Unsupported(f"attribute {key} on {el.tag}")
        attrs[lowered] = str(value).lower() if lowered in ("rel", "type") else str(value)
    return attrs


def _only_attributes(el: etree._Element, allowed: set[str]) -> None:
    for key in el.attrib:
        if key not in allowed and key != _XML_LANG:
            raise Unsupported(f"attribute {key} on {el.tag}")


def _whitespace_only(el: etree._Element) -> None:
    if (el.text or "").strip() or any((child.tail or "").strip() for child in el):
        raise Unsupported(f"text inside {el.tag}")


def _elements(el: etree._Element) -> list[etree._Element]:
    return [child for child in el if isinstance(child.tag, str)]


def _text(el: etree._Element) -> str:
    if len(el):
        raise Unsupported(f"markup or comments inside {el.tag}")
    return el.text or ""


def _lang(el: etree._Element, inherited: str | None) -> str | None:
    own = el.get(_XML_LANG)
    if own is None:
        return inherited
    return own or None


def _language(lang: str | None) -> str | None:
    return lang.replace("_", "-") if lang else lang


def _popped(value: str) -> str:
    # feedparser's pop(): text that is UTF-8 read as latin-1 is decoded again.
    if value.isascii():
        return value
    try:
        return value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _resolve(uri: str) -> str:
    match = _URI_FIXER.match(uri) if "://" in uri else None
    return uri[: match.end(1)] + uri[match.end(2) :] if match else uri


def _content_type(kind: str) -> str:
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html"}.get(
        kind, "application/xhtml+xml" if kind == "xhtml" else kind
    )


def _rfc822(value: str) -> tuple[int, ...] | None:
    """feedparser's reading of a date that rawfeed does not read itself: the UTC time
    tuple of its RFC 822 reader, for the one shape whose reading is certain."""
    if not value or value[:1].isdigit() or value.startswith("-"):
        return None  # rawfeed.entry_date reads these, never feedparser's tuple
    match = _RFC822.fullmatch(value)
    if match is None:
        raise Unsupported(f"date {value[:40]!r}")
    day, month, year, hour, minute, second, zone = match.groups()
    if zone[0] in "+-":
        hours, minutes = int(zone[1:3]), int(zone[3:])
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if zone[0] == "-" else 1)
    else:
        offset = timedelta(hours=_ZONE_HOURS.get(zone, 0))
    try:
        stamp = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
        return tuple((stamp - offset).utctimetuple())
    except (ValueError, OverflowError) as exc:
        raise Unsupported(f"date {value[:40]!r}") from exc


_Channel = Callable[[_Reader, etree._Element, _Dict, "str | None"], None]
_RSS_CHANNEL: dict[str, _Channel] = {
    "title": _Reader._channel_title,
    "link": _Reader._channel_link,
    "description": _Reader._channel_description,
    "language": _Reader._channel_value,
    "ttl": _Reader._channel_value,
    _SY + "updatePeriod": _Reader._channel_value,
    _SY + "updateFrequency": _Reader._channel_value,
    _A + "link": _Reader._channel_atom_link,
    _ITUNES + "subtitle": _Reader._channel_subtitle,
    _ITUNES + "summary": _Reader._channel_summary,
    "image": _Reader._channel_image,
    _ITUNES + "owner": _Reader._channel_nested,
    _ITUNES + "category": _Reader._channel_nested,
}
_FEED_KEYS = {
    "language": "language",
    "ttl": "ttl",
    _SY + "updatePeriod": "sy_updateperiod",
    _SY + "updateFrequency": "sy_updatefrequency",
}
_NESTED_OK = frozenset(
    {_ITUNES + "owner", _ITUNES + "name", _ITUNES + "email", _ITUNES + "category"}
)
# One of each in a channel: feedparser keeps the last (or the first) of several.
_CHANNEL_SINGLE = frozenset(
    {"title", "link", "description", "language", "ttl", _SY + "updatePeriod"}
    | {_SY + "updateFrequency", _ITUNES + "subtitle", _ITUNES + "summary", "image"}
)
# Checked against feedparser: each is kept under a key of its own (lastBuildDate as
# the feed's "updated", generator, managingEditor as feed authors, which RSS never
# passes on to items, itunes:image as "image"...) or dropped. tests/test_fastparse.py
# asserts that feedparser has no handler for the ones it treats as unknown.
_RSS_CHANNEL_IGNORED = (
    "lastBuildDate", "pubDate", "generator", "copyright", "docs", "managingEditor",
    "webMaster", "category", "cloud", _SY + "updateBase", _ITUNES + "author",
    _ITUNES + "explicit", _ITUNES + "image", _ITUNES + "keywords", _ITUNES + "type",
    _ITUNES + "block", _ITUNES + "complete", _ITUNES + "new-feed-url",
)  # fmt: skip
_RSS_CHANNEL.update(dict.fromkeys(_RSS_CHANNEL_IGNORED, _channel_ignored))
_RSS_ITEM_IGNORED = (
    "{http://purl.org/rss/1.0/modules/slash/}comments",
    "{http://wellformedweb.org/CommentAPI/}commentRss",
    "{http://wellformedweb.org/CommentAPI/}comment",
    "{http://rssnamespace.org/feedburner/ext/1.0}origLink",
    "{com-wordpress:feed-additions:1}post-id",
    _ITUNES + "duration", _ITUNES + "explicit", _ITUNES + "episode", _ITUNES + "season",
    _ITUNES + "episodeType", _ITUNES + "image", _ITUNES + "subtitle", _ITUNES + "title",
    _ITUNES + "block", _MEDIA + "content", _MEDIA + "thumbnail",
)  # fmt: skip
_ITEM_READ = (_ITUNES + "author", _ITUNES + "summary", _ITUNES + "keywords")
_ATOM_ENTRY_IGNORED = (
    _A + "rights", _MEDIA + "thumbnail",
    "{http://purl.org/syndication/thread/1.0}total",
    "{http://www.w3.org/2007/app}edited",
)  # fmt: skip
_OPENSEARCH = "{http://a9.com/-/spec/opensearchrss/1.0/}"  # Blogger's
_ATOM_FEED_IGNORED = frozenset(
    {_A + "updated", _A + "generator", _A + "icon", _A + "logo", _A + "rights", _A + "category"}
    | {_OPENSEARCH + "totalResults", _OPENSEARCH + "startIndex", _OPENSEARCH + "itemsPerPage"}
)
_ATOM_REPEATABLE = frozenset({_A + "link", _A + "author", _A + "category", _A + "contributor"})

# feedparser matches namespace URIs without case, and knows Media RSS with and without its
# final slash: other spellings of the namespaces above name the same elements.
_ALIASES = {
    _ITUNES: ("{http://www.itunes.com/DTDs/PodCast-1.0.dtd}",),
    _MEDIA: ("{http://search.yahoo.com/mrss}",),
}
_CANONICAL = {
    alias + tag[len(namespace) :]: tag
    for table in (_RSS_CHANNEL, _RSS_ITEM_IGNORED, _NESTED_OK, _FEED_KEYS, _ITEM_READ)
    for tag in table
    for namespace, aliases in _ALIASES.items()
    if tag.startswith(namespace)
    for alias in aliases
}
