"""Outputs judged by the standards: the RFC 4287 RELAX NG schema (jing) and its Schematron
rules (xmllint), the RSS Advisory Board profile, the JSON Feed 1.1 spec, and feedparser
as a real consumer."""

from __future__ import annotations

import email.utils
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from feedhub import PROJECT_URL, __version__
from feedhub.atomicfiles import FileBatch
from feedhub.errors import GenerateError
from feedhub.generate import (
    generate_output,
    render_atom,
    render_json,
    render_rss,
    write_if_changed,
)
from feedhub.jsonfeed import NOT_XML_CHAR, _text_extractor, html_to_text
from feedhub.models import (
    Author,
    Enclosure,
    Entry,
    OutputConfig,
    Selection,
    SourceInfo,
    StoredEntry,
)

SCHEMAS = Path(__file__).parents[1].parent / "shared" / "schemas"
ATOM = "{http://www.w3.org/2005/Atom}"
BASE_URL = "https://hub.example.org/feeds/"
FALLBACK = datetime(2020, 6, 1, tzinfo=UTC)
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
UUID_ID = "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"

BLOG = SourceInfo(
    name="blog",
    url="https://blog.example.com/feed.xml",
    title="Example Blog",
    link="https://blog.example.com/",
    feed_id="tag:blog.example.com,2024:feed",
)
NEWS = SourceInfo(name="news", url="https://news.example.net/rss")  # no title, site or id


def stored(
    row: int, source: SourceInfo, entry: Entry, public_id: str, changed: datetime
) -> StoredEntry:
    return StoredEntry(
        id=row,
        short_id=f"s{row}",
        public_id=public_id,
        source=source,
        entry=entry,
        first_seen=T0,
        changed_at=changed,
    )


FULL = stored(
    1,
    BLOG,
    Entry(
        key="post-1",
        title="Café ☕ & <tags> in 日本語",
        link="https://blog.example.com/posts/1",
        published=T0 + timedelta(hours=1),
        updated=T0 + timedelta(hours=2),
        authors=(
            Author(name="Ann Author", email="ann@example.com", uri="https://ann.example/"),
            Author(name="Bob NoMail"),
        ),
        categories=("python", "feeds", "python"),
        summary="<p>Short &amp; sweet</p>",
        content='<p>Full text &lt;3 with <a href="https://x.example/">a link</a> — “quotes”</p>',
        enclosures=(
            Enclosure("https://blog.example.com/ep1.mp3", "audio/mpeg", 123456),
            Enclosure("https://blog.example.com/ep1.ogg"),
        ),
        comments="https://blog.example.com/posts/1#comments",
        language="en",
        guid_is_permalink=True,
    ),
    public_id="https://blog.example.com/posts/1",
    changed=T0 + timedelta(hours=3),
)
NO_AUTHOR_NO_TITLE = stored(
    2,
    NEWS,
    Entry(
        key="n-2",
        title="",
        link="https://news.example.net/2",
        published=T0,
        summary="<p>Headline body</p>",
        enclosures=(Enclosure("https://news.example.net/2.bin", "not a type", 0),),
        language="de_DE",
    ),
    public_id=UUID_ID,
    changed=T0,
)
CONTROL_CHARS = stored(
    3,
    BLOG,
    Entry(
        key="post-3",
        title="Bell\x07 and\x0b tab\tokay\x00",
        link="https://blog.example.com/posts/3",
        authors=(Author(email="mail-only@example.com"), Author(name="x", email="not-an-email")),
        content="<p>nul\x00 here\x1f</p>",
        guid_is_permalink=True,  # but public_id differs from link: not a permalink
    ),
    public_id="tag:blog.example.com,2024:post-3",
    changed=T0 + timedelta(minutes=5),
)
NO_LINK = stored(
    4,
    NEWS,
    Entry(key="n-4", title="Linkless", summary="<p>Only a summary</p>", language=""),
    public_id="urn:uuid:00000000-0000-4000-8000-000000000004",
    changed=T0,
)
ENTRIES = (FULL, NO_AUTHOR_NO_TITLE, CONTROL_CHARS, NO_LINK)

OUTPUT = OutputConfig(
    name="digest",
    title="Weekly Digest",
    description="Hand-picked posts",
    hubs=("https://websub.example/hub",),
)
SELECTION = Selection(output=OUTPUT, entries=ENTRIES)
EMPTY = Selection(output=OutputConfig(name="quiet", title="Quiet"), entries=())

