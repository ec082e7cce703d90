"""WebSub publish pings against real local hubs: the form a hub receives, and hubs that
fail (an error status, a refused port, a hub that never answers) reported without
raising and without keeping the other hubs from their ping."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feedhub import USER_AGENT
from feedhub.websub import ping_hubs, ping_hubs_sync

TOPICS = ["https://hub.example.org/feeds/tech.atom", "https://hub.example.org/feeds/tech.rss"]


class Recorder:
    """A hub endpoint that remembers each ping's headers and form fields, in order."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.pings: list[tuple[dict[str, str], list[tuple[str, str]]]] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        self.pings.append((dict(request.headers), parse_qsl(body, keep_blank_values=True)))
        return Response("", status=self.status)


def hub(httpserver: HTTPServer, path: str, status: int = 204) -> tuple[str, Recorder]:
    recorder = Recorder(status)
    httpserver.expect_request(path, method="POST").respond_with_handler(recorder)
    return httpserver.url_for(path), recorder


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting is refused at once
    (keeping it bound stops anything else from taking the port meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hub"


@pytest.fixture
def stalled_url() -> Iterator[str]:
    """A hub that never answers: the kernel completes the handshake from the listen
    backlog and takes the request, but nothing ever accepts or replies."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hub"


@pytest.mark.parametrize("status", [200, 202, 204])
def test_ping_is_a_form_post_of_publish_with_every_topic(
    httpserver: HTTPServer, status: int
) -> None:
    url, recorder = hub(httpserver, "/hub", status)
    results = ping_hubs_sync([url], TOPICS, timeout=5)
    assert results == [(url, None)]
    assert len(recorder.pings) == 1
    headers, form = recorder.pings[0]
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert headers["User-Agent"] == USER_AGENT
    assert form == [("hub.mode", "publish"), ("hub.url", TOPICS[0]), ("hub.url", TOPICS[1])]


def test_failing_hubs_are_reported_and_the_others_still_pinged(
    httpserver: HTTPServer, refused_url: str, stalled_url: str
) -> None:
    httpserver.expect_request("/broken", method="POST").respond_with_data(
        "topic   not\nallowed", status=500
    )
    broken = httpserver.url_for("/broken")
    good, recorder = hub(httpserver, "/good")
    hubs = [broken, refused_url, stalled_url, "ftp://hub.example/", "http://[::1", good]
    timeout = 0.5

    started = time.monotonic()
    results = ping_hubs_sync(hubs, TOPICS[:1], timeout=timeout)
    elapsed = time.monotonic() - started

    assert [hub_url for hub_url, _ in results] == hubs
    errors = dict(results)
    assert errors[broken] == "HTTP 500 Internal Server Error: topic not allowed"
    assert errors[refused_url] is not None and "refused" in errors[refused_url]
    assert errors[stalled_url] == "no answer within 0.5 s"
    assert errors["ftp://hub.example/"] == "not an http(s) URL"
    assert errors["http://[::1"] == "invalid URL: Invalid IPv6 URL"
    assert errors[good] is None
    assert [form for _, form in recorder.pings] == [
        [("hub.mode", "publish"), ("hub.url", TOPICS[0])]
    ]
    # Hubs are pinged side by side: the stalled one costs one timeout, not a queue of them.
    assert elapsed < 10 * timeout


def test_a_redirecting_hub_is_an_error_and_the_ping_is_not_replayed_as_get(
    httpserver: HTTPServer,
) -> None:
    moved, recorder = hub(httpserver, "/moved-here")
    httpserver.expect_request("/old", method="POST").respond_with_data(
        "", status=302, headers={"Location": moved}
    )
    old = httpserver.url_for("/old")
    [(_, error)] = ping_hubs_sync([old], TOPICS, timeout=5)
    assert error == f"HTTP 302 Found to {moved} (redirects are not followed for a ping)"
    assert recorder.pings == []
    assert [request.path for request, _ in httpserver.log] == ["/old"]


def test_duplicate_hubs_and_topics_are_pinged_once(httpserver: HTTPServer) -> None:
    url, recorder = hub(httpserver, "/hub")
    results = ping_hubs_sync([url, f" {url} ", ""], [*TOPICS, TOPICS[0], " "], timeout=5)
    assert results == [(url, None)]
    [(_, form)] = recorder.pings
    assert [value for key, value in form if key == "hub.url"] == TOPICS


def test_nothing_to_announce_makes_no_request(httpserver: HTTPServer) -> None:
    url, recorder = hub(httpserver, "/hub")
    assert ping_hubs_sync([url], [], timeout=5) == []
    assert ping_hubs_sync([], TOPICS, timeout=5) == []
    assert recorder.pings == []


def test_async_form_inside_a_running_loop_with_a_custom_user_agent(
    httpserver: HTTPServer,
) -> None:
    url, recorder = hub(httpserver, "/hub")

    async def main() -> list[tuple[str, str | None]]:
        return await ping_hubs([url], TOPICS, timeout=5, user_agent="test-agent/1")

    assert asyncio.run(main()) == [(url, None)]
    assert recorder.pings[0][0]["User-Agent"] == "test-agent/1"
