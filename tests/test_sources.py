"""Unit tests for feedhub.sources: pure scheduling, naming and redirect decisions."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.models import FeedMeta
from feedhub.sources import (
    MAX_DELAY,
    MIN_INTERVAL,
    CacheHints,
    Outcome,
    SourceState,
    body_unchanged,
    compute_schedule,
    derive_name,
    hints_from_headers,
    is_due,
    merge_hints,
    next_state,
    reenable,
    track_redirect,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
OK = Outcome("ok", 200)
NOT_MODIFIED = Outcome("not-modified", 304)
ERROR = Outcome("error", 500, "server error")


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


def step(
    state: SourceState,
    outcome: Outcome,
    *,
    now: datetime = NOW,
    interval: timedelta = HOUR,
    explicit: bool = False,
    hints: CacheHints | None = None,
    redirect: str | None = None,
    seed: int = 0,
) -> tuple[SourceState, str | None]:
    result = next_state(
        state,
        outcome,
        now=now,
        interval=interval,
        interval_explicit=explicit,
        hints=hints if hints is not None else CacheHints(),
        permanent_redirect=redirect,
        rng=rng(seed),
    )
    return result.state, result.move_to


def delay(state: SourceState, now: datetime = NOW) -> timedelta:
    assert state.next_fetch_at is not None
    return state.next_fetch_at - now


# --- derive_name --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://www.example.org/blog/feed.xml", "example.org-blog-feed"),
        ("https://example.org/", "example.org"),
        ("http://Example.ORG/Blog/", "example.org-blog"),
        (
            "https://example.org/index.php?format=rss&lang=en",
            "example.org-index-format-rss-lang-en",
        ),
        ("http://localhost:8080/feed.atom", "localhost-8080-feed"),
        ("https://example.org:443/rss", "example.org-rss"),
        ("https://blog.example.com/2024/caf%C3%A9.rss", "blog.example.com-2024-cafe"),
        ("/srv/feeds/My Local Feed.xml", "my-local-feed"),
        ("file:///srv/feeds/news.rss", "news"),
        ("relative/dir/podcast.json", "podcast"),
        ("/srv/feeds/.xml", "xml"),
        ("/", "feed"),
    ],
)
def test_derive_name(url: str, name: str) -> None:
    assert derive_name(url) == name


def test_derive_name_long_urls_stay_short_stable_and_distinct() -> None:
    a = "https://example.org/" + "very-long-section/" * 10 + "a.xml"
    b = "https://example.org/" + "very-long-section/" * 10 + "b.xml"
    assert len(derive_name(a)) <= 60
    assert derive_name(a) == derive_name(a)
    assert derive_name(a) != derive_name(b)


@given(st.text(max_size=200))
def test_derive_name_is_always_safe(url: str) -> None:
    name = derive_name(url)
    assert re.fullmatch(r"[a-z0-9]+([.-][a-z0-9]+)*", name)
    assert len(name) <= 60


# --- hints_from_headers -------------------------------------------------------


def test_max_age() -> None:
    hints = hints_from_headers({"cache-control": "public, max-age=3600"}, status=200, now=NOW)
    assert hints.max_age == HOUR


def test_max_age_minus_age_and_first_occurrence_wins() -> None:
    headers = {"cache-control": "max-age=3600, max-age=60", "age": "600"}
    assert hints_from_headers(headers, status=200, now=NOW).max_age == timedelta(seconds=3000)


def test_s_maxage_is_ignored() -> None:
    hints = hints_from_headers({"cache-control": "s-maxage=9000"}, status=200, now=NOW)
    assert hints == CacheHints()


@pytest.mark.parametrize("directive", ["no-store", "no-cache", "NO-CACHE"])
def test_no_store_and_no_cache_give_no_hint(directive: str) -> None:
    expires = "Wed, 01 May 2024 18:00:00 GMT"
    headers = {"cache-control": f"max-age=3600, {directive}", "expires": expires}
    assert hints_from_headers(headers, status=200, now=NOW) == CacheHints()


def test_qualified_no_cache_keeps_max_age() -> None:
    headers = {"cache-control": 'no-cache="set-cookie, x-foo", max-age=120'}
    assert hints_from_headers(headers, status=200, now=NOW).max_age == timedelta(minutes=2)


def test_expires_valid() -> None:
    hints = hints_from_headers({"expires": "Wed, 01 May 2024 18:00:00 GMT"}, status=200, now=NOW)
    assert hints.expires == NOW + 6 * HOUR


@pytest.mark.parametrize("value", ["0", "-1", "garbage", "", "Wed, 01 May 2024 11:00:00 GMT"])
def test_expires_invalid_or_past_is_no_hint(value: str) -> None:
    assert hints_from_headers({"expires": value}, status=200, now=NOW).expires is None


def test_expires_ignored_when_max_age_present() -> None:
    headers = {"cache-control": "max-age=60", "expires": "Wed, 01 May 2024 18:00:00 GMT"}
    hints = hints_from_headers(headers, status=200, now=NOW)
    assert hints == CacheHints(max_age=timedelta(seconds=60))


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(status: int) -> None:
    hints = hints_from_headers({"retry-after": "120"}, status=status, now=NOW)
    assert hints.retry_after == NOW + timedelta(seconds=120)


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 01 May 2024 14:00:00 GMT",  # IMF-fixdate
        "Wednesday, 01-May-24 14:00:00 GMT",  # obsolete RFC 850
        "Wed May  1 14:00:00 2024",  # asctime
    ],
)
def test_retry_after_http_date(value: str) -> None:
    hints = hints_from_headers({"retry-after": value}, status=503, now=NOW)
    assert hints.retry_after == NOW + 2 * HOUR


@pytest.mark.parametrize("status", [200, 301, 404, 500, None])
def test_retry_after_only_on_429_and_503(status: int | None) -> None:
    assert hints_from_headers({"retry-after": "120"}, status=status, now=NOW).retry_after is None


@pytest.mark.parametrize("value", ["soon", "-5", "Wed, 01 May 2024 11:00:00 GMT"])
def test_retry_after_unreadable_or_past(value: str) -> None:
    assert hints_from_headers({"retry-after": value}, status=429, now=NOW).retry_after is None


def test_retry_after_is_capped_at_seven_days() -> None:
    hints = hints_from_headers({"retry-after": "999999999999"}, status=429, now=NOW)
    assert hints.retry_after == NOW + MAX_DELAY


# --- merge_hints and JSON -----------------------------------------------------

PREVIOUS = CacheHints(
    max_age=2 * HOUR,
    expires=NOW + 3 * HOUR,
    retry_after=NOW + HOUR,
    ttl=timedelta(minutes=90),
    update_period=DAY,
)


def test_304_keeps_previous_hints() -> None:
    merged = merge_hints(PREVIOUS, CacheHints(), status=304)
    assert merged == CacheHints(2 * HOUR, NOW + 3 * HOUR, None, timedelta(minutes=90), DAY)


def test_304_updates_hints_it_carries() -> None:
    merged = merge_hints(PREVIOUS, CacheHints(max_age=HOUR), status=304)
    assert merged.max_age == HOUR
    assert merged.expires == PREVIOUS.expires


def test_error_without_headers_keeps_previous_hints() -> None:
    for status in (500, None):
        assert merge_hints(PREVIOUS, CacheHints(), status=status).max_age == 2 * HOUR


def test_200_replaces_header_hints_and_document_replaces_feed_hints() -> None:
    document = FeedMeta(ttl_minutes=30)
    merged = merge_hints(PREVIOUS, CacheHints(max_age=HOUR), status=200, document=document)
    assert merged == CacheHints(max_age=HOUR, ttl=timedelta(minutes=30))


def test_200_without_document_keeps_feed_hints() -> None:
    merged = merge_hints(PREVIOUS, CacheHints(), status=200)
    assert (merged.max_age, merged.expires, merged.ttl) == (None, None, PREVIOUS.ttl)


def test_retry_after_only_from_current_response() -> None:
    current = CacheHints(retry_after=NOW + 5 * HOUR)
    assert merge_hints(PREVIOUS, current, status=503).retry_after == NOW + 5 * HOUR
    assert merge_hints(PREVIOUS, CacheHints(), status=503).retry_after is None


def test_hints_json_round_trip() -> None:
    hints = CacheHints(
        max_age=timedelta(seconds=514.285714), expires=NOW, retry_after=NOW + HOUR, ttl=HOUR
    )
    data = hints.to_json()
    assert data["ttl"] == "PT3600S"
    assert data["expires"] == "2024-05-01T12:00:00+00:00"
    assert "update_period" not in data
    assert CacheHints.from_json(data) == hints


def test_hints_from_damaged_json() -> None:
    damaged = {"max_age": "soon", "expires": 3, "ttl": 1e300, "retry_after": "2024-13-01"}
    assert CacheHints.from_json(damaged) == CacheHints()
    assert CacheHints.from_json(None) == CacheHints()
    naive = CacheHints.from_json({"expires": "2024-05-01T12:00:00", "max_age": 60})
    assert naive == CacheHints(max_age=timedelta(minutes=1), expires=NOW)


# --- schedule: the largest term wins -------------------------------------------


@pytest.mark.parametrize(
    ("hints", "reason", "expected"),
    [
        (CacheHints(max_age=3 * HOUR), "max-age", 3 * HOUR),
        (CacheHints(expires=NOW + 4 * HOUR), "expires", 4 * HOUR),
        (CacheHints(retry_after=NOW + 5 * HOUR), "retry-after", 5 * HOUR),
        (CacheHints(ttl=6 * HOUR), "ttl", 6 * HOUR),
        (CacheHints(update_period=7 * HOUR), "sy:updatePeriod", 7 * HOUR),
        (CacheHints(max_age=HOUR / 2, ttl=HOUR / 4), "config", None),
        (CacheHints(max_age=3 * HOUR, ttl=9 * HOUR, expires=NOW + 2 * HOUR), "ttl", 9 * HOUR),
    ],
)
def test_each_winner_of_the_max(hints: CacheHints, reason: str, expected: timedelta | None) -> None:
    state, _ = step(SourceState(), OK, hints=hints)
    assert state.interval_reason == reason
    if expected is not None:
        assert delay(state) == expected
    else:
        assert HOUR * 0.9 <= delay(state) <= HOUR * 1.1


def test_jitter_bounds_over_many_seeds() -> None:
    delays = [delay(step(SourceState(), OK, seed=seed)[0]) for seed in range(2000)]
    assert all(HOUR * 0.9 <= d <= HOUR * 1.1 for d in delays)
    # Spread over the whole band, not stuck at one value.
    assert min(delays) < HOUR * 0.92 and max(delays) > HOUR * 1.08
    assert delays == [delay(step(SourceState(), OK, seed=seed)[0]) for seed in range(2000)]


def test_five_minute_floor_unless_explicit() -> None:
    floored, _ = step(SourceState(), OK, interval=timedelta(minutes=1))
    assert MIN_INTERVAL * 0.9 <= delay(floored) <= MIN_INTERVAL * 1.1
    explicit, _ = step(SourceState(), OK, interval=timedelta(minutes=1), explicit=True)
    assert timedelta(seconds=54) <= delay(explicit) <= timedelta(seconds=66)


def test_seven_day_cap() -> None:
    for hints in (CacheHints(max_age=timedelta(days=30)), CacheHints(ttl=timedelta(days=365))):
        state, _ = step(SourceState(), OK, hints=hints)
        assert delay(state) == MAX_DELAY
    state, _ = step(SourceState(), OK, interval=timedelta(days=10), explicit=True)
    assert delay(state) == MAX_DELAY


# --- errors, backoff, broken, gone ---------------------------------------------


def test_backoff_doubles_and_caps_at_24_hours() -> None:
    state = SourceState(status="ok")
    delays = []
    for n in range(1, 9):
        state, _ = step(state, ERROR, now=NOW + n * HOUR)
        assert state.consecutive_errors == n
        assert state.first_error_at == NOW + HOUR
        assert state.status == "error"
        delays.append((delay(state, NOW + n * HOUR), state.interval_reason))
    jittered = 3600 * rng(0).uniform(0.9, 1.1)  # step() seeds every attempt with 0
    assert delays[:4] == [(timedelta(seconds=jittered * 2**n), "backoff") for n in range(1, 5)]
    assert delays[5:] == [(DAY, "backoff")] * 3


def test_backoff_never_polls_faster_than_a_long_interval() -> None:
    state, _ = step(SourceState(), ERROR, interval=timedelta(days=2), explicit=True)
    assert delay(state) >= timedelta(days=2) * 0.9


def test_backoff_still_honours_longer_retry_after() -> None:
    hints = CacheHints(retry_after=NOW + 2 * DAY)
    state, _ = step(SourceState(consecutive_errors=20), Outcome("error", 429), hints=hints)
    assert (delay(state), state.interval_reason) == (2 * DAY, "retry-after")


@pytest.mark.parametrize("status", [403, 404, 500, None])
def test_other_errors_back_off(status: int | None) -> None:
    state, _ = step(SourceState(), Outcome("error", status, "boom"))
    assert (state.status, state.interval_reason) == ("error", "backoff")


def test_broken_after_30_days_and_retried_daily() -> None:
    start = NOW - timedelta(days=30)
    failing = SourceState(status="error", consecutive_errors=40, first_error_at=start)
    almost, _ = step(failing, ERROR, now=NOW - timedelta(seconds=1))
    assert almost.status == "error"
    state, _ = step(failing, ERROR)
    assert (state.status, state.interval_reason, delay(state)) == ("broken", "broken", DAY)
    assert is_due(state, NOW + DAY)
    later, _ = step(state, ERROR, now=NOW + DAY)
    assert (later.status, delay(later, NOW + DAY)) == ("broken", DAY)
    assert later.first_error_at == start


def test_broken_still_honours_longer_retry_after() -> None:
    failing = SourceState(status="broken", consecutive_errors=90, first_error_at=NOW - 40 * DAY)
    hints = CacheHints(retry_after=NOW + 3 * DAY)
    state, _ = step(failing, Outcome("error", 503), hints=hints)
    assert (state.status, state.interval_reason, delay(state)) == ("broken", "retry-after", 3 * DAY)


def test_success_resets_errors() -> None:
    broken = SourceState(status="broken", consecutive_errors=99, first_error_at=NOW - 40 * DAY)
    state, _ = step(broken, OK)
    assert (state.status, state.consecutive_errors, state.first_error_at) == ("ok", 0, None)
    assert state.interval_reason == "config"
    state, _ = step(broken, NOT_MODIFIED)
    assert (state.status, state.consecutive_errors, state.first_error_at) == (
        "not-modified",
        0,
        None,
    )


@pytest.mark.parametrize("outcome", [Outcome("gone", 410), Outcome("error", 410, "Gone")])
def test_gone_is_never_due_even_forced(outcome: Outcome) -> None:
    state, _ = step(SourceState(status="ok"), outcome)
    assert (state.status, state.next_fetch_at, state.interval_reason) == ("gone", None, "gone")
    for when in (NOW, NOW + 365 * DAY):
        assert not is_due(state, when)
        assert not is_due(state, when, force=True)


def test_reenable_makes_gone_and_broken_due_now() -> None:
    gone, _ = step(SourceState(), Outcome("gone", 410))
    broken = SourceState(status="broken", consecutive_errors=50, first_error_at=NOW - 31 * DAY)
    for state in (gone, broken):
        back = reenable(state, NOW)
        assert (back.status, back.consecutive_errors, back.first_error_at) == ("new", 0, None)
        assert is_due(back, NOW)


# --- is_due -------------------------------------------------------------------


def test_new_source_is_due_at_once() -> None:
    assert is_due(SourceState(), NOW)


def test_due_when_next_fetch_reached() -> None:
    state = SourceState(status="ok", next_fetch_at=NOW + HOUR)
    assert not is_due(state, NOW)
    assert is_due(state, NOW + HOUR)
    assert is_due(state, NOW, force=True)


def test_force_ignores_caching_hints_but_not_retry_after() -> None:
    cached = SourceState(status="ok", next_fetch_at=NOW + DAY, hints=CacheHints(max_age=DAY))
    assert is_due(cached, NOW, force=True)
    state, _ = step(
        SourceState(), Outcome("error", 503), hints=CacheHints(retry_after=NOW + 2 * HOUR)
    )
    assert not is_due(state, NOW + HOUR, force=True)
    assert is_due(state, NOW + 2 * HOUR, force=True)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_due(SourceState(), datetime(2024, 5, 1))


# --- permanent redirects ------------------------------------------------------

NEW_URL = "https://new.example.org/feed"


def fetches(
    state: SourceState, hours: list[float], redirects: list[str | None]
) -> tuple[SourceState, list[str | None]]:
    moves = []
    for offset, redirect in zip(hours, redirects, strict=True):
        state, move = step(state, OK, now=NOW + offset * HOUR, redirect=redirect)
        moves.append(move)
    return state, moves


def test_redirect_moves_after_three_fetches_over_24_hours() -> None:
    state, moves = fetches(SourceState(), [0, 12, 24], [NEW_URL] * 3)
    assert moves == [None, None, NEW_URL]
    assert (state.redirect_target, state.redirect_count, state.redirect_first_seen) == (
        None,
        0,
        None,
    )


def test_redirect_not_moved_after_three_fetches_within_an_hour() -> None:
    state, moves = fetches(SourceState(), [0, 0.5, 1], [NEW_URL] * 3)
    assert moves == [None, None, None]
    assert (state.redirect_count, state.redirect_first_seen) == (3, NOW)
    # ...but it is once the streak spans 24 hours.
    _, moves = fetches(state, [24], [NEW_URL])
    assert moves == [NEW_URL]


@pytest.mark.parametrize("interruption", [None, "https://other.example.org/feed"])
def test_redirect_count_reset_by_interruption(interruption: str | None) -> None:
    redirects = [NEW_URL, NEW_URL, interruption, NEW_URL, NEW_URL]
    state, moves = fetches(SourceState(), [0, 12, 24, 36, 48], redirects)
    assert moves == [None] * 5
    assert (state.redirect_count, state.redirect_first_seen) == (2, NOW + 36 * HOUR)
    _, moves = fetches(state, [60], [NEW_URL])
    assert moves == [NEW_URL]


def test_redirect_waits_for_a_successful_fetch_at_the_target() -> None:
    state, _ = fetches(SourceState(), [0, 12], [NEW_URL] * 2)
    state, move = step(state, ERROR, now=NOW + 24 * HOUR, redirect=NEW_URL)
    assert (move, state.redirect_count) == (None, 3)
    assert track_redirect(state, NEW_URL, NOW + 25 * HOUR, succeeded=True).move_to == NEW_URL


# --- property -----------------------------------------------------------------

hints_strategy = st.builds(
    CacheHints,
    max_age=st.none() | st.timedeltas(timedelta(0), timedelta(days=60)),
    expires=st.none() | st.timedeltas(-DAY * 30, DAY * 30).map(lambda d: NOW + d),
    retry_after=st.none() | st.timedeltas(-DAY, DAY * 30).map(lambda d: NOW + d),
    ttl=st.none() | st.timedeltas(timedelta(0), timedelta(days=60)),
    update_period=st.none() | st.timedeltas(timedelta(0), timedelta(days=60)),
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["ok", "not-modified", "error"]),
    errors=st.integers(0, 10_000),
    streak=st.none() | st.timedeltas(timedelta(0), timedelta(days=100)),
    interval=st.timedeltas(timedelta(0), timedelta(days=30)),
    hints=hints_strategy,
    seed=st.integers(0, 2**32),
)
def test_next_fetch_always_within_floor_and_cap(
    kind: str,
    errors: int,
    streak: timedelta | None,
    interval: timedelta,
    hints: CacheHints,
    seed: int,
) -> None:
    first_error_at = NOW - streak if streak is not None else None
    state = SourceState(status="error", consecutive_errors=errors, first_error_at=first_error_at)
    outcome = Outcome(kind, 500 if kind == "error" else 200)  # type: ignore[arg-type]
    new, _ = step(state, outcome, interval=interval, hints=hints, seed=seed)
    assert NOW + MIN_INTERVAL * 0.9 <= new.next_fetch_at <= NOW + MAX_DELAY  # type: ignore[operator]
    if hints.retry_after is not None and hints.retry_after > NOW:
        assert new.next_fetch_at >= min(hints.retry_after, NOW + MAX_DELAY)  # type: ignore[operator]


def test_compute_schedule_gone() -> None:
    schedule = compute_schedule(
        "gone", 1, now=NOW, interval=HOUR, interval_explicit=False, hints=CacheHints(), rng=rng()
    )
    assert (schedule.next_fetch_at, schedule.interval_reason) == (None, "gone")


# --- body_unchanged -----------------------------------------------------------


def test_body_unchanged() -> None:
    changed, digest = body_unchanged(None, b"<rss/>")
    assert not changed and len(digest) == 64
    assert body_unchanged(digest, b"<rss/>") == (True, digest)
    assert body_unchanged(digest, b"<rss></rss>")[0] is False
