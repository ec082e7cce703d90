"""Pure decisions about sources: naming, what is due, when next, redirect moves, status.

Nothing here does I/O or reads the clock: callers pass `now` (timezone-aware UTC) and,
where chance is involved, a `random.Random`, so every decision is reproducible in tests.

After each attempt the orchestrator calls hints_from_headers, merge_hints, then
next_state, stores the returned state, and moves the source's URL if told to.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit

from feedhub.models import FeedMeta

MIN_INTERVAL = timedelta(minutes=5)  # floor for intervals the user did not write per source
MIN_EXPLICIT_INTERVAL = timedelta(seconds=1)  # only guards against a zero/negative busy loop
MAX_DELAY = timedelta(days=7)  # no hint, however large, parks a source for longer
MAX_BACKOFF = timedelta(hours=24)
BROKEN_AFTER = timedelta(days=30)
BROKEN_RETRY = timedelta(hours=24)
JITTER = 0.1  # ±10 %, so sources configured together do not all fire together
REDIRECT_FETCHES = 3
REDIRECT_SPAN = timedelta(hours=24)
NAME_MAX = 60
# RFC 9111 §1.2.2: delta-seconds beyond 2^31 are to be read as 2^31.
_DELTA_SECONDS_MAX = 2**31
_MAX_BACKOFF_EXPONENT = 64  # 2^64 × anything is past every cap; avoids float overflow

T = TypeVar("T")
SourceStatus = Literal["new", "ok", "not-modified", "error", "broken", "gone"]
IntervalReason = Literal[
    "config", "max-age", "expires", "retry-after", "ttl", "sy:updatePeriod",
    "backoff", "broken", "gone",
]  # fmt: skip


# --- naming -------------------------------------------------------------------

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_EXTENSION = re.compile(r"(?<=.)\.[A-Za-z0-9]{1,5}$")


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", folded.lower()).strip("-")


def derive_name(url: str) -> str:
    """A stable, readable name for a source that feeds.toml leaves unnamed.

    http(s) URLs give host (without "www."), port if not the default, path segments
    (the last one without its extension) and query, joined by "-": dots are kept only
    between the labels of the host, as in "example.org-blog-feed". Anything else is a
    file path (or file: URL) and gives its stem. The result matches
    ``[a-z0-9]+([.-][a-z0-9]+)*``, is at most NAME_MAX long and never empty.
    """
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.hostname:
        host = parts.hostname
        if host.startswith("www.") and len(host) > 4:
            host = host[4:]
        pieces = [".".join(label for label in map(_slug, host.split(".")) if label)]
        try:
            port = parts.port
        except ValueError:  # a malformed port is config's problem, not naming's
            port = None
        if port is not None and port != {"http": 80, "https": 443}[scheme]:
            pieces.append(str(port))
        segments = [s for s in unquote(parts.path).split("/") if s]
        if segments:
            segments[-1] = _EXTENSION.sub("", segments[-1])
        pieces += [_slug(s) for s in segments]
        pieces.append(_slug(unquote(parts.query)))
        name = "-".join(p for p in pieces if p)
    else:
        path = unquote(parts.path) if scheme == "file" else text
        name = _slug(PurePosixPath(path.replace("\\", "/")).stem)
    name = name or "feed"
    if len(name) > NAME_MAX:
        # Truncation alone would let two long URLs collide; a digest of the whole URL
        # keeps the name stable and distinct.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        name = name[: NAME_MAX - len(digest) - 1].rstrip("-.") + "-" + digest
    return name


# --- caching hints ------------------------------------------------------------


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ISO_SECONDS = re.compile(r"^PT(\d+(?:\.\d+)?)S$")


def _duration_from_json(value: object) -> timedelta | None:
    if isinstance(value, str) and (m := _ISO_SECONDS.match(value)):
        value = float(m.group(1))
    # The upper bound (~31 years) keeps a damaged value from overflowing timedelta.
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
        return timedelta(seconds=value)
    return None


def _datetime_from_json(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class CacheHints:
    """What the server and document said about freshness, kept per source.

    Stored because a 304 often omits them (RFC 9111 §4.3.4 lets it), and they must
    keep being honoured until a full response says otherwise.
    """

    max_age: timedelta | None = None  # Cache-Control max-age, less Age
    expires: datetime | None = None  # Expires, only when in the future
    retry_after: datetime | None = None  # Retry-After on 429/503, made absolute
    ttl: timedelta | None = None  # RSS <ttl>
    update_period: timedelta | None = None  # sy:updatePeriod / sy:updateFrequency

    def to_json(self) -> dict[str, object]:
        """ISO 8601 strings (durations as PTnS) for a JSON column; None fields are left out."""
        out: dict[str, object] = {}
        for key in ("max_age", "ttl", "update_period"):
            duration: timedelta | None = getattr(self, key)
            if duration is not None:
                out[key] = f"PT{duration.total_seconds():.6f}".rstrip("0").rstrip(".") + "S"
        for key in ("expires", "retry_after"):
            moment: datetime | None = getattr(self, key)
            if moment is not None:
                out[key] = moment.isoformat()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> CacheHints:
        """Reads to_json's output; unknown keys and unreadable values become None,
        so a damaged column costs a hint, never a scheduling crash."""
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            max_age=_duration_from_json(data.get("max_age")),
            expires=_datetime_from_json(data.get("expires")),
            retry_after=_datetime_from_json(data.get("retry_after")),
            ttl=_duration_from_json(data.get("ttl")),
            update_period=_duration_from_json(data.get("update_period")),
        )


# RFC 9111 §5.2: directive = token [ "=" ( token / quoted-string ) ], comma-separated.
# Quoted strings are matched whole so a comma inside no-cache="a, b" does not split.
_DIRECTIVE = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?')
_DIGITS = re.compile(r"^\d+$")


def _delta_seconds(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip().strip('"')
    return min(int(text), _DELTA_SECONDS_MAX) if _DIGITS.match(text) else None


def _http_date(text: str) -> datetime | None:
    """RFC 9110 §5.6.7 HTTP-date in any of its three forms; None if unreadable."""
    try:
        return _aware(parsedate_to_datetime(text.strip()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def hints_from_headers(
    headers: Mapping[str, str], *, status: int | None, now: datetime
) -> CacheHints:
    """Caching hints from one response's headers (ttl and update_period stay None)."""
    _require_aware(now)
    fields = {name.lower(): value for name, value in headers.items()}
    max_age: timedelta | None = None
    expires: datetime | None = None
    has_max_age = forbids_reuse = False
    for m in _DIRECTIVE.finditer(fields.get("cache-control", "")):
        directive, argument = m.group(1).lower(), m.group(2)
        # A qualified no-cache="field" only concerns the fields named (RFC 9111 §5.2.2.4).
        if directive == "no-store" or (directive == "no-cache" and argument is None):
            forbids_reuse = True
        elif directive == "max-age" and not has_max_age:
            # RFC 9111 §4.2.1: with duplicates, the first occurrence is used.
            has_max_age = True
            seconds = _delta_seconds(argument)
            age = _delta_seconds(fields.get("age")) or 0  # RFC 9111 §4.2.3: already spent
            if seconds is not None and seconds > age:
                max_age = timedelta(seconds=seconds - age)
    # RFC 9111 §5.3: Expires is ignored when max-age is present; an invalid date (e.g.
    # "0") means "already expired", which is no hint.
    if not forbids_reuse and not has_max_age and "expires" in fields:
        moment = _http_date(fields["expires"])
        expires = moment if moment is not None and moment > now else None
    if forbids_reuse:
        max_age = None
    retry_after: datetime | None = None
    # RFC 9110 §10.2.3: seconds or HTTP-date; only 429 and 503 ask us to wait.
    if status in (429, 503) and "retry-after" in fields:
        value = fields["retry-after"].strip()
        seconds = _delta_seconds(value) if _DIGITS.match(value) else None
        moment = now + timedelta(seconds=seconds) if seconds is not None else _http_date(value)
        if moment is not None and moment > now:
            retry_after = min(moment, now + MAX_DELAY)
    return CacheHints(max_age=max_age, expires=expires, retry_after=retry_after)


