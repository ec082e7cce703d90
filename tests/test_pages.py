"""The HTML pages and the OPML list: escaped text, inert entry HTML, autodiscovery for the
formats an output has, no scripts or external assets, public outputs only,
byte-identical re-renders, and Jinja2 and the other rendering libraries loaded only to
render."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import lxml.html
import pytest
from lxml import etree

from feedhub.models import Author, Entry, OutputConfig, Selection, SourceInfo, StoredEntry
from feedhub.pages import render_index, render_opml, render_output_page

BASE_URL = "https://hub.example.org/feeds/"
SITE = "Example <Hub>"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
XSS_TITLE = "<script>alert(1)</script>"
HOSTILE_SUMMARY = (
    '<p>Look <img src="https://img.example/x.png" onerror="alert(1)">'
    '<a href="javascript:alert(2)">click</a>'
    '<a href="https://ok.example/" onclick="alert(3)">fine</a>'
    "<script>alert(4)</script><style>body{display:none}</style>"
    '<iframe src="https://evil.example/"></iframe>'
    '<span style="position:fixed">x</span></p>'
)

BLOG = SourceInfo(
    name="blog",
    url="https://blog.example.com/feed.xml",
    title="Example Blog",
    link="https://blog.example.com/",
)
BARE = SourceInfo(name="bare", url="https://bare.example.net/rss")  # no title, no site


def stored(row: int, entry: Entry, *, source: SourceInfo = BLOG, age_hours: int = 0) -> StoredEntry:
    moment = T0 - timedelta(hours=age_hours)
    return StoredEntry(
        id=row,
        short_id=f"s{row}",
        public_id=f"urn:example:{row}",
        source=source,
        entry=entry,
        first_seen=moment,
        changed_at=moment,
    )


HOSTILE = stored(
    1,
    Entry(
        key="hostile",
        title=XSS_TITLE,
        link="https://blog.example.com/posts/1",
        published=T0,
        authors=(
            Author(name="Ann <b>", uri="https://ann.example/"),
            Author(email="bob@example.com"),
        ),
        summary=HOSTILE_SUMMARY,
        content="<p>The full text, not shown: the summary is.</p>",
        language="en",
    ),
)
LONG_CONTENT = stored(
    2,
    Entry(
        key="long",
        title="Long read",
        link="javascript:alert(5)",  # never an href, whatever the store holds
        content="<h2>Part one</h2><p>" + "lorem ipsum " * 200 + "</p><p>THE-END-MARKER</p>",
        language="de",
    ),
    source=BARE,
    age_hours=5,
)
SHORT_CONTENT = stored(
    3,
    Entry(
        key="short", title="", link="https://blog.example.com/3", content="<p>Brief &amp; done</p>"
    ),
    age_hours=9,
)

TECH = OutputConfig(
    name="tech", title="Tech & <Things>", description="Curated <tech>", formats=("atom", "json")
)
NEWS = OutputConfig(name="news", title="News", formats=("rss",))
ALL_FORMATS = OutputConfig(name="all", title="Everything")
NO_FEEDS = OutputConfig(name="bare-page", title="Page only", formats=())
SECRET = OutputConfig(name="secret", title="Secret stuff", private_token="tok_" + "x" * 20)

SELECTION = Selection(output=TECH, entries=(HOSTILE, LONG_CONTENT, SHORT_CONTENT))


def page(selection: Selection = SELECTION, base_url: str = BASE_URL) -> bytes:
    return render_output_page(selection, base_url=base_url, site_title=SITE)


def tree(data: bytes) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(data)


def alternates(doc: lxml.html.HtmlElement) -> list[tuple[str, str]]:
    return [
        (link.get("type"), link.get("href")) for link in doc.xpath('//head/link[@rel="alternate"]')
    ]


# --- output page -------------------------------------------------------------------


def test_page_is_a_self_contained_html5_document() -> None:
    data = page()
    assert data.startswith(b"<!DOCTYPE html>\n")
    doc = tree(data)
    assert doc.xpath("//head/meta[@charset]")[0].get("charset") == "utf-8"
    viewport = doc.xpath('//head/meta[@name="viewport"]')[0].get("content")
    assert "width=device-width" in viewport
    assert doc.get("lang") == "en"
    assert doc.findtext(".//head/title") == f"{TECH.title} · {SITE}"
    assert doc.xpath("string(//h1)") == TECH.title
    assert doc.xpath("string(//header/p[@class='description'])") == TECH.description
    style = "".join(doc.xpath("//head/style/text()"))
    assert "prefers-color-scheme: dark" in style
    assert "system-ui" in style
    assert "@import" not in style and "url(" not in style  # no fonts or images fetched by CSS
    assert len(doc.xpath("//main")) == 1


def test_no_script_and_no_external_assets() -> None:
    data = page()
    assert b"<script" not in data.lower()
    doc = tree(data)
    assert doc.xpath("//script") == []
    assert doc.xpath('//link[@rel="stylesheet"]') == []
    assert doc.xpath("//*[@src and not(ancestor::div[@class='body'])]") == []
    assert doc.xpath("//iframe | //object | //embed | //base | //form") == []
    # Every attribute that runs code or loads a resource is absent from the whole page.
    for element in doc.iter():
        for name in element.attrib:
            assert not name.lower().startswith("on"), (element.tag, name)
            assert name.lower() != "style", element.tag


def test_entry_title_is_escaped_text_not_markup() -> None:
    data = page()
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in data
    doc = tree(data)
    headings = [h.text_content() for h in doc.xpath("//article//h2")]
    assert headings[0] == XSS_TITLE
    assert doc.xpath("//article//h2/a")[0].get("href") == "https://blog.example.com/posts/1"
    # An untitled entry shows its link instead of an empty heading.
    assert headings[2] == "https://blog.example.com/3"


def test_page_text_from_config_is_escaped() -> None:
    data = page()
    assert b"Tech &amp; &lt;Things&gt;" in data
    assert b"Example &lt;Hub&gt;" in data
    assert b"<Things>" not in data and b"<Hub>" not in data and b"<tech>" not in data


def test_summary_html_keeps_markup_but_loses_active_content() -> None:
    doc = tree(page())
    body = doc.xpath("//article")[0].xpath(".//div[@class='body']")[0]
    html = lxml.html.tostring(body, encoding="unicode")
    assert body.xpath(".//p") and body.xpath(".//img")  # harmless markup stays
    assert body.xpath(".//img")[0].get("src") == "https://img.example/x.png"
    for active in ("onerror", "onclick", "javascript:", "alert(4)", "<style", "<iframe", "style="):
        assert active not in html, active
    hrefs = [a.get("href") for a in body.xpath(".//a")]
    assert hrefs == [None, "https://ok.example/"]
    # The summary is shown; the content is not duplicated below it.
    assert "full text" not in body.text_content()


def test_without_summary_a_shortened_plain_text_content_is_shown() -> None:
    articles = tree(page()).xpath("//article")
    long_body = articles[1].xpath(".//div[@class='body']")[0]
    text = long_body.text_content()
    assert text.startswith("Part one lorem ipsum")
    assert text.endswith("…")
    assert len(text) <= 402
    assert "THE-END-MARKER" not in text
    assert long_body.xpath(".//h2") == []  # an excerpt is text, not the content's markup
    assert articles[2].xpath("string(.//div[@class='body'])") == "Brief & done"


def test_entry_byline_dates_sources_authors_and_language() -> None:
    articles = tree(page()).xpath("//article")
    first, second, _ = articles
    time = first.xpath(".//time")[0]
    assert time.get("datetime") == "2024-03-01T12:00:00Z"
    assert time.text == "2024-03-01 12:00 UTC"
    source = first.xpath(".//span[@class='source']/a")[0]
    assert (source.text, source.get("href")) == ("Example Blog", "https://blog.example.com/")
    authors = first.xpath(".//span[@class='authors']")[0]
    assert authors.text_content() == "by Ann <b>, bob@example.com"
    assert authors.xpath("./a")[0].get("href") == "https://ann.example/"
    assert first.get("lang") == "en" and second.get("lang") == "de"
    # A javascript: link never becomes an href; a source without a site is plain text.
    assert second.xpath(".//h2/a") == [] and second.xpath("string(.//h2)") == "Long read"
    assert second.xpath(".//span[@class='source']/a") == []
    assert second.xpath("string(.//span[@class='source'])") == "bare"
    assert second.xpath(".//span[@class='authors']") == []


def test_entries_keep_the_selection_order_and_the_newest_date_is_shown() -> None:
    reordered = Selection(output=TECH, entries=(SHORT_CONTENT, HOSTILE, LONG_CONTENT))
    doc = tree(page(reordered))
    stamps = [t.get("datetime") for t in doc.xpath("//article//time")]
    assert stamps == ["2024-03-01T03:00:00Z", "2024-03-01T12:00:00Z", "2024-03-01T07:00:00Z"]
    meta = doc.xpath("//header/p[@class='meta']")[0]
    assert meta.xpath("./time")[0].get("datetime") == "2024-03-01T12:00:00Z"
    assert meta.text_content().startswith("3 entries")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (TECH, [("application/atom+xml", "tech.atom"), ("application/feed+json", "tech.json")]),
        (NEWS, [("application/rss+xml", "news.rss")]),
        (
            ALL_FORMATS,
            [
                ("application/atom+xml", "all.atom"),
                ("application/rss+xml", "all.rss"),
                ("application/feed+json", "all.json"),
            ],
        ),
        (NO_FEEDS, []),
    ],
    ids=["atom+json", "rss", "all", "none"],
)
def test_autodiscovery_and_subscribe_links_only_for_the_output_formats(
    output: OutputConfig, expected: list[tuple[str, str]]
) -> None:
    doc = tree(page(Selection(output=output, entries=(HOSTILE,))))
    wanted = [(kind, BASE_URL + file) for kind, file in expected]
    assert alternates(doc) == wanted
    for link in doc.xpath('//head/link[@rel="alternate"]'):
        assert link.get("title", "").startswith(output.title)
    visible = [(a.get("type"), a.get("href")) for a in doc.xpath("//nav[@class='subscribe']//a")]
    assert visible == wanted


def test_private_page_uses_its_token_folder_and_stays_unlisted() -> None:
    base = f"{BASE_URL}{SECRET.private_token}/"
    doc = tree(page(Selection(output=SECRET, entries=(HOSTILE,)), base_url=base))
    assert alternates(doc)[0] == ("application/atom+xml", f"{base}secret.atom")
    assert doc.xpath('//meta[@name="robots"]')[0].get("content") == "noindex, nofollow"
    assert doc.xpath('//meta[@name="referrer"]')[0].get("content") == "no-referrer"
    # The site index lives outside the token folder; the page does not point there.
    assert not any("index.html" in (a.get("href") or "") for a in doc.xpath("//a"))
    public = tree(page())
    assert public.xpath('//meta[@name="robots"]') == []
    assert public.xpath("//p[@class='site-name']/a")[0].get("href") == BASE_URL + "index.html"


def test_empty_output_renders_a_page_saying_so() -> None:
    doc = tree(page(Selection(output=NEWS, entries=())))
    assert doc.xpath("//article") == []
    assert "No entries yet." in doc.xpath("string(//main)")
    assert doc.xpath("//header/p[@class='meta']/time") == []


def test_characters_html_cannot_carry_are_dropped_not_fatal() -> None:
    odd = stored(
        9,
        Entry(
            key="odd",
            title="Bell\x07 and surrogate \ud800 end",
            link="https://blog.example.com/9",
            summary="<p>ok\x00 \udfff</p>",
        ),
    )
    data = page(Selection(output=TECH, entries=(odd,)))
    data.decode("utf-8")  # strict: the bytes are valid UTF-8
    assert b"Bell and surrogate  end" in data
    assert b"\x07" not in data and b"\x00" not in data


def test_page_rerenders_byte_identically() -> None:
    assert page() == page()
    copy = Selection(output=TECH, entries=tuple(SELECTION.entries))
    assert page(copy) == page()
    # Every date on the page is an entry's: nothing from the wall clock.
    assert set(re.findall(rb"\d{4}-\d\d-\d\d", page())) == {b"2024-03-01"}


# --- index -------------------------------------------------------------------------


OUTPUTS = (TECH, SECRET, NEWS, NO_FEEDS)


def index(counts: dict[str, int] | None = None) -> bytes:
    return render_index(OUTPUTS, base_url=BASE_URL, site_title=SITE, counts=counts)


def test_index_lists_public_outputs_with_page_and_feed_links() -> None:
    data = index({"tech": 3, "news": 1, "secret": 7})
    assert b"<script" not in data.lower()
    doc = tree(data)
    assert doc.findtext(".//head/title") == SITE
    items = doc.xpath("//ul[@class='outputs']/li")
    assert [li.xpath("string(.//h2)") for li in items] == [TECH.title, "News", "Page only"]
    assert [li.xpath(".//h2/a")[0].get("href") for li in items] == [
        BASE_URL + "tech.html",
        BASE_URL + "news.html",
        BASE_URL + "bare-page.html",
    ]
    tech, news, bare = items
    assert tech.xpath("string(.//p[@class='description'])") == TECH.description
    assert [(a.get("type"), a.get("href")) for a in tech.xpath(".//nav//a")] == [
        ("application/atom+xml", BASE_URL + "tech.atom"),
        ("application/feed+json", BASE_URL + "tech.json"),
    ]
    assert [a.get("href") for a in news.xpath(".//nav//a")] == [BASE_URL + "news.rss"]
    assert bare.xpath(".//nav") == []
    assert tech.xpath("string(.//p[@class='meta'])") == "3 entries"
    assert news.xpath("string(.//p[@class='meta'])") == "1 entry"
    assert bare.xpath(".//p[@class='meta']") == []  # no count given for it
    # One autodiscovery link per public output with a feed, the richest format.
    assert alternates(doc) == [
        ("application/atom+xml", BASE_URL + "tech.atom"),
        ("application/rss+xml", BASE_URL + "news.rss"),
    ]
    opml = doc.xpath("//a[@type='text/x-opml']")[0]
    assert opml.get("href") == BASE_URL + "outputs.opml"


def test_index_never_mentions_a_private_output() -> None:
    data = index({"secret": 7})
    assert SECRET.private_token is not None
    assert SECRET.private_token.encode() not in data
    assert b"secret" not in data.lower()
    assert b"Secret stuff" not in data


def test_index_without_counts_and_without_public_outputs() -> None:
    doc = tree(index())
    assert doc.xpath("//ul[@class='outputs']/li//p[@class='meta']") == []
    empty = tree(render_index([SECRET], base_url=BASE_URL, site_title=SITE))
    assert empty.xpath("//ul[@class='outputs']") == []
    assert "No public feeds." in empty.xpath("string(//main)")


def test_index_rerenders_byte_identically() -> None:
    assert index({"tech": 3}) == index({"tech": 3})


# --- OPML --------------------------------------------------------------------------


def opml() -> bytes:
    return render_opml(OUTPUTS, base_url=BASE_URL, site_title=SITE)


def test_opml_is_a_2_0_subscription_list_of_public_outputs() -> None:
    data = opml()
    root = etree.fromstring(data)
    assert root.tag == "opml"
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == SITE
    outlines = root.findall("body/outline")
    # Public outputs that publish a feed; the private one and the feedless one are left out.
    assert [(o.get("text"), o.get("title")) for o in outlines] == [
        (TECH.title, TECH.title),
        ("News", "News"),
    ]
    tech, news = outlines
    assert all(o.get("type") == "rss" for o in outlines)
    assert tech.get("xmlUrl") == BASE_URL + "tech.atom"  # Atom preferred
    assert news.get("xmlUrl") == BASE_URL + "news.rss"
    assert tech.get("htmlUrl") == BASE_URL + "tech.html"
    assert tech.get("description") == TECH.description
    assert news.get("description") is None
    assert b"secret" not in data.lower()


def test_opml_xml_url_prefers_atom_then_rss_then_json() -> None:
    outputs = [
        OutputConfig(name="a", title="A", formats=("json", "rss", "atom")),
        OutputConfig(name="r", title="R", formats=("json", "rss")),
        OutputConfig(name="j", title="J", formats=("json",)),
    ]
    root = etree.fromstring(render_opml(outputs, base_url=BASE_URL, site_title=SITE))
    urls = [urlsplit(o.get("xmlUrl")).path for o in root.findall("body/outline")]
    assert urls == ["/feeds/a.atom", "/feeds/r.rss", "/feeds/j.json"]


def test_opml_escapes_text_and_rerenders_byte_identically() -> None:
    data = opml()
    assert b'text="Tech &amp; &lt;Things&gt;"' in data
    assert data == opml()
    assert (
        etree.fromstring(render_opml([], base_url=BASE_URL, site_title=SITE)).findall(
            "body/outline"
        )
        == []
    )


# --- imports --------------------------------------------------------------------------


def test_rendering_libraries_load_only_when_something_is_rendered() -> None:
    # A fetch of 304s or a build of unchanged outputs renders nothing, so importing the
    # publishing code must not cost it feedgen (with lxml and dateutil), Jinja2 or nh3.
    code = (
        "import sys, feedhub.publish, feedhub.cli; "
        "print(sorted({'feedgen', 'jinja2', 'lxml', 'nh3'} & set(sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
