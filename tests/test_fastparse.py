"""The fast reader against feedparser: identical readings or a decline, never a third way.

Every document here is read by both paths (parse.read_document with fast and reference);
where the fast reader reads it, its ParsedFeed must equal feedparser's field for field.
The differential corpus (tests/data/differential/) is written for this project in the
shapes real publishers use; EXPECTED says which ones the fast reader must read, so it is
not a no-op, and which it must leave to feedparser.
"""

from __future__ import annotations

import logging
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from feedparser.datetimes import _parse_date
from feedparser.mixin import _FeedParserMixin
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub import fastparse, fastquirks, parse, rawfeed, workers
from feedhub.parse import Readings, parse_document, read_document
from feedhub.workers import CHECK_ONE_IN, parse_body

DATA = Path(__file__).parent / "data"
DIFFERENTIAL = DATA / "differential"
URL = "https://fetched.example.com/dir/feed"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
XML_FORBIDDEN_C0 = "".join(map(chr, (*range(0x9), 0xB, 0xC, *range(0xE, 0x20))))

# True: the fast reader must read it; False: it must leave it to feedparser.
EXPECTED = {
    "ampersand_urls.xml": True,
    "atom_authors.xml": True,
    "atom_declined_source.xml": False,  # atom:source
    "atom_link_in_rss_item.xml": False,  # feedparser makes it a link of the item
    "atom_xhtml.xml": True,
    "blogger_atom.xml": True,
    "c1_controls_declined.xml": False,  # feedparser maps C1 controls to cp1252
    "cdata_vs_escaped.xml": True,
    "doctype_entities.xml": False,  # DOCTYPE and ENTITY
    "drupal_xml_base.xml": False,  # xml:base
    "email_name_authors.xml": True,
    "github_releases.xml": True,
    "government_rss.xml": True,
    "html_titles.xml": True,
    "illformed_unclosed.xml": False,  # not well-formed: feedparser's loose parser
    "illformed_unescaped.xml": False,
    "itunes_summary_then_content.xml": False,  # a second content
    "language_attributes.xml": True,
    "media_rss_declined.xml": False,  # media:group, media:title
    "medium.xml": True,
    "missing_dates.xml": True,
    "odd_dates.xml": True,
    "odd_dates_declined.xml": False,  # a date shape only feedparser reads
    "podcast.xml": True,
    "relative_links.xml": True,
    "rss_source_declined.xml": False,  # <source>
    "two_digit_year_declined.xml": False,  # feedparser guesses the century
    "wordpress.xml": True,
}


def both(body: bytes, **headers: str) -> Readings:
    return read_document(body, url=URL, headers=headers or None, fast=True, reference=True)


def assert_same_or_declined(readings: Readings) -> None:
    if readings.fast is not None:
        assert readings.difference() is None
        assert readings.fast == readings.reference


