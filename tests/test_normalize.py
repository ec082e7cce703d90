"""normalize: identity, dates, URLs, sanitizing, plain-text titles, content hashes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.models import Author, Enclosure, Entry, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import entry_key, normalize_entries, plain_text, sanitize_html
from feedhub.parse import parse_document

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SOURCE = "https://source.example.com/feed.xml"


def parsed(name: str, url: str = "https://fetched.example.com/dir/feed") -> ParsedFeed:
    return parse_document((FEEDS / name).read_bytes(), url=url)


def normalized(name: str, url: str = "https://fetched.example.com/dir/feed") -> tuple[Entry, ...]:
    return normalize_entries(parsed(name, url), source_url=url, now=NOW)


def one(raw: RawEntry, now: datetime = NOW) -> Entry:
    (entry,) = normalize_entries(
        ParsedFeed(FeedMeta(), (raw,), "rss20"), source_url=SOURCE, now=now
    )
    return entry


# --- identity -----------------------------------------------------------------------


def test_key_is_the_stripped_id() -> None:
    assert entry_key(RawEntry(id="  tag:x,2024:1 \n", link="https://x.example/1")) == "tag:x,2024:1"


def test_key_falls_back_to_the_link() -> None:
    assert entry_key(RawEntry(id="   ", link=" https://x.example/1 ")) == "https://x.example/1"
    third = normalized("rss20.xml")[2]
    assert third.key == "https://blog.example.com/posts/third"


def test_key_falls_back_to_a_hash_of_title_date_and_content() -> None:
    raw = RawEntry(
        title=RawText("T"),
        published_raw="Mon, 01 Jan 2024 00:00:00 GMT",
        content=RawText("<p>c</p>"),
    )
    key = entry_key(raw)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", key)
    assert entry_key(raw) == key
    assert entry_key(RawEntry(title=RawText("T2"), published_raw=raw.published_raw)) != key
    assert entry_key(RawEntry(link="javascript:void(0)", title=RawText("T"))).startswith("sha256:")


def test_keys_and_hashes_are_stable_across_parses() -> None:
    first = normalized("rss20.xml") + normalized("atom10.xml") + normalized("jsonfeed10.json")
    again = normalized("rss20.xml") + normalized("atom10.xml") + normalized("jsonfeed10.json")
    assert [e.key for e in first] == [e.key for e in again]
    assert [e.content_hash for e in first] == [e.content_hash for e in again]


def test_relative_link_key_does_not_depend_on_the_source_url() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>/posts/a</link></item></channel></rss>"
    )
    here, there = (
        normalize_entries(parse_document(body, url=url), source_url=url, now=NOW)[0]
        for url in ("https://old.example.com/feed", "https://new.example.org/rss")
    )
    assert here.key == there.key == "/posts/a"
    assert here.link == "https://old.example.com/posts/a"
    assert there.link == "https://new.example.org/posts/a"


def test_absolute_xml_base_makes_the_key_absolute() -> None:
    second = normalized("atom10.xml", url="https://anywhere.example/")[1]
    assert second.key == "https://other.example.org/x/post.html"


def test_duplicate_guid_keeps_the_first_entry() -> None:
    feed = ParsedFeed(
        FeedMeta(),
        (
            RawEntry(id="dup", title=RawText("first")),
            RawEntry(id="other", title=RawText("middle")),
            RawEntry(id=" dup ", title=RawText("second")),
        ),
        "rss20",
    )
    entries = normalize_entries(feed, source_url=SOURCE, now=NOW)
    assert [(e.key, e.title) for e in entries] == [("dup", "first"), ("other", "middle")]


# --- URLs ---------------------------------------------------------------------------


def test_links_in_content_resolve_against_the_final_url() -> None:
    first = normalized("rss20.xml")[0]
    assert first.link == "https://fetched.example.com/posts/first"
    assert first.content is not None
    assert 'href="https://fetched.example.com/about"' in first.content
    assert 'src="https://fetched.example.com/dir/img/cat.png"' in first.content


def test_links_resolve_against_content_location() -> None:
    feed = parse_document(
        (FEEDS / "rss20.xml").read_bytes(),
        url="https://fetched.example.com/dir/feed",
        headers={"Content-Location": "https://mirror.example.net/m/feed.xml"},
    )
    first = normalize_entries(feed, source_url=SOURCE, now=NOW)[0]
    assert first.link == "https://mirror.example.net/posts/first"
    assert (
        first.content is not None
        and 'src="https://mirror.example.net/m/img/cat.png"' in first.content
    )


def test_links_in_xhtml_content_resolve_against_xml_base() -> None:
    first = normalized("atom10.xml")[0]
    assert first.content is not None
    assert 'href="https://atom.example.com/blog/entries/2"' in first.content


def test_enclosures_resolve_and_unsafe_urls_are_dropped() -> None:
    (entry,) = normalized("jsonfeed11.json")
    assert entry.link == "https://fetched.example.com/p/1"
    assert entry.enclosures == (
        Enclosure("https://fetched.example.com/dir/media/a.ogg", "audio/ogg"),
    )
    entry = one(
        RawEntry(
            id="1",
            link="javascript:alert(1)",
            comments="data:text/html,x",
            enclosures=(
                Enclosure("javascript:x"),
                Enclosure("ftp://files.example/a"),
                Enclosure("a.mp3", " audio/mpeg ", -5),
                Enclosure("https://source.example.com/a.mp3"),
            ),
            authors=(Author(name="  "), Author(name="N", uri="javascript:x"), Author(email="e@x")),
        )
    )
    assert entry.link is None
    assert entry.comments is None
    assert entry.enclosures == (Enclosure("https://source.example.com/a.mp3", "audio/mpeg", None),)
    assert entry.authors == (Author(name="N"), Author(email="e@x"))


# --- sanitizer ----------------------------------------------------------------------


DANGEROUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<style>body{display:none}</style>",
    '<iframe src="https://evil.example/"></iframe>',
    '<img src="x.png" onerror="alert(1)">',
    '<a href="javascript:alert(1)">j</a>',
    '<a href="JaVaScRiPt:alert(1)">j</a>',
    '<a href="jav&#x61;script:alert(1)">j</a>',
    '<a href="java\tscript:alert(1)">j</a>',
    '<a href=" vbscript:msgbox(1)">v</a>',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    '<p style="background:url(javascript:alert(1))">s</p>',
    '<div style="width: expression(alert(1))">e</div>',
    "<svg><script>alert(1)</script><a xlink:href='javascript:alert(1)'>x</a></svg>",
    '<object data="evil.swf"></object><embed src="evil.swf">',
    '<form action="https://evil.example/"><input name="p"></form>',
    '<blockquote cite="javascript:alert(1)">q</blockquote>',
    '<img srcset="javascript:alert(1) 1x, evil.png 2x" src="ok.png">',
    "<math><mi xlink:href='javascript:alert(1)'>m</mi></math>",
    '<body onload="alert(1)">b</body>',
]


@pytest.mark.parametrize("html", DANGEROUS)
def test_sanitizer_removes_active_content(html: str) -> None:
    assert_safe(sanitize_html(html, base="https://base.example/dir/"))


def test_sanitizer_specifics() -> None:
    base = "https://base.example/dir/"
    assert sanitize_html("<script>alert(1)</script>ok", base=base) == "ok"
    assert "display" not in sanitize_html("<style>body{display:none}</style>", base=base)
    assert sanitize_html('<img srcset="a.png 2x" src="b.png">', base=base) == (
        '<img src="https://base.example/dir/b.png">'
    )
    assert sanitize_html('<blockquote cite="q.html">q</blockquote>', base=base) == (
        '<blockquote cite="https://base.example/dir/q.html">q</blockquote>'
    )
    assert sanitize_html('<a href="rel">r</a>', base=None) == (
        '<a href="rel" rel="noopener noreferrer">r</a>'
    )


def test_sanitizer_keeps_harmless_markup() -> None:
    html = (
        "<h2>Title</h2><p>Some <em>em</em>, <strong>strong</strong>, <code>code</code>, "
        'H<sub>2</sub>O, x<sup>2</sup><br>line</p><ul><li>one</li></ul><ol start="3"><li>three</li>'
        '</ol><blockquote>quoted</blockquote><pre>pre</pre><hr><figure><img src="/a.png" '
        'alt="A" width="10"><figcaption>cap</figcaption></figure><table><thead><tr><th>h</th>'
        '</tr></thead><tbody><tr><td colspan="2">d</td></tr></tbody></table>'
        '<a href="mailto:me@example.com">mail</a><a href="https://x.example/" title="t">x</a>'
    )
    out = sanitize_html(html, base="https://base.example/")
    for kept in (
        "<h2>Title</h2>",
        "<em>em</em>",
        "<strong>strong</strong>",
        "<code>code</code>",
        "<sub>2</sub>",
        "<sup>2</sup>",
        "<br>",
        "<ul><li>one</li></ul>",
        '<ol start="3">',
        "<blockquote>quoted</blockquote>",
        "<pre>pre</pre>",
        "<hr>",
        '<img src="https://base.example/a.png" alt="A" width="10">',
        "<figcaption>cap</figcaption>",
        "<th>h</th>",
        '<td colspan="2">d</td>',
        'href="mailto:me@example.com"',
        'href="https://x.example/"',
        'rel="noopener noreferrer"',
    ):
        assert kept in out


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe(out: str) -> None:
    assert "<script" not in out.lower()
    markup = _Markup()
    markup.feed(out)
    markup.close()
    for tag, attrs in markup.tags:
        assert tag not in {"script", "style", "iframe", "object", "embed", "form", "svg", "math"}
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name not in {"style", "srcset"}, (tag, name)
            scheme = re.sub(r"[\x00-\x20]", "", value or "").lower()
            assert not scheme.startswith(("javascript:", "vbscript:", "data:")), (tag, name, value)


HOSTILE_PIECES = st.sampled_from(
    [
        "<script>",
        "</script>",
        "<a href='",
        "javascript:",
        "java\tscript:",
        "&#106;avascript:",
        "' onclick='x'",
        " onerror=alert(1) ",
        "<img src=",
        "<svg>",
        "<style>",
        "<iframe>",
        '"',
        "'",
        ">",
        "<",
        "<!--",
        "-->",
        "<![CDATA[",
        "data:text/html,",
        "<p style='x'>",
        "<math>",
        "<noscript>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE_PIECES | st.text(max_size=20), max_size=25).map("".join))
def test_sanitizer_output_is_always_safe(html: str) -> None:
    assert_safe(sanitize_html(html, base="https://base.example/"))
    assert_safe(sanitize_html(html, base=None))


# --- titles -------------------------------------------------------------------------


def test_plain_text_titles() -> None:
    assert plain_text(RawText("<b>x</b> &amp; y", "text/html")) == "x & y"
    assert plain_text(RawText("<p>a</p><p>b</p>", "application/xhtml+xml")) == "a b"
    assert plain_text(RawText("<script>evil()</script>Safe", "text/html")) == "Safe"
    assert plain_text(RawText("  many \n\t spaces  ", "text/plain")) == "many spaces"
    # type="text" is literal (RFC 4287 3.1.1.1): nothing to unescape.
    assert plain_text(RawText("AT&amp;T <3", "text/plain")) == "AT&amp;T <3"
    assert len(plain_text(RawText("x" * 5000, "text/plain"))) == 1000
    assert one(RawEntry(id="no-title")).title == ""
    assert normalized("atom10.xml")[0].title == "x & y"
    assert normalized("rss20.xml")[0].title == "First post"


# --- dates --------------------------------------------------------------------------


def test_dates_are_utc_including_offsets() -> None:
    rss, atom = normalized("rss20.xml")[0], normalized("atom10.xml")[0]
    assert rss.published == datetime(2024, 1, 2, 8, 30, tzinfo=UTC)
    assert atom.published == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)
    assert atom.updated == datetime(2024, 1, 16, 9, 0, tzinfo=UTC)
    plus_five = timezone(timedelta(hours=5))
    entry = one(RawEntry(id="1", published=datetime(2024, 1, 1, 5, 0, tzinfo=plus_five)))
    assert entry.published == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert entry.published is not None and entry.published.utcoffset() == timedelta(0)
    naive = one(RawEntry(id="1", published=datetime(2024, 1, 1, 5, 0)))
    assert naive.published == datetime(2024, 1, 1, 5, 0, tzinfo=UTC)


def test_future_and_pre_epoch_dates_are_dropped() -> None:
    soon = NOW + timedelta(days=1, hours=23)
    assert one(RawEntry(id="1", published=soon)).published == soon
    assert one(RawEntry(id="1", published=NOW + timedelta(days=2, seconds=1))).published is None
    old = datetime(1969, 12, 31, 23, 59, tzinfo=UTC)
    assert one(RawEntry(id="1", published=old, updated=old)).updated is None
    assert one(RawEntry(id="1")).published is None  # the store stamps first-seen


def test_published_falls_back_to_updated() -> None:
    when = datetime(2024, 3, 5, 11, 0, tzinfo=UTC)
    (rdf,) = normalized("rss10.rdf")
    assert (rdf.published, rdf.updated) == (when, when)


# --- content ------------------------------------------------------------------------


def test_summary_and_content() -> None:
    first, second, _ = normalized("rss20.xml")
    assert first.summary == "Short <em>teaser</em>"
    assert second.summary == "Only a description here." and second.content is None
    same = one(RawEntry(id="1", summary=RawText("<p>x</p> "), content=RawText("<p>x</p>")))
    assert same.summary is None and same.content == "<p>x</p>"
    blank = one(RawEntry(id="1", summary=RawText("  "), content=RawText("<script>x</script>")))
    assert blank.summary is None and blank.content is None
    text = one(RawEntry(id="1", content=RawText("a <b>\nline\n\npara", "text/plain")))
    assert text.content == "<p>a &lt;b&gt;<br>line</p><p>para</p>"


def test_categories_are_cleaned_and_capped() -> None:
    terms = (" a ", "a", "", "b", "x" * 300, *(f"t{i}" for i in range(200)))
    entry = one(RawEntry(id="1", categories=terms))
    assert entry.categories[:3] == ("a", "b", "x" * 200)
    assert len(entry.categories) == 100


# --- content_hash -------------------------------------------------------------------


def test_content_hash_is_stable_and_sensitive() -> None:
    raw = RawEntry(
        id="h",
        title=RawText("T"),
        link="https://x.example/h",
        content=RawText("<p>c</p>"),
        published=datetime(2024, 1, 1, tzinfo=UTC),
        categories=("a",),
        enclosures=(Enclosure("https://x.example/a.mp3", "audio/mpeg", 1),),
    )
    base = one(raw)
    assert re.fullmatch(r"[0-9a-f]{64}", base.content_hash)
    assert one(raw).content_hash == base.content_hash
    assert one(raw, now=NOW + timedelta(days=30)).content_hash == base.content_hash
    from dataclasses import replace

    changes = [
        replace(raw, title=RawText("T2")),
        replace(raw, content=RawText("<p>c2</p>")),
        replace(raw, categories=("b",)),
        replace(raw, published=datetime(2024, 1, 2, tzinfo=UTC)),
        replace(raw, enclosures=(Enclosure("https://x.example/a.mp3", "audio/mpeg", 2),)),
        replace(raw, authors=(Author(name="new"),)),
        replace(raw, link="https://x.example/h2"),
    ]
    hashes = {one(changed).content_hash for changed in changes}
    assert base.content_hash not in hashes and len(hashes) == len(changes)


def test_content_hash_is_the_same_in_another_process() -> None:
    here = [e.content_hash for e in normalized("atom10.xml") + normalized("jsonfeed10.json")]
    script = (
        "from datetime import UTC, datetime; from pathlib import Path\n"
        "from feedhub.parse import parse_document; from feedhub.normalize import normalize_entries\n"
        f"now = datetime(2024, 6, 1, 12, 0, tzinfo=UTC); url = 'https://fetched.example.com/dir/feed'\n"
        "for name in ('atom10.xml', 'jsonfeed10.json'):\n"
        f"    feed = parse_document(Path({str(FEEDS)!r}, name).read_bytes(), url=url)\n"
        "    for e in normalize_entries(feed, source_url=url, now=now): print(e.content_hash)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == here
