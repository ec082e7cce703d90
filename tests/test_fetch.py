"""feedhub.fetch against real servers on 127.0.0.1: pytest-httpserver for well-behaved
HTTP, and a raw-socket server for the misbehaving ones (stalls, trickles, bombs, lies)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

import feedhub
from feedhub.fetch import Fetcher
from feedhub.models import FetchRequest, FetchResult, Settings

MiB = 1024 * 1024
TOTAL = 2.0  # total_timeout used by default here
SLACK = 1.5  # how far past a bound a fetch may end (scheduling, teardown)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "output_dir": Path("/nonexistent"),
        "base_url": "http://127.0.0.1/",
        "timeout": 0.5,
        "total_timeout": TOTAL,
        "max_body_bytes": MiB,
        "concurrency": 8,
        "per_host": 2,
        "host_delay": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def fetch_one(
    url: str, *, etag: str | None = None, last_modified: str | None = None, **settings: Any
) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(make_settings(**settings)) as fetcher:
            return await fetcher.fetch(FetchRequest("src", url, etag, last_modified))

    return asyncio.run(go())


def fetch_many(requests: Iterable[FetchRequest], **settings: Any) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with Fetcher(make_settings(**settings)) as fetcher:
            return [result async for result in fetcher.fetch_all(requests)]

    return asyncio.run(go())


# --- servers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def _module_httpserver() -> Iterator[HTTPServer]:
    # Own instance: bound to 127.0.0.1 (not "localhost", which may mean ::1) and threaded.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def httpserver(_module_httpserver: HTTPServer) -> Iterator[HTTPServer]:
    yield _module_httpserver
    _module_httpserver.clear()


Handler = Callable[["RawServer", socket.socket, bytes], None]


class RawServer:
    """One thread per connection; the handler gets the socket after the request head."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.sent = 0  # body bytes the kernel accepted from us
        self.heads: list[bytes] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()
        self._threads[0].join(timeout=5)
        self._listener.close()

    def join(self) -> None:
        """Wait for the connection handlers (not the accept loop) to finish."""
        for thread in list(self._threads[1:]):
            thread.join(timeout=5)
            assert not thread.is_alive(), "a handler is still sending: the client kept reading"

    def send(self, conn: socket.socket, data: bytes) -> bool:
        try:
            conn.sendall(data)
        except OSError:
            return False
        with self._lock:
            self.sent += len(data)
        return True

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.heads.append(head)
            self.handler(self, conn, head)


def head(*lines: str) -> bytes:
    return ("\r\n".join(("HTTP/1.1 200 OK", *lines)) + "\r\n\r\n").encode()