RENDERERS = {"atom": render_atom, "rss": render_rss, "json": render_json}


def render(fmt: str, selection: Selection = SELECTION) -> bytes:
    return RENDERERS[fmt](selection, base_url=BASE_URL, updated_fallback=FALLBACK)


# --- Atom: RFC 4287 schema and Schematron -------------------------------------------


def _tool_or_skip(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed; Atom schema validation needs it (apt: {name})")
    return path


def _schema_or_skip(name: str) -> Path:
    path = SCHEMAS / name
    if not path.is_file():
        pytest.skip(f"{path} missing; the Atom schemas live in ../shared/schemas")
    return path


@pytest.mark.parametrize("selection", [SELECTION, EMPTY], ids=["entries", "empty"])
def test_atom_passes_rfc4287_relax_ng_and_schematron(selection: Selection, tmp_path: Path) -> None:
    jing = _tool_or_skip("jing")
    xmllint = _tool_or_skip("xmllint")
    rnc = _schema_or_skip("atom.rnc")
    sch = _schema_or_skip("atom.sch")
    document = tmp_path / "out.atom"
    document.write_bytes(render("atom", selection))

    rng = subprocess.run([jing, "-c", rnc, document], capture_output=True, text=True)
    errors = [line for line in rng.stdout.splitlines() if not line.startswith("[warning]")]
    assert rng.returncode == 0 and not errors, rng.stdout + rng.stderr

    schematron = subprocess.run(
        [xmllint, "--noout", "--schematron", sch, document], capture_output=True, text=True
    )
    assert schematron.returncode == 0, schematron.stderr
    assert "validates" in schematron.stderr


def test_atom_feed_level_elements() -> None:
    feed = etree.fromstring(render("atom"))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == BASE_URL + "digest.atom"
    assert feed.findtext(f"{ATOM}title") == "Weekly Digest"
    assert feed.findtext(f"{ATOM}subtitle") == "Hand-picked posts"
    assert feed.findtext(f"{ATOM}updated") == "2024-03-01T15:00:00+00:00"  # FULL.changed_at
    links = {link.get("rel"): link for link in feed.findall(f"{ATOM}link")}
    assert links["self"].get("href") == BASE_URL + "digest.atom"
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == BASE_URL + "digest.html"
    assert links["hub"].get("href") == "https://websub.example/hub"
    generator = feed.find(f"{ATOM}generator")
    assert generator.text == "feedhub"
    assert generator.get("version") == __version__
    assert generator.get("uri") == PROJECT_URL


def test_atom_entry_provenance_enclosures_and_replies() -> None:
    entries = etree.fromstring(render("atom")).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [s.public_id for s in ENTRIES]

    full = entries[0]
    links = full.findall(f"{ATOM}link")
    enclosures = [link for link in links if link.get("rel") == "enclosure"]
    assert [(e.get("href"), e.get("type"), e.get("length")) for e in enclosures] == [
        ("https://blog.example.com/ep1.mp3", "audio/mpeg", "123456"),
        ("https://blog.example.com/ep1.ogg", None, None),
    ]
    replies = [link for link in links if link.get("rel") == "replies"]
    assert [(r.get("href"), r.get("type")) for r in replies] == [
        ("https://blog.example.com/posts/1#comments", "text/html")
    ]
    assert full.find(f"{ATOM}content").get("type") == "html"
    assert full.find(f"{ATOM}summary").get("type") == "html"
    source = full.find(f"{ATOM}source")
    assert source.findtext(f"{ATOM}id") == BLOG.feed_id
    assert source.findtext(f"{ATOM}title") == "Example Blog"
    source_links = {link.get("rel"): link.get("href") for link in source.findall(f"{ATOM}link")}
    assert source_links == {"alternate": BLOG.link, "self": BLOG.url}

    # No author of its own: the source names it, inside the entry, so RFC 4287 4.1.2 holds.
    anonymous = entries[1]
    assert [a.findtext(f"{ATOM}name") for a in anonymous.findall(f"{ATOM}author")] == ["news"]
    assert anonymous.find(f"{ATOM}source").findtext(f"{ATOM}id") == NEWS.url
    # An unusable media type is left out rather than breaking atomMediaType.
    (enclosure,) = [x for x in anonymous.findall(f"{ATOM}link") if x.get("rel") == "enclosure"]
    assert enclosure.get("type") is None and enclosure.get("length") is None

    # Without a link, the entry carries atom:content (RFC 4287 4.1.1.1).
    assert entries[3].find(f"{ATOM}content") is not None


def test_atom_language_only_when_known() -> None:
    text = render("atom")
    assert b'xml:lang=""' not in text
    entries = etree.fromstring(text).findall(f"{ATOM}entry")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    assert [e.get(lang) for e in entries] == ["en", "de-DE", None, None]

    same_language = Selection(OUTPUT, (FULL,))
    feed = etree.fromstring(render("atom", same_language))
    assert feed.get(lang) == "en"
    assert feed.find(f"{ATOM}entry").get(lang) is None


def test_control_characters_never_reach_the_xml() -> None:
    for fmt in ("atom", "rss"):
        document = render(fmt)
        etree.fromstring(document)  # strict parser: raises on any illegal character
        assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", document)
    assert "Bell and tab\tokay" in json.loads(render("json"))["items"][2]["title"]


def test_not_xml_char_is_what_xml_1_0_leaves_out() -> None:
    # NOT_XML_CHAR lists the excluded characters (cheaper to compile than negating Char).
    xml_char = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    for code in range(0x110000):
        assert bool(NOT_XML_CHAR.match(chr(code))) != bool(xml_char.match(chr(code))), code


# --- RSS 2.0: RSS Advisory Board profile --------------------------------------------


def test_rss_follows_the_rss_advisory_board_profile() -> None:
    rss = etree.fromstring(render("rss"))
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    (channel,) = rss.findall("channel")
    assert channel.findtext("title") == "Weekly Digest"
    assert channel.findtext("link") == BASE_URL + "digest.html"
    assert channel.findtext("description") == "Hand-picked posts"
    assert channel.findtext("docs")
    assert __version__ in channel.findtext("generator")
    atom_links = {link.get("rel"): link for link in channel.findall(f"{ATOM}link")}
    assert atom_links["self"].get("href") == BASE_URL + "digest.rss"
    assert atom_links["self"].get("type") == "application/rss+xml"
    assert atom_links["hub"].get("href") == "https://websub.example/hub"
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate")) == T0 + timedelta(
        hours=3
    )

    items = channel.findall("item")
    assert len(items) == len(ENTRIES)
    for item, entry in zip(items, ENTRIES, strict=True):
        (guid,) = item.findall("guid")
        assert guid.text == entry.public_id
        published = email.utils.parsedate_to_datetime(item.findtext("pubDate"))
        assert published == entry.published
        for enclosure in item.findall("enclosure"):
            assert enclosure.get("url") and enclosure.get("type")
            assert enclosure.get("length").isdigit()
        (source,) = item.findall("source")
        assert source.get("url") == entry.source.url
        assert source.text
        assert item.findtext("title")

    full, anonymous, control, _ = items
    assert full.find("guid").get("isPermaLink") == "true"
    assert [g.find("guid").get("isPermaLink") for g in (anonymous, control)] == ["false"] * 2
    (enclosure,) = full.findall("enclosure")  # only the first: RSS allows one per item
    assert enclosure.attrib == {
        "url": "https://blog.example.com/ep1.mp3",
        "length": "123456",
        "type": "audio/mpeg",
    }
    assert anonymous.find("enclosure").attrib == {
        "url": "https://news.example.net/2.bin",
        "length": "0",
        "type": "application/octet-stream",
    }
    assert full.findtext("comments") == "https://blog.example.com/posts/1#comments"
    assert [a.text for a in full.findall("author")] == ["ann@example.com (Ann Author)"]
    dc_creator = "{http://purl.org/dc/elements/1.1/}creator"
    assert [c.text for c in full.findall(dc_creator)] == ["Bob NoMail"]
    assert [c.text for c in full.findall("category")] == ["python", "feeds"]