def merge_hints(
    previous: CacheHints,
    current: CacheHints,
    *,
    status: int | None,
    document: FeedMeta | None = None,
) -> CacheHints:
    """The hints to store after an attempt.

    A 2xx replaces the header hints; anything else (304, error, no response) keeps the
    previous ones except those the response itself carried (RFC 9111 §4.3.4 updates
    stored fields from a 304's fields). Retry-After comes only from `current`.
    ttl/update_period come from `document`, the feed parsed on this attempt; when none
    was parsed (304, error) the previous ones are kept.
    """
    if status is not None and 200 <= status < 300:
        max_age, expires = current.max_age, current.expires
    else:
        max_age = current.max_age if current.max_age is not None else previous.max_age
        expires = current.expires if current.expires is not None else previous.expires
    ttl, period = previous.ttl, previous.update_period
    if document is not None:
        minutes = document.ttl_minutes
        ttl = timedelta(minutes=minutes) if minutes is not None and minutes > 0 else None
        period = document.update_period
        period = period if period is not None and period > timedelta(0) else None
    return CacheHints(max_age, expires, current.retry_after, ttl, period)


# --- state and schedule -------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, as the orchestrator reports it."""

    kind: Literal["ok", "not-modified", "error", "gone"]
    http_status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class SourceState:
    """The schedule-relevant state of a source, as stored."""

    status: SourceStatus = "new"
    consecutive_errors: int = 0
    first_error_at: datetime | None = None  # start of the current failure streak
    hints: CacheHints = CacheHints()
    redirect_target: str | None = None  # the permanent redirect seen on consecutive fetches
    redirect_count: int = 0
    redirect_first_seen: datetime | None = None
    next_fetch_at: datetime | None = None
    interval_reason: IntervalReason | None = None


