"""A small HTTP proxy in front of a real Orthanc that misbehaves on chosen routes, for tests of what a client
does with answers Orthanc itself never gives: redirects, login pages, answers cut off, dripping or lying
about their encoding, and a server that stops answering.

Everything not matched by a rule is forwarded to Orthanc as it is (headers, credentials, body), one upstream
connection per request.

Example::

    from orthanc_client import Orthanc
    from orthanc_client.testing import OrthancServer

    with OrthancServer() as orthanc, FaultyProxy(orthanc.url, [
        (r"/instances/[^/]+/file$", Redirect("/login")),
        (r"^/login$", Page(b"<html>please log in</html>")),
    ]) as proxy, Orthanc(proxy.url, *orthanc.auth) as client:
        print(client.get_system()["Version"])   # forwarded as it is; file downloads would meet a login page
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Union

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"})


@dataclass(frozen=True)
class Redirect:
    """Answers ``status`` pointing to ``location`` (relative to the proxy, or absolute), formatted with the
    rule's named groups: ``(r"^/old(?P<rest>/.*)", Redirect("{rest}", 308))``."""

    location: str
    status: int = 302
    body: bytes = b"<html><body>moved</body></html>"


@dataclass(frozen=True)
class Page:
    """Answers this body (by default an HTML login page with a 200, as a single sign-on proxy does)."""

    body: bytes = b"<!DOCTYPE html><html><body><form>Please log in</form></body></html>"
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    content_encoding: str | None = None


@dataclass(frozen=True)
class Drip:
    """Answers ``size`` bytes of ``content_type``, announced whole, one byte every ``interval`` seconds."""

    size: int = 10_000
    interval: float = 0.25
    content_type: str = "application/json"


@dataclass(frozen=True)
class Cut:
    """Forwards Orthanc's answer but closes the connection after ``keep`` bytes of its body."""

    keep: int = 100


@dataclass(frozen=True)
class Hang:
    """Accepts the request and never answers (until the proxy is closed)."""


Action = Union[Redirect, Page, Drip, Cut, Hang]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up on a dripping or cut answer is what the tests do on purpose: no traceback.
        pass


class FaultyProxy:
    """A threaded HTTP proxy to ``upstream`` applying the first matching ``(path regex, action)`` rule.

    ``rules`` can be replaced while it runs (``proxy.rules = [...]``); ``requests`` lists every
    ``(method, path)`` received. ``dead()`` makes it refuse connections from then on (a server gone away).
    """

    def __init__(self, upstream: str, rules: list[tuple[str, Action]] | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.rules = list(rules or [])
        self.requests: list[tuple[str, str]] = []
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._connections.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def _serve(self) -> None:
                proxy.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urllib.parse.urlsplit(self.path).path
                action: Action | None = None
                groups: dict[str, str] = {}
                for pattern, candidate in proxy.rules:
                    match = re.search(pattern, path)
                    if match:
                        action, groups = candidate, match.groupdict()
                        break
                if isinstance(action, Redirect):
                    location = action.location.format(**groups)
                    self._answer(action.status, action.body, "text/html", {"Location": location})
                elif isinstance(action, Page):
                    extra = {"Content-Encoding": action.content_encoding} if action.content_encoding else {}
                    self._answer(action.status, action.body, action.content_type, extra)
                elif isinstance(action, Drip):
                    self._drip(action)
                elif isinstance(action, Hang):
                    proxy._closing.wait()
                    self.close_connection = True
                else:
                    self._forward(body, action)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names

            def _answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _drip(self, action: Drip) -> None:
                self.send_response(200)
                self.send_header("Content-Type", action.content_type)
                self.send_header("Content-Length", str(action.size))
                self.end_headers()
                self.wfile.flush()
                for _ in range(action.size):
                    if proxy._closing.wait(action.interval):
                        break
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        break
                self.close_connection = True

            def _forward(self, body: bytes, action: Action | None) -> None:
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if isinstance(action, Cut):
                    self.wfile.write(content[: action.keep])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self.wfile.write(content)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="faulty-proxy", daemon=True)
        self._thread.start()

    def dead(self) -> None:
        """Stops answering: the listening socket is closed (new connections are refused) and open ones are cut."""
        if not self._closing.is_set():
            self._closing.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.dead()
        # let handler threads blocked on Drip/Hang notice _closing and end
        time.sleep(0.01)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
