"""Full-text search on a real SQLite file (FTS5) and the real PostgreSQL server (tsvector)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from feedhub.models import Entry, SourceConfig
from feedhub.searchtext import MAX_SEARCH_TEXT, html_text, search_text
from feedhub.store import Attempt, Store
from feedhub.store.engine import alembic_config, make_engine
from feedhub.store.schema import entries
from feedhub.store.search import (
    MAX_TERMS,
    Term,
    entry_matches,
    fts5_expression,
    matching_ids,
    parse_query,
)
from tests.feedserver import Document, FeedServer, rss
from tests.test_store import attempt

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

HOSTILE = [
    "", " ", '"', '""', '"""', "*", "**", "NEAR(", "NEAR(a b)", "title:x", "search_text:x",
    ")", "(", "(a OR", "a AND", "AND", "OR", "NOT", "a NOT", "-", "--", "- -a", "^a", "a*",
    "{title}: a", "'", "a'b", "\\", "%", "_", ";DROP TABLE entries;--", "\x00", "a\x00b",
    "\ud800", "😀", "a" * 5000, "a " * 50_000, '"' * 10_001, "OR " * 5000, "-a " * 5000,
    "x:" * 3000, "é" * 3000,
]  # fmt: skip


def entry(key: str, title: str, content: str | None = None, **kw: object) -> Entry:
    base = Entry(
        key=key, title=title, content=content, link=f"https://e.example/{key}",
        published=NOW - timedelta(hours=1),
    )  # fmt: skip
    digest = hashlib.sha256(f"{title}|{content}|{sorted(kw.items())}".encode()).hexdigest()
    return base.replace(content_hash=digest, **kw)


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    s.sync_sources([SourceConfig("a", "https://a.example/feed"), SourceConfig("b", "https://b.example/feed")], NOW)  # fmt: skip
    return s


def save(store: Store, source: str, *batch: Entry, now: datetime = NOW) -> None:
    row = store.source(source)
    assert row is not None
    store.save_fetch(row, attempt(), list(batch), now=now)


def check_sqlite_index(store: Store) -> None:
    """FTS5 compares its index with the entries table, row by row (no-op on PostgreSQL)."""
    if store.engine.dialect.name == "sqlite":
        with store.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO entries_fts(entries_fts, rank) VALUES ('integrity-check', 1)")
            )


def keys(store: Store, query: str, **kw: object) -> list[str]:
    return [e.entry.key for e, _ in store.search(query, **kw)]  # type: ignore[arg-type]


# --- without a database -----------------------------------------------------------


def test_the_query_language() -> None:
    assert parse_query("open data") == ((Term("open"), Term("data")),)
    assert parse_query('"open data" portal') == ((Term("open data"), Term("portal")),)
    assert parse_query("a b or c -d") == ((Term("a"), Term("b")), (Term("c"), Term("d", True)))
    assert parse_query('-"tax cut" budget') == ((Term("tax cut", True), Term("budget")),)
    assert parse_query("cats AND dogs") == ((Term("cats"), Term("dogs")),)
    assert parse_query("e-mail") == ((Term("e-mail"),),)
    assert parse_query('"unclosed phrase') == ((Term("unclosed phrase"),),)
    # Nothing required is left: no search, rather than "everything except".
    assert parse_query("-budget") == ()
    assert parse_query("a OR -b") == ((Term("a"),),)
    assert parse_query("OR OR") == () and parse_query("* ) -") == ()
    assert len(parse_query("w " * 500)[0]) == MAX_TERMS


def test_since_takes_an_age_or_a_date() -> None:
    import click

    from feedhub.cli.search import parse_since

    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("2026-01-31", NOW) == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_since("2026-01-31T10:00:00+02:00", NOW) == datetime(2026, 1, 31, 8, tzinfo=UTC)
    with pytest.raises(click.BadParameter):
        parse_since("last week", NOW)


def test_every_term_reaches_fts5_quoted() -> None:
    parsed = parse_query('a "b c" -d OR NEAR( title:x')
    assert fts5_expression(parsed) == '(("a" AND "b c") NOT "d") OR (("NEAR(" AND "title:x"))'
    assert fts5_expression(((Term('say "hi"'),),)) == '(("say ""hi"""))'


