"""All HTTP of feedhub: fetch feed documents, over aiohttp or from local files.

fetch reports what happened (body, 304, or a classified error); it never decides
when to fetch again -- that is sources.py's job.

error_kind values: dns, refused, tls, timeout, reset, http, too-large, redirects,
bad-url, file, plus protocol (a malformed response or undecodable body) and
network (any other connection failure).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

import feedhub
from feedhub.errors import FetchError
from feedhub.models import FetchRequest, FetchResult, Settings

log = logging.getLogger(__name__)

_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
# Brief: only encodings every server and aiohttp agree on; aiohttp would add br/zstd
# when optional decoders happen to be installed, making behaviour install-dependent.
_ACCEPT_ENCODING = "gzip, deflate"
_READ_CHUNK = 64 * 1024
KEEPALIVE_SECONDS = 2.0  # how long an idle connection to a host is kept for reuse
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# RFC 9110 15.4.2 / 15.4.9: only these tell the client to update its stored link.
_PERMANENT_REDIRECTS = frozenset({301, 308})


def _size(value: int) -> str:
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):g} MiB"
    if value >= 1024:
        return f"{value / 1024:g} KiB"
    return f"{value} bytes"


def _plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased names; repeated fields joined with ", " as RFC 9110 5.3 allows."""
    plain: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        plain[key] = f"{plain[key]}, {value}" if key in plain else value
    return plain


def _http_error_text(status: int, reason: str | None) -> str:
    # The standard phrase first: servers vary ("TOO MANY REQUESTS", "", custom text).
    with suppress(ValueError):
        reason = HTTPStatus(status).phrase
    return f"HTTP {status} {reason or ''}".rstrip()


class _HostGate:
    """Per-host concurrency and spacing of request starts (politeness toward one server)."""

    def __init__(self, per_host: int) -> None:
        self.slots = asyncio.Semaphore(per_host)
        self.next_start = 0.0

    def reserve_start(self, delay: float) -> float:
        """Book the next start time; returns how long the caller must wait for it."""
        now = time.monotonic()
        start = max(now, self.next_start)
        self.next_start = start + delay
        return start - now


@dataclasses.dataclass
class _Progress:
    """What is known of an attempt so far, so an error can still report where it ended."""

    final_url: str
    status: int | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class _WorkerDone:
    error: Exception | None = None


