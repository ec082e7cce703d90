"""Hostile documents (issue 6): each ends as a clear error, or as what can be trusted,
in bounded time and memory. The cases are tests/data/hostile/MANIFEST.toml; documents
too big to commit are made by the generators below.

Each case runs in a forked child with a wall-clock bound (a hang fails instead of
hanging the suite) and RLIMIT_AS 1 GiB above the child's size at fork (an expansion
bomb fails with MemoryError instead of swapping the machine).
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import multiprocessing
import os
import re
import resource
import tomllib
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from feedhub.errors import ParseError
from feedhub.htmlnesting import bounded_nesting
from feedhub.models import Entry, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import (
    MAX_AUTHORS,
    MAX_CATEGORIES,
    MAX_CONTENT_BYTES,
    MAX_ENCLOSURES,
    MAX_KEY_CHARS,
    MAX_TITLE_CHARS,
    Caps,
    entry_key,
    normalize_entries,
    normalize_feed,
    plain_text,
)
from feedhub.parse import discover_feed_links, parse_document

CORPUS = Path(__file__).parent / "data" / "hostile"
URL = "https://hostile.example/feed"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CASE_SECONDS = 20.0  # generous: the slowest case takes about 2 s
MEMORY_HEADROOM = 1 << 30

# --- generated documents ------------------------------------------------------------

NAMESPACES = (
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def rss(items: str, channel: str = "", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0" {NAMESPACES}>'
        f"<channel><title>Generated</title><link>https://hostile.example/</link>{channel}"
        f"{items}</channel></rss>\n"
    ).encode()


def many_entries() -> bytes:
    return rss("".join(f"<item><guid>g{i}</guid><title>t{i}</title></item>" for i in range(10000)))


def many_entries_json() -> bytes:
    items = [{"id": str(i), "title": f"t{i}"} for i in range(10000)]
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()


def huge_content() -> bytes:
    body = "<p>hello <b>world</b> <a href='/x'>x</a></p>" * 60000  # 2.6 MB
    return rss(f"<item><guid>1</guid><description><![CDATA[{body}]]></description></item>")


def long_title() -> bytes:
    return rss("<item><guid>1</guid><title>" + "x" * 100000 + "</title></item>")


def many_categories() -> bytes:
    categories = "".join(f"<category>c{i}</category>" for i in range(5000))
    return rss(f"<item><guid>1</guid>{categories}</item>")


def many_category_names() -> bytes:
    # xmlprep's clean path once counted elements name by name: quadratic in the names.
    categories = "".join(f"<c{i}:category>x</c{i}:category>" for i in range(40000))
    return rss(f"<item><guid>1</guid>{categories}</item>")


def many_author_names() -> bytes:
    # ...and scanned the document once for each author-like name: 30,000 took 17 s.
    authors = "".join(f"<a{i}:author>x</a{i}:author>" for i in range(40000))
    return rss(f"<item><guid>1</guid>{authors}</item>")


def keyword_flood() -> bytes:
    keywords = ",".join(f"k{i}" for i in range(100000))
    return rss(f"<item><guid>1</guid><itunes:keywords>{keywords}</itunes:keywords></item>")


def deeply_nested_html() -> bytes:
    deep = "<div>" * 100000 + "deep"
    return rss(f"<item><guid>1</guid><description><![CDATA[{deep}]]></description></item>")


def deeply_nested_lists() -> bytes:
    deep = "<ul><li>" * 20000 + "deep"
    return rss(f"<item><guid>1</guid><description><![CDATA[{deep}]]></description></item>")


def many_elements() -> bytes:
    return rss("<item><guid>1</guid>" + "<x/>" * 300000 + "</item>")


def unclosed_markup_floods() -> bytes:
    floods = "<author " * 20000 + "<![CDATA[" * 100000
    return rss("<item><guid>1</guid><title>first</title></item>" + floods)


def author_regex() -> bytes:
    return rss("<item><guid>1</guid><author>" + "a" * 96000 + "</author></item>")


def author_regex_behind_child() -> bytes:
    return rss("<item><guid>1</guid><author><x/>" + "a." * 48000 + "</author></item>")


def author_regex_in_cdata() -> bytes:
    author = "<dc:creator><![CDATA[" + "a" * 96000 + "]]></dc:creator>"
    return rss(f"<item><guid>1</guid>{author}</item>")


def author_regex_webmaster() -> bytes:
    return rss("<item><guid>1</guid></item>", channel="<webMaster>" + "a." * 48000 + "</webMaster>")


def attribute_flood() -> bytes:
    attributes = " ".join(f'a{i}="x"' for i in range(100000))
    enclosure = f'<enclosure url="https://hostile.example/a.mp3" {attributes}/>'
    return rss(f"<item><guid>1</guid>{enclosure}</item>")


def quadratic_blowup_long_entity() -> bytes:
    doctype = '<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 50000 + '">\n]>\n'
    return rss("<item><guid>1</guid><title>" + "&a;" * 4000 + "</title></item>", prolog=doctype)


def oversized_doctype() -> bytes:
    doctype = '<!DOCTYPE rss [\n<!ENTITY b "' + "B" * 1100000 + '">\n]>\n'
    return rss("<item><guid>1</guid><title>x&b;</title></item>", prolog=doctype)


def html_page_slow_for_html_parser() -> bytes:
    link = '<link rel="alternate" type="application/rss+xml" href="/found.xml">'
    return f"<!DOCTYPE html><html><head>{link}{'<a ' * 30000}</head></html>".encode()


GENERATORS: dict[str, Callable[[], bytes]] = {
    function.__name__: function
    for function in (
        many_entries,
        many_entries_json,
        huge_content,
        long_title,
        many_categories,
        many_category_names,
        many_author_names,
        keyword_flood,
        deeply_nested_html,
        deeply_nested_lists,
        many_elements,
        unclosed_markup_floods,
        author_regex,
        author_regex_behind_child,
        author_regex_in_cdata,
        author_regex_webmaster,
        attribute_flood,
        quadratic_blowup_long_entity,
        oversized_doctype,
        html_page_slow_for_html_parser,
    )
}

# --- running one case ---------------------------------------------------------------


def load_cases() -> list[dict[str, Any]]:
    with (CORPUS / "MANIFEST.toml").open("rb") as manifest:
        cases: list[dict[str, Any]] = tomllib.load(manifest)["case"]
    return cases


CASES = load_cases()


@dataclasses.dataclass
class Outcome:
    kind: str  # ok, recovered, rejected
    error: str = ""
    report: str = ""
    meta: FeedMeta | None = None
    entries: tuple[Entry, ...] = ()


def body_of(case: dict[str, Any]) -> bytes:
    if "file" in case:
        name: str = case["file"]
        return (CORPUS / name).read_bytes()
    generate: Callable[[], bytes] = GENERATORS[case["generator"]]
    return generate()


def run_case(case: dict[str, Any]) -> Outcome:
    body = body_of(case)
    try:
        feed = parse_document(body, url=URL, headers=case.get("headers"))
    except ParseError as error:
        return Outcome("rejected", error=str(error))
    entries, warnings = normalize_feed(feed, source_url=URL, now=NOW)
    report = "; ".join(filter(None, (feed.bozo, *warnings)))
    return Outcome("recovered" if report else "ok", report=report, meta=feed.meta, entries=entries)


def _child(case: dict[str, Any], sender: Connection) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    size = int(Path("/proc/self/statm").read_text().split()[0]) * page
    resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY_HEADROOM, resource.RLIM_INFINITY))
    try:
        outcome: Outcome | str = run_case(case)
    except BaseException as error:  # MemoryError included: reported, not a dead pipe
        outcome = f"crashed: {error!r}"
    sender.send(outcome)


def run_bounded(case: dict[str, Any]) -> Outcome:
    context = multiprocessing.get_context("fork")  # the parent has imported everything
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(case, sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(CASE_SECONDS):
            pytest.fail(f"no result within {CASE_SECONDS:g} s")
        result = receiver.recv()
    except EOFError:
        result = "crashed: the child died"
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
    if isinstance(result, str):
        pytest.fail(result)
    assert isinstance(result, Outcome)
    return result


# --- checks -------------------------------------------------------------------------


def strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from strings(getattr(value, field.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from strings(item)


XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
TAG = re.compile(r"<([A-Za-z][^\s/>]*)([^>]*)>")
ATTRIBUTE = re.compile(r'([^\s="]+)(?:="([^"]*)")?')
ACTIVE_ELEMENTS = {"script", "style", "iframe", "object", "embed", "svg", "math", "form"}
ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:")


def html_problems(fragment: str) -> list[str]:
    """Active content in sanitizer output (html5ever serializes attributes as
    name="value", so a regex reads it exactly)."""
    problems = []
    if "<script" in fragment.lower():
        problems.append("<script")
    for tag in TAG.finditer(fragment):
        name = tag.group(1).lower()
        if name in ACTIVE_ELEMENTS:
            problems.append(name)
        for attribute in ATTRIBUTE.finditer(tag.group(2)):
            key, value = attribute.group(1).lower(), html.unescape(attribute.group(2) or "")
            if key.startswith("on") or key in ("style", "srcdoc", "srcset", "formaction"):
                problems.append(f"{name} {key}")
            if re.sub(r"[\x00-\x20]", "", value).lower().startswith(ACTIVE_SCHEMES):
                problems.append(f"{name} {key}={value[:40]}")
    return problems


def is_plain_line(text: str) -> bool:
    return not any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def is_web_url(url: str | None) -> bool:
    return url is None or (urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc))


def assert_trustworthy(meta: FeedMeta | None, entries: tuple[Entry, ...]) -> None:
    """What every stored result must be, whatever the document was."""
    assert meta is not None and is_plain_line(meta.title or "") and is_web_url(meta.link)
    for entry in entries:
        assert entry.key and len(entry.key) <= MAX_KEY_CHARS
        assert is_plain_line(entry.title) and len(entry.title) <= MAX_TITLE_CHARS
        urls = (entry.link, entry.comments, *(e.url for e in entry.enclosures))
        assert all(is_web_url(url) for url in (*urls, *(a.uri for a in entry.authors))), urls
        for fragment in filter(None, (entry.summary, entry.content)):
            assert html_problems(fragment) == []
            assert len(fragment.encode()) <= MAX_CONTENT_BYTES
        for moment in (entry.published, entry.updated):
            assert moment is None or moment.utcoffset() == timedelta(0)
            assert moment is None or datetime(1970, 1, 1, tzinfo=UTC) <= moment
        assert len(entry.categories) <= MAX_CATEGORIES
        assert len(entry.authors) <= MAX_AUTHORS and len(entry.enclosures) <= MAX_ENCLOSURES
        for text in strings(entry):
            assert not XML_FORBIDDEN.search(text), repr(text[:80])


@pytest.mark.parametrize("case", CASES, ids=[c.get("file") or c["generator"] for c in CASES])
def test_hostile_document(case: dict[str, Any]) -> None:
    outcome = run_bounded(case)
    summary = f"{outcome.kind}: {outcome.error or outcome.report}"
    assert outcome.kind == case["outcome"], summary
    if outcome.kind == "rejected":
        assert case.get("error_contains", "") in outcome.error
        return
    assert case.get("report_contains", "") in outcome.report, summary
    assert_trustworthy(outcome.meta, outcome.entries)
    count = len(outcome.entries)
    assert case.get("min_entries", 1) <= count <= case.get("max_entries", count), count
    if "titles" in case:
        assert [entry.title for entry in outcome.entries] == case["titles"]
    if "published" in case:
        published = [e.published.isoformat() if e.published else "" for e in outcome.entries]
        assert published == case["published"]
    everything = "\n".join(strings((outcome.meta, outcome.entries, outcome.report)))
    for forbidden in case.get("must_not_contain", []):
        assert forbidden not in everything, forbidden
    markup = "\n".join(f for e in outcome.entries for f in (e.summary, e.content) if f).lower()
    for forbidden in case.get("html_must_not_contain", []):
        assert forbidden not in markup, forbidden


def test_every_corpus_file_is_in_the_manifest() -> None:
    listed = {case["file"] for case in CASES if "file" in case}
    on_disk = {path.name for path in CORPUS.iterdir() if path.name != "MANIFEST.toml"}
    assert listed == on_disk
    assert {case["generator"] for case in CASES if "generator" in case} == set(GENERATORS)


# --- entities and external resources, beyond the corpus -----------------------------


def xxe_documents(system_id: str) -> list[bytes]:
    item = "<item><guid>1</guid><title>a&xxe;b</title><description>&xxe;</description></item>"
    return [
        rss(item, prolog=f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{system_id}">\n]>\n'),
        rss(item, prolog=f"<!DOCTYPE rss [<!ENTITY xxe SYSTEM '{system_id}'>]>"),
        rss(item, prolog=f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{system_id}"> %p;]>'),
        rss(item, prolog=f'<!DOCTYPE rss SYSTEM "{system_id}">'),
        rss(item, prolog=f'<!DOCTYPE rss PUBLIC "-//X//EN" "{system_id}">'),
        rss(item, prolog=f'<?xml-stylesheet href="{system_id}"?><!DOCTYPE rss [<!ENTITY xxe "">]>'),
    ]


def all_text(body: bytes) -> str:
    try:
        feed = parse_document(body, url=URL)
    except ParseError as error:
        return str(error)
    entries, warnings = normalize_feed(feed, source_url=URL, now=NOW)
    return "\n".join(strings((feed, entries, warnings)))


def test_external_entities_never_read_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711")
    for system_id in (secret.as_uri(), str(secret), "secret.txt"):
        for body in xxe_documents(system_id):
            assert "TOP-SECRET-4711" not in all_text(body)


def test_external_entities_are_never_fetched(httpserver: Any) -> None:
    httpserver.expect_request("/xxe").respond_with_data("FETCHED-4711")
    for body in xxe_documents(httpserver.url_for("/xxe")):
        assert "FETCHED-4711" not in all_text(body)
    assert httpserver.log == []


def test_feedparser_alone_still_expands_entities_without_limit() -> None:
    """Why xmlprep rebuilds the DOCTYPE: feedparser 6.0.14 re-declares any entity
    without "&" for its loose parser, which expands it every time it is referenced."""
    import feedparser

    body = rss(
        "<item><title>" + "&a;" * 1000 + " & broken</title></item>",
        prolog='<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 1000 + '">\n]>\n',
    )
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    assert len(parsed.entries[0].title) >= 1_000_000  # 1,000 x 1,000: unbounded in general
    assert "A" * 2000 not in all_text(body)


def test_harmless_entity_values_are_kept_but_bounded() -> None:
    doctype = (
        '<!DOCTYPE rss [\n<!ENTITY amp "&#38;">\n<!ENTITY x "X&#233;">\n'
        '<!ENTITY y "&lt;b&gt;">\n]>\n'
    )
    body = rss("<item><guid>1</guid><title>&x;&amp;&y;</title></item>", prolog=doctype)
    feed = parse_document(body, url=URL)
    assert feed.entries[0].title is not None and feed.entries[0].title.value == "Xé&"
    assert feed.bozo == "ignored entities with markup or long text: y"
    quadratic = rss("<item><title>" + "&x;" * 600_000 + "</title></item>", prolog=doctype)
    with pytest.raises(ParseError, match="expand to 1,200,000 characters"):
        parse_document(quadratic, url=URL)


# --- dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020/1/10 14:33:00", "2020-01-10T14:33:00+00:00"),
        ("2020-01-10", "2020-01-10T00:00:00+00:00"),
        ("2020.01.10 14:33 +0130", "2020-01-10T13:03:00+00:00"),
        ("2020-01-10T14:33:00.123456789-05:00", "2020-01-10T19:33:00+00:00"),
        ("20200110T143300Z", "2020-01-10T14:33:00+00:00"),
        ("10 Jan 2020 14:33:00 GMT", "2020-01-10T14:33:00+00:00"),
        ("2020", ""),  # feedparser: 2020-<this month>-01
        ("2020 was a good year", ""),
        ("--01-10", ""),  # feedparser: <this year>-01-10
        ("2020-02-30", ""),
    ],
)
def test_numeric_dates_are_read_strictly(text: str, expected: str) -> None:
    body = rss(f"<item><guid>1</guid><pubDate>{text}</pubDate></item>")
    (entry,) = parse_document(body, url=URL).entries
    assert (entry.published.isoformat() if entry.published else "") == expected


# --- inputs that make the standard library's HTML parser slow or raise ---------------


def test_feed_discovery_does_not_use_a_quadratic_parser() -> None:
    page = (
        b"<html><head><base href='https://cdn.example/b/'>"
        b"<LINK REL='alternate feed' TYPE='application/atom+xml' HREF='a.xml?x=1&amp;y=2'>"
        + b"<a " * 50000
        + b"<link rel=alternate type=application/feed+json href=//j.example/f.json></html>"
    )
    assert discover_feed_links(page, url=URL) == (
        "https://cdn.example/b/a.xml?x=1&y=2",
        "https://j.example/f.json",
    )


@pytest.mark.parametrize("title", ["<![x y", "<![", "</", "<a " * 20000, "<!--" * 5000 + "x"])
def test_html_titles_never_raise(title: str) -> None:
    text = plain_text(RawText(title, "text/html"))
    assert len(text) <= MAX_TITLE_CHARS and is_plain_line(text)


# --- nesting bound --------------------------------------------------------------------


@pytest.mark.parametrize(
    "html_text",
    [
        "<div>" * 2000,
        "<ul><li>" * 1000,
        "<span><div></span>" * 1000,
        "<b></i>" * 1000,
        ("<div>" * 50 + "<!--" + "</div>" * 50 + "-->") * 20,
        ("<div>" * 50 + "<a title='" + "</div>" * 50 + "'>") * 20,
        ("<div>" * 50 + "<script>" + "</div>" * 50 + "</script>") * 20,
        ("<div>" * 50 + "<textarea>" + "</div>" * 50 + "</textarea>") * 20,
        ("<div>" * 50 + "<noscript>" + "</div>" * 50 + "</noscript>") * 20,
        ("<li><ul>" + "</li>") * 1000,
    ],
    ids=[
        "div",
        "list",
        "span-div",
        "b-i",
        "comment",
        "attribute",
        "script",
        "textarea",
        "noscript",
        "li-ul",
    ],
)
def test_end_tags_the_parser_ignores_do_not_hide_nesting(html_text: str) -> None:
    kept, cut = bounded_nesting(html_text, 512)
    assert cut and len(kept) < len(html_text)


@pytest.mark.parametrize(
    "html_text",
    [
        "<p>x" * 2000,
        "<ul>" + "<li>x" * 2000 + "</ul>",
        "<dl>" + "<dt>x<dd>y" * 2000 + "</dl>",
        "<table>" + "<tr><td>x<td>y" * 2000 + "</table>",
        "<div><p>a <b>b</b> <a href=x>c</a></p></div>" * 2000,
        "<svg><style><g>" * 100 + "</style></g></svg>" * 100,
    ],
)
def test_flat_html_is_not_cut(html_text: str) -> None:
    assert bounded_nesting(html_text, 512) == (html_text, False)


# --- caps ---------------------------------------------------------------------------


def test_caps_are_keyword_arguments_and_reported() -> None:
    raws = tuple(
        RawEntry(id=str(i), title=RawText("t" * 50), content=RawText("<p>" + "x" * 500))
        for i in range(5)
    )
    feed = ParsedFeed(FeedMeta(), raws, "rss20")
    assert len(normalize_entries(feed, source_url=URL, now=NOW, max_entries=2)) == 2
    caps = Caps(entries=3, content_bytes=100, title_chars=10)
    entries, warnings = normalize_feed(feed, source_url=URL, now=NOW, caps=caps)
    assert [e.key for e in entries] == ["0", "1", "2"]
    assert all(e.content and len(e.content.encode()) <= 100 for e in entries)
    assert all(e.title == "t" * 10 for e in entries)
    assert warnings == (
        "kept the first 3 of 5 entries",
        "cut 3 summaries or contents to 100 bytes",
        "cut 3 titles to 10 characters",
    )
    assert normalize_feed(feed, source_url=URL, now=NOW)[1] == ()


def test_long_ids_become_hashes() -> None:
    raw = RawEntry(id="i" * (MAX_KEY_CHARS + 1))
    key = entry_key(raw)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", key) and entry_key(raw) == key
    feed = ParsedFeed(FeedMeta(), (raw,), "rss20")
    assert normalize_feed(feed, source_url=URL, now=NOW)[1] == (
        f"1 ids over {MAX_KEY_CHARS} characters were replaced by a hash",
    )


@pytest.mark.slow
def test_corpus_sweep_finishes_with_zero_crashes() -> None:
    """bench/sweep.py --corpus DIR, as one would run it over real-world feed files."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(repo / "bench" / "sweep.py"), "--corpus", str(repo / "tests" / "data")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 crash;" in result.stderr
    assert result.stdout.count("\n") >= 40  # one line per file