def test_indexed_text_is_the_words_of_the_html() -> None:
    assert html_text("<p>alpha</p><p>beta<br>gamma</p>") == "alpha beta gamma"
    assert html_text("<p><strong>Bold</strong>ly &amp; caf&eacute;</p>") == "Boldly & café"
    assert search_text(None, None) is None
    # A summary that is an excerpt of the content is not counted twice.
    assert (
        search_text("<p>First part.</p>", "<p>First part.</p><p>More.</p>") == "First part. More."
    )
    assert search_text("<p>Teaser</p>", "<p>Body</p>") == "Teaser Body"
    assert len(search_text(None, "<p>" + "word " * 20_000 + "</p>") or "") == MAX_SEARCH_TEXT


# --- on both backends ---------------------------------------------------------------


def test_a_title_match_ranks_above_a_text_match(store: Store) -> None:
    save(store, "a",
        entry("title", "Budget for 2027", "<p>Numbers and tables.</p>", published=NOW - timedelta(days=2)),
        entry("text", "Ministry news", "<p>The budget was debated today.</p>", published=NOW),
        *[entry(f"filler-{i}", f"Filler {i}", "<p>Nothing to see here.</p>") for i in range(8)],
    )  # fmt: skip
    found = store.search("budget")
    assert [e.entry.key for e, _ in found] == ["title", "text"]
    assert found[0][1] > found[1][1] > 0


def test_equal_matches_come_newest_first(store: Store) -> None:
    save(store, "a", *[
        entry(f"day-{d}", "Weather report", "<p>Rain.</p>", published=NOW - timedelta(days=d))
        for d in (3, 1, 2)
    ])  # fmt: skip
    assert keys(store, "weather") == ["day-1", "day-2", "day-3"]
    assert keys(store, "weather", limit=2) == ["day-1", "day-2"]


def test_phrases_alternatives_and_exclusions(store: Store) -> None:
    save(store, "a",
        entry("portal", "Open data portal launched", "<p>Sponsored by the city.</p>"),
        entry("reversed", "Data is open now", "<p>Transparency report.</p>"),
        entry("other", "Cats and dogs", "<p>Pets.</p>"),
    )  # fmt: skip
    assert keys(store, '"open data"') == ["portal"]
    assert set(keys(store, "open data")) == {"portal", "reversed"}
    assert set(keys(store, "cats OR transparency")) == {"other", "reversed"}
    assert set(keys(store, '"open data" OR pets')) == {"portal", "other"}
    assert keys(store, "open -sponsored") == ["reversed"]
    assert keys(store, 'open -"by the city"') == ["reversed"]
    assert keys(store, "-sponsored") == []
    assert keys(store, "OPEN DATA PORTAL") == ["portal"]


def test_diacritics(store: Store, db_url: str) -> None:
    save(store, "a",
        entry("accented", "Le Café de Flore", "<p>Crème brûlée.</p>"),
        entry("plain", "Internet cafe opens", "<p>Creme brulee too.</p>"),
    )  # fmt: skip
    assert set(keys(store, "café")) >= {"accented"}
    assert set(keys(store, "CAFÉ")) >= {"accented"}  # case folds on both backends
    if db_url.startswith("sqlite"):
        # unicode61 remove_diacritics 2: the accent never decides a match.
        assert set(keys(store, "cafe")) == {"accented", "plain"}
        assert set(keys(store, '"crème brûlée"')) == {"accented", "plain"}
    else:
        # 'simple' keeps accents (unaccent cannot feed a generated column).
        assert keys(store, "cafe") == ["plain"]


def test_html_tags_and_attributes_are_not_words(store: Store) -> None:
    html = '<p><strong>Important</strong> <a href="https://x.example/span">news</a></p><p>below</p>'
    save(store, "a", entry("html", "Update", html, summary="<em>Teaser</em>"))
    for word in ("strong", "href", "span", "p", "em", "https"):
        assert keys(store, word) == [], word
    for word in ("important", "news", "below", "teaser", '"news below"'):
        assert keys(store, word) == ["html"], word


def test_a_changed_entry_is_indexed_again(store: Store) -> None:
    save(store, "a", entry("1", "Old headline", "<p>original wording</p>"))
    assert keys(store, "original") == ["1"]
    save(
        store,
        "a",
        entry("1", "New headline", "<p>revised wording</p>"),
        now=NOW + timedelta(hours=1),
    )
    assert keys(store, "original") == [] and keys(store, "old") == []
    assert keys(store, "revised") == ["1"] and keys(store, "new headline") == ["1"]
    assert keys(store, "wording") == ["1"]  # once, not once per version
    check_sqlite_index(store)