class Fetcher:
    """Owns one aiohttp session; use as ``async with Fetcher(settings) as fetcher``."""

    def __init__(self, settings: Settings, *, user_agent: str = feedhub.USER_AGENT) -> None:
        self._settings = settings
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._gates: dict[str, _HostGate] = {}

    async def __aenter__(self) -> Fetcher:
        settings = self._settings
        # Keep-alive, briefly: sources that share a host (blog platforms, agencies'
        # feeds, the bench farm) reuse a connection instead of a new TCP (and TLS)
        # handshake each, which the host prefers and which cost ~0.2 ms of our CPU per
        # fetch on loopback (warm run of 500: 1.19 s -> 1.06 s). Idle sockets close
        # after KEEPALIVE_SECONDS, so with thousands of distinct hosts they cannot pile
        # up past the fd limit (at most ~fetches per second x 2 s). A pooled socket
        # the server closed meanwhile is retried once by aiohttp for GET, as RFC 9112
        # 9.3.1 allows for idempotent requests.
        connector = aiohttp.TCPConnector(
            limit=max(1, settings.concurrency), keepalive_timeout=KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=settings.total_timeout,
                connect=settings.timeout,
                sock_read=settings.timeout,
            ),
            headers={"User-Agent": self._user_agent},
            # No cookies: sources must not leak state into one another, and a redirect
            # back to a visited URL is then a true loop.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Fetch one source. Failures of the source come back as FetchResult.error."""
        session = self._session
        if session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        async with self._slots:
            started = time.monotonic()
            progress = _Progress(final_url=request.url)
            try:
                local = _local_path(request.url)
                if local is not None:
                    cap = self._settings.max_body_bytes
                    result = await asyncio.to_thread(_read_file, request, local, cap)
                else:
                    result = await self._fetch_http(session, request, progress)
            except FetchError as exc:
                result = self._failure(request, progress, exc)
            except Exception as exc:  # one broken source must never stop a whole run
                log.warning("unexpected error fetching %s", request.url, exc_info=True)
                failure = FetchError("protocol", f"unexpected {type(exc).__name__}: {exc}")
                result = self._failure(request, progress, failure)
            return dataclasses.replace(result, elapsed=time.monotonic() - started)

    async def fetch_all(
        self, requests: Iterable[FetchRequest]
    ) -> AsyncGenerator[FetchResult, None]:
        """Fetch concurrently, yielding results as they complete (not in input order).

        A fixed pool of workers pulls from ``requests`` lazily, so only about
        2 x concurrency requests and bodies are alive at any time, however many sources.
        Close the iterator (contextlib.aclosing) when stopping early.
        """
        pending = iter(requests)
        worker_count = max(1, self._settings.concurrency)
        results: asyncio.Queue[FetchResult | _WorkerDone] = asyncio.Queue(maxsize=worker_count)
        workers = [asyncio.create_task(self._work(pending, results)) for _ in range(worker_count)]
        try:
            running = worker_count
            while running:
                item = await results.get()
                if isinstance(item, _WorkerDone):
                    running -= 1
                    if item.error is not None:
                        raise item.error
                else:
                    yield item
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(
        self, pending: Iterator[FetchRequest], results: asyncio.Queue[FetchResult | _WorkerDone]
    ) -> None:
        # next() on the shared iterator never awaits, so workers cannot interleave inside it.
        try:
            for request in pending:
                await results.put(await self.fetch(request))
        except Exception as exc:  # from the caller's iterator: hand it to the consumer
            await results.put(_WorkerDone(exc))
            return
        await results.put(_WorkerDone())

    def _failure(self, request: FetchRequest, progress: _Progress, exc: FetchError) -> FetchResult:
        return FetchResult(
            source_name=request.source_name,
            url=request.url,
            final_url=progress.final_url,
            status=progress.status,  # of the last response, if one came before the failure
            headers=progress.headers,
            error=str(exc),
            error_kind=exc.kind,
        )

    async def _fetch_http(
        self, session: aiohttp.ClientSession, request: FetchRequest, progress: _Progress
    ) -> FetchResult:
        url = _http_url(request.url)
        total = self._settings.total_timeout
        # aiohttp's own total applies per hop and a slow body can dodge sock_read; this
        # bounds the whole attempt (all hops and the body), minus waits for a host turn.
        try:
            async with asyncio.timeout(None) as deadline:
                return await self._follow(session, request, url, progress, deadline)
        except TimeoutError:
            if deadline.expired():
                raise FetchError("timeout", f"timed out after {total:g} s") from None
            raise

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        request: FetchRequest,
        url: URL,
        progress: _Progress,
        deadline: asyncio.Timeout,
    ) -> FetchResult:
        settings = self._settings
        headers = {"Accept": _ACCEPT, "Accept-Encoding": _ACCEPT_ENCODING}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        visited = {url}
        hops = 0
        all_permanent = True
        while True:
            progress.final_url, progress.status, progress.headers = str(url), None, {}
            async with self._host_turn(url, deadline):
                try:
                    async with session.get(url, headers=headers, allow_redirects=False) as resp:
                        status = resp.status
                        progress.status = status
                        progress.headers = _plain_headers(resp.headers)
                        location = resp.headers.get("Location")
                        if status not in _REDIRECTS or location is None:
                            moved = str(url) if hops and all_permanent else None
                            return await self._final(request, resp, progress, moved)
                except FetchError:
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    raise _classify(exc, url, settings) from exc
            target = _redirect_target(url, location)
            if target in visited:
                raise FetchError("redirects", f"redirect loop at {target}")
            if hops >= settings.max_redirects:
                raise FetchError(
                    "redirects", f"too many redirects (more than {settings.max_redirects})"
                )
            hops += 1
            all_permanent = all_permanent and status in _PERMANENT_REDIRECTS
            visited.add(target)
            url = target

    async def _final(
        self,
        request: FetchRequest,
        resp: aiohttp.ClientResponse,
        progress: _Progress,
        permanent_redirect: str | None,
    ) -> FetchResult:
        result = FetchResult(
            source_name=request.source_name,
            url=request.url,
            final_url=progress.final_url,
            status=resp.status,
            headers=progress.headers,
            permanent_redirect=permanent_redirect,
        )
        if resp.status == 304:
            return dataclasses.replace(result, not_modified=True)
        if not 200 <= resp.status < 300:
            # 4xx/5xx, and 3xx that cannot be followed (300, a redirect without Location).
            text = _http_error_text(resp.status, resp.reason)
            return dataclasses.replace(result, error=text, error_kind="http")
        return dataclasses.replace(result, body=await self._read_capped(resp))

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        cap = self._settings.max_body_bytes
        declared = resp.content_length
        # Content-Length counts encoded bytes; only without an encoding is it the real size.
        if declared is not None and declared > cap and "Content-Encoding" not in resp.headers:
            resp.close()
            raise FetchError("too-large", f"body of {_size(declared)} is over {_size(cap)}")
        parts: list[bytes] = []
        size = 0
        # aiohttp inflates in bounded steps as we read, so stopping here also stops
        # a gzip bomb before it is expanded.
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            size += len(chunk)
            if size > cap:
                resp.close()  # drop the connection instead of draining the rest
                raise FetchError("too-large", f"body over {_size(cap)}")
            parts.append(chunk)
        return b"".join(parts)

    @asynccontextmanager
    async def _host_turn(self, url: URL, deadline: asyncio.Timeout) -> AsyncIterator[None]:
        """Hold one of the host's slots, started no sooner than host_delay after the last.

        The overall deadline is paused while queueing: waiting behind other sources of
        the same host is not this source's slowness.
        """
        host = url.host or ""
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(max(1, self._settings.per_host))
        loop = asyncio.get_running_loop()
        when = deadline.when()
        remaining = self._settings.total_timeout if when is None else when - loop.time()
        deadline.reschedule(None)
        async with gate.slots:
            wait = gate.reserve_start(self._settings.host_delay)
            if wait > 0:
                await asyncio.sleep(wait)
            deadline.reschedule(loop.time() + remaining)
            yield