def test_the_corpus_is_all_listed() -> None:
    assert sorted(path.name for path in DIFFERENTIAL.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("language", [None, "de_AT"], ids=["no-header", "content-language"])
def test_differential_corpus(name: str, language: str | None) -> None:
    body = (DIFFERENTIAL / name).read_bytes()
    headers = {"Content-Language": language} if language else {}
    readings = both(body, **headers)
    assert (readings.fast is not None) == EXPECTED[name]
    assert_same_or_declined(readings)
    assert readings.reference is not None and readings.reference.entries


@pytest.mark.parametrize(
    "path",
    sorted((DATA / "feeds").glob("*.xml")) + sorted((DATA / "hostile").glob("*.xml")),
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_existing_corpora_read_the_same_by_both_paths(path: Path) -> None:
    try:
        readings = both(path.read_bytes())
    except parse.ParseError:
        return  # refused before any reader ran (entity bombs, empty documents)
    assert_same_or_declined(readings)


def test_clean_documents_of_the_existing_corpora_take_the_fast_path() -> None:
    for name in ("feeds/rss20.xml", "hostile/duplicate_guids.xml", "hostile/utf16le_bom.xml"):
        assert both((DATA / name).read_bytes()).fast is not None, name


def test_the_benchmark_farm_takes_the_fast_path() -> None:
    sys.path.insert(0, str(DATA.parent.parent / "bench"))
    try:
        from farm import FarmSpec, render_feed
    finally:
        sys.path.pop(0)
    for index in (0, 1, 2, 3, 7, 251, 499):  # RSS and Atom, with and without enclosures
        readings = both(render_feed(FarmSpec(), index))
        assert readings.fast is not None, index
        assert readings.fast == readings.reference


def test_parse_document_reads_fast_unless_told_not_to() -> None:
    body = (DIFFERENTIAL / "wordpress.xml").read_bytes()
    assert parse_document(body, url=URL) == parse_document(body, url=URL, fast=False)


# --- what fastparse knows of feedparser -------------------------------------------------


def feedparser_name(tag: str) -> str:
    """The name feedparser's strict parser gives an element (its handler's suffix)."""
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    prefix = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}.get(namespace.lower())
    if prefix is None:  # unknown namespace: the document's prefix, or none
        prefix = {"http://a9.com/-/spec/opensearchrss/1.0/": "opensearch"}.get(namespace, "")
        prefix = prefix or {"http://schemas.google.com/g/2005": "gd"}.get(namespace, "")
        prefix = prefix or {"http://www.w3.org/2007/app": "app"}.get(namespace, "")
    return (prefix + "_" if prefix else "") + local.lower()


# Ignored elements feedparser does handle, each checked to fill only keys rawfeed never
# reads (feed-level fields of RSS other than title/link/subtitle/language/ttl/sy:*, the
# item's "subtitle", "image", "rights", media_* and itunes_*).
REVIEWED_HANDLERS = {
    "lastbuilddate", "pubdate", "generator", "copyright", "managingeditor", "webmaster",
    "category", "cloud", "itunes_author", "itunes_explicit", "itunes_image",
    "itunes_keywords", "itunes_block", "itunes_subtitle", "media_content",
    "media_thumbnail", "rights", "updated",
}  # fmt: skip


@pytest.mark.parametrize(
    "tag",
    sorted(
        {*fastparse._RSS_CHANNEL_IGNORED, *fastparse._RSS_ITEM_IGNORED}
        | {*fastparse._ATOM_ENTRY_IGNORED, *fastparse._ATOM_FEED_IGNORED}
    ),
)
def test_ignored_elements_have_no_feedparser_handler_or_a_reviewed_one(tag: str) -> None:
    name = feedparser_name(tag)
    handled = hasattr(_FeedParserMixin, "_start_" + name) or hasattr(
        _FeedParserMixin, "_end_" + name
    )
    assert not handled or name in REVIEWED_HANDLERS, name


def test_reference_facts_come_from_the_installed_feedparser() -> None:
    facts = parse._REFERENCE_FACTS
    assert "p" in facts.html_elements and "script" not in facts.html_elements
    assert facts.namespaces["http://purl.org/dc/elements/1.1/"] == "dc"
    assert feedparser.__version__.startswith("6.")


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
ZONES = ["GMT", "UT", "UTC", "Z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"]


@settings(max_examples=300, deadline=None)
@given(
    weekday=st.sampled_from(WEEKDAYS),
    day=st.integers(1, 31),
    month=st.sampled_from(MONTHS),
    year=st.integers(1000, 9999),
    hms=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
    zone=st.one_of(
        st.sampled_from(ZONES),
        st.builds(
            "{}{:02d}{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)
        ),
    ),
    pad=st.booleans(),
)
def test_rfc822_dates_read_as_feedparser_reads_them(
    weekday: str, day: int, month: str, year: int, hms: tuple[int, int, int], zone: str, pad: bool
) -> None:
    text = f"{weekday}, {day:02d} {month} {year} {hms[0]:02d}:{hms[1]:02d}:{hms[2]:02d} {zone}"
    text = text if pad else text.replace(f" {day:02d} ", f" {day} ")
    expected = _parse_date(text)
    try:
        ours = fastquirks.rfc822_tuple(text)
    except fastquirks.Unsupported:
        assert expected is None  # an impossible date (31 Feb): both give up
        return
    assert expected is not None and ours == tuple(expected)


# --- generated documents ----------------------------------------------------------------

RSS_ITEM_PARTS = [
    "<title>Plain title</title>",
    "<title>A &lt;b&gt;bold&lt;/b&gt; title</title>",
    "<title></title>",
    "<link>https://g.example.com/a?x=1&amp;y=2</link>",
    "<link>/relative</link>",
    "<link></link>",
    "<description>&lt;p&gt;Summary&lt;/p&gt;</description>",
    "<description>Plain summary</description>",
    "<description>Line&#13;&#10;ends&#xD;and\ttabs\n</description>",
    "<content:encoded><![CDATA[<p>Body</p>]]></content:encoded>",
    "<content:encoded><![CDATA[<p>B\r\nody</p>\r]]>&#13;&#x0d;</content:encoded>",
    "<itunes:summary>An itunes summary &amp; more</itunes:summary>",
    '<guid isPermaLink="false">id-1</guid>',
    "<guid>https://g.example.com/guid</guid>",
    '<guid isPermaLink="true">rel/guid</guid>',
    "<pubDate>Tue, 02 Jan 2024 10:30:00 +0200</pubDate>",
    "<pubDate>2024-01-02T10:30:00Z</pubDate>",
    "<dc:date>2024-01-03</dc:date>",
    "<author>a@g.example.com (A Person)</author>",
    "<dc:creator>B Person</dc:creator>",
    "<itunes:author>C Person c@g.example.com</itunes:author>",
    "<category>News</category>",
    '<category domain="d">News</category>',
    "<itunes:keywords>one, two,,three</itunes:keywords>",
    "<comments>https://g.example.com/c</comments>",
    '<enclosure url="https://g.example.com/e.mp3" type="Audio/MPEG" length="12"/>',
    '<enclosure url="" type="audio/mpeg"/>',
    "<slash:comments>4</slash:comments>",
    '<itunes:image href="https://g.example.com/i.png"/>',
]
ATOM_ENTRY_PARTS = [
    "<title>Plain</title>",
    '<title type="html">&lt;b&gt;Bold&lt;/b&gt;</title>',
    '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">X<i>i</i></div></title>',
    "<id>tag:g.example.com,2024:1</id>",
    "<id>https://g.example.com/id</id>",
    '<link href="https://g.example.com/alt"/>',
    '<link rel="alternate" type="application/pdf" href="https://g.example.com/pdf"/>',
    '<link rel="self" href="https://g.example.com/self"/>',
    '<link rel="enclosure" href="https://g.example.com/e.ogg" length="3" type="audio/ogg"/>',
    '<link rel="replies" type="application/atom+xml" href="https://g.example.com/r"/>',
    "<published>2024-01-02T10:30:00+01:00</published>",
    "<updated>2024-01-05T00:00:00Z</updated>",
    "<author><name>N</name><email>n@g.example.com</email></author>",
    "<author><name>M</name></author>",
    "<author><email>o@g.example.com</email></author>",
    '<category term="t" label="L"/>',
    '<summary type="html">&lt;p&gt;S&lt;/p&gt;</summary>',
    "<summary>Plain summary</summary>",
    "<summary>Line&#13;&#10;ends&#xD;</summary>",
    '<content type="html">&lt;p&gt;C&lt;/p&gt;</content>',
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>C<br/></p></div></content>',
]
RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'
    ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel><title>G</title>'
)


