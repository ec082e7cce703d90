"""xmlprep's clean path: a document it passes on untouched is one the full steps would
have passed on untouched (the same bytes, nothing reported), never one they would
repair, cut or refuse. Both are run on every document here and compared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedhub import xmlprep
from feedhub.errors import ParseError
from feedhub.normalize import MAX_ENTRIES
from feedhub.xmlprep import Prepared
from tests.test_hostile import CASES, body_of

DATA = Path(__file__).parent / "data"


def full(body: bytes, charset: str | None, max_entries: int) -> Prepared | None:
    try:
        return xmlprep._prepared(body, charset, max_entries)
    except ParseError:
        return None


def assert_clean_is_full_or_declines(
    body: bytes, charset: str | None = None, max_entries: int = MAX_ENTRIES
) -> Prepared | None:
    clean = xmlprep._clean(body, charset, max_entries)
    if clean is not None:
        assert clean == full(body, charset, max_entries)
        assert not clean.repairs
    return clean


def farm() -> list[bytes]:
    sys.path.insert(0, str(DATA.parent.parent / "bench"))
    try:
        from farm import FarmSpec, render_feed
    finally:
        sys.path.pop(0)
    return [render_feed(FarmSpec(), index) for index in (0, 1, 2, 3, 7, 251, 499)]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DATA.rglob("*") if p.suffix in (".xml", ".rdf", ".html", ".json")),
    ids=lambda path: str(path.relative_to(DATA)),
)
@pytest.mark.parametrize("max_entries", [MAX_ENTRIES, 1])
def test_corpus_files(path: Path, max_entries: int) -> None:
    assert_clean_is_full_or_declines(path.read_bytes(), max_entries=max_entries)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.get("file", case.get("generator")))
def test_hostile_cases(case: dict[str, str]) -> None:
    assert_clean_is_full_or_declines(body_of(case))


def test_clean_documents_take_the_clean_path() -> None:
    bodies = [*farm(), (DATA / "feeds" / "rss20.xml").read_bytes()]
    bodies += [(DATA / "differential" / name).read_bytes() for name in CLEAN_DIFFERENTIAL]
    for body in bodies:
        assert assert_clean_is_full_or_declines(body) is not None
    rss = farm()[0]
    assert xmlprep.prepare_xml(rss, charset=None, max_entries=MAX_ENTRIES).data is rss


CLEAN_DIFFERENTIAL = ("atom_authors.xml", "podcast.xml", "wordpress.xml", "github_releases.xml")


def rss(items: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> bytes:
    return (
        f'{prolog}<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>t</title>{items}</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "items",
    [
        "<item><author>a@b.example (A)</author><dc:creator>B</dc:creator></item>",
        "<item><dc:creator><![CDATA[" + "a" * 116 + "]]></dc:creator></item>",  # 128
        "<item><author/><itunes:keywords>a,b</itunes:keywords></item>",
        "<item><author>\n <name>A</name><email>a@b.example</email></author></item>",
        "<item><title>&amp;&lt;&#8217;&#039;&#x2019;&#10;</title></item>",
        "<item><author>Jo &amp; Bo &lt;jb@b.example&gt; &#8217;&#x2019;</author></item>",
        "<item><description><![CDATA[<author>x</author> &nbsp;]]></description></item>",
        "<item><!-- <author> --><?pi x?></item>",
        "<item>" + "<category>c</category>" * 200 + "</item>",
        "<item><itunes:keywords>" + "k" * 2048 + "</itunes:keywords></item>",
    ],
)
def test_clean_shapes(items: str) -> None:
    assert assert_clean_is_full_or_declines(rss(items)) is not None


@pytest.mark.parametrize(
    ("body", "charset"),
    [
        (b"\xef\xbb\xbf" + rss("<item/>"), None),
        (rss("<item/>", prolog="<!-- c -->\n<?xml-stylesheet href='s'?>"), None),
        (rss("<item/>", prolog=""), "ISO-8859-1"),  # ASCII: windows-1252 reads it as UTF-8
        (rss("<item/>", prolog='<?xml version="1.0" encoding="UTF-8"?>'), "utf-8"),
    ],
)
def test_clean_prologs_and_encodings(body: bytes, charset: str | None) -> None:
    assert assert_clean_is_full_or_declines(body, charset) is not None


@pytest.mark.parametrize(
    "items",
    [
        "<item><author>" + "a" * 129 + "</author></item>",
        "<item><author><![CDATA[&x;]]></author></item>",  # _expands reads inside CDATA
        "<item><author><![CDATA[" + "a" * 117 + "]]></author></item>",  # 129 characters
        "<item><dc:creator>&x;</dc:creator></item>",
        "<item><dc:creator>&LT;</dc:creator></item>",  # names are case-sensitive
        "<item><dc:creator>AT&T;</dc:creator></item>",
        "<item><Author>x</author><author>" + "a" * 200 + "</Author></item>",
        "<item><itunes:keywords>" + "k" * 2049 + "</itunes:keywords></item>",
        "<item><author<![CDATA[x]]>>" + "a" * 200 + "</author></item>",  # a start in masked
        "<item>" + "<category>c</category>" * 251 + "</item>",
        "<item><title>&#1;&#xFFFE;</title></item>",
        "<item><title>\x01</title></item>",
        "<item><enclosure" + " a" * 300 + "/></item>",
        "<item><enclosure" + " a" * 200 + "<!-- -->" + " b" * 100 + "/></item>",
    ],
)
def test_shapes_the_full_steps_change_are_declined(items: str) -> None:
    prepared = full(rss(items), None, MAX_ENTRIES)
    assert prepared is None or prepared.repairs  # refused or repaired
    assert xmlprep._clean(rss(items), None, MAX_ENTRIES) is None


# --- generated documents --------------------------------------------------------------

PIECES = st.sampled_from(
    [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<?xml version="1.0" encoding="iso-8859-1"?>',
        "<?xml version='1.0'?>",
        "\ufeff",
        "junk",
        " \n",
        "<!DOCTYPE rss>",
        '<!ENTITY x "y">',
        '<rss version="2.0"><channel>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        "<item>",
        "</item>",
        "<entry>",
        "<Item >",
        "<author>",
        "</author>",
        "<Author>",
        "</AUTHOR>",
        "<author/>",
        "<author ",
        "<dc:creator>",
        "</dc:creator>",
        "<webMaster>",
        "</webMaster>",
        "<name>n</name>",
        "<x/>",
        "<itunes:keywords>",
        "</itunes:keywords>",
        "<category>c</category>",
        "<media:category>",
        "<subject>",
        "a" * 64,
        "a,b,",
        "&amp;",
        "&AMP;",
        "&lt;",
        "&nbsp;",
        "&x;",
        "&#8217;",
        "&#039;",
        "&#10;",
        "&#1;",
        "&#0;",
        "&#x1F600;",
        "&#65535;",
        "&#xfffe;",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "<?pi ",
        "?>",
        "<",
        ">",
        "/",
        '"',
        "'",
        "=",
        " a",
        ' a="1"',
        "\x01",
        "\ufffe",
        "é",
        "ſ",
        "ı",
        "\u212a",
        "<a" + " b" * (xmlprep.MAX_ATTRIBUTES + 1),
        "<a" + " b" * (xmlprep.MAX_ATTRIBUTES // 2),
        "<category>c</category>" * (xmlprep.MAX_CATEGORY_ELEMENTS // 2),
    ]
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"])
CHARSETS = st.sampled_from([None, "utf-8", "UTF-8", "iso-8859-1", "us-ascii", "utf-16", "x-nope"])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(PIECES, max_size=40).map("".join),
    ENCODINGS,
    CHARSETS,
    st.sampled_from([0, 1, 2, MAX_ENTRIES]),
)
@example("<rss><author>a</author><author><![CDATA[&x;]]></author></rss>", "utf-8", None, 1)
def test_generated_documents(text: str, encoding: str, charset: str | None, most: int) -> None:
    body = text.encode(encoding, "replace")
    assert_clean_is_full_or_declines(body, charset, most)
