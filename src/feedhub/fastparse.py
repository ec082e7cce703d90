"""A fast reader for clean RSS 2.0 and Atom 1.0, with lxml, that reads what feedparser reads.

feedparser costs ~0.3 ms of CPU an entry in pure Python, the largest cost of a cold
fetch. This module reads the common, clean shapes several times faster and declines the
rest (raises Unsupported), which parse.py then hands to feedparser, the reference.

How it stays identical. It does not reinterpret feeds: for each element it knows, it does
what feedparser 6.0.x's handler for that element does, building the dict keys rawfeed.py
reads, in document order, quirks included (an Atom <id> becomes the link when no
alternate link came first; "UTF-8 read as latin-1" is repaired in text; an author
without an e-mail gets the previous author's; RSS titles that look like HTML are HTML).
fastquirks.py holds those pieces of feedparser; rawfeed turns both paths' dicts into
FeedMeta and RawEntry with the same code.

What it declines. Any element outside the tables at the end, which list per level the
elements checked against feedparser: those it reads, and those feedparser files under
keys nobody reads (slash:comments, itunes:duration...); attributes it does not know on
an element it reads; markup or comments inside text elements; a second copy of a
single-valued element; dates, xhtml and namespace declarations it cannot read exactly
as feedparser does; C1 controls (feedparser maps them to cp1252); DOCTYPEs, entities
and xml:base (fastquirks.screen, before parsing). parse.py's gate keeps documents
xmlprep repaired away from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from feedhub.fastquirks import (
    LangReader,
    Unsupported,
    add_tag,
    child_elements,
    content_type,
    enforce_href,
    inherited_lang,
    looks_like_html,
    lower_attributes,
    no_base,
    only_attributes,
    repaired,
    resolve_uri,
    rfc822_tuple,
    save_author,
    screen,
    sync_author_detail,
    text_only,
    whitespace_only,
    xhtml_value,
    xml_lang,
)

__all__ = ["Reading", "ReferenceFacts", "Unsupported", "read"]

_Dict = dict[str, Any]
_ATOM = "http://www.w3.org/2005/Atom"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"  # Apple's spelling
_SY = "{http://purl.org/rss/1.0/modules/syndication/}"
_MEDIA = "{http://search.yahoo.com/mrss/}"
_A = "{" + _ATOM + "}"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Namespaces whose mere declaration on the root makes feedparser name the version.
_VERSION_NAMESPACES = frozenset(
    {"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"}
)
_RSS2_VERSION = re.compile(r"2\.0(?:\.\d+)?")
_ENTITY_LIKE = re.compile("&([A-Za-z0-9_]+);")  # feedparser's, in its _end_link
_NONE: frozenset[str] = frozenset()
_GUID_ATTRIBUTES = frozenset({"isPermaLink"})
_TYPE_ATTRIBUTE = frozenset({"type"})
_VERSION_ATTRIBUTE = frozenset({"version"})
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, recover=False, huge_tree=False, load_dtd=False
)


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
    langs = screen(data, facts.namespaces)
    root = etree.fromstring(data, _PARSER)
    if any(uri.lower() in _VERSION_NAMESPACES for uri in root.nsmap.values()):
        raise Unsupported("an RSS 0.90/1.0 namespace on the root")
    reader = _Reader(facts, xml_lang if langs else inherited_lang)
    lang = reader.lang(root, language)
    feed: _Dict = {}
    if language:
        feed["language"] = language.replace("_", "-")
    if lang:
        feed["language"] = lang.replace("_", "-")
    if root.tag == "rss":
        only_attributes(root, _VERSION_ATTRIBUTE)
        if not _RSS2_VERSION.fullmatch(root.get("version", "")):
            raise Unsupported(f"RSS version {root.get('version')!r}")
        channels = [child for child in root if isinstance(child.tag, str)]
        if [child.tag for child in channels] != ["channel"]:
            raise Unsupported("<rss> without exactly one <channel>")
        entries = reader.rss_channel(channels[0], feed, lang)
        return Reading("rss20", feed, entries)
    if root.tag == _A + "feed":
        only_attributes(root, _NONE)
        return Reading("atom10", feed, reader.atom_feed(root, feed, lang))
    raise Unsupported(f"root element {root.tag}")


class _Reader:
    def __init__(self, facts: ReferenceFacts, lang: LangReader) -> None:
        self.facts = facts
        self.lang = lang  # xml_lang, or inherited_lang when the document has no xml:lang
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
        # Other spellings of the same elements, so that _entry looks a tag up once.
        for table in (self.rss_item, self.atom_entry):
            table.update({alias: table[tag] for alias, tag in _CANONICAL.items() if tag in table})

    # --- RSS 2.0 ---------------------------------------------------------------------

    def rss_channel(self, channel: etree._Element, feed: _Dict, lang: str | None) -> list[_Dict]:
        only_attributes(channel, _NONE)
        lang = self.lang(channel, lang)
        entries: list[_Dict] = []
        seen: set[str] = set()
        for child in channel:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # comments and processing instructions: SAX never reports them
            tag = _CANONICAL.get(tag, tag)
            if tag == "item":
                entries.append(self._entry(child, self.rss_item, self.lang(child, lang), rss=True))
                continue
            if tag in _CHANNEL_SINGLE:
                if tag in seen:
                    raise Unsupported(f"a second <{tag}> in the channel")
                seen.add(tag)
            handler = _RSS_CHANNEL.get(tag)
            if handler is None:
                raise Unsupported(f"channel element {tag}")
            handler(self, child, feed, self.lang(child, lang))
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
        only_attributes(el, _NONE)
        feed.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
        value = repaired(resolve_uri(text_only(el).strip()))
        value = _ENTITY_LIKE.sub(r"&\g<1>", value) if "&" in value else value
        feed["link"] = value
        feed["links"][-1]["href"] = value

    def _channel_atom_link(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        self._link(el, feed, _State(lang, self.lang))

    def _channel_value(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        # <language>, <ttl>, sy:updatePeriod, sy:updateFrequency: kept as text under
        # feedparser's name for them.
        only_attributes(el, _NONE)
        feed[_FEED_KEYS[_CANONICAL.get(el.tag, el.tag)]] = repaired(text_only(el).strip())

    def _channel_image(self, el: etree._Element, feed: _Dict, lang: str | None) -> None:
        # Its children fill feedparser's feed.image, but any other child makes feedparser
        # leave "image mode" and file the following ones under the channel.
        only_attributes(el, _NONE)
        for child in child_elements(el):
            if child.tag not in ("title", "url", "link", "width", "height", "description"):
                raise Unsupported(f"image element {child.tag}")
            only_attributes(child, _NONE)
            text_only(child)

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
        only_attributes(el, _NONE)
        e.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
        value = repaired(resolve_uri(text_only(el).strip()))
        if "&" in value:
            value = _ENTITY_LIKE.sub(r"&\g<1>", value.replace("&amp;", "&"))
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
        only_attributes(el, _NONE)
        e.setdefault("authors", []).append({})
        e["author"] = repaired(text_only(el).strip())
        sync_author_detail(e)

    def _itunes_keywords(self, el: etree._Element, e: _Dict, state: _State) -> None:
        only_attributes(el, _NONE)
        for term in repaired(text_only(el).strip()).split(","):
            if term.strip():
                add_tag(e, term.strip(), "http://www.itunes.com/", None)

    def _comments(self, el: etree._Element, e: _Dict, state: _State) -> None:
        only_attributes(el, _NONE)
        e["comments"] = repaired(resolve_uri(text_only(el).strip()))

    def _enclosure(self, el: etree._Element, e: _Dict, state: _State) -> None:
        attrs = lower_attributes(el)
        enforce_href(attrs)
        attrs["rel"] = "enclosure"
        e.setdefault("links", []).append(attrs)
        if len(el):
            raise Unsupported("markup inside <enclosure>")

    # --- Atom 1.0 --------------------------------------------------------------------

    def atom_feed(self, root: etree._Element, feed: _Dict, lang: str | None) -> list[_Dict]:
        entries: list[_Dict] = []
        seen: set[str] = set()
        state = _State(lang, self.lang)
        for child in root:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag == _A + "entry":
                entry_lang = self.lang(child, lang)
                entries.append(self._entry(child, self.atom_entry, entry_lang, rss=False))
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
        only_attributes(el, _NONE)
        e.setdefault("authors", []).append({})
        whitespace_only(el)
        for child in child_elements(el):
            if child.tag == _A + "name" or child.tag == _A + "email":
                # Pushed without expecting text: no latin-1 repair, only stripped.
                only_attributes(child, _NONE)
                save_author(e, child.tag[len(_A) :], text_only(child).strip())
            elif child.tag == _A + "uri":
                only_attributes(child, _NONE)
                save_author(e, "href", repaired(resolve_uri(text_only(child).strip())))
            elif child.tag != "{http://schemas.google.com/g/2005}image" or len(child):
                raise Unsupported(f"author element {child.tag}")
        e["author"] = ""  # the author element's own (blank) text, then the sync
        sync_author_detail(e)

    def _contributor(self, el: etree._Element, e: _Dict, state: _State) -> None:
        # Kept in "contributors", which nothing reads; its <uri> also lands in "href".
        only_attributes(el, _NONE)
        whitespace_only(el)
        for child in child_elements(el):
            if child.tag not in (_A + "name", _A + "email", _A + "uri"):
                raise Unsupported(f"contributor element {child.tag}")
            only_attributes(child, _NONE)
            text_only(child)

    def _atom_detail(self, el: etree._Element, lang: str | None) -> _Dict:
        only_attributes(el, _TYPE_ATTRIBUTE)
        kind = {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}.get(
            el.get("type", "text").lower()
        )
        if kind is None:
            raise Unsupported(f"Atom text type {el.get('type')!r}")
        if kind != "application/xhtml+xml":
            return self._detail(el, kind, lang, rss=False)
        return {"type": kind, "language": _language(lang), "base": "", "value": xhtml_value(el)}

    # --- shared by both formats --------------------------------------------------------

    def _entry(
        self,
        item: etree._Element,
        handlers: Mapping[str, Callable[[etree._Element, _Dict, _State], None]],
        lang: str | None,
        *,
        rss: bool,
    ) -> _Dict:
        only_attributes(item, _NONE)
        e: _Dict = {}
        state = _State(lang, self.lang)
        for child in item:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            handler = handlers.get(tag)
            if handler is None:
                raise Unsupported(f"{'item' if rss else 'entry'} element {tag}")
            handler(child, e, state)
        return e

    def _detail(self, el: etree._Element, kind: str, lang: str | None, *, rss: bool) -> _Dict:
        if rss:
            only_attributes(el, _NONE)
        value = text_only(el).strip()
        if rss and kind == "text/plain" and looks_like_html(value, self.facts.html_elements):
            kind = "text/html"
        return {"type": kind, "language": _language(lang), "base": "", "value": repaired(value)}

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
        only_attributes(el, _GUID_ATTRIBUTES if el.tag == "guid" else _NONE)
        state.guid_is_link = el.get("isPermaLink", "true") == "true"
        value = text_only(el).strip()
        value = repaired(resolve_uri(value) if state.guid_is_link else value)
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
        only_attributes(el, _NONE)
        self._single(e, key)
        e[key] = value = repaired(text_only(el).strip())
        e[key + "_parsed"] = rfc822_tuple(value)

    def _category(self, el: etree._Element, e: _Dict, state: _State) -> None:
        if attrs := lower_attributes(el):
            term, label = attrs.get("term"), attrs.get("label")
            add_tag(e, term, attrs.get("scheme", attrs.get("domain")), label)
        else:  # add_tag(e, None, None, None), for most categories
            e.setdefault("tags", [])
        value = repaired(text_only(el).strip())
        if value:
            tags = e["tags"]
            if tags and not tags[-1]["term"]:
                tags[-1]["term"] = value
            else:
                add_tag(e, value, None, None)

    def _link(self, el: etree._Element, e: _Dict, state: _State) -> None:
        attrs = lower_attributes(el)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        enforce_href(attrs)
        if "href" not in attrs or len(el) or (el.text or "").strip():
            raise Unsupported("a link without href, or with content")
        attrs["href"] = resolve_uri(attrs["href"])
        e.setdefault("links", []).append(attrs)
        if attrs["rel"] == "alternate" and content_type(attrs["type"]) in _HTML_TYPES:
            e["link"] = attrs["href"]

    def _single(self, e: _Dict, key: str) -> None:
        if key in e:
            raise Unsupported(f"a second element for {key}")


class _State:
    """Per item/entry state feedparser keeps on its parser object."""

    def __init__(self, lang: str | None, read_lang: LangReader) -> None:
        self.lang = lang
        self.read_lang = read_lang
        self.has_content = False
        self.guid_is_link = False

    def lang_of(self, el: etree._Element) -> str | None:
        return self.read_lang(el, self.lang)


def _ignored(el: etree._Element, e: _Dict, state: _State) -> None:
    # Checked in feedparser: stored under keys rawfeed never reads. Children would be
    # handled by feedparser on their own, so there must be none.
    if len(el) and any(isinstance(child.tag, str) for child in el):
        raise Unsupported(f"markup inside {el.tag}")
    no_base(el)


def _channel_ignored(reader: _Reader, el: etree._Element, feed: _Dict, lang: str | None) -> None:
    _ignored(el, feed, _State(lang, reader.lang))


def _language(lang: str | None) -> str | None:
    return lang.replace("_", "-") if lang else lang


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
