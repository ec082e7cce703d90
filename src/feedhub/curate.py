"""What an output keeps: selection rules, dedup and manual curation, as pure functions.

The store streams candidate entries newest first; curate decides, entry by
entry, and stops as soon as the output is full, so an output over a million
stored entries reads only the pages it needs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from feedhub.models import OutputConfig, Rule, Selection, StoredEntry

# Query parameters that identify a campaign or a click, never the story.
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_hsenc|_hsmi"
    r"|mkt_tok|oly_anon_id|oly_enc_id|vero_id|wt_mc|ref_src|spm)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
TITLE_WINDOW = timedelta(hours=48)


@lru_cache(maxsize=8192)
def canonical_url(url: str) -> str:
    """The form two links to the same story share: scheme/host lowercased,
    default port, fragment and tracking parameters removed. Cached: an entry in
    several outputs of a build is compared by its link in each."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets (RFC 3986 3.2.2)
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def normalize_title(title: str) -> str:
    """Casefolded words only, so punctuation or spacing never hides a duplicate."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.findall(r"\w+", text))


@lru_cache(maxsize=8192)
def dedup_title(title: str) -> str | None:
    """The normalized title used to match stories, or None when it is too short to
    tell two stories apart ("Update", "Weekly notes")."""
    text = normalize_title(title)
    return text if len(text.split()) >= 4 and len(text) >= 20 else None


@lru_cache(maxsize=512)
def _compiled(rule: Rule) -> tuple[re.Pattern[str], ...]:
    if rule.match == "regex":
        # One pattern each: joined with "|", a user's valid "(?i)x" becomes an error
        # (global flags must start the expression), after config accepted it.
        return tuple(re.compile(p, re.IGNORECASE) for p in rule.patterns)
    # contains: whole words or phrases, so "AI" does not match "said"; a phrase's
    # words may be separated by any whitespace, as HTML line-wraps freely.
    phrases = "|".join(r"\s+".join(map(re.escape, p.split())) for p in rule.patterns)
    return (re.compile(rf"(?<!\w)(?:{phrases})(?!\w)", re.IGNORECASE),)


_TAGS = re.compile(r"<[^>]*>")


def _field_values(stored: StoredEntry, name: str) -> list[str]:
    entry = stored.entry
    if name == "title":
        return [entry.title]
    if name == "content":
        # Tags go first, then entities, so "R&amp;D" reads as "R&D" but an escaped
        # "&lt;b&gt;" stays text instead of becoming a tag to strip.
        return [html.unescape(_TAGS.sub(" ", v)) for v in (entry.summary, entry.content) if v]
    if name == "author":
        return [v for a in entry.authors for v in (a.name, a.email) if v]
    if name == "category":
        return list(entry.categories)
    if name == "link":
        return [entry.link] if entry.link else []
    if name == "source":
        return [v for v in (stored.source.name, stored.source.title) if v]
    if name == "language":
        return [entry.language] if entry.language else []
    raise ValueError(f"unknown rule field {name!r}")


def rule_matches(rule: Rule, stored: StoredEntry) -> bool:
    return _Fields(stored).match(rule)


def keeps(rules: Sequence[Rule], stored: StoredEntry) -> bool:
    """Rules apply in order; the first that matches decides.

    When none matches, an output with any keep rule is a whitelist (drop),
    otherwise everything else is kept.
    """
    fields = _Fields(stored)  # one entry's field values, shared by its rules
    for rule in rules:
        if fields.match(rule):
            return rule.action == "keep"
    return not any(rule.action == "keep" for rule in rules)


class _Fields:
    """The values rules test of one entry, each field read once: include and exclude
    both test the content, whose markup stripping costs more than the matching."""

    def __init__(self, stored: StoredEntry) -> None:
        self.stored = stored
        self.values: dict[str, list[str]] = {}

    def match(self, rule: Rule) -> bool:
        patterns = () if rule.match == "equals" else _compiled(rule)
        for name in rule.fields:
            values = self.values.get(name)
            if values is None:
                values = self.values[name] = _field_values(self.stored, name)
            for value in values:
                if rule.match == "equals":
                    if any(value.strip().casefold() == p.casefold() for p in rule.patterns):
                        return True
                elif any(pattern.search(value) for pattern in patterns):
                    return True
        return False


def sort_time(stored: StoredEntry, order: str) -> datetime:
    return stored.updated if order == "updated" else stored.published


class _Dedup:
    """Same guid, same canonical link, or same title within 48 h: one story."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.links: set[str] = set()
        self.titles: dict[str, list[datetime]] = {}

    def same_story(self, stored: StoredEntry) -> bool:
        """Whether a story already added has this link or title (not id: see `ids`)."""
        link = canonical_url(stored.entry.link) if stored.entry.link else None
        if link and link in self.links:
            return True
        # The store's rule (dedup_title), so "Update" from two sources stays two stories.
        title = dedup_title(stored.entry.title)
        when = stored.published
        return bool(
            title and any(abs(when - t) <= TITLE_WINDOW for t in self.titles.get(title, ()))
        )

    def add(self, stored: StoredEntry) -> None:
        self.ids.add(stored.public_id)
        if stored.entry.link:
            self.links.add(canonical_url(stored.entry.link))
        title = dedup_title(stored.entry.title)
        if title:
            self.titles.setdefault(title, []).append(stored.published)


def _until(items: Iterable[StoredEntry], full: Callable[[], bool]) -> Iterator[StoredEntry]:
    iterator = iter(items)
    while not full():
        try:
            yield next(iterator)
        except StopIteration:
            return


def select_entries(
    output: OutputConfig,
    candidates: Iterable[StoredEntry],
    *,
    now: datetime,
    pinned: Sequence[StoredEntry] = (),
    hidden: frozenset[int] | set[int] = frozenset(),
) -> Selection:
    """Choose an output's entries: pinned first, then the newest kept by the rules.

    `candidates` must come newest first (by output.order) and already be
    limited to the output's sources; earlier copies of a story must have been
    marked duplicate by the store, so the first copy met here is the one kept.
    """
    oldest = now - output.max_age if output.max_age else None
    if output.since and (oldest is None or output.since > oldest):
        oldest = output.since
    chosen: list[StoredEntry] = []
    dedup = _Dedup()
    for stored in pinned:
        if stored.id not in hidden and stored.public_id not in dedup.ids:
            chosen.append(stored)
            dedup.add(stored)
    # The check comes before each next(): once full, not one more candidate is
    # pulled, since each may cost the store another page.
    for stored in _until(candidates, lambda: len(chosen) >= output.limit):
        if oldest is not None and sort_time(stored, output.order) < oldest:
            break  # candidates are newest first: nothing older can qualify
        if stored.id in hidden or stored.public_id in dedup.ids:
            continue
        # Rules before the story check: both only look, so the order changes nothing
        # but the cost, and rules are what reject most candidates of a filtered output.
        if not keeps(output.rules, stored):
            continue
        if output.dedup and dedup.same_story(stored):
            continue
        chosen.append(stored)
        dedup.add(stored)
    return Selection(output, tuple(chosen[: max(output.limit, len(pinned))]))