def test_rss_description_falls_back_to_title() -> None:
    channel = etree.fromstring(render("rss", EMPTY)).find("channel")
    assert channel.findtext("description") == "Quiet"
    assert channel.findall("item") == []
    expected = FALLBACK
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate")) == expected


# --- JSON Feed 1.1 --------------------------------------------------------------------

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary",
    "image", "banner_image", "date_published", "date_modified", "authors", "tags",
    "language", "attachments",
}  # fmt: skip


def _check_json_feed(feed: dict[str, Any]) -> None:
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed["items"], list)
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        assert {k for k in item if not k.startswith("_")} <= ITEM_KEYS
        for key in ("date_published", "date_modified"):
            if key in item:
                assert RFC3339.fullmatch(item[key]), item[key]
        for author in item.get("authors", []):
            assert author and set(author) <= {"name", "url", "avatar"}
        for attachment in item.get("attachments", []):
            assert attachment["url"] and "/" in attachment["mime_type"]
            assert isinstance(attachment.get("size_in_bytes", 0), int)


def test_json_feed_follows_the_1_1_spec() -> None:
    data = render("json")
    assert data.endswith(b"}\n")
    assert "☕".encode() in data  # ensure_ascii=False
    feed = json.loads(data)
    _check_json_feed(feed)
    assert feed["home_page_url"] == BASE_URL + "digest.html"
    assert feed["feed_url"] == BASE_URL + "digest.json"
    assert feed["description"] == "Hand-picked posts"
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://websub.example/hub"}]
    assert [item["id"] for item in feed["items"]] == [s.public_id for s in ENTRIES]

    full = feed["items"][0]
    assert full["url"] == "https://blog.example.com/posts/1"
    assert "external_url" not in full
    assert full["content_html"] == FULL.entry.content
    assert full["summary"] == "Short & sweet"  # plain text per the spec
    assert full["date_published"] == "2024-03-01T13:00:00Z"
    assert full["date_modified"] == "2024-03-01T14:00:00Z"
    assert full["authors"] == [
        {"name": "Ann Author", "url": "https://ann.example/"},
        {"name": "Bob NoMail"},
    ]
    assert full["tags"] == ["python", "feeds"]
    assert full["attachments"] == [
        {
            "url": "https://blog.example.com/ep1.mp3",
            "mime_type": "audio/mpeg",
            "size_in_bytes": 123456,
        },
        {"url": "https://blog.example.com/ep1.ogg", "mime_type": "application/octet-stream"},
    ]
    assert full["language"] == "en"
    assert full["_feedhub"] == {
        "source": {
            "name": "blog",
            "title": "Example Blog",
            "url": "https://blog.example.com/",
            "feed_url": "https://blog.example.com/feed.xml",
        }
    }
    anonymous = feed["items"][1]
    assert "title" not in anonymous and "authors" not in anonymous
    assert anonymous["content_html"] == "<p>Headline body</p>"
    assert feed["items"][2]["authors"] == [{"url": "mailto:mail-only@example.com"}, {"name": "x"}]