def _http_url(raw: str) -> URL:
    try:
        url = URL(raw)
        scheme, host, _ = url.scheme, url.host, url.port
    except (ValueError, TypeError) as exc:
        raise FetchError("bad-url", f"invalid URL {raw!r}: {exc}") from None
    if not scheme:
        raise FetchError("bad-url", f"neither an absolute URL nor a file path: {raw!r}")
    if scheme not in ("http", "https"):
        raise FetchError("bad-url", f"unsupported URL scheme {scheme!r} in {raw!r}")
    if not host:
        raise FetchError("bad-url", f"no host in URL {raw!r}")
    return url


def _redirect_target(current: URL, location: str) -> URL:
    try:
        target = current.join(URL(location)).with_fragment(None)
        scheme, host, _ = target.scheme, target.host, target.port
    except (ValueError, TypeError):
        raise FetchError("redirects", f"bad redirect location {location!r}") from None
    # Never let a server steer us onto file:// or other schemes.
    if scheme not in ("http", "https") or not host:
        raise FetchError("redirects", f"redirect to unsupported URL {location!r}")
    return target


def _local_path(raw: str) -> Path | None:
    """The file a request names, or None for a network URL."""
    if raw.lower().startswith("file:"):
        parts = urllib.parse.urlsplit(raw)
        if parts.netloc not in ("", "localhost"):
            raise FetchError("bad-url", f"file URL on another host: {raw!r}")
        return Path(urllib.request.url2pathname(parts.path))
    if os.path.isabs(raw):
        return Path(raw)
    return None


def _read_file(request: FetchRequest, path: Path, cap: int) -> FetchResult:
    """Read a local source, emulating conditional GET with mtime/size validators."""
    result = FetchResult(
        source_name=request.source_name, url=request.url, final_url=request.url, status=None
    )
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            headers = {
                "last-modified": formatdate(info.st_mtime, usegmt=True),
                "etag": f'"{info.st_mtime_ns:x}-{info.st_size:x}"',
            }
            # RFC 9110 13.1.3: If-None-Match, when present, decides alone.
            if request.etag is not None:
                unchanged = request.etag == headers["etag"]
            else:
                unchanged = request.last_modified == headers["last-modified"]
            if unchanged:
                return dataclasses.replace(result, headers=headers, not_modified=True)
            if info.st_size > cap:
                raise FetchError("too-large", f"file of {_size(info.st_size)} is over {_size(cap)}")
            body = handle.read(cap + 1)  # st_size lies for pipes and /proc files
    except FileNotFoundError:
        raise FetchError("file", f"no such file: {path}") from None
    except OSError as exc:
        raise FetchError("file", f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > cap:
        raise FetchError("too-large", f"file over {_size(cap)}")
    return dataclasses.replace(result, headers=headers, body=body)


def _classify(exc: BaseException, url: URL, settings: Settings) -> FetchError:
    """Map an aiohttp/OS exception to a FetchError with a short human message."""
    where = f"{url.host}:{url.port}" if url.port else str(url.host)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchError("dns", f"cannot resolve host {url.host}")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return FetchError("tls", f"TLS error with {where}: {_tls_reason(exc)}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return FetchError("timeout", f"connect timed out after {settings.timeout:g} s")
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return FetchError("timeout", f"no data for {settings.timeout:g} s")
    if isinstance(exc, TimeoutError):
        return FetchError("timeout", f"timed out after {settings.total_timeout:g} s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, socket.gaierror):
            return FetchError("dns", f"cannot resolve host {url.host}")
        if isinstance(cause, ConnectionRefusedError):
            return FetchError("refused", f"connection refused by {where}")
        return FetchError("network", f"cannot connect to {where}: {cause.strerror or cause}")
    if isinstance(exc.__cause__, ContentEncodingError):
        return FetchError("protocol", "body cannot be decoded (bad Content-Encoding)")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return FetchError("reset", "server closed the connection without a full response")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return FetchError("reset", "connection closed before the body was complete")
    if isinstance(exc, ConnectionResetError | BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)
    ):
        return FetchError("reset", "connection reset by server")
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError("bad-url", f"invalid URL {str(exc.url)!r}")
    if isinstance(exc, aiohttp.ClientResponseError):
        first_line = exc.message.splitlines()[0].rstrip(":") if exc.message else "?"
        return FetchError("protocol", f"malformed HTTP response: {first_line}")
    return FetchError("network", f"{type(exc).__name__}: {exc}")


def _tls_reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return str(exc.certificate_error)
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return str(cause.reason).lower().replace("_", " ")
    return str(cause)
