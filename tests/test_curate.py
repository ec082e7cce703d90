"""Tests for feedhub.curate: URL/title normalization, rules, and select_entries."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.curate import (
    TITLE_WINDOW,
    canonical_url,
    dedup_title,
    keeps,
    normalize_title,
    rule_matches,
    select_entries,
)
from feedhub.models import (
    Author,
    Entry,
    OutputConfig,
    Rule,
    RuleField,
    SourceInfo,
    StoredEntry,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
_ids = itertools.count(1)


def stored(
    title: str = "",
    *,
    id: int | None = None,
    public_id: str | None = None,
    published: datetime | None = None,
    updated: datetime | None = None,
    link: str | None = None,
    summary: str | None = None,
    content: str | None = None,
    authors: Sequence[Author] = (),
    categories: Sequence[str] = (),
    language: str | None = None,
    source: str = "src",
    source_title: str | None = None,
) -> StoredEntry:
    """A StoredEntry as the store would hand it over; every id unique unless given."""
    row = next(_ids) if id is None else id
    when = published or NOW
    return StoredEntry(
        id=row,
        short_id=f"s{row}",
        public_id=public_id or f"urn:feedhub:{row}",
        source=SourceInfo(name=source, url=f"https://{source}.example/feed", title=source_title),
        entry=Entry(
            key=f"k{row}",
            title=title or f"entry {row}",
            link=link,
            published=published,
            updated=updated,
            authors=tuple(authors),
            categories=tuple(categories),
            summary=summary,
            content=content,
            language=language,
        ),
        first_seen=when,
        changed_at=when,
    )


def output(**changes: object) -> OutputConfig:
    return dataclasses.replace(OutputConfig(name="out", title="Out"), **changes)  # type: ignore[arg-type]


def newest_first(count: int, **kw: object) -> list[StoredEntry]:
    return [
        stored(published=NOW - i * HOUR, **kw)  # type: ignore[arg-type]
        for i in range(count)
    ]


class Strict:
    """An iterable of candidates that fails the test if read past `allowed` items."""

    def __init__(self, items: Sequence[StoredEntry], allowed: int) -> None:
        self.items = items
        self.allowed = allowed
        self.taken = 0

    def __iter__(self) -> Iterator[StoredEntry]:
        for item in self.items:
            if self.taken >= self.allowed:
                pytest.fail(f"read candidate #{self.taken + 1}; only {self.allowed} were needed")
            self.taken += 1
            yield item


def ids(entries: Sequence[StoredEntry]) -> list[int]:
    return [e.id for e in entries]


# --- canonical_url and normalize_title --------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://Example.ORG/Path", "https://example.org/Path"),  # path case is kept
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("http://example.org:443/a", "http://example.org:443/a"),
        ("https://example.org/a#comments", "https://example.org/a"),
        ("https://example.org", "https://example.org/"),
        (
            "https://example.org/a?utm_source=rss&b=2&utm_Medium=x&a=1&fbclid=F&gclid=G&z=",
            "https://example.org/a?b=2&a=1&z=",
        ),
        ("https://example.org/a?utm_campaign=x#top", "https://example.org/a"),
        ("https://example.org/a?id=3&ID=4", "https://example.org/a?id=3&ID=4"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("http://[::1/broken", "http://[::1/broken"),  # unparseable: returned as given
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_canonical_url_makes_equivalent_links_equal() -> None:
    a = canonical_url("https://WWW.Example.org:443/story?id=7&utm_source=feed#x")
    b = canonical_url("https://www.example.org/story?id=7&fbclid=abc")
    assert a == b


@pytest.mark.parametrize(
    ("title", "normal"),
    [
        ("AI: The  Future!", "ai the future"),
        ("  ai — the future  ", "ai the future"),
        ("Straße", "strasse"),  # casefold, not lower
        ("ＡＩ news", "ai news"),  # NFKC folds full-width letters
        ("!!!", ""),
    ],
)
def test_normalize_title(title: str, normal: str) -> None:
    assert normalize_title(title) == normal


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Breaking: AI Act Passes!", "breaking ai act passes"),
        ("Update", None),
        ("A note on it by us", None),  # six words, but under 20 characters
        ("Weekly notes from us", "weekly notes from us"),  # 4 words, 20 characters
        ("Three word title", None),
    ],
)
def test_dedup_title(title: str, key: str | None) -> None:
    assert dedup_title(title) == key


# --- rules -----------------------------------------------------------------------


def rule(
    field: RuleField | tuple[RuleField, ...],
    *patterns: str,
    match: str = "contains",
    action: str = "keep",
) -> Rule:
    fields = (field,) if isinstance(field, str) else field
    return Rule(fields, match, patterns, action)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "entry", "pattern", "expected"),
    [
        ("title", stored("New AI rules"), "ai", True),
        ("title", stored("He said so"), "AI", False),  # whole words only
        ("title", stored("Maintain the trail"), "AI", False),
        ("title", stored("AI-driven policy"), "AI", True),
        ("title", stored("(AI)"), "AI", True),
        ("title", stored("Artificial   Intelligence now"), "artificial intelligence", True),
        ("title", stored("Artificial intelligences"), "artificial intelligence", False),
        ("content", stored(summary="<p>About <b>AI</b> policy</p>"), "AI", True),
        ("content", stored(content="<div>AI policy</div>"), "AI policy", True),
        (
            "content",
            stored(content="<p>artificial\nintelligence</p>"),
            "artificial intelligence",
            True,
        ),
        ("content", stored(content='<a href="https://x/AI">link</a>'), "AI", False),  # tag gone
        ("content", stored(content='<img alt="AI">'), "AI", False),
        ("content", stored(content="<p>R&amp;D budget</p>"), "R&D", True),  # entities decoded
        ("content", stored(content="<p>caf&eacute; culture</p>"), "café", True),
        ("content", stored(content="<p>&lt;b&gt;x</p>"), "b", True),  # escaped text stays text
        ("content", stored("AI in the title only"), "AI", False),
        ("author", stored(authors=[Author(name="Ada Lovelace")]), "lovelace", True),
        ("author", stored(authors=[Author(email="ada@example.org")]), "ada@example.org", True),
        ("author", stored(authors=[Author(uri="https://ada.example/")]), "ada", False),
        ("category", stored(categories=["Tech", "Policy"]), "policy", True),
        ("category", stored(categories=["Tech"]), "policy", False),
        ("link", stored(link="https://example.org/ai/story"), "example.org", True),
        ("link", stored(), "example", False),
        ("source", stored(source="nikkei"), "Nikkei", True),
        ("source", stored(source="x", source_title="Japan Times"), "japan times", True),
        ("language", stored(language="ja"), "JA", True),
        ("language", stored(), "ja", False),
    ],
)
def test_contains_per_field(
    field: RuleField, entry: StoredEntry, pattern: str, expected: bool
) -> None:
    assert rule_matches(rule(field, pattern), entry) is expected


def test_contains_any_of_several_patterns_and_fields() -> None:
    r = rule(("title", "category"), "robot", "drone")
    assert rule_matches(r, stored("Drone delivery"))
    assert rule_matches(r, stored("Nothing", categories=["robot"]))
    assert not rule_matches(r, stored("Robots"))


def test_regex() -> None:
    r = rule("title", r"^gpt-\d+$", r"\bLLMs?\b", match="regex")
    assert rule_matches(r, stored("GPT-4"))  # case-insensitive like contains
    assert rule_matches(r, stored("new llm released"))
    assert not rule_matches(r, stored("GPT-4 review"))
    # A substring, unlike contains: regex is the escape hatch.
    assert rule_matches(rule("title", "ai", match="regex"), stored("he said"))


def test_regex_with_inline_global_flags_works_alongside_others() -> None:
    # Each is valid alone, which is all config checks; together they must not fail.
    r = rule("title", "(?s)a.b", "(?x) c d ", match="regex")
    assert rule_matches(r, stored("cd"))
    assert rule_matches(r, stored("xa-by"))
    assert not rule_matches(r, stored("nothing"))


def test_equals_is_whole_value_case_insensitive() -> None:
    r = rule("category", "Policy", match="equals")
    assert rule_matches(r, stored(categories=["policy "]))
    assert not rule_matches(r, stored(categories=["policy-news"]))
    assert rule_matches(rule("language", "EN", match="equals"), stored(language="en"))
    assert not rule_matches(rule("language", "en", match="equals"), stored(language="en-GB"))
    assert rule_matches(rule("source", "a", "b", match="equals"), stored(source="b"))


def test_first_matching_rule_decides() -> None:
    rules = [
        rule("title", "sponsored", action="drop"),
        rule("title", "AI", action="keep"),
        rule("title", "policy", action="drop"),
    ]
    assert not keeps(rules, stored("Sponsored: AI tools"))  # drop came first
    assert keeps(rules, stored("AI policy"))  # keep came before the later drop
    assert not keeps(rules, stored("Tax policy"))
    assert not keeps(rules, stored("Weather"))  # a keep rule exists: whitelist


def test_without_keep_rules_everything_not_dropped_is_kept() -> None:
    rules = [rule("title", "sponsored", action="drop")]
    assert keeps(rules, stored("Weather"))
    assert not keeps(rules, stored("Sponsored post"))
    assert keeps([], stored("anything"))


# --- select_entries ----------------------------------------------------------------


def test_limit_and_order_kept() -> None:
    candidates = newest_first(10)
    selection = select_entries(output(limit=3), candidates, now=NOW)
    assert selection.entries == tuple(candidates[:3])
    assert selection.output.limit == 3


def test_rules_applied() -> None:
    candidates = [stored("AI one"), stored("weather"), stored("AI two"), stored("AI sponsored")]
    out = output(
        rules=(rule("title", "sponsored", action="drop"), rule("title", "AI", action="keep"))
    )
    assert ids(select_entries(out, candidates, now=NOW).entries) == ids(
        [candidates[0], candidates[2]]
    )


def test_stops_reading_candidates_once_full() -> None:
    candidates = Strict(newest_first(100), allowed=5)
    selection = select_entries(output(limit=5), candidates, now=NOW)
    assert len(selection.entries) == 5
    assert candidates.taken == 5


def test_reads_past_skipped_candidates_but_not_past_full() -> None:
    items = [stored("weather"), stored("AI a"), stored("weather"), stored("AI b")]
    candidates = Strict([*items, *newest_first(50)], allowed=4)
    out = output(limit=2, rules=(rule("title", "AI"),))
    assert ids(select_entries(out, candidates, now=NOW).entries) == [items[1].id, items[3].id]


def test_pins_filling_the_output_read_no_candidates() -> None:
    pins = newest_first(3)
    selection = select_entries(
        output(limit=2), Strict(newest_first(5), allowed=0), now=NOW, pinned=pins
    )
    assert selection.entries == tuple(pins)  # pins are never cut


def test_max_age_cuts_off_and_stops_reading() -> None:
    candidates = newest_first(48)  # hourly back from NOW
    strict = Strict(candidates, allowed=7)  # 6 within 5h30m, then the first too old
    selection = select_entries(output(max_age=timedelta(hours=5, minutes=30)), strict, now=NOW)
    assert selection.entries == tuple(candidates[:6])


def test_since_cuts_off() -> None:
    candidates = newest_first(10)
    out = output(since=NOW - 3 * HOUR)
    assert select_entries(out, candidates, now=NOW).entries == tuple(candidates[:4])  # inclusive


def test_the_later_of_since_and_max_age_wins() -> None:
    candidates = newest_first(10)
    early_since = output(since=NOW - 8 * HOUR, max_age=2 * HOUR)
    assert select_entries(early_since, candidates, now=NOW).entries == tuple(candidates[:3])
    late_since = output(since=NOW - 1 * HOUR, max_age=5 * HOUR)
    assert select_entries(late_since, candidates, now=NOW).entries == tuple(candidates[:2])


def test_order_updated_cuts_by_updated_time() -> None:
    fresh = stored(published=NOW - 100 * HOUR, updated=NOW - HOUR)
    stale = stored(published=NOW - HOUR, updated=NOW - 100 * HOUR)
    out = output(order="updated", max_age=2 * HOUR)
    assert select_entries(out, [fresh, stale], now=NOW).entries == (fresh,)


def test_pinned_first_and_hidden_pins_excluded() -> None:
    pin_a, pin_hidden, pin_b = stored("pin a"), stored("pin hidden"), stored("pin b")
    candidates = newest_first(5)
    selection = select_entries(
        output(limit=4),
        candidates,
        now=NOW,
        pinned=[pin_a, pin_hidden, pin_b],
        hidden={pin_hidden.id, candidates[0].id},
    )
    assert ids(selection.entries) == [pin_a.id, pin_b.id, candidates[1].id, candidates[2].id]


def test_pins_bypass_rules_and_age() -> None:
    old_pin = stored("weather", published=NOW - 1000 * HOUR)
    out = output(rules=(rule("title", "AI"),), max_age=HOUR)
    assert select_entries(out, [stored("weather")], now=NOW, pinned=[old_pin]).entries == (old_pin,)


def test_pinned_entry_is_not_repeated_from_candidates() -> None:
    pin = stored("pinned", published=NOW - HOUR)
    candidates = [stored("newer"), pin, stored("older", published=NOW - 2 * HOUR)]
    selection = select_entries(output(), candidates, now=NOW, pinned=[pin])
    assert ids(selection.entries) == [pin.id, candidates[0].id, candidates[2].id]


def test_hidden_candidates_excluded() -> None:
    candidates = newest_first(4)
    selection = select_entries(output(), candidates, now=NOW, hidden=frozenset({candidates[1].id}))
    assert ids(selection.entries) == ids([candidates[0], *candidates[2:]])


@pytest.mark.parametrize("dedup", [True, False])
def test_same_public_id_is_always_deduplicated(dedup: bool) -> None:
    first = stored("one", public_id="tag:x,2024:1")
    again = stored("other title", public_id="tag:x,2024:1", published=NOW - HOUR)
    selection = select_entries(output(dedup=dedup), [first, again], now=NOW)
    assert selection.entries == (first,)


def test_same_canonical_link_is_one_story() -> None:
    first = stored("A", link="https://Example.org/s?id=1&utm_source=a#c")
    copy = stored("B", link="https://example.org:443/s?id=1&fbclid=z", published=NOW - HOUR)
    other = stored("C", link="https://example.org/s?id=2", published=NOW - 2 * HOUR)
    assert select_entries(output(), [first, copy, other], now=NOW).entries == (first, other)
    # Unlike titles, a link names one story however far apart the copies are.
    late_copy = stored("D", link="https://example.org/s?id=1", published=NOW - 30 * 24 * HOUR)
    assert select_entries(output(), [first, late_copy], now=NOW).entries == (first,)


def test_same_title_within_48h_is_one_story() -> None:
    first = stored("Breaking: AI Act passes!", source="a")
    within = stored("breaking ai act passes", source="b", published=NOW - TITLE_WINDOW)
    beyond = stored("Breaking — AI act passes", source="c", published=NOW - TITLE_WINDOW - HOUR)
    selection = select_entries(output(), [first, within, beyond], now=NOW)
    assert selection.entries == (first, beyond)


def test_short_titles_are_not_one_story() -> None:
    updates = [stored("Update", published=NOW - i * HOUR) for i in range(3)]
    assert select_entries(output(), updates, now=NOW).entries == tuple(updates)


def test_title_window_counts_from_every_kept_copy() -> None:
    weekly = [stored("The weekly news roundup", published=NOW - i * 72 * HOUR) for i in range(3)]
    assert select_entries(output(), weekly, now=NOW).entries == tuple(weekly)


def test_no_story_dedup_when_disabled() -> None:
    a = stored("Same", link="https://example.org/s")
    b = stored("Same", link="https://example.org/s", published=NOW - HOUR)
    assert select_entries(output(dedup=False), [a, b], now=NOW).entries == (a, b)


def test_candidates_duplicating_a_pin_story_are_dropped() -> None:
    pin = stored("Big news", link="https://example.org/big")
    copy = stored("Big news!", link="https://example.org/big?utm_medium=x")
    assert select_entries(output(), [copy], now=NOW, pinned=[pin]).entries == (pin,)


def test_duplicate_pins_appear_once() -> None:
    pin = stored("pin")
    assert select_entries(output(), [], now=NOW, pinned=[pin, pin]).entries == (pin,)


# --- property --------------------------------------------------------------------

_PUBLIC_IDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@st.composite
def _entries(draw: st.DrawFn) -> StoredEntry:
    return stored(
        draw(st.sampled_from(["AI news", "Weather", "ai NEWS", "sponsored AI", ""])),
        id=draw(st.integers(1, 8)),
        public_id=draw(_PUBLIC_IDS),
        published=NOW - timedelta(minutes=draw(st.integers(0, 6000))),
        link=draw(st.sampled_from([None, "https://x.example/1", "https://x.example/2"])),
    )


@settings(max_examples=150, deadline=None)
@given(
    candidates=st.lists(_entries(), max_size=15),
    pinned=st.lists(_entries(), max_size=5),
    hidden=st.frozensets(st.integers(1, 8), max_size=3),
    limit=st.integers(1, 6),
    dedup=st.booleans(),
    with_rules=st.booleans(),
)
def test_never_over_limit_nor_repeated_public_id(
    candidates: list[StoredEntry],
    pinned: list[StoredEntry],
    hidden: frozenset[int],
    limit: int,
    dedup: bool,
    with_rules: bool,
) -> None:
    candidates.sort(key=lambda e: e.published, reverse=True)  # the store's contract
    rules = (rule("title", "sponsored", action="drop"), rule("title", "AI")) if with_rules else ()
    out = output(limit=limit, dedup=dedup, rules=rules)
    chosen = select_entries(out, candidates, now=NOW, pinned=pinned, hidden=hidden).entries
    assert len(chosen) <= max(limit, len(pinned))
    public_ids = [e.public_id for e in chosen]
    assert len(public_ids) == len(set(public_ids))
    assert not any(e.id in hidden for e in chosen)