def test_removed_entries_leave_the_index(store: Store) -> None:
    save(store, "a", entry("1", "Harbour report"), entry("2", "Harbour closed"))
    save(store, "b", entry("3", "Harbour reopens"))
    (one,) = [e.id for e, _ in store.search("report")]
    assert store.remove_entries(store.source("a").id, [one], now=NOW) == 1  # type: ignore[union-attr]
    assert set(keys(store, "harbour")) == {"2", "3"}
    with store.engine.begin() as conn:  # a source's entries go by ON DELETE CASCADE
        conn.execute(text("DELETE FROM sources WHERE name = 'b'"))
    assert keys(store, "harbour") == ["2"]
    check_sqlite_index(store)


def test_source_and_date_filters(store: Store) -> None:
    save(store, "a", entry("a-old", "Rail strike", published=NOW - timedelta(days=10)),
         entry("a-new", "Rail strike ends", published=NOW - timedelta(days=1)))  # fmt: skip
    save(store, "b", entry("b-new", "Rail strike news", published=NOW))
    a, b = store.source("a"), store.source("b")
    assert a and b
    assert set(keys(store, "rail", source_ids=[a.id])) == {"a-old", "a-new"}
    assert set(keys(store, "rail", since=NOW - timedelta(days=2))) == {"a-new", "b-new"}
    assert keys(store, "rail", source_ids=[a.id], since=NOW - timedelta(days=2)) == ["a-new"]
    assert keys(store, "rail", source_ids=[]) == []


def test_hostile_queries_never_fail(store: Store) -> None:
    save(store, "a", entry("1", "NEAR title x a", '<p>a "quoted" (thing) * é</p>'))
    for query in HOSTILE:
        found = store.search(query)
        assert isinstance(found, list), repr(query[:20])
    assert keys(store, "title:x") == ["1"]  # a column filter is just two words here
    assert keys(store, "NEAR(") == ["1"]


def test_a_huge_article_is_stored_and_found(store: Store) -> None:
    # PostgreSQL refuses a tsvector over 1 MB; search_text is cut well before that,
    # so an enormous article cannot make the whole fetch fail.
    words = " ".join(f"w{i}x{i * 7919 % 100_003}" for i in range(300_000))
    save(store, "a", entry("huge", "Huge article", f"<p>beginning {words} ending</p>"))
    assert keys(store, "beginning") == ["huge"]
    assert keys(store, "ending") == []  # past the cut


def test_a_search_is_a_condition_outputs_can_reuse(store: Store) -> None:
    save(store, "a", entry("1", "Solar power record"), entry("2", "Wind power record"))
    save(store, "b", entry("3", "Solar eclipse"))
    a = store.source("a")
    assert a is not None
    with store.engine.connect() as conn:
        assert len(matching_ids(conn, "solar")) == 2
        assert len(matching_ids(conn, "solar", source_ids=[a.id])) == 1
        assert matching_ids(conn, "-solar") == set()
        condition = entry_matches(conn.dialect.name, "power -wind")
        found = conn.execute(select(entries.c.key).where(condition)).scalars().all()
    assert found == ["1"]


def test_existing_entries_are_indexed_by_the_migration(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        conn.execute(text(
            "INSERT INTO sources (name, url, config_url, enabled, status, consecutive_errors,"
            " redirect_count, created_at) VALUES ('old', 'u', 'u', :t, 'ok', 0, 0, :d)"
        ), {"t": True, "d": datetime(2026, 1, 1)})  # fmt: skip
        conn.execute(text(
            "INSERT INTO entries (source_id, key_hash, key, public_id, short_id, title,"
            " first_seen_at, changed_at, sort_published, sort_updated, guid_is_permalink,"
            " content_hash, summary, content) SELECT id, :h, :k, :p, :s, :title, :d1, :d2, :d3, :d4,"
            " :f, 'h', NULL, :content FROM sources"
        ), [{"h": f"k{i}", "k": f"k{i}", "p": f"k{i}", "s": f"k{i}", "title": f"Stored before search {i}",
             "f": False, "content": f"<p><b>harvest</b> number{i}</p>",
             **{f"d{n}": datetime(2026, 1, 1) for n in range(1, 5)}} for i in range(3)])  # fmt: skip
    engine.dispose()
    store = Store.open(db_url)
    assert sorted(keys(store, "harvest")) == ["k0", "k1", "k2"]
    assert keys(store, "number1") == ["k1"] and keys(store, "b") == []
    store.close()
    engine = make_engine(db_url)
    with engine.begin() as conn:  # and back down, and up again
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    engine.dispose()
    store = Store.open(db_url)
    assert sorted(keys(store, "harvest")) == ["k0", "k1", "k2"]


def test_sqlite_triggers_exist_at_head(tmp_path: Path) -> None:
    # A later migration that rebuilds `entries` in batch mode would drop them silently.
    store = Store.open(f"sqlite:///{tmp_path / 'f.db'}")
    with store.engine.connect() as conn:
        names = set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'"
        )).scalars())  # fmt: skip
    # Inserts are indexed in bulk by Store.save_fetches (migration 0006).
    assert names == {"entries_fts_update", "entries_fts_delete"}