def items(parts: list[str]) -> st.SearchStrategy[list[list[str]]]:
    return st.lists(st.lists(st.sampled_from(parts), max_size=8), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(entries=items(RSS_ITEM_PARTS))
def test_generated_rss_reads_the_same_or_declines(entries: list[list[str]]) -> None:
    body = RSS_HEAD + "".join(f"<item>{''.join(parts)}</item>" for parts in entries)
    assert_same_or_declined(both((body + "</channel></rss>").encode()))


@settings(max_examples=150, deadline=None)
@given(entries=items(ATOM_ENTRY_PARTS), feed_author=st.booleans())
def test_generated_atom_reads_the_same_or_declines(
    entries: list[list[str]], feed_author: bool
) -> None:
    head = '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
    head += "<title>G</title><author><name>F</name></author>" if feed_author else "<title>G</title>"
    body = head + "".join(f"<entry>{''.join(parts)}</entry>" for parts in entries)
    assert_same_or_declined(both((body + "</feed>").encode()))


# Everything but C0 controls other than tab, newline and carriage return, and surrogates:
# the characters lxml can give (XML 1.0, and xmlprep removed the rest).
XML_TEXT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters=XML_FORBIDDEN_C0)
    | st.sampled_from("\r\n\t")
)


@given(XML_TEXT)
def test_line_ends_is_strip_controls_for_xml_text(text: str) -> None:
    assert rawfeed._line_ends(text) == rawfeed.strip_controls(text)


