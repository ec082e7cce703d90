"""A small threaded HTTP server on 127.0.0.1 that serves feeds like a polite publisher.

It answers conditional requests (ETag, Last-Modified -> 304), and logs every
request so tests can assert what feedhub actually sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True  # answer If-None-Match / If-Modified-Since
    delay: float = 0.0  # seconds before answering: a slow publisher

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class LoggedRequest:
    path: str
    headers: dict[str, str]
    status: int


class FeedServer:
    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.log: list[LoggedRequest] = []
        self.last_modified = formatdate(1_700_000_000, usegmt=True)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = server.documents.get(self.path)
                if document is not None and document.delay:
                    time.sleep(document.delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if document is None:
                    status, body, extra = 404, b"not found", {"Content-Type": "text/plain"}
                else:
                    status, body = document.status, document.body
                    extra = {"Content-Type": document.content_type, **document.headers}
                    if document.conditional and status == 200:
                        extra["ETag"] = document.etag
                        extra["Last-Modified"] = server.last_modified
                        if headers.get("if-none-match") == document.etag or (
                            "if-none-match" not in headers
                            and headers.get("if-modified-since") == server.last_modified
                        ):
                            status, body = 304, b""
                with server._lock:
                    server.log.append(LoggedRequest(self.path, headers, status))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests_for(self, path: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if r.path == path]

    @contextmanager
    def running(self) -> Iterator[FeedServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def rss(title: str, items: list[dict[str, str]], link: str = "https://site.example/") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>{title}</title><link>{link}</link><description>{title} feed</description>",
    ]
    for item in items:
        parts.append("<item>")
        for key, value in item.items():
            if key == "guid_permalink":
                parts.append(f'<guid isPermaLink="true">{value}</guid>')
            else:
                parts.append(f"<{key}>{value}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()