@dataclass(frozen=True)
class Schedule:
    next_fetch_at: datetime | None  # None: never again (gone)
    interval_reason: IntervalReason


@dataclass(frozen=True)
class Transition:
    """next_state's answer: the state to store, and a URL to move the source to."""

    state: SourceState
    move_to: str | None = None


def effective_interval(interval: timedelta, interval_explicit: bool) -> timedelta:
    """The configured interval after its floor (MIN_INTERVAL unless set per source)."""
    return max(interval, MIN_EXPLICIT_INTERVAL if interval_explicit else MIN_INTERVAL)


def compute_schedule(
    status: SourceStatus,
    consecutive_errors: int,
    *,
    now: datetime,
    interval: timedelta,
    interval_explicit: bool,
    hints: CacheHints,
    rng: random.Random,
) -> Schedule:
    """When to try next: now + the largest applicable term, capped at MAX_DELAY.

    Terms: the jittered interval ("config"), Retry-After, max-age, Expires, ttl,
    sy:updatePeriod. While failing, the interval term becomes interval × 2^n ("backoff")
    capped at 24 h, or at the interval if longer: a failing source is never polled more
    often than a healthy one. Broken: daily (or the interval), Retry-After still wins.
    """
    _require_aware(now)
    if status == "gone":
        return Schedule(None, "gone")
    base = effective_interval(interval, interval_explicit).total_seconds()
    jittered = base * rng.uniform(1 - JITTER, 1 + JITTER)

    def seconds(term: timedelta | datetime | None) -> float | None:
        if isinstance(term, datetime):
            term = term - now
        return term.total_seconds() if term is not None else None

    terms: list[tuple[IntervalReason, float | None]]
    if status == "broken":
        daily = max(BROKEN_RETRY.total_seconds(), base)
        terms = [("broken", daily), ("retry-after", seconds(hints.retry_after))]
    else:
        if consecutive_errors > 0:
            factor = 2.0 ** min(consecutive_errors, _MAX_BACKOFF_EXPONENT)
            cap = max(MAX_BACKOFF.total_seconds(), jittered)
            terms = [("backoff", min(jittered * factor, cap))]
        else:
            terms = [("config", jittered)]
        terms += [
            ("retry-after", seconds(hints.retry_after)),
            ("max-age", seconds(hints.max_age)),
            ("expires", seconds(hints.expires)),
            ("ttl", seconds(hints.ttl)),
            ("sy:updatePeriod", seconds(hints.update_period)),
        ]
    # max() keeps the first of equal terms, so ties go to the interval/backoff/broken term.
    reason, delay = max(((r, v) for r, v in terms if v is not None), key=lambda t: t[1])
    return Schedule(now + timedelta(seconds=min(delay, MAX_DELAY.total_seconds())), reason)


def _without_redirect(state: SourceState) -> SourceState:
    return replace(state, redirect_target=None, redirect_count=0, redirect_first_seen=None)


