"""Property-based tests for hostile input (issue 6): whatever RawEntry values or
document bytes come in, what comes out is refused or trustworthy (see
test_hostile.assert_trustworthy), and identity and change detection are stable."""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub.errors import ParseError
from feedhub.models import Author, Enclosure, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import content_hash, entry_key, normalize_feed
from feedhub.parse import parse_document
from tests.test_hostile import NOW, URL, assert_trustworthy, is_plain_line, strings

# --- normalize ----------------------------------------------------------------------

PIECES = [
    "<script>alert(1)</script>",
    "<script>",
    "</script>",
    "<svg onload=alert(1)>",
    "<a href='javascript:alert(1)'>",
    '<a href="java\tscript:x">',
    "&#106;avascript:",
    "<img src=x onerror=alert(1)>",
    "<iframe src=//e.example>",
    "<style>x{}</style>",
    "<p style='background:url(javascript:x)'>",
    "<math><mi xlink:href=javascript:x>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "&#1;",
    "&#xFFFE;",
    "&#0;",
    "&#x80;",
    "<",
    ">",
    '"',
    "'",
    "<div>",
    "</div>",
    "<b>",
    "data:text/html,x",
    "\x00",
    "\x07",
    "\x1b",
    "\x85",
    "\u2028",
    "\ud800",
    "\ufffe",
    "&amp;",
    "&nbsp;",
    "<object data=x>",
    "<base href=//e>",
]
URLS = [
    "https://ok.example/a",
    "/relative",
    "rel",
    "//proto.example/x",
    "javascript:alert(1)",
    " JaVa\tScRiPt:x",
    "data:text/html,x",
    "vbscript:x",
    "mailto:a@b.example",
    "ftp://f.example",
    "http://[::",
    "http:no-host",
    "https://",
    "\x00https://x.example",
    "http://x.example/\u2028",
]
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12).map("".join),
)
urls = st.sampled_from(URLS) | hostile_text
raw_texts = st.builds(
    RawText,
    value=hostile_text,
    type=st.sampled_from(["text/html", "text/plain", "application/xhtml+xml"]),
    base=st.none() | urls,
)
offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
dates = st.none() | st.datetimes(timezones=st.none() | st.just(UTC) | st.builds(timezone, offsets))
raw_entries = st.builds(
    RawEntry,
    id=st.none() | hostile_text,
    link=st.none() | urls,
    title=st.none() | raw_texts,
    summary=st.none() | raw_texts,
    content=st.none() | raw_texts,
    published=dates,
    updated=dates,
    authors=st.lists(st.builds(Author, hostile_text, hostile_text, urls), max_size=3).map(tuple),
    categories=st.lists(hostile_text, max_size=4).map(tuple),
    enclosures=st.lists(
        st.builds(Enclosure, urls, st.none() | hostile_text, st.none() | st.integers(-9, 10**12)),
        max_size=3,
    ).map(tuple),
    comments=st.none() | urls,
    guid_is_permalink=st.none() | st.booleans(),
    base=st.none() | urls,
    language=st.none() | hostile_text,
    published_raw=st.none() | hostile_text,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_entries, max_size=3))
def test_any_raw_entries_normalize_to_trustworthy_entries(raws: list[RawEntry]) -> None:
    feed = ParsedFeed(FeedMeta(), tuple(raws), "rss20")
    entries, _ = normalize_feed(feed, source_url=URL, now=NOW)
    assert_trustworthy(FeedMeta(), entries)
    for entry in entries:
        for moment in (entry.published, entry.updated):
            assert moment is None or moment <= NOW + timedelta(days=2)
        assert entry.content_hash == content_hash(entry)
        assert entry.language is None or is_plain_line(entry.language)
    assert len({entry.key for entry in entries}) == len(entries)
    # Identity and change detection must not depend on anything but the input.
    assert normalize_feed(feed, source_url=URL, now=NOW)[0] == entries
    assert [entry_key(raw) for raw in raws] == [entry_key(dataclasses.replace(r)) for r in raws]


# --- parse + normalize --------------------------------------------------------------

XML_PIECES = st.sampled_from(
    [
        b'<?xml version="1.0" encoding="utf-8"?>',
        b'<?xml version="1.0" encoding="utf-16"?>',
        b'<?xml version="1.0" encoding="iso-8859-1"?>',
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"<!DOCTYPE rss [",
        b"<!DOCTYPE rss PUBLIC '-//Netscape//EN' 'file:///etc/passwd'>",
        b'<!ENTITY a "AAAAAAAAAAAAAAAA">',
        b'<!ENTITY b SYSTEM "file:///etc/passwd">',
        b'<!ENTITY c "&a;&a;">',
        b'<!ENTITY % p SYSTEM "file:///etc/passwd">',
        b"%p;",
        b"]>",
        b'<rss version="2.0"><channel>',
        b"</channel></rss>",
        b"<item>",
        b"</item>",
        b"<title>",
        b"</title>",
        b"&a;",
        b"&b;",
        b"&c;",
        b"&#1;",
        b"&#xD800;",
        b"\x00",
        b"\xe9",
        b"<![CDATA[",
        b"]]>",
        b"<!--",
        b"-->",
        b"<author>",
        b"</author>",
        b"<name>n</name>",
        b"<category>c</category>",
        b"<itunes:keywords>a,b,c</itunes:keywords>",
        b'<enclosure url="javascript:x" a="1" b="2"/>',
        b"<pubDate>2020/1/10</pubDate>",
        b"<description>&lt;script&gt;alert(1)&lt;/script&gt;&lt;div&gt;</description>",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>',
        b"</entry></feed>",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(XML_PIECES | st.binary(max_size=6), max_size=24).map(b"".join))
def test_any_document_is_refused_or_trustworthy(body: bytes) -> None:
    try:
        feed = parse_document(body, url=URL)
    except ParseError:
        return
    entries, warnings = normalize_feed(feed, source_url=URL, now=NOW)
    assert_trustworthy(feed.meta, entries)
    assert "root:" not in "\n".join(strings((feed, entries, warnings)))