def test_entries_stored_in_one_batch_are_all_searchable(store: Store) -> None:
    # The bulk index covers exactly the rows a batch inserted, across sources, and
    # rows of an earlier batch are not indexed twice (one hit each).
    rows = {r.name: r for r in store.sources()}
    save(store, "a", entry("a1", "first zebra story"))
    store.save_fetches([
        Attempt(rows["a"], attempt(), [entry("a2", "second zebra story")], NOW),
        Attempt(rows["b"], attempt(), [entry("b1", "third zebra story"), entry("b2", "an okapi")], NOW),
    ])  # fmt: skip
    found = [stored.entry.title for stored, _ in store.search("zebra", limit=10)]
    assert sorted(found) == ["first zebra story", "second zebra story", "third zebra story"]
    assert [stored.entry.title for stored, _ in store.search("okapi", limit=10)] == ["an okapi"]
    if store.engine.dialect.name == "sqlite":
        check_sqlite_index(store)


# --- through the command line -------------------------------------------------------


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedhub", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip


def test_search_command_after_a_real_fetch(
    tmp_path: Path, feed_server: FeedServer, db_url: str
) -> None:
    feed_server.documents["/ministry.xml"] = Document(
        rss(
            "Ministry",
            [
                {
                    "title": "Budget tables for 2027",
                    "guid": "m-1",
                    "pubDate": "Tue, 10 Nov 2026 09:00:00 +0000",
                    "description": "&lt;p&gt;Numbers, &lt;strong&gt;finally&lt;/strong&gt;.&lt;/p&gt;",
                },
                {
                    "title": "Sponsored: summit",
                    "guid": "m-2",
                    "pubDate": "Mon, 09 Nov 2026 09:00:00 +0000",
                    "description": "&lt;p&gt;The budget summit, sponsored.&lt;/p&gt;",
                },
            ],
        )
    )
    feed_server.documents["/lab.xml"] = Document(rss("Lab", [
        {"title": "Notes on models", "guid": "l-1", "pubDate": "Wed, 11 Nov 2026 09:00:00 +0000",
         "description": "&lt;p&gt;Our compute budget grew.&lt;/p&gt;"},
    ]))  # fmt: skip
    config = tmp_path / "feeds.toml"
    config.write_text(f"""
[settings]
base_url = "http://feeds.example/"
database_url = "{db_url}"

[[sources]]
name = "ministry"
url = "{feed_server.url("/ministry.xml")}"

[[sources]]
name = "lab"
url = "{feed_server.url("/lab.xml")}"

[[outputs]]
name = "all"
title = "All"
sources = ["ministry", "lab"]
""")
    fetched = run(config, "fetch")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr

    table = run(config, "search", "budget")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "PUBLISHED", "SOURCE", "TITLE"]
    assert "Budget tables for 2027" in lines[1] and "ministry" in lines[1]  # the title match
    assert len(lines) == 4

    searched = run(config, "search", "--json", "--since", "2026-11-10", "--source", "ministry", "--source", "lab", "--", "budget", "-sponsored")  # fmt: skip
    found = json.loads(searched.stdout)
    assert [(f["source"], f["title"]) for f in found] == [
        ("ministry", "Budget tables for 2027"), ("lab", "Notes on models"),
    ]  # fmt: skip
    assert found[0]["score"] > found[1]["score"] > 0 and found[0]["published"].startswith(
        "2026-11-10"
    )

    unknown = run(config, "search", "budget", "--source", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
