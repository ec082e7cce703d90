"""Full-text search over entry titles and text: one query language, two backends.

SQLite: an FTS5 external-content table `entries_fts(title, search_text)` kept in
sync by triggers on `entries` (migration 0004), ranked by bm25. PostgreSQL: a
generated `entries.search_vector` tsvector with a GIN index, ranked by
ts_rank_cd. Neither object is in schema.metadata (see schema.is_external_object).

The index reads `entries.search_text`, the plain text of summary and content
that `search_text()` computes when the store writes an entry: FTS triggers run
SQL and cannot strip HTML, and indexing raw HTML would make tag names ("p",
"strong") searchable words.

The query language is the small one of PostgreSQL's websearch_to_tsquery:
words (all required), "quoted phrases", OR between alternatives, -word to
exclude. It is parsed here, once, and compiled for each backend from the same
parse, so one query selects the same entries on both: raw input never reaches
FTS5 MATCH (whose syntax errors and column filters users could trigger) nor a
tsquery parser. Every term becomes a quoted FTS5 string or a
phraseto_tsquery() of a bound parameter.

Text search configuration 'simple' on PostgreSQL (lower-casing only, no
stemming, no stop words) because feeds are multilingual: an English stemmer
would mangle other languages, and stop-word lists would silently drop words
such as "it" or "die". SQLite's unicode61 tokenizer likewise does no stemming,
but folds diacritics (cafe finds café); 'simple' does not, and PostgreSQL's
unaccent is not immutable, so a generated column cannot use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    and_,
    column,
    false,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection

from feedhub.store.schema import entries

# search_text is cut here. PostgreSQL refuses a tsvector over 1 MB, and a
# GENERATED column that fails would fail the whole fetch of a source; 50,000
# characters stays far under that for any text and covers long articles.
# A query longer than this is cut, and terms past MAX_TERMS are ignored: each
# term is one FTS5 phrase or one nested tsquery call, and a pasted page would
# otherwise build an expression deep enough to hit either engine's limits.
MAX_QUERY_CHARS = 1000
MAX_TERMS = 32
# A title match counts five times a body match, on both backends.
TITLE_WEIGHT, TEXT_WEIGHT = 5.0, 1.0

_FTS = table("entries_fts", column("rowid", Integer))
_FTS_MATCH_COLUMN: ColumnElement[Any] = literal_column(
    "entries_fts"
)  # FTS5's hidden column named like its table
# ts_rank_cd weights are {D, C, B, A}; title is A, text B: the same 5:1 as bm25 below.
_PG_WEIGHTS: ColumnElement[Any] = literal_column("'{0.1, 0.2, 0.2, 1.0}'::real[]")
_PG_VECTOR: ColumnElement[Any] = literal_column(f"{entries.name}.search_vector")
_PG_CONFIG: ColumnElement[Any] = literal_column("'simple'")
# ts_rank_cd normalization 1: divide by 1 + log(document length), so a long
# article does not outrank a short one by size alone (bm25 normalizes likewise).
_PG_NORMALIZATION = 1


# The indexed text (html_text, search_text) is computed by feedhub.searchtext,
# in the parser workers, which must not import SQLAlchemy.


# --- the query language --------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One word or quoted phrase; an entry must (or, negated, must not) contain it."""

    text: str
    negated: bool = False


# Alternatives (OR) of groups of terms that must all hold (AND).
ParsedQuery = tuple[tuple[Term, ...], ...]

_PIECE = re.compile(r'(?P<minus>-*)(?:"(?P<phrase>[^"]*)(?:"|$)|(?P<word>[^\s"]+))')


def parse_query(query: str) -> ParsedQuery:
    """Parse websearch syntax; never fails. Empty when nothing is left to look for.

    Like websearch_to_tsquery, AND binds tighter than OR: `a b OR c -d` is
    (a AND b) OR (c AND NOT d). Punctuation-only pieces (`*`, `)`, `-`) are
    dropped; a bare uppercase AND is accepted as the implied operator. An
    alternative with no required term is dropped: FTS5 has no "everything
    except", and a search that lists nearly every entry helps no one.
    """
    cleaned = "".join(c if c.isprintable() else " " for c in query[:MAX_QUERY_CHARS])
    groups: list[list[Term]] = [[]]
    terms = 0
    for piece in _PIECE.finditer(cleaned):
        negated = bool(piece["minus"])
        quoted = piece["phrase"] is not None
        value = piece["phrase"] if quoted else piece["word"]
        if not quoted and not negated and value.lower() == "or":
            groups.append([])
            continue
        if (not quoted and value == "AND") or not any(c.isalnum() for c in value):
            continue
        groups[-1].append(Term(" ".join(value.split()), negated))
        terms += 1
        if terms == MAX_TERMS:
            break
    return tuple(tuple(g) for g in groups if any(not t.negated for t in g))


def fts5_expression(parsed: ParsedQuery) -> str:
    """An FTS5 MATCH expression in which every term is a quoted string.

    Inside double quotes FTS5 sees only text to tokenize: no operators, column
    filters, NEAR or prefix stars, so no user input can make a syntax error.
    """

    def quoted(term: Term) -> str:
        return '"' + term.text.replace('"', '""') + '"'

    alternatives = []
    for group in parsed:
        required = " AND ".join(quoted(t) for t in group if not t.negated)
        excluded = "".join(f" NOT {quoted(t)}" for t in group if t.negated)
        alternatives.append(f"({required}){excluded}")
    return " OR ".join(f"({a})" for a in alternatives)


