"""`feedhub serve`: a small static HTTP server for the generated output directory.

Only regular files under the output directory are served, with strong ETags, conditional
requests (RFC 9110 §13), deterministic gzip and per-output Cache-Control. Anything that
could reach outside the directory, a hidden or temporary file, or a directory is a 404,
so a probe learns nothing about what exists (private outputs live under a token folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import mimetypes
import os
import signal
import stat
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web
from aiohttp.helpers import ETag

from feedhub.errors import FeedhubError

__all__ = ["Handler", "accepts_gzip", "content_type_for", "make_app", "serve", "start_server"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_TYPES: Mapping[str, str] = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".xml": "application/xml",
}
# Pages carry no scripts and no external assets; feeds opened in a browser get the same
# lock-down, since a feed body is foreign HTML however well it was sanitized.
SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src * data:",
    "Referrer-Policy": "no-referrer",
}
GZIP_MIN_BYTES = 1024  # below this the gzip header and a round trip outweigh the savings
INDEX_NAME = "index.html"
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

_FileKey = tuple[int, int, int]  # (st_mtime_ns, st_size, st_ino)


@dataclass(frozen=True)
class _Digest:
    """What is remembered about one version of a file, so a 304 costs one stat()."""

    key: _FileKey
    etag: str  # quoted strong validator of the identity representation
    gzipped: bytes | None  # None: the file is not worth compressing


def _content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _file_key(st: os.stat_result) -> _FileKey:
    # The inode is part of the key because the generator swaps files with os.replace:
    # a new version always has a new inode even when mtime and size happen to match.
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def content_type_for(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _is_compressible(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip()
    return media.startswith("text/") or media.endswith(("+xml", "+json", "/xml", "/json"))


def accepts_gzip(accept_encoding: str) -> bool:
    """RFC 9110 §12.5.3: gzip is acceptable when listed (or covered by *) with q > 0."""
    qualities: dict[str, float] = {}
    for member in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in member.split(";"))
        quality = 1.0
        for name, _, value in (param.partition("=") for param in params):
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        coding = "gzip" if coding == "x-gzip" else coding
        qualities[coding] = max(quality, qualities.get(coding, 0.0))
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


def _safe_segments(raw_path: str) -> list[str] | None:
    """Decode the request path into plain file-name segments, or None if any is unsafe.

    Works on the raw (still percent-encoded) path so that an encoded slash or dot-dot
    (`/..%2fx`, `/%2e%2e/x`) is judged after decoding, one segment at a time.
    """
    if not raw_path.startswith("/"):
        return None
    if raw_path == "/":
        return [INDEX_NAME]
    segments = []
    for raw in raw_path[1:].split("/"):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        # Empty segments reject "//abs" and "dir/"; a leading dot rejects "..", ".", dot
        # files and the generator's ".NAME.tmp*" files; "\\" guards Windows separators.
        if not segment or segment.startswith(".") or any(c in segment for c in "/\\\0"):
            return None
        segments.append(segment)
    return segments


def _resolve_inside(root: Path, segments: Sequence[str]) -> Path | None:
    try:
        root = root.resolve(strict=True)
        target = root.joinpath(*segments).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, a name too long
        return None
    if not target.is_relative_to(root):  # a symlink pointing out of the directory
        return None
    if any(part.startswith(".") for part in target.relative_to(root).parts):
        return None  # a symlink pointing at a hidden file inside the directory
    return target


def _etag_matches(if_none_match: tuple[ETag, ...], etag: str) -> bool:
    # GET/HEAD use the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
    value = etag.strip('"')
    return any(tag.value in ("*", value) for tag in if_none_match)


def _not_modified(request: web.Request, etag: str, mtime: float) -> bool:
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
    if request.if_none_match is not None:
        return _etag_matches(request.if_none_match, etag)
    since = request.if_modified_since
    return since is not None and int(mtime) <= since.timestamp()


class _FileServer:
    def __init__(
        self, output_dir: Path, max_age: Mapping[str, int] | None, default_max_age: int
    ) -> None:
        self.output_dir = output_dir
        self.max_age = dict(max_age or {})
        self.default_max_age = default_max_age
        # One entry per served path: only the newest version of a file is remembered, and
        # only files that exist can be asked for, so the cache stays as small as the site.
        self.digests: dict[Path, _Digest] = {}

    def _read(self, path: Path, content_type: str) -> tuple[bytes, os.stat_result, _Digest]:
        # One open + read of one inode: the generator replaces files atomically, so the
        # bytes are one whole version even if a new one lands meanwhile.
        fd = os.open(path, _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise OSError(f"not a regular file: {path}")
            data = handle.read()
        key = _file_key(st)
        cached = self.digests.get(path)
        if cached is not None and cached.key == key:
            return data, st, cached
        gzipped: bytes | None = None
        if len(data) > GZIP_MIN_BYTES and _is_compressible(content_type):
            # mtime=0 keeps the bytes (and so the ETag) identical on every run (RFC 1952).
            gzipped = gzip.compress(data, compresslevel=6, mtime=0)
            if len(gzipped) >= len(data):
                gzipped = None
        digest = _Digest(key, f'"{_content_digest(data)}"', gzipped)
        if len(data) == st.st_size:  # not rewritten in place under us
            self.digests[path] = digest
        return data, st, digest

    def _headers(self, name: str, etag: str, vary: bool) -> dict[str, str]:
        # A private output lives at TOKEN/NAME but is configured (and mapped) by NAME.
        basename = name.rsplit("/", 1)[-1]
        max_age = self.max_age.get(name, self.max_age.get(basename, self.default_max_age))
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
        if vary:
            headers["Vary"] = "Accept-Encoding"
        return headers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        segments = _safe_segments(request.rel_url.raw_path)
        path = _resolve_inside(self.output_dir, segments) if segments else None
        if segments is None or path is None:
            return _not_found()
        relative = "/".join(segments)
        content_type = content_type_for(path.name)
        wants_gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))

        # Fast path: a revalidation of a version already hashed costs one stat().
        try:
            cached = self.digests.get(path)
            if cached is not None and cached.key == _file_key(os.stat(path)):
                etag = _representation_etag(cached, wants_gzip)
                if _not_modified(request, etag, cached.key[0] / 1e9):
                    return self._not_modified_response(relative, cached, etag)
            data, st, digest = await asyncio.to_thread(self._read, path, content_type)
        except OSError:  # vanished, a directory, a FIFO, unreadable
            return _not_found()

        etag = _representation_etag(digest, wants_gzip)
        if _not_modified(request, etag, st.st_mtime):
            return self._not_modified_response(relative, digest, etag)
        headers = self._headers(relative, etag, vary=digest.gzipped is not None)
        headers.update(SECURITY_HEADERS)
        headers["Content-Type"] = content_type
        headers["Last-Modified"] = formatdate(st.st_mtime, usegmt=True)
        body = data
        if wants_gzip and digest.gzipped is not None:
            headers["Content-Encoding"] = "gzip"
            body = digest.gzipped
        return web.Response(body=body, headers=headers)

    def _not_modified_response(self, relative: str, digest: _Digest, etag: str) -> web.Response:
        # A 304 repeats only what a cache needs to update its copy (RFC 9110 §15.4.5).
        vary = digest.gzipped is not None
        return web.Response(status=304, headers=self._headers(relative, etag, vary=vary))


def _representation_etag(digest: _Digest, wants_gzip: bool) -> str:
    # Each content coding is its own representation and needs its own validator, or a
    # cache could answer a gzip request with identity bytes (RFC 9110 §8.8.3).
    return f'{digest.etag[:-1]}-gz"' if wants_gzip and digest.gzipped else digest.etag


def _not_found() -> web.Response:
    return web.Response(status=404, text="404: Not Found")


def make_app(
    output_dir: Path,
    *,
    max_age: Mapping[str, int] | None = None,
    default_max_age: int = 300,
    extra_routes: Sequence[tuple[str, str, Handler]] = (),
) -> web.Application:
    """An aiohttp application serving `output_dir` read-only (GET and HEAD).

    `max_age` maps a served path ("ai-policy.atom", or "TOKEN/ai-policy.atom"; a bare
    file name also matches under a token folder) to its Cache-Control max-age in seconds.
    `extra_routes` are registered before the file route, so they win over files.
    """
    files = _FileServer(Path(output_dir), max_age, default_max_age)
    app = web.Application()
    for method, path, handler in extra_routes:
        app.router.add_route(method, path, handler)
    app.router.add_get("/{path:.*}", files.handle)
    return app


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 literal (RFC 3986 §3.2.2)


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start listening; the caller owns the runner and must `await runner.cleanup()`.

    Port 0 picks a free port; read it back from `runner.addresses`.
    """
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise FeedhubError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    urls = (f"http://{_url_host(addr[0])}:{addr[1]}/" for addr in runner.addresses)
    log.info("serving on %s", ", ".join(urls))
    return runner


def serve(
    output_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_age: Mapping[str, int] | None = None,
    default_max_age: int = 300,
    extra_routes: Sequence[tuple[str, str, Handler]] = (),
) -> None:
    """Serve `output_dir` until interrupted (Ctrl-C / SIGINT), then close cleanly."""
    app = make_app(
        output_dir, max_age=max_age, default_max_age=default_max_age, extra_routes=extra_routes
    )

    async def run_forever() -> None:
        runner = await start_server(app, host, port)
        stop = asyncio.Event()
        # SIGTERM (systemd, docker stop) gets the same clean close as Ctrl-C.
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run_forever())
    except KeyboardInterrupt:
        # asyncio.run already cancelled run_forever, whose finally closed the listener.
        log.info("stopped")