def make_gzip_bomb_parts() -> tuple[bytes, bytes]:
    """(start, segment): start + segment * n is one gzip stream of (n + 1) MiB of zeros.

    A full flush resets the deflate dictionary, so the bytes between two full flushes
    decode on their own and can be repeated: a huge bomb without compressing it all.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    start = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return start, segment


# --- plain success ------------------------------------------------------------


def test_200_body_headers_and_user_agent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        b"<rss/>", headers={"ETag": '"v1"', "X-Mixed-Case": "yes"}, content_type="text/xml"
    )
    result = fetch_one(httpserver.url_for("/feed"))
    assert result.ok and result.body == b"<rss/>" and result.status == 200
    assert result.headers["etag"] == '"v1"'
    assert result.headers["x-mixed-case"] == "yes"
    assert result.headers["content-type"].startswith("text/xml")
    assert all(name == name.lower() for name in result.headers)
    assert type(result.headers) is dict
    assert result.final_url == result.url and result.permanent_redirect is None
    assert 0 < result.elapsed < TOTAL
    sent = httpserver.log[0][0].headers
    assert sent["User-Agent"] == feedhub.USER_AGENT
    assert "gzip" in sent["Accept-Encoding"] and "br" not in sent["Accept-Encoding"]
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


def test_304_sends_validators(httpserver: HTTPServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    httpserver.expect_request("/feed").respond_with_data("", status=304, headers={"ETag": '"v2"'})
    result = fetch_one(httpserver.url_for("/feed"), etag='"v2"', last_modified=stamp)
    assert result.ok and result.not_modified and result.status == 304
    assert result.body is None and result.headers["etag"] == '"v2"'
    sent = httpserver.log[0][0].headers
    assert sent["If-None-Match"] == '"v2"'
    assert sent["If-Modified-Since"] == stamp


def test_gzip_body_is_decompressed(httpserver: HTTPServer) -> None:
    document = b"<feed>" + b"entry " * 5000 + b"</feed>"
    httpserver.expect_request("/feed").respond_with_data(
        gzip.compress(document), headers={"Content-Encoding": "gzip"}
    )
    result = fetch_one(httpserver.url_for("/feed"))
    assert result.ok and result.body == document


def test_broken_gzip_is_protocol_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    result = fetch_one(httpserver.url_for("/feed"))
    assert result.error_kind == "protocol" and result.status == 200


# --- HTTP errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (404, "HTTP 404 Not Found"),
        (410, "HTTP 410 Gone"),
        (429, "HTTP 429 Too Many Requests"),
        (503, "HTTP 503 Service Unavailable"),
    ],
)
def test_http_errors_keep_status_and_headers(
    httpserver: HTTPServer, status: int, text: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "nope", status=status, headers={"Retry-After": "120"}
    )
    result = fetch_one(httpserver.url_for("/feed"))
    assert result.error_kind == "http" and result.error == text
    assert result.status == status and result.body is None
    assert result.headers["retry-after"] == "120"


# --- redirects -------------------------------------------------------------------


def chain(httpserver: HTTPServer, hops: list[tuple[str, int]], final: str) -> None:
    paths = [path for path, _ in hops] + [final]
    for (path, status), target in zip(hops, paths[1:], strict=True):
        httpserver.expect_request(path).respond_with_data(
            "", status=status, headers={"Location": target}
        )
    httpserver.expect_request(final).respond_with_data(b"<rss/>")


def test_redirect_301_308_is_permanent(httpserver: HTTPServer) -> None:
    # An absolute Location on one hop, a relative one on the other.
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": httpserver.url_for("/mid")}
    )
    httpserver.expect_request("/mid").respond_with_data("", status=308, headers={"Location": "new"})
    httpserver.expect_request("/new").respond_with_data(b"<rss/>")
    result = fetch_one(httpserver.url_for("/old"))
    assert result.ok and result.body == b"<rss/>"
    assert result.final_url == httpserver.url_for("/new")
    assert result.permanent_redirect == httpserver.url_for("/new")
    assert result.url == httpserver.url_for("/old")


@pytest.mark.parametrize(
    "hops",
    [
        [("/a", 301), ("/b", 302)],
        [("/a", 307)],
        [("/a", 303)],
        [("/a", 308), ("/b", 307)],
    ],
)
def test_temporary_hop_is_not_permanent(
    httpserver: HTTPServer, hops: list[tuple[str, int]]
) -> None:
    chain(httpserver, hops, "/final")
    result = fetch_one(httpserver.url_for("/a"))
    assert result.ok and result.final_url == httpserver.url_for("/final")
    assert result.permanent_redirect is None


def test_redirect_loop(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=301, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    result = fetch_one(httpserver.url_for("/a"))
    assert result.error_kind == "redirects" and "loop" in (result.error or "")


def test_five_redirects_allowed_six_not(httpserver: HTTPServer) -> None:
    chain(httpserver, [(f"/r{i}", 301) for i in range(5)], "/r5")
    assert fetch_one(httpserver.url_for("/r0")).ok
    httpserver.clear()
    chain(httpserver, [(f"/r{i}", 301) for i in range(6)], "/r6")
    result = fetch_one(httpserver.url_for("/r0"))
    assert result.error_kind == "redirects" and "too many" in (result.error or "")
    assert result.body is None and result.permanent_redirect is None
    assert len(httpserver.log) == 6  # the sixth redirect is not followed


def test_redirect_to_file_url_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data(
        "", status=302, headers={"Location": "file:///etc/passwd"}
    )
    result = fetch_one(httpserver.url_for("/a"))
    assert result.error_kind == "redirects" and result.body is None


def test_redirect_without_location_is_http_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=301)
    result = fetch_one(httpserver.url_for("/a"))
    assert result.error_kind == "http" and result.status == 301


# --- size caps -------------------------------------------------------------------


ENDLESS_LIMIT = 256 * MiB  # a server gives up here; the client must stop far earlier


def endless_plain(server: RawServer, conn: socket.socket, _head: bytes) -> None:
    server.send(conn, head("Content-Type: text/xml", "Connection: close"))
    block = b"x" * (64 * 1024)
    while server.sent < ENDLESS_LIMIT and not server.stop.is_set():
        if not server.send(conn, block):
            return


def test_size_cap_on_endless_body() -> None:
    with RawServer(endless_plain) as server:
        result = fetch_one(server.url(), max_body_bytes=MiB)
        server.join()  # the handler ends when the client has hung up
    assert result.error_kind == "too-large" and result.body is None
    assert server.sent < 32 * MiB  # cap plus socket buffers, not the whole stream
    assert result.elapsed < TOTAL


def test_size_cap_on_gzip_bomb() -> None:
    start, segment = make_gzip_bomb_parts()
    compressed_limit = 64 * MiB  # about 64 GiB inflated

    def bomb(server: RawServer, conn: socket.socket, _head: bytes) -> None:
        server.send(conn, head("Content-Encoding: gzip", "Connection: close") + start)
        block = segment * 64
        while server.sent < compressed_limit and not server.stop.is_set():
            if not server.send(conn, block):
                return

    with RawServer(bomb) as server:
        tracemalloc.start()
        try:
            result = fetch_one(server.url(), max_body_bytes=MiB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        server.join()
    assert result.error_kind == "too-large"
    assert server.sent < compressed_limit // 2  # cap plus socket buffers
    assert peak < 32 * MiB  # never inflated much past the 1 MiB cap


def test_declared_content_length_over_cap_rejected_early() -> None:
    def liar(server: RawServer, conn: socket.socket, _head: bytes) -> None:
        server.send(conn, head(f"Content-Length: {10**9}"))
        server.stop.wait(5)

    with RawServer(liar) as server:
        result = fetch_one(server.url(), max_body_bytes=MiB)
    assert result.error_kind == "too-large" and result.elapsed < 1.0


# --- misbehaving connections -----------------------------------------------------


def test_stall_mid_body_times_out() -> None:
    def stall(server: RawServer, conn: socket.socket, _head: bytes) -> None:
        server.send(conn, head("Content-Length: 1000") + b"<rss>")
        server.stop.wait(10)

    with RawServer(stall) as server:
        result = fetch_one(server.url(), timeout=0.5)
    assert result.error_kind == "timeout" and result.body is None
    assert result.elapsed < TOTAL + SLACK


def test_trickle_past_total_times_out() -> None:
    # Each byte arrives well within sock_read, so only the overall bound can end this.
    def trickle(server: RawServer, conn: socket.socket, _head: bytes) -> None:
        server.send(conn, head("Content-Length: 100000"))
        while not server.stop.wait(0.2):
            if not server.send(conn, b"x"):
                return

    with RawServer(trickle) as server:
        result = fetch_one(server.url(), timeout=0.5, total_timeout=1.0)
    assert result.error_kind == "timeout"
    assert result.error == "timed out after 1 s"
    assert 0.9 < result.elapsed < 1.0 + SLACK


def test_total_timeout_spans_redirect_hops() -> None:
    # Each hop alone is within every per-request bound; together they exceed the total.
    def slow_hops(server: RawServer, conn: socket.socket, request_head: bytes) -> None:
        if server.stop.wait(0.6):
            return
        if request_head.startswith(b"GET /a "):
            reply = "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n"
            server.send(conn, reply.encode())
        else:
            server.send(conn, head("Content-Length: 6") + b"<rss/>")

    with RawServer(slow_hops) as server:
        result = fetch_one(server.url("/a"), timeout=1.0, total_timeout=1.0)
    assert result.error_kind == "timeout" and result.error == "timed out after 1 s"
    assert result.final_url == server.url("/b")
    assert result.elapsed < 1.0 + SLACK


def test_truncated_body_is_reset() -> None:
    def truncate(server: RawServer, conn: socket.socket, _head: bytes) -> None:
        server.send(conn, head("Content-Length: 100") + b"<rss>short")

    with RawServer(truncate) as server:
        result = fetch_one(server.url())
    assert result.error_kind == "reset" and result.body is None


def test_hangup_without_response_is_reset() -> None:
    with RawServer(lambda server, conn, request_head: None) as server:
        result = fetch_one(server.url())
    assert result.error_kind == "reset" and result.status is None


def test_malformed_response_is_protocol_error() -> None:
    def garbage(server: RawServer, conn: socket.socket, _head: bytes) -> None:
        server.send(conn, b"SPDY/9 what\r\n\r\n")

    with RawServer(garbage) as server:
        result = fetch_one(server.url())
    assert result.error_kind == "protocol"
    assert result.error == "malformed HTTP response: Bad status line"


def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = fetch_one(f"http://127.0.0.1:{port}/feed")
    assert result.error_kind == "refused" and result.status is None


def test_tls_error_against_plain_http(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(b"<rss/>")
    result = fetch_one(httpserver.url_for("/feed").replace("http://", "https://"))
    assert result.error_kind == "tls"


def test_dns_failure_on_invalid_tld() -> None:
    host = "feedhub-test.invalid"  # RFC 2606: never resolves
    outcome: list[object] = []

    def probe() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, 80))
        except OSError as exc:
            outcome.append(exc)

    # Daemon thread: a hanging resolver must not hang the suite.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(2.0)
    if not outcome:
        pytest.skip("the local resolver hangs on .invalid names")
    if not isinstance(outcome[0], socket.gaierror):
        pytest.skip(f"the local resolver answered for {host}: {outcome[0]!r}")
    result = fetch_one(f"http://{host}/feed")
    assert result.error_kind == "dns" and host in (result.error or "")


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "http://", "feeds/relative.xml"])
def test_bad_urls(url: str) -> None:
    result = fetch_one(url)
    assert result.error_kind == "bad-url" and result.final_url == url


# --- local files -----------------------------------------------------------------


def test_local_file_path_and_file_url(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss/>")
    for url in (str(feed), feed.as_uri()):
        result = fetch_one(url)
        assert result.ok and result.body == b"<rss/>" and result.status is None
        assert result.final_url == url
        assert "last-modified" in result.headers and "etag" in result.headers


def test_local_file_conditional(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss/>")
    first = fetch_one(str(feed))
    again = fetch_one(str(feed), etag=first.headers["etag"])
    assert again.ok and again.not_modified and again.body is None
    by_date = fetch_one(str(feed), last_modified=first.headers["last-modified"])
    assert by_date.not_modified
    feed.write_bytes(b"<rss>changed</rss>")
    changed = fetch_one(str(feed), etag=first.headers["etag"])
    assert changed.body == b"<rss>changed</rss>"


def test_local_file_errors(tmp_path: Path) -> None:
    missing = fetch_one(str(tmp_path / "missing.xml"))
    assert missing.error_kind == "file" and "missing.xml" in (missing.error or "")
    assert fetch_one(str(tmp_path)).error_kind == "file"
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2048)
    assert fetch_one(str(big), max_body_bytes=1024).error_kind == "too-large"


# --- concurrency -----------------------------------------------------------------


class CountingServer:
    """A threading HTTP server that records how many requests it held at once."""

    def __init__(self, hold: Callable[[], None]) -> None:
        self.active = 0
        self.max_active = 0
        self.arrivals: list[float] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    owner.arrivals.append(time.monotonic())
                    owner.active += 1
                    owner.max_active = max(owner.max_active, owner.active)
                try:
                    hold()
                    status = 200
                except threading.BrokenBarrierError:
                    status = 500
                # Leave the count before answering, or the client's next request
                # could be counted alongside this one.
                with lock:
                    owner.active -= 1
                self.send_response(status)
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"<rss/>")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> CountingServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_per_host_limit_respected() -> None:
    # The barrier lets requests through only in pairs: all 200s prove two ran at once,
    # max_active proves never more than two.
    barrier = threading.Barrier(2, timeout=3)

    def hold() -> None:
        barrier.wait()
        time.sleep(0.05)

    with CountingServer(hold) as server:
        requests = [FetchRequest(f"s{i}", server.url(f"/f{i}")) for i in range(10)]
        results = fetch_many(requests, per_host=2, concurrency=8)
    assert [r.status for r in results] == [200] * 10
    assert server.max_active == 2


def test_host_delay_spaces_starts() -> None:
    delay = 0.15
    with CountingServer(lambda: None) as server:
        requests = [FetchRequest(f"s{i}", server.url(f"/f{i}")) for i in range(4)]
        started = time.monotonic()
        results = fetch_many(requests, per_host=4, host_delay=delay)
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert elapsed >= 3 * delay
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]
    assert min(gaps) > delay - 0.05


def test_waiting_for_a_host_turn_does_not_eat_the_timeout() -> None:
    # One slot, each request held 0.4 s: the third waits 0.8 s for its turn, longer
    # than total_timeout, and must still succeed.
    with CountingServer(lambda: time.sleep(0.4)) as server:
        requests = [FetchRequest(f"s{i}", server.url(f"/f{i}")) for i in range(3)]
        results = fetch_many(requests, per_host=1, timeout=0.7, total_timeout=0.7)
    assert [r.error for r in results] == [None] * 3


def test_fetch_all_many_sources_mixed(httpserver: HTTPServer, tmp_path: Path) -> None:
    for i in range(50):
        httpserver.expect_request(f"/f{i}").respond_with_data(f"<rss>{i}</rss>")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead_port = probe.getsockname()[1]
    local = tmp_path / "local.xml"
    local.write_bytes(b"<rss>local</rss>")
    requests = [FetchRequest(f"s{i}", httpserver.url_for(f"/f{i}")) for i in range(50)]
    requests += [
        FetchRequest("dead", f"http://127.0.0.1:{dead_port}/"),
        FetchRequest("local", str(local)),
        FetchRequest("bad", "gopher://x/"),
    ]
    results = fetch_many(requests, per_host=4, concurrency=8)
    by_name = {r.source_name: r for r in results}
    assert len(results) == len(by_name) == 53
    assert all(by_name[f"s{i}"].body == f"<rss>{i}</rss>".encode() for i in range(50))
    assert by_name["dead"].error_kind == "refused"
    assert by_name["local"].body == b"<rss>local</rss>"
    assert by_name["bad"].error_kind == "bad-url"


def test_fetch_all_pulls_requests_lazily(tmp_path: Path) -> None:
    # Local files are fetched far faster than this consumer takes them, so an
    # unbounded design would run ahead through the whole iterator.
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss/>")
    concurrency = 4
    pulled = 0
    most_ahead = 0

    def requests() -> Iterator[FetchRequest]:
        nonlocal pulled
        for i in range(100):
            pulled += 1
            yield FetchRequest(f"s{i}", str(feed))

    async def go() -> int:
        nonlocal most_ahead
        seen = 0
        async with Fetcher(make_settings(concurrency=concurrency)) as fetcher:
            async for _ in fetcher.fetch_all(requests()):
                seen += 1
                most_ahead = max(most_ahead, pulled - seen)
                await asyncio.sleep(0.005)
        return seen

    assert asyncio.run(go()) == 100
    # Workers hold one request each, the result queue holds at most `concurrency`.
    assert most_ahead <= 2 * concurrency


def test_fetch_all_closed_early_leaves_no_tasks(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(b"<rss/>")

    async def go() -> set[asyncio.Task[Any]]:
        requests = [FetchRequest(f"s{i}", httpserver.url_for("/feed")) for i in range(20)]
        async with Fetcher(make_settings()) as fetcher:
            results = fetcher.fetch_all(requests)
            async with contextlib.aclosing(results):
                async for _ in results:
                    break
        return asyncio.all_tasks() - {asyncio.current_task()}

    assert asyncio.run(go()) == set()


def test_fetch_all_propagates_iterator_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(b"<rss/>")

    def requests() -> Iterator[FetchRequest]:
        yield FetchRequest("ok", httpserver.url_for("/feed"))
        raise ValueError("bad source list")

    with pytest.raises(ValueError, match="bad source list"):
        fetch_many(requests())


class _KeepAliveServer:
    """HTTP/1.1 on loopback that records each connection's client port; with
    `close_after_each`, it hangs up after every response although it advertised
    keep-alive (what servers with a short keep-alive limit do to pooled sockets)."""

    def __init__(self, *, close_after_each: bool = False) -> None:
        self.ports: list[int] = []
        self.requests = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                recorder.ports.append(self.client_address[1])
                recorder.requests += 1
                body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = close_after_each

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> _KeepAliveServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_sources_on_one_host_share_a_kept_alive_connection() -> None:
    # One request at a time to the host: each fetch after the first reuses the socket.
    with _KeepAliveServer() as server:
        requests = [FetchRequest(f"s{i}", server.url(f"/f{i}")) for i in range(6)]
        results = fetch_many(requests, per_host=1, concurrency=4)
    assert [r.status for r in results] == [200] * 6
    assert len(set(server.ports)) == 1


def test_a_pooled_connection_the_server_closed_is_not_an_error() -> None:
    # The server hangs up after every response; a fetch that picks the dead pooled
    # socket is retried on a new connection (GET is idempotent, RFC 9112 9.3.1).
    with _KeepAliveServer(close_after_each=True) as server:
        requests = [FetchRequest(f"s{i}", server.url(f"/f{i}")) for i in range(6)]
        results = fetch_many(requests, per_host=1, concurrency=4)
    assert [(r.status, r.error) for r in results] == [(200, None)] * 6
    assert len(set(server.ports)) == 6