# --- which reader parse_body keeps --------------------------------------------------------

CLEAN = (DIFFERENTIAL / "government_rss.xml").read_bytes()
DECLINED = (DIFFERENTIAL / "media_rss_declined.xml").read_bytes()


def sampled(body: bytes, wanted: bool) -> bytes:
    """`body` with a trailing comment that makes the 1-in-64 check pick it, or not."""
    for n in range(10_000):
        candidate = body + f"<!-- {n} -->".encode()
        if (zlib.crc32(candidate) % CHECK_ONE_IN == 0) == wanted:
            return candidate
    raise AssertionError("no candidate")


@pytest.fixture
def fast_reader_off_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real readers, with the fast reading's first entry link changed: how a bug in
    the fast reader would look to parse_body."""
    real = workers.read_document

    def read(*args: object, **kwargs: object) -> Readings:
        readings = real(*args, **kwargs)  # type: ignore[arg-type]
        if readings.fast is None:
            return readings
        first = readings.fast.entries[0]
        wrong = first.__class__(**{**first.__dict__, "link": "https://wrong.example.com/"})
        fast = readings.fast.__class__(
            **{**readings.fast.__dict__, "entries": (wrong, *readings.fast.entries[1:])}
        )
        return Readings(fast, readings.reference)

    monkeypatch.setattr(workers, "read_document", read)


def test_a_new_source_starts_on_the_fast_reader() -> None:
    parsed = parse_body(sampled(CLEAN, False), URL, {}, NOW)
    assert parsed.fast and parsed.parser == "rss20+fast"


def test_a_new_source_the_gate_declines_is_read_by_feedparser() -> None:
    parsed = parse_body(DECLINED, URL, {}, NOW)
    assert not parsed.fast and parsed.parser == "rss20"


def test_a_feedparser_source_moves_to_the_fast_reader_when_both_agree() -> None:
    parsed = parse_body(CLEAN, URL, {}, NOW, previous_parser="rss20")
    assert parsed.fast and parsed.parser == "rss20+fast"
    assert parsed == parse_body(CLEAN, URL, {}, NOW)


@pytest.mark.usefixtures("fast_reader_off_by_one")
def test_a_feedparser_source_stays_when_the_readers_differ(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="feedhub.workers"):
        parsed = parse_body(CLEAN, URL, {}, NOW, previous_parser="rss20")
    assert not parsed.fast and parsed.parser == "rss20"
    assert parsed.entries[0].link == "https://standards.example.gov/updates/point-5"
    assert "entries[0].link" in caplog.text and URL in caplog.text


def test_a_fast_source_falls_back_to_feedparser_when_the_gate_declines() -> None:
    parsed = parse_body(DECLINED, URL, {}, NOW, previous_parser="rss20+fast")
    assert not parsed.fast and parsed.parser == "rss20"


@pytest.mark.usefixtures("fast_reader_off_by_one")
def test_the_sampled_check_keeps_feedparser_and_warns_on_a_disagreement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="feedhub.workers"):
        unchecked = parse_body(sampled(CLEAN, False), URL, {}, NOW, previous_parser="rss20+fast")
        assert unchecked.fast and not caplog.records  # not sampled: the bug goes unseen
        checked = parse_body(sampled(CLEAN, True), URL, {}, NOW, previous_parser="rss20+fast")
    assert not checked.fast and checked.parser == "rss20"
    assert checked.entries[0].link == "https://standards.example.gov/updates/point-5"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert URL in record.getMessage() and "entries[0].link" in record.getMessage()


def test_the_sampled_check_passes_quietly_when_the_readers_agree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="feedhub.workers"):
        parsed = parse_body(sampled(CLEAN, True), URL, {}, NOW)
    assert parsed.fast and not caplog.records


def test_json_feeds_keep_their_own_reader() -> None:
    body = (DATA / "feeds" / "jsonfeed11.json").read_bytes()
    parsed = parse_body(body, URL, {}, NOW, previous_parser="json11")
    assert not parsed.fast and parsed.parser == "json11"