def track_redirect(
    state: SourceState, permanent_redirect: str | None, now: datetime, *, succeeded: bool
) -> Transition:
    """Count a permanent redirect; say when the stored URL should move to its target.

    The move needs the same target on REDIRECT_FETCHES consecutive fetches spanning at
    least REDIRECT_SPAN, so a brief misconfiguration does not rewrite the URL for good
    (RFC 9110 §15.4.2 allows, not requires, updating references). It also waits for a
    successful fetch at the target, so we never move onto a URL that does not work.
    A fetch without that redirect starts the count over. Only 301/308 chains count:
    the fetcher reports `permanent_redirect` only when every hop was one.
    """
    if permanent_redirect is None:
        return Transition(_without_redirect(state))
    if permanent_redirect == state.redirect_target and state.redirect_first_seen is not None:
        count, first_seen = state.redirect_count + 1, state.redirect_first_seen
    else:
        count, first_seen = 1, now
    if succeeded and count >= REDIRECT_FETCHES and now - first_seen >= REDIRECT_SPAN:
        return Transition(_without_redirect(state), move_to=permanent_redirect)
    counted = replace(state, redirect_target=permanent_redirect, redirect_count=count)
    return Transition(replace(counted, redirect_first_seen=first_seen))


def next_state(
    state: SourceState,
    outcome: Outcome,
    *,
    now: datetime,
    interval: timedelta,
    interval_explicit: bool,
    hints: CacheHints,
    permanent_redirect: str | None,
    rng: random.Random,
) -> Transition:
    """The state after one attempt, and the URL to move to if a redirect has settled.

    `hints` are the merged hints (see merge_hints); they are stored as given.
    A 410 (kind "gone", or an error with http_status 410) stops scheduling until
    reenable(). Every other error counts towards backoff; a streak of BROKEN_AFTER
    makes the source "broken", still tried daily. Success clears the streak.
    """
    _require_aware(now)
    status: SourceStatus
    if outcome.kind in ("ok", "not-modified"):
        status = "ok" if outcome.kind == "ok" else "not-modified"
        errors, first_error_at = 0, None
    else:
        errors = state.consecutive_errors + 1
        first_error_at = state.first_error_at or now
        if outcome.kind == "gone" or outcome.http_status == 410:
            status = "gone"
        elif now - first_error_at >= BROKEN_AFTER:
            status = "broken"
        else:
            status = "error"
    schedule = compute_schedule(
        status, errors, now=now, interval=interval, interval_explicit=interval_explicit,
        hints=hints, rng=rng,
    )  # fmt: skip
    succeeded = status in ("ok", "not-modified")
    step = track_redirect(state, permanent_redirect, now, succeeded=succeeded)
    new = replace(
        step.state,
        status=status,
        consecutive_errors=errors,
        first_error_at=first_error_at,
        hints=hints,
        next_fetch_at=schedule.next_fetch_at,
        interval_reason=schedule.interval_reason,
    )
    return Transition(new, step.move_to)


def is_due(state: SourceState, now: datetime, *, force: bool = False) -> bool:
    """Whether to fetch now. `force` (fetch --all) skips the interval and caching
    hints, but never a pending Retry-After (the server asked; RFC 9110 §10.2.3) and
    never a gone source."""
    _require_aware(now)
    if state.status == "gone":
        return False
    retry_after = state.hints.retry_after
    if retry_after is not None and retry_after > now:
        return False
    if force or state.next_fetch_at is None:
        return True
    return state.next_fetch_at <= now


def reenable(state: SourceState, now: datetime) -> SourceState:
    """Bring a gone or broken source back: status "new", streak cleared, due now.
    Caching hints, including a pending Retry-After, are kept."""
    _require_aware(now)
    cleared = replace(state, status="new", consecutive_errors=0, first_error_at=None)
    return replace(cleared, next_fetch_at=now, interval_reason=None)


def body_unchanged(previous_hash: str | None, body: bytes) -> tuple[bool, str]:
    """(unchanged, sha256 hex of body), for servers that ignore conditional GET."""
    digest = hashlib.sha256(body).hexdigest()
    return digest == previous_hash, digest


def interleave_by_host(urls: Sequence[T], host_of: Callable[[T], str]) -> list[T]:
    """Round-robin over hosts, so a site with many feeds does not hold every
    fetch slot while its per-host limit makes the others wait."""
    queues: dict[str, list[T]] = {}
    for item in urls:
        queues.setdefault(host_of(item), []).append(item)
    ordered: list[T] = []
    while queues:
        for host in list(queues):
            ordered.append(queues[host].pop(0))
            if not queues[host]:
                del queues[host]
    return ordered