@given(
    html=st.text()
    | st.lists(st.sampled_from(["<", ">", "&", "&amp;", " ", "\n", "x"])).map("".join)
)
def test_html_to_text_without_markup_is_the_parsers_text(html: str) -> None:
    # html_to_text skips the HTML parser when there is no markup and no reference.
    extractor = _text_extractor()()
    extractor.feed(html)
    extractor.close()
    assert html_to_text(html) == " ".join("".join(extractor.parts).split())


def test_empty_json_feed() -> None:
    feed = json.loads(render("json", EMPTY))
    _check_json_feed(feed)
    assert feed["items"] == [] and "description" not in feed and "hubs" not in feed


# --- a real consumer ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_feedparser_sees_exactly_the_entries(fmt: str) -> None:
    parsed = feedparser.parse(render(fmt))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Weekly Digest"
    assert parsed.feed.link == BASE_URL + "digest.html"
    assert [e.id for e in parsed.entries] == [s.public_id for s in ENTRIES]
    assert [e.title for e in parsed.entries] == [
        "Café ☕ & <tags> in 日本語",
        "https://news.example.net/2",  # an empty title falls back to the link
        "Bell and tab\tokay",
        "Linkless",
    ]
    assert [e.get("link") for e in parsed.entries[:3]] == [s.entry.link for s in ENTRIES[:3]]
    for entry, expected in zip(parsed.entries, ENTRIES, strict=True):
        published = datetime(*entry.published_parsed[:6], tzinfo=UTC)
        assert published == expected.published
        assert entry.source.title == (expected.source.title or expected.source.name)

    full = parsed.entries[0]
    assert full.enclosures[0].href == "https://blog.example.com/ep1.mp3"
    assert "Full text &lt;3" in full.content[0].value
    assert [t.term for t in full.tags] == ["python", "feeds"]
    if fmt == "atom":
        assert [a.get("name") for a in full.authors] == ["Ann Author", "Bob NoMail"]
        assert full.authors[0].email == "ann@example.com"
        assert datetime(*full.updated_parsed[:6], tzinfo=UTC) == FULL.updated
        assert parsed.entries[1].author == "news"  # the source stands in for an author
        assert len(full.enclosures) == 2
    else:
        assert full.author_detail.email == "ann@example.com"
        assert "Bob NoMail" in [a.get("name") for a in full.authors]
        assert "author" not in parsed.entries[1]


