"""parse_document: every supported format's fields, bases, recovery and refusals."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub import rawfeed
from feedhub.errors import ParseError
from feedhub.models import Author, Enclosure, ParsedFeed, RawText
from feedhub.parse import discover_feed_links, parse_document

FEEDS = Path(__file__).parent / "data" / "feeds"
FINAL_URL = "https://fetched.example.com/dir/feed"


def load(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def parse(name: str, **headers: str) -> ParsedFeed:
    return parse_document(load(name), url=FINAL_URL, headers=headers or None)


# --- RSS ----------------------------------------------------------------------------


def test_rss20_feed_meta() -> None:
    feed = parse("rss20.xml")
    assert feed.version == "rss20"
    assert feed.bozo is None
    assert feed.meta.title == "Example & Co. Blog"
    assert feed.meta.link == "https://blog.example.com/"  # the alternate link, not atom:link self
    assert feed.meta.subtitle == "Notes from the example team"
    assert feed.meta.language == "en-gb"
    assert feed.meta.ttl_minutes == 90
    assert feed.meta.update_period == timedelta(hours=6)  # daily / 4
    assert len(feed.entries) == 3


def test_rss20_full_item() -> None:
    first = parse("rss20.xml").entries[0]
    assert first.id == "tag:blog.example.com,2024:first"
    assert first.guid_is_permalink is False
    assert first.link == "/posts/first"  # relative: resolved only by normalize
    assert first.base == FINAL_URL
    assert first.title == RawText("First <b>post</b>", "text/html", FINAL_URL)
    assert first.summary == RawText("Short <em>teaser</em>", "text/html", FINAL_URL)
    assert first.content is not None
    assert first.content.value.startswith('<p>Full text with <a href="/about">')
    assert first.content.type == "text/html"
    assert first.published == datetime(2024, 1, 2, 8, 30, tzinfo=UTC)
    assert first.published_raw == "Tue, 02 Jan 2024 10:30:00 +0200"
    assert first.authors == (Author(name="Alice Example", email="alice@example.com"),)
    assert first.categories == ("News", "Python")
    assert first.enclosures == (
        Enclosure("https://cdn.example.com/first.mp3", "audio/mpeg", 12345),
    )
    assert first.comments == "https://blog.example.com/posts/first#comments"
    assert first.language == "en-gb"


def test_rss20_guid_permalink_description_only_and_dc_creator() -> None:
    second, third = parse("rss20.xml").entries[1:]
    assert second.guid_is_permalink is True
    assert second.link == "https://blog.example.com/posts/second"  # taken from the guid
    assert second.summary == RawText("Only a description here.", "text/html", FINAL_URL)
    assert second.content is None
    assert second.updated is None  # not feedparser's updated -> published fallback
    assert second.authors == (Author(name="Bob Writer"),)
    assert second.enclosures == (Enclosure("https://cdn.example.com/second.ogg", "audio/ogg"),)
    assert third.id is None
    assert third.guid_is_permalink is None
    assert third.published is None and third.published_raw is None


def test_rss20_guid_after_link_still_reads_as_permalink() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><title>a</title>'
        b"<link>https://x.example/a</link><guid>https://x.example/a</guid></item></channel></rss>"
    )
    (entry,) = parse_document(body, url="https://x.example/feed").entries
    assert entry.guid_is_permalink is True


def test_rss10_content_encoded_lands_in_content() -> None:
    feed = parse("rss10.rdf")
    assert feed.version == "rss10"
    assert feed.meta.language == "de"
    assert feed.meta.update_period == timedelta(days=3, hours=12)  # weekly / 2
    (entry,) = feed.entries
    assert entry.content == RawText(
        "<p>Rich <strong>content</strong> of A</p>", "text/html", FINAL_URL
    )
    assert entry.summary is not None and entry.summary.value == "Plain description of A"
    assert entry.updated == datetime(2024, 3, 5, 11, 0, tzinfo=UTC)  # dc:date
    assert entry.guid_is_permalink is None  # RSS 1.0 has no guid
    assert entry.categories == ("rdf",)
    assert entry.authors == (Author(name="Carla"),)


def test_rss091_with_latin1_encoding() -> None:
    feed = parse("rss091.xml")
    assert feed.version.startswith("rss091")
    assert feed.meta.subtitle == "Café news"
    (entry,) = feed.entries
    assert entry.summary is not None and entry.summary.value == "Bonjour été"
    assert entry.link == "http://old.example.net/1.html"


# --- Atom ---------------------------------------------------------------------------


def test_atom10_meta_resolved_against_xml_base() -> None:
    feed = parse("atom10.xml")
    assert feed.version == "atom10"
    assert feed.meta.title == "Atom <Blog>"  # type="html" title as plain text
    assert feed.meta.link == "https://atom.example.com/blog/"
    assert feed.meta.id == "urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6"
    assert feed.meta.language == "en"


def test_atom10_links_by_relation() -> None:
    entry = parse("atom10.xml").entries[0]
    assert entry.link == "https://atom.example.com/blog/entries/1"  # alternate, not self
    assert entry.enclosures == (
        Enclosure("https://atom.example.com/blog/media/clip.mp4", "video/mp4", 2048),
    )
    assert entry.comments == "https://atom.example.com/blog/entries/1#comments"  # text/html reply
    assert entry.guid_is_permalink is None


def test_atom10_entry_fields() -> None:
    entry = parse("atom10.xml").entries[0]
    assert entry.title == RawText("<b>x</b> &amp; y", "text/html", "https://atom.example.com/blog/")
    assert entry.summary == RawText("A summary.", "text/plain", "https://atom.example.com/blog/")
    assert entry.content == RawText(
        '<p>See <a href="2">the next one</a>.</p>',
        "application/xhtml+xml",
        "https://atom.example.com/blog/entries/",
    )
    assert entry.published == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)
    assert entry.updated == datetime(2024, 1, 16, 9, 0, tzinfo=UTC)
    assert entry.categories == ("physics", "chemistry")
    # feedparser leaks Dana's email into Eve; parse must not.
    assert entry.authors == (
        Author("Dana", "dana@example.com", "https://dana.example.com/"),
        Author("Eve"),
    )


def test_atom10_blank_id_and_entry_xml_base() -> None:
    entry = parse("atom10.xml").entries[1]
    assert entry.id is None
    assert entry.link == "https://other.example.org/x/post.html"
    assert entry.summary is None  # feedparser's copy of <content>
    assert entry.content == RawText(
        "<p>Only content.</p>", "text/html", "https://other.example.org/x/"
    )
    assert entry.published is None
    assert entry.published_raw == "2024-01-20T00:00:00Z"


def test_atom_entry_inherits_feed_author() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b"<author><name>Feed Owner</name></author>"
        b"<entry><id>e1</id><title>x</title></entry></feed>"
    )
    (entry,) = parse_document(body, url="https://a.example/").entries
    assert entry.authors == (Author(name="Feed Owner"),)


def test_atom03() -> None:
    feed = parse("atom03.xml")
    assert feed.version == "atom03"
    assert feed.meta.subtitle == "Legacy tagline"
    (entry,) = feed.entries
    assert entry.id == "tag:zero3.example.com,2005:1"
    assert entry.published == datetime(2005, 7, 31, 12, 29, 29, tzinfo=UTC)
    assert entry.updated == datetime(2005, 8, 1, 12, 29, 29, tzinfo=UTC)
    assert entry.content is not None and entry.content.value == "<p>Legacy <i>content</i></p>"
    assert entry.summary is not None and entry.summary.type == "text/plain"


# --- JSON Feed ----------------------------------------------------------------------


def test_json_feed_10() -> None:
    feed = parse("jsonfeed10.json")
    assert feed.version == "json10"
    assert feed.meta.title == "JSON One"
    assert feed.meta.link == "https://json1.example.com/"
    first, second = feed.entries
    assert first.id == "1"
    assert first.link == "https://json1.example.com/1"
    assert first.title == RawText("Hello JSON", "text/plain", FINAL_URL)
    assert first.content is not None and first.content.type == "text/html"
    assert first.summary == RawText("Hello summary", "text/plain", FINAL_URL)
    assert first.published == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
    assert first.updated == datetime(2024, 4, 2, 10, 0, tzinfo=UTC)
    assert first.categories == ("json", "feeds")
    assert first.enclosures == (Enclosure("https://json1.example.com/a.mp3", "audio/mpeg", 999),)
    assert first.authors == (Author(name="Grace", uri="https://grace.example.com/"),)
    assert second.id == "2"  # a number in 1.0 feeds
    assert second.link == "https://elsewhere.example.org/story"  # external_url
    assert second.content == RawText("Plain text item", "text/plain", FINAL_URL)
    assert second.authors == first.authors  # the feed's author


def test_json_feed_11() -> None:
    feed = parse("jsonfeed11.json", **{"Content-Type": "application/feed+json"})
    assert feed.version == "json11"
    assert feed.meta.language == "es"
    (entry,) = feed.entries
    assert entry.link == "/p/1"
    assert entry.language == "es-MX"
    assert entry.authors == (Author(name="Hector", uri="https://hector.example.com/"),)
    assert entry.enclosures == (Enclosure("media/a.ogg", "audio/ogg", None),)


def test_json_control_characters_are_stripped() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "a\\u0000b\\u0007c\\ud800",'
        b' "items": [{"id": "x", "title": "t\\u0001\\tab\\nnl"}]}'
    )
    feed = parse_document(body, url="https://j.example/")
    assert feed.meta.title == "abc"
    assert feed.entries[0].title == RawText("t\tab\nnl", "text/plain", "https://j.example/")


# --- bases --------------------------------------------------------------------------


def test_content_location_header_sets_the_base() -> None:
    feed = parse("rss20.xml", **{"Content-Location": "https://mirror.example.net/m/feed.xml"})
    first = feed.entries[0]
    assert first.base == "https://mirror.example.net/m/feed.xml"
    assert (
        first.content is not None and first.content.base == "https://mirror.example.net/m/feed.xml"
    )
    assert first.link == "/posts/first"  # identity material stays untouched


def test_relative_content_location_is_resolved_against_the_final_url() -> None:
    feed = parse("rss20.xml", **{"content-location": "/other/feed.xml"})
    assert feed.entries[0].base == "https://fetched.example.com/other/feed.xml"


def test_xml_base_joined_onto_the_document_base() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="sub/"><title>t</title>'
        b'<entry><id>1</id><title>x</title><link href="p.html"/>'
        b'<content type="html">&lt;a href="q"&gt;q&lt;/a&gt;</content></entry></feed>'
    )
    (entry,) = parse_document(body, url="https://h.example/dir/feed").entries
    assert entry.link == "sub/p.html"  # as far as the document alone can resolve it
    assert entry.base == "https://h.example/dir/feed"
    assert entry.content is not None and entry.content.base == "https://h.example/dir/sub/"


# --- recovery and headers -----------------------------------------------------------


def test_not_well_formed_rss_is_recovered() -> None:
    feed = parse("rss20_bozo.xml")
    assert feed.version == "rss20"
    assert feed.bozo is not None and "not well-formed" in feed.bozo
    (entry,) = feed.entries
    assert entry.title is not None and entry.title.value == "Tom & Jerry"


@pytest.mark.parametrize("content_type", ["text/xml", "text/plain", "text/html", None])
def test_no_charset_means_the_xml_declaration_decides(content_type: str | None) -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ünïcode</title>'
        "<item><title>é</title></item></channel></rss>"
    ).encode()
    headers = {"Content-Type": content_type} if content_type else {"ETag": '"x"'}
    feed = parse_document(body, url="https://u.example/", headers=headers)
    assert feed.bozo is None
    assert feed.meta.title == "Ünïcode"
    latin = parse("rss091.xml", **{"content-type": content_type or "application/rss+xml"})
    assert latin.bozo is None and latin.meta.subtitle == "Café news"


def test_http_charset_wins_over_the_declaration() -> None:
    body = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Café</title>'
    body += "</channel></rss>"
    feed = parse_document(
        body.encode("latin-1"),
        url="https://u.example/",
        headers={"content-type": "text/xml; charset=ISO-8859-1"},
    )
    assert feed.meta.title == "Café"


def test_feed_served_as_text_html_is_not_flagged() -> None:
    feed = parse("rss20.xml", **{"content-type": "text/html; charset=utf-8"})
    assert feed.bozo is None
    assert len(feed.entries) == 3


def test_results_are_picklable() -> None:
    for name in ("rss20.xml", "rss10.rdf", "rss091.xml", "atom10.xml", "atom03.xml"):
        feed = parse(name)
        assert pickle.loads(pickle.dumps(feed)) == feed
    for name in ("jsonfeed10.json", "jsonfeed11.json", "rss20_bozo.xml"):
        feed = parse(name)
        assert pickle.loads(pickle.dumps(feed)) == feed


# --- refusals -----------------------------------------------------------------------


def test_html_page_names_the_feeds_it_advertises() -> None:
    with pytest.raises(ParseError) as caught:
        parse("html_with_feed.html", **{"content-type": "text/html"})
    message = str(caught.value)
    assert "HTML page" in message
    assert "https://fetched.example.com/feed.xml" in message  # resolved against the URL
    assert "https://site.example.com/atom.xml" in message
    assert "style.css" not in message


def test_discover_feed_links_honours_base_element() -> None:
    page = (
        b'<html><head><base href="https://cdn.example.org/b/">'
        b'<link rel="Alternate feed" type="application/feed+json" href="f.json">'
        b'<link rel="alternate" type="text/html" href="other.html"></head></html>'
    )
    assert discover_feed_links(page, url="https://w.example/") == (
        "https://cdn.example.org/b/f.json",
    )


def test_html_page_without_feeds() -> None:
    with pytest.raises(ParseError, match="advertises no feeds"):
        parse_document(b"<!DOCTYPE html><html><body>hi</body></html>", url="https://w.example/")


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n\t  ", b"\xef\xbb\xbf  ", b"hello world", b"42", b"http://127.0.0.1:9/feed.xml"],
    ids=["empty", "whitespace", "bom", "text", "number", "url-is-not-fetched"],
)
def test_non_documents_are_refused(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_document(body, url="https://n.example/")


@pytest.mark.parametrize(
    "body",
    [b'{"hello": "world"}', b"[1, 2, 3]", b'{"version": "2.0", "items": []}', b"{not json"],
    ids=["object", "array", "other-version", "broken"],
)
def test_json_that_is_not_a_json_feed_is_refused(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_document(body, url="https://n.example/", headers={"Content-Type": "application/json"})


def test_json_feed_items_must_be_a_list() -> None:
    with pytest.raises(ParseError, match="items"):
        parse_document(b'{"version": "https://jsonfeed.org/version/1", "items": {}}', url="u")


def test_body_is_never_opened_as_a_path(tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(load("rss20.xml"))
    with pytest.raises(ParseError):
        parse_document(str(feed_file).encode(), url="https://n.example/")


FRAGMENTS = st.sampled_from(
    [
        b'<rss version="2.0"><channel>',
        b"<item><title>",
        b"</title></item>",
        b"<guid isPermaLink='true'>",
        b"</guid>",
        b"<pubDate>Mon, 99 Jan 2024</pubDate>",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>',
        b'<link rel="enclosure" length="-1" href="javascript:x"/>',
        b'<content type="xhtml" xml:base="http://[::"><div xmlns="http://www.w3.org/1999/xhtml">',
        b"</div></content></entry>",
        b"<author><name>n</name><email>a@b.c</email></author>",
        b'{"version":"https://jsonfeed.org/version/1.1","items":[{"id":',
        b'"date_published":"9999-99-99", "attachments":[{"url":5,"size_in_bytes":-3}]',
        b"&",
        b"\x00",
        b"<html>",
        b"}]}",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(FRAGMENTS | st.binary(max_size=8), max_size=20).map(b"".join))
def test_any_bytes_give_a_feed_or_parse_error(body: bytes) -> None:
    try:
        feed = parse_document(body, url="https://f.example/x")
    except ParseError:
        return
    assert pickle.loads(pickle.dumps(feed)) == feed


# --- rawfeed: the text of a detail, as before its fast paths ------------------------


def detail_text_before(detail: dict[str, object], document_base: str) -> RawText | None:
    """rawfeed._raw_text_from_detail as it was before it skipped work (the reference)."""
    value = rawfeed.strip_controls(str(detail.get("value") or ""))
    if not value.strip():
        return None
    kind = str(detail.get("type") or "text/html").lower()
    if kind not in ("text/html", "application/xhtml+xml"):
        if not kind.startswith("text/"):
            return None
        kind = "text/plain"
    own_base = str(detail.get("base") or "")
    try:
        base = urljoin(document_base, own_base) if document_base else own_base
    except ValueError:
        base = document_base
    return RawText(value=value, type=kind, base=base or None)


ODD_VALUES = st.sampled_from(
    [
        *(None, "", " \n", "x", "a\r\nb\rc", "\x01x\ud800", 0, 1, [], ["x"], "TEXT/HTML"),
        *("text/plain", "Text/Plain", "application/xhtml+xml", "image/png", "text/markdown"),
        *("http://[::", "rel/", "https://b.example/d/"),
    ]
)


@given(
    st.dictionaries(st.sampled_from(["value", "type", "base", "language"]), ODD_VALUES),
    st.sampled_from(["", "https://f.example/x", "http://[::"]),
)
def test_detail_text_is_what_it_was(detail: dict[str, object], document_base: str) -> None:
    try:
        expected: RawText | type[Exception] | None = detail_text_before(detail, document_base)
    except Exception as exc:  # the same exception, whatever it is
        expected = type(exc)
    try:
        got: RawText | type[Exception] | None = rawfeed._raw_text_from_detail(
            detail, document_base, False
        )
    except Exception as exc:
        got = type(exc)
    assert got == expected
