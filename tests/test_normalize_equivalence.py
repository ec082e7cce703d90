"""normalize's output pinned, and each of its fast paths equal to the general path.

An entry's content_hash must not change between releases for the same input: a changed
hash makes every stored entry look updated on the next fetch. tests/data/normalize/
corpus.json holds RawEntry values (from the documents in tests/data, a few bench farm
entries and seeded hostile ones) with the keys, content hashes, search-text digests
and warnings normalize gave them. Regenerate it only for an intended change of output:

    .venv/bin/python -m tests.test_normalize_equivalence
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub import htmlnesting, normalize
from feedhub.errors import ParseError
from feedhub.htmlnesting import bounded_nesting
from feedhub.models import Author, Enclosure, FeedMeta, ParsedFeed, RawEntry, RawText
from feedhub.normalize import (
    MAX_HTML_DEPTH,
    MAX_URL_CHARS,
    Caps,
    content_hash,
    normalize_feed,
    plain_text,
)
from feedhub.searchtext import search_text
from tests.test_hostile_properties import PIECES, raw_entries

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "normalize" / "corpus.json"
NOW = datetime(2025, 6, 2, tzinfo=UTC)
URL = "https://fetched.example.com/dir/feed"
BASES = [None, "https://base.example/dir/", "rel/", "https://b.example/\x01/", "https://[::1/"]

# --- the pinned corpus --------------------------------------------------------------


def test_normalize_output_is_pinned() -> None:
    corpus = json.loads(CORPUS.read_text("utf-8"))
    assert len(corpus) > 50
    changed = [case["name"] for case in corpus if _outcome(case) != case["expected"]]
    assert not changed, f"normalize output changed for {changed}"


def _outcome(case: dict[str, Any]) -> dict[str, Any]:
    feed = ParsedFeed(FeedMeta(), tuple(map(_raw_entry, case["entries"])), "rss20")
    caps = Caps(**case["caps"]) if case["caps"] else None
    entries, warnings = normalize_feed(feed, source_url=case["source_url"], now=NOW, caps=caps)
    return {
        "entries": [
            [entry.key, entry.content_hash, _digest(search_text(entry.summary, entry.content))]
            for entry in entries
        ],
        "warnings": list(warnings),
    }


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _raw_entry(data: dict[str, Any]) -> RawEntry:
    values = dict(data)
    for name in ("title", "summary", "content"):
        values[name] = RawText(*data[name]) if data[name] is not None else None
    for name in ("published", "updated"):
        values[name] = datetime.fromisoformat(data[name]) if data[name] is not None else None
    values["authors"] = tuple(Author(*author) for author in data["authors"])
    values["categories"] = tuple(data["categories"])
    values["enclosures"] = tuple(Enclosure(*enclosure) for enclosure in data["enclosures"])
    return RawEntry(**values)


def _raw_entry_data(raw: RawEntry) -> dict[str, Any]:
    data = {field.name: getattr(raw, field.name) for field in dataclasses.fields(raw)}
    for name in ("title", "summary", "content"):
        text = data[name]
        data[name] = [text.value, text.type, text.base] if text is not None else None
    for name in ("published", "updated"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    data["authors"] = [[a.name, a.email, a.uri] for a in raw.authors]
    data["enclosures"] = [[e.url, e.type, e.length] for e in raw.enclosures]
    return data


def _corpus_feeds() -> Iterator[tuple[str, str, tuple[RawEntry, ...], Caps | None]]:
    from feedhub.parse import parse_document

    for path in sorted((DATA / "feeds").iterdir()) + sorted((DATA / "hostile").iterdir()):
        try:
            yield path.name, URL, parse_document(path.read_bytes(), url=URL).entries, None
        except ParseError:
            continue
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    from farm import FarmSpec, render_feed

    for index in (0, 1, 2):  # RSS 2.0 and Atom
        url = f"http://127.0.0.1:8000/feeds/{index}"
        entries = parse_document(render_feed(FarmSpec(), index), url=url).entries[:2]
        yield f"farm-{index}", url, entries, None
    rng = random.Random(5)
    for index in range(40):
        entries = tuple(_random_entry(rng) for _ in range(rng.randint(1, 4)))
        caps = Caps(rng.randint(1, 3), rng.randint(1, 300), rng.randint(1, 30), 2, 1, 1, 4)
        yield f"random-{index}", rng.choice(URLS), entries, rng.choice([None, caps])


URLS = [
    *("https://x.example/a", "HTTP://X.example:80/a?b#c", "https://user@x.example/", "rel/x"),
    *("/abs", "?q", "#f", "//proto.example/x", " java\tscript:x", "data:text/html,x", "http://[::"),
    *("mailto:a@b.example", "https://:80/", "https://x.example/\x00a", "https://x.example/é"),
]


def _random_entry(rng: random.Random) -> RawEntry:
    def text(size: int) -> str:
        return "".join(rng.choice(PIECES + URLS) for _ in range(rng.randint(0, size)))

    def url() -> str | None:
        return rng.choice([None, text(2), *URLS])

    def raw_text(size: int) -> RawText | None:
        kinds = ["text/html", "text/plain", "application/xhtml+xml"]
        return rng.choice([None, RawText(text(size), rng.choice(kinds), url())])

    moment = datetime(rng.choice([1, 2020, 2025, 9999]), rng.randint(1, 12), rng.randint(1, 28))
    zone = timezone(timedelta(hours=rng.randint(-14, 14)))
    return RawEntry(
        id=rng.choice([None, " ", "id-1", "id-2", text(3), "x" * 2049]),
        link=url(),
        title=raw_text(6),
        summary=raw_text(8),
        content=raw_text(20),
        published=rng.choice([None, moment, moment.replace(tzinfo=zone)]),
        updated=rng.choice([None, moment.replace(tzinfo=UTC)]),
        authors=tuple(Author(text(2), text(1), url()) for _ in range(rng.randint(0, 2))),
        categories=tuple(text(2) for _ in range(rng.randint(0, 3))),
        enclosures=tuple(
            Enclosure(url() or "", text(1) or None, rng.choice([None, -1, 7]))
            for _ in range(rng.randint(0, 2))
        ),
        comments=url(),
        guid_is_permalink=rng.choice([None, True, False]),
        base=url(),
        language=rng.choice([None, "en-GB", " fr ", text(2)]),
        published_raw=rng.choice([None, text(2)]),
    )


def _write_corpus() -> None:
    corpus = []
    for name, source_url, entries, caps in _corpus_feeds():
        case = {
            "name": name,
            "source_url": source_url,
            "caps": dataclasses.asdict(caps) if caps else None,
            "entries": [_raw_entry_data(raw) for raw in entries],
        }
        corpus.append({**case, "expected": _outcome(case)})
    CORPUS.parent.mkdir(exist_ok=True)
    # ASCII with escapes: lone surrogates and controls survive the round trip. One
    # document a line, so a diff names the documents whose output changed.
    lines = ",\n".join(json.dumps(case, separators=(",", ":")) for case in corpus)
    CORPUS.write_text(f"[\n{lines}\n]\n", "ascii")


# --- fast paths against the general path --------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=())) | st.text(st.characters(max_codepoint=127)))
def test_without_controls_is_the_regex(text: str) -> None:
    assert normalize._without_controls(text) == normalize._CONTROL_CHARS.sub("", text)


def test_text_without_markup_comes_back_from_nh3_unchanged() -> None:
    every = (chr(code) for code in range(0x110000))
    text = "".join(c for c in every if not normalize._CONTROL_CHARS.match(c))
    plain = "".join(c for c in text if c not in "<&>\r\xa0")
    assert normalize._is_plain(plain)
    assert normalize._cleaner("https://base.example/")[0].clean(plain) == plain
    assert normalize._TEXT_CLEANER.clean(plain) == plain
    assert not any(normalize._is_plain(f"a{c}b") for c in "<&>\r\xa0")


html_texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=20).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_texts, st.sampled_from(BASES))
def test_controls_are_removed_after_nh3_only_when_it_can_bring_one(
    html: str, base: str | None
) -> None:
    bounded, _ = bounded_nesting(normalize._without_controls(html), MAX_HTML_DEPTH)
    cleaned = normalize._cleaner(base)[0].clean(bounded)
    assert normalize._clean_html(bounded, base) == normalize._without_controls(cleaned).strip()


@settings(max_examples=300, deadline=None)
@given(html_texts, st.integers(0, 12))
def test_nesting_is_scanned_only_when_start_tags_could_pass_the_bound(
    html: str, max_depth: int
) -> None:
    assert bounded_nesting(html, max_depth) == htmlnesting._cut(html, max_depth)


@settings(max_examples=300, deadline=None)
@given(html_texts.map(lambda text: text.replace("<", "").replace("&", "")))
def test_titles_without_markup_skip_nh3(title: str) -> None:
    value = normalize._without_controls(title)
    expected = " ".join(normalize._without_controls(normalize._html_text(value)).split())
    assert plain_text(RawText(title, "text/html")) == expected[:1000].rstrip()


@settings(max_examples=300, deadline=None)
@given(st.from_regex(normalize._PLAIN_WEB_URL, fullmatch=True), st.sampled_from(BASES))
def test_plain_web_urls_are_what_the_general_path_returns(url: str, base: str | None) -> None:
    expected = url if len(url) <= MAX_URL_CHARS else None
    assert normalize._resolved_web_url(url, base) == expected
    assert normalize._web_url(url, base) == expected
    # _safe_content_url's general path: resolved as it is, a scheme it keeps.
    assert normalize._resolve(url, base) == url
    assert normalize._scheme(url) in normalize._CONTENT_URL_SCHEMES
    assert normalize._safe_content_url(url, base) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=127)), st.sampled_from(BASES))
def test_printable_ascii_urls_need_no_cleaning(url: str, base: str | None) -> None:
    general = normalize._URL_INVISIBLES.sub("", normalize._CONTROL_CHARS.sub("", url))
    if url.isprintable():
        assert general.strip(" \x0c") == url.strip(" ")
    assert normalize._web_url(url, base) == normalize._resolved_web_url(url, base)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_entries, max_size=3))
def test_content_hash_is_sha256_of_the_sorted_json_of_the_entry(raws: list[RawEntry]) -> None:
    feed = ParsedFeed(FeedMeta(), tuple(raws), "rss20")
    for entry in normalize_feed(feed, source_url=URL, now=NOW)[0]:
        fields = dataclasses.asdict(entry)
        del fields["content_hash"], fields["search_text"]
        canonical = json.dumps(
            fields,
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=lambda moment: moment.astimezone(UTC).isoformat(),
        )
        expected = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
        assert entry.content_hash == content_hash(entry) == expected


if __name__ == "__main__":
    _write_corpus()
