"""Tell WebSub hubs that outputs changed, so subscribers get them without polling.

W3C WebSub (Recommendation, 2018) section 7 leaves how a publisher notifies its hub to
the two of them; the form every public hub accepts is PubSubHubbub 0.4's "publish"
ping: a `application/x-www-form-urlencoded` POST of `hub.mode=publish` and one `hub.url`
per changed topic URL (repeating the field is how HTML forms send a list, and hubs such
as Google's and Superfeedr's take several topics in one request). Any 2xx means the hub
accepted it (usually 204 No Content).

A ping is a courtesy: hubs also re-fetch on their own schedule. So a failing hub is
reported, never raised, and never delays the others (the hubs are pinged concurrently,
each bounded by the same timeout).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from contextlib import suppress
from http import HTTPStatus
from urllib.parse import urlsplit

import aiohttp

import feedhub

__all__ = ["ping_hubs", "ping_hubs_sync"]

# Hubs explain a refusal in the body ("hub.url is not a valid topic"); the start of it
# makes the error useful without letting a hub fill the log.
_ERROR_BODY_CHARS = 200

HubResult = tuple[str, str | None]  # (hub URL, error text or None when accepted)


async def ping_hubs(
    hubs: Sequence[str],
    topics: Sequence[str],
    *,
    timeout: float = 10.0,
    user_agent: str = feedhub.USER_AGENT,
) -> list[HubResult]:
    """POST a publish ping for all `topics` to each hub; one (hub, error or None) per
    distinct hub, in the order given. Never raises (except on cancellation).

    With no topics there is nothing to announce: no request is made and [] is returned.
    """
    unique_hubs = list(dict.fromkeys(hub.strip() for hub in hubs if hub.strip()))
    unique_topics = list(dict.fromkeys(topic.strip() for topic in topics if topic.strip()))
    if not unique_hubs or not unique_topics:
        return []
    form = [("hub.mode", "publish")] + [("hub.url", topic) for topic in unique_topics]
    try:
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": user_agent},
            # A cookie jar would carry state from one hub's reply into the next ping.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
    except Exception as exc:  # e.g. a broken event loop; still report, never raise
        error = f"cannot start HTTP client: {type(exc).__name__}: {exc}"
        return [(hub, error) for hub in unique_hubs]
    async with session:
        errors = await asyncio.gather(*(_ping(session, hub, form, timeout) for hub in unique_hubs))
    return list(zip(unique_hubs, errors, strict=True))


def ping_hubs_sync(
    hubs: Sequence[str],
    topics: Sequence[str],
    *,
    timeout: float = 10.0,
    user_agent: str = feedhub.USER_AGENT,
) -> list[HubResult]:
    """ping_hubs for callers without an event loop (it must not run inside one)."""
    return asyncio.run(ping_hubs(hubs, topics, timeout=timeout, user_agent=user_agent))


async def _ping(
    session: aiohttp.ClientSession, hub: str, form: list[tuple[str, str]], timeout: float
) -> str | None:
    try:
        if urlsplit(hub).scheme.lower() not in ("http", "https"):
            return "not an http(s) URL"
        # No redirects: for a 301/302 aiohttp (like browsers, RFC 9110 15.4.2-3) would
        # repeat the POST as a GET, and a 2xx to that GET would be a ping nobody received.
        async with session.post(hub, data=form, allow_redirects=False) as response:
            if 200 <= response.status < 300:
                return None
            return await _refusal(response)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:  # one broken hub must not cost the others their ping
        return _describe(exc)


async def _refusal(response: aiohttp.ClientResponse) -> str:
    reason = response.reason or ""
    with suppress(ValueError):
        reason = HTTPStatus(response.status).phrase
    text = f"HTTP {response.status} {reason}".rstrip()
    location = response.headers.get("Location")
    if 300 <= response.status < 400 and location:
        return f"{text} to {location} (redirects are not followed for a ping)"
    detail = ""
    with suppress(Exception):  # the status already says it failed; the body is a bonus
        raw = await response.content.read(_ERROR_BODY_CHARS * 4)
        detail = " ".join(raw.decode("utf-8", "replace").split())[:_ERROR_BODY_CHARS]
    return f"{text}: {detail}" if detail else text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve host {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        where = f"{exc.host}:{exc.port}"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve host {exc.host}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {where}"
        return f"cannot connect to {where}: {cause.strerror or cause}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "hub closed the connection without a response"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL {str(exc.url)!r}"
    if isinstance(exc, ValueError):  # urlsplit and yarl refuse malformed URLs this way
        return f"invalid URL: {exc}"
    return f"{type(exc).__name__}: {exc}"