def test_feedparser_reads_empty_outputs() -> None:
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(render(fmt, EMPTY))
        assert not parsed.bozo and parsed.entries == []
        assert parsed.feed.title == "Quiet"


# --- reproducibility ------------------------------------------------------------------


class _LaterClock(datetime):
    """datetime whose now() is years ahead: any wall-clock leak changes the bytes."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime(2099, 12, 31, 23, 59, 59, tzinfo=tz or UTC)


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
@pytest.mark.parametrize("selection", [SELECTION, EMPTY], ids=["entries", "empty"])
def test_rerender_at_another_time_is_byte_identical(
    fmt: str, selection: Selection, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render(fmt, selection)
    monkeypatch.setattr("feedhub.generate.datetime", _LaterClock)
    monkeypatch.setattr("feedhub.jsonfeed.datetime", _LaterClock)
    second = render(fmt, selection)
    assert first == second
    assert b"2099" not in second


# --- files ----------------------------------------------------------------------------


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_write_if_changed_skips_identical_content(tmp_path: Path) -> None:
    target = tmp_path / "out.atom"
    assert write_if_changed(target, b"one") is True
    os.utime(target, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    assert write_if_changed(target, b"one") is False
    assert target.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert write_if_changed(target, b"two") is True
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o644
    target.chmod(0o640)
    assert write_if_changed(target, b"three") is True
    assert target.stat().st_mode & 0o777 == 0o640  # a deliberately tightened mode survives
    assert _leftovers(tmp_path) == []


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.rss"
    target.write_bytes(b"old")

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(GenerateError, match=r"out\.rss"):
        write_if_changed(target, b"new")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_unwritable_directory_raises_generate_error(tmp_path: Path) -> None:
    # Running as root defeats chmod, so make the parent a regular file instead.
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"x")
    with pytest.raises(GenerateError):
        write_if_changed(not_a_dir / "out.json", b"{}")
    with pytest.raises(GenerateError):
        generate_output(SELECTION, output_dir=not_a_dir / "sub", base_url=BASE_URL)


def test_generate_output_writes_each_format_once(tmp_path: Path) -> None:
    written = generate_output(SELECTION, output_dir=tmp_path / "out", base_url=BASE_URL)
    expected = [tmp_path / "out" / f"digest.{ext}" for ext in ("atom", "rss", "json")]
    assert written == expected
    assert expected[0].read_bytes() == render("atom")
    assert expected[1].read_bytes() == render("rss")
    assert expected[2].read_bytes() == render("json")

    assert generate_output(SELECTION, output_dir=tmp_path / "out", base_url=BASE_URL) == []

    changed = Selection(OUTPUT, ENTRIES[:2])
    assert generate_output(changed, output_dir=tmp_path / "out", base_url=BASE_URL) == expected

    only_json = Selection(OutputConfig(name="j", title="J", formats=("json",)), ())
    assert generate_output(only_json, output_dir=tmp_path / "out", base_url=BASE_URL) == [
        tmp_path / "out" / "j.json"
    ]


def test_a_batch_replaces_its_files_together_and_only_changed_ones(tmp_path: Path) -> None:
    same, new, changed = tmp_path / "same.atom", tmp_path / "new.rss", tmp_path / "changed.json"
    same.write_bytes(b"same")
    changed.write_bytes(b"old")
    os.utime(same, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    with FileBatch() as batch:
        for path, data in ((same, b"same"), (new, b"new"), (changed, b"changed")):
            batch.add(path, data)
        assert not new.exists() and changed.read_bytes() == b"old"  # nothing before commit
        assert batch.commit() == [new, changed]
    assert (new.read_bytes(), changed.read_bytes()) == (b"new", b"changed")
    assert same.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert _leftovers(tmp_path) == []


def test_a_failed_batch_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.atom", tmp_path / "b.atom"
    second.write_bytes(b"old")
    with FileBatch() as batch:
        batch.add(first, b"a")
    assert not first.exists() and _leftovers(tmp_path) == []  # never committed: discarded

    replace = os.replace

    def fail_on_the_second(src: str, dst: Path) -> None:
        if dst == second:
            raise OSError(5, "Input/output error")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_the_second)
    with FileBatch() as batch, pytest.raises(GenerateError, match=r"b\.atom"):
        batch.add(first, b"a")
        batch.add(second, b"b")
        batch.commit()
    assert first.read_bytes() == b"a" and second.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []
