"""feedhub.serve against a real server on 127.0.0.1, spoken to with plain HTTP.

The server runs its event loop in a background thread; requests go through http.client
(or a raw socket where the request line itself is the point), which send the path
exactly as written, so traversal attempts reach the server un-normalized.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from feedhub import serve as serve_module
from feedhub.errors import FeedhubError
from feedhub.serve import Handler, accepts_gzip, make_app, start_server

BIG_ATOM = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    + "".join(f"<entry><title>entry {i}</title></entry>" for i in range(200))
    + "</feed>\n"
).encode()
SMALL_ATOM = b'<feed xmlns="http://www.w3.org/2005/Atom"/>\n'
FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Server:
    port: int
    root: Path

    def request(
        self, path: str, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def raw(self, request_head: str) -> bytes:
        """Send one request head verbatim and return every byte the server sent back."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request_head.encode("latin-1"))
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


StartServer = Callable[..., Server]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[StartServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    def _start(
        max_age: Mapping[str, int] | None = None,
        extra_routes: Sequence[tuple[str, str, Handler]] = (),
    ) -> Server:
        root = tmp_path / "public"
        root.mkdir(exist_ok=True)
        app = make_app(root, max_age=max_age, extra_routes=extra_routes)
        runner = asyncio.run_coroutine_threadsafe(start_server(app, "127.0.0.1", 0), loop).result(
            timeout=5
        )
        runners.append(runner)
        return Server(port=runner.addresses[0][1], root=root)

    yield _start
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.fixture
def server(start: StartServer) -> Server:
    return start()


def write(path: Path, data: bytes, mtime: int | None = FIXED_MTIME) -> None:
    """Write the way the generator does: a temp file, then an atomic os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    if mtime is not None:
        os.utime(temp, (mtime, mtime))
    os.replace(temp, path)


# --- content --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.atom", "application/atom+xml; charset=utf-8"),
        ("a.rss", "application/rss+xml; charset=utf-8"),
        ("a.json", "application/feed+json; charset=utf-8"),
        ("a.html", "text/html; charset=utf-8"),
        ("a.opml", "text/x-opml; charset=utf-8"),
        ("a.xml", "application/xml"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.png", "image/png"),
    ],
)
def test_content_type_by_extension(server: Server, name: str, content_type: str) -> None:
    write(server.root / name, b"x")
    reply = server.request(f"/{name}")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == content_type
    assert reply.body == b"x"


def test_root_serves_index_html_with_security_headers(server: Server) -> None:
    write(server.root / "index.html", b"<!doctype html><title>feedhub</title>")
    reply = server.request("/")
    assert reply.status == 200
    assert reply.body == b"<!doctype html><title>feedhub</title>"
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert reply.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src * data:"
    )


def test_root_without_index_is_404(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    assert server.request("/").status == 404


def test_last_modified_is_an_http_date_of_the_mtime(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    assert server.request("/a.atom").headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"


def test_query_string_is_ignored(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    assert server.request("/a.atom?utm_source=x").body == SMALL_ATOM


def test_head_sends_headers_and_no_body(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    get = server.request("/a.atom")
    wire = server.raw("HEAD /a.atom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, after = wire.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert after == b""  # nothing at all follows the header block
    assert f"Content-Length: {len(SMALL_ATOM)}".encode() in head
    assert f"ETag: {get.headers['ETag']}".encode() in head
    assert b"Content-Type: application/atom+xml; charset=utf-8" in head


# --- validators and conditional requests ------------------------------------------


def test_etag_is_stable_and_changes_with_the_content(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    first = server.request("/a.atom").headers["ETag"]
    assert first.startswith('"') and first.endswith('"') and len(first) == 34
    assert server.request("/a.atom").headers["ETag"] == first
    # Same size and mtime, new bytes: the atomic replace alone must change the ETag.
    write(server.root / "a.atom", SMALL_ATOM.replace(b"Atom", b"ATOM"))
    second = server.request("/a.atom")
    assert second.headers["ETag"] != first
    assert second.body == SMALL_ATOM.replace(b"Atom", b"ATOM")


def test_if_none_match_gives_304_with_validators_and_no_body(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    etag = server.request("/a.atom").headers["ETag"]
    for header in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
        reply = server.request("/a.atom", headers={"If-None-Match": header})
        assert reply.status == 304, header
        assert reply.body == b""
        assert reply.headers["ETag"] == etag
        assert reply.headers["Cache-Control"] == "public, max-age=300"
    assert server.request("/a.atom", headers={"If-None-Match": '"other"'}).status == 200


def test_if_modified_since(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    last_modified = server.request("/a.atom").headers["Last-Modified"]
    reply = server.request("/a.atom", headers={"If-Modified-Since": last_modified})
    assert reply.status == 304
    assert reply.body == b""
    older = "Tue, 14 Nov 2023 22:13:19 GMT"
    assert server.request("/a.atom", headers={"If-Modified-Since": older}).status == 200
    garbage = server.request("/a.atom", headers={"If-Modified-Since": "yesterday"})
    assert garbage.status == 200


def test_if_none_match_takes_precedence_over_if_modified_since(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    last_modified = server.request("/a.atom").headers["Last-Modified"]
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
    assert server.request("/a.atom", headers=headers).status == 200


def test_304_from_cache_does_not_hash(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    write(server.root / "a.atom", BIG_ATOM)
    etag = server.request("/a.atom").headers["ETag"]
    calls: list[int] = []
    real_digest = serve_module._content_digest

    def counting_digest(data: bytes) -> str:
        calls.append(len(data))
        return real_digest(data)

    monkeypatch.setattr(serve_module, "_content_digest", counting_digest)
    for _ in range(3):
        assert server.request("/a.atom", headers={"If-None-Match": etag}).status == 304
        assert server.request("/a.atom").status == 200
    assert calls == []
    write(server.root / "a.atom", BIG_ATOM + b"\n")
    assert server.request("/a.atom").status == 200
    assert calls == [len(BIG_ATOM) + 1]


# --- compression ----------------------------------------------------------------


def test_gzip_when_accepted(server: Server) -> None:
    write(server.root / "a.atom", BIG_ATOM)
    plain = server.request("/a.atom")
    assert "Content-Encoding" not in plain.headers
    assert plain.body == BIG_ATOM
    assert plain.headers["Vary"] == "Accept-Encoding"

    zipped = server.request("/a.atom", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.body) == BIG_ATOM
    assert len(zipped.body) < len(BIG_ATOM)
    assert zipped.headers["ETag"] == plain.headers["ETag"][:-1] + '-gz"'
    # Deterministic: the same bytes every time (gzip mtime 0), hence a stable ETag.
    assert zipped.body[4:8] == b"\0\0\0\0"
    again = server.request("/a.atom", headers={"Accept-Encoding": "gzip"})
    assert again.body == zipped.body

    # Each representation validates only against its own ETag.
    gz_etag = zipped.headers["ETag"]
    ims = {"Accept-Encoding": "gzip", "If-None-Match": gz_etag}
    assert server.request("/a.atom", headers=ims).status == 304
    assert server.request("/a.atom", headers={"If-None-Match": gz_etag}).status == 200


def test_gzip_refused_with_q0_and_skipped_for_small_files(server: Server) -> None:
    write(server.root / "a.atom", BIG_ATOM)
    write(server.root / "small.atom", SMALL_ATOM)
    refused = server.request("/a.atom", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    assert refused.body == BIG_ATOM
    small = server.request("/small.atom", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    assert small.body == SMALL_ATOM


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("deflate, br", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("x-gzip", True),
        ("", False),
        ("gzip;q=bogus", False),
    ],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


# --- cache-control --------------------------------------------------------------


def test_cache_control_from_mapping(start: StartServer) -> None:
    server = start(max_age={"fast.atom": 60})
    write(server.root / "fast.atom", SMALL_ATOM)
    write(server.root / "slow.atom", SMALL_ATOM)
    write(server.root / "tok" / "fast.atom", SMALL_ATOM)
    assert server.request("/fast.atom").headers["Cache-Control"] == "public, max-age=60"
    assert server.request("/tok/fast.atom").headers["Cache-Control"] == "public, max-age=60"
    assert server.request("/slow.atom").headers["Cache-Control"] == "public, max-age=300"


# --- what must not be served ------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/public/../secret.txt",
        "/./a.atom",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/..%5csecret.txt",
        "/a.atom%00.html",
        "/a.atom/",
        "/%ff.atom",
    ],
)
def test_traversal_attempts_are_404(server: Server, target: str) -> None:
    (server.root.parent / "secret.txt").write_text("secret")
    write(server.root / "a.atom", SMALL_ATOM)
    wire = server.raw(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert wire.startswith(b"HTTP/1.1 404"), wire[:80]
    assert b"secret" not in wire and b"root:" not in wire


def test_symlinks_escaping_the_directory_are_404(server: Server) -> None:
    secret = server.root.parent / "secret.txt"
    secret.write_text("secret")
    (server.root.parent / "elsewhere").mkdir()
    (server.root.parent / "elsewhere" / "x.atom").write_bytes(SMALL_ATOM)
    (server.root / "passwd.atom").symlink_to("/etc/passwd")
    (server.root / "secret.atom").symlink_to(secret)
    (server.root / "elsewhere").symlink_to(server.root.parent / "elsewhere")
    for target in ("/passwd.atom", "/secret.atom", "/elsewhere/x.atom"):
        reply = server.request(target)
        assert reply.status == 404, target
        assert b"secret" not in reply.body and b"root:" not in reply.body


def test_symlink_inside_the_directory_is_served(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    (server.root / "latest.atom").symlink_to("a.atom")
    assert server.request("/latest.atom").body == SMALL_ATOM


def test_directories_are_never_listed(server: Server) -> None:
    write(server.root / "sub" / "index.html", b"<p>x</p>")
    write(server.root / "sub" / "a.atom", SMALL_ATOM)
    for target in ("/sub", "/sub/"):
        assert server.request(target).status == 404, target


def test_hidden_and_temporary_files_are_404(server: Server) -> None:
    write(server.root / ".htpasswd", b"user:hash")
    write(server.root / ".a.atom.tmp123", SMALL_ATOM)
    write(server.root / ".git" / "config", b"[core]")
    write(server.root / "a.atom", SMALL_ATOM)
    (server.root / "visible.atom").symlink_to(".a.atom.tmp123")
    for target in ("/.htpasswd", "/.a.atom.tmp123", "/.git/config", "/%2ehtpasswd"):
        assert server.request(target).status == 404, target
    assert server.request("/visible.atom").status == 404
    assert server.request("/missing.atom").status == 404


def test_private_output_only_at_its_token_path(server: Server) -> None:
    token = "k3Jq9xV0bQ"
    write(server.root / token / "x.atom", SMALL_ATOM)
    assert server.request(f"/{token}/x.atom").body == SMALL_ATOM
    assert server.request("/x.atom").status == 404
    assert server.request(f"/{token}").status == 404
    assert server.request(f"/{token}/").status == 404


# --- methods and extra routes -----------------------------------------------------


def test_other_methods_are_405(server: Server) -> None:
    write(server.root / "a.atom", SMALL_ATOM)
    for method in ("POST", "PUT", "DELETE"):
        reply = server.request("/a.atom", method=method)
        assert reply.status == 405, method
        assert set(reply.headers["Allow"].split(",")) == {"GET", "HEAD"}


def test_extra_routes_are_served_before_files(start: StartServer) -> None:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    server = start(extra_routes=[("GET", "/healthz", healthz)])
    write(server.root / "healthz", b"file")
    assert server.request("/healthz").body == b"ok"


def test_start_server_wraps_bind_failure(server: Server) -> None:
    async def bind_same_port() -> None:
        await start_server(make_app(server.root), "127.0.0.1", server.port)

    with pytest.raises(FeedhubError, match="cannot listen"):
        asyncio.run(bind_same_port())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    script = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "from feedhub.serve import serve\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "serve(Path(sys.argv[1]), port=0)\n"
        "print('exited', flush=True)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-u", "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert "serving on http://127.0.0.1:" in first_line
        url = first_line.rsplit("serving on ", 1)[1].strip()
        host_port = url.removeprefix("http://").rstrip("/")
        conn = http.client.HTTPConnection(host_port, timeout=5)
        conn.request("GET", "/missing")
        assert conn.getresponse().status == 404
        conn.close()
        process.send_signal(signum)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "exited" in output
    assert "Traceback" not in output