def _tsquery(parsed: ParsedQuery) -> ColumnElement[object]:
    """A tsquery built from one phraseto_tsquery() per term, each a bound parameter."""

    def phrase(term: Term) -> ColumnElement[object]:
        found = func.phraseto_tsquery(_PG_CONFIG, literal(term.text, Text))
        return func.tsquery_not(found) if term.negated else found

    def combine(name: str, parts: list[ColumnElement[object]]) -> ColumnElement[object]:
        result = parts[0]
        for part in parts[1:]:
            result = getattr(func, name)(result, part)
        return result

    groups = [combine("tsquery_and", [phrase(t) for t in group]) for group in parsed]
    return combine("tsquery_or", groups)


# --- querying -------------------------------------------------------------------


def entry_matches(dialect_name: str, query: str) -> ColumnElement[bool]:
    """A WHERE condition on `entries` that holds for entries matching `query`.

    Usable in any SELECT over the entries table (e.g. Store.iter_entries, to
    let an output select by a search); false when the query has no terms.
    An `id IN (matches)` on both backends: the index finds the matches once,
    so a walk over entries newest first probes a set instead of testing each
    row's text, which would read every row when matches are rare.
    """
    parsed = parse_query(query)
    if not parsed:
        return false()
    if dialect_name == "postgresql":
        found = entries.alias("search_match")
        vector: ColumnElement[Any] = literal_column(f"{found.name}.search_vector")
        return entries.c.id.in_(select(found.c.id).where(vector.op("@@")(_tsquery(parsed))))
    matching = select(_FTS.c.rowid).where(
        _FTS_MATCH_COLUMN.op("MATCH")(literal(fts5_expression(parsed), Text))
    )
    return entries.c.id.in_(matching)


def matching_ids(
    conn: Connection, query: str, *, source_ids: Sequence[int] | None = None
) -> set[int]:
    """Ids of every entry matching `query`, optionally only of these sources."""
    condition = [entry_matches(conn.dialect.name, query)]
    if source_ids is not None:
        condition.append(entries.c.source_id.in_(list(source_ids)))
    return set(conn.execute(select(entries.c.id).where(*condition)).scalars())


def ranked_ids(
    conn: Connection,
    query: str,
    *,
    source_ids: Sequence[int] | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[tuple[int, float]]:
    """(entry id, score) of the best `limit` matches: higher scores first, ties newest first.

    Scores compare within one search on one backend only (bm25 on SQLite,
    ts_rank_cd on PostgreSQL).
    """
    parsed = parse_query(query)
    if not parsed or limit <= 0 or (source_ids is not None and not source_ids):
        return []
    if conn.dialect.name == "postgresql":
        score = func.ts_rank_cd(_PG_WEIGHTS, _PG_VECTOR, _tsquery(parsed), _PG_NORMALIZATION)
        found = select(entries.c.id, score.label("score")).where(
            _PG_VECTOR.op("@@")(_tsquery(parsed))
        )
    else:
        # bm25() is smaller for better matches; negated, higher is better as on PostgreSQL.
        bm25 = func.bm25(
            _FTS_MATCH_COLUMN,
            literal_column(repr(TITLE_WEIGHT)),
            literal_column(repr(TEXT_WEIGHT)),
        )
        found = (
            select(entries.c.id, (-bm25).label("score"))
            .select_from(_FTS.join(entries, entries.c.id == _FTS.c.rowid))
            .where(_FTS_MATCH_COLUMN.op("MATCH")(literal(fts5_expression(parsed), Text)))
        )
    conditions: list[ColumnElement[bool]] = []
    if source_ids is not None:
        conditions.append(entries.c.source_id.in_(list(source_ids)))
    if since is not None:
        conditions.append(entries.c.sort_published >= since)
    if conditions:
        found = found.where(and_(*conditions))
    found = found.order_by(
        literal_column("score").desc(), entries.c.sort_published.desc(), entries.c.id.desc()
    ).limit(limit)
    return [(row.id, float(row.score)) for row in conn.execute(found)]


# --- keeping the index current -------------------------------------------------------


def newest_entry_id(conn: Connection) -> int:
    """The highest entry id now: what a transaction inserts next is above it."""
    return int(conn.execute(select(func.max(entries.c.id))).scalar() or 0)


def index_entries_after(conn: Connection, last_id: int) -> None:
    """Add the entries inserted after `last_id` to the full-text index (SQLite).

    Called inside the write transaction that inserted them, before it commits.
    SQLite gives a new row the highest id plus one and has one writer at a
    time, so "id > last_id" is exactly this transaction's rows. PostgreSQL
    indexes through its generated column and needs nothing.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(
            text(
                "INSERT INTO entries_fts(rowid, title, search_text) "
                "SELECT id, title, search_text FROM entries WHERE id > :last_id"
            ),
            {"last_id": last_id},
        )


def rebuild_index(conn: Connection) -> None:
    """Index every entry afresh (SQLite), e.g. after rows were copied in bulk."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')"))
