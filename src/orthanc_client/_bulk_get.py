"""Bulk binary GETs (the instance files behind ``Series.to_numpy``) over plain sockets, each answer read
straight into the caller's memory.

Why not the client's httpx pool: on a 2-core machine that also runs Orthanc, the client's CPU per request
competes with the server's, and httpx hands a body out in 64 KB chunks, each through h11, httpcore and httpx
and then copied again. Measured with the 100 files of a 512 x 512 x 100 uint16 series (Orthanc 1.10.1), best
of 6: httpx 0.15-0.19 s (0.16-0.19 s of client CPU), httpcore's pool used directly 0.11-0.14 s, one socket per
thread reading with ``recv_into`` 0.05 s (0.04 s of CPU), whatever the concurrency from 2 to 8.

A ``DirectReader`` sends what the client would send (path prefix, headers, basic or bearer credentials,
timeouts), so it is used only when it can, by the rule of the bulk upload's ``direct_poster`` (not with a
caller's own httpx client, event hooks, an authentication flow other than basic, cookies or an environment
proxy) and only for ``http://`` servers. Anything it does not expect (a status other than 200, a chunked or
encoded answer, a broken connection) raises ``DirectReadError``; the caller then asks again through the
client, which retries what can be retried and raises the typed errors.
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.parse
from typing import Any

import httpx

from ._bulk_post import _environment_proxy_applies

logger = logging.getLogger("orthanc_client")

_MAX_HEAD = 64 << 10  # status line and headers
_READ_SIZE = 1 << 20  # at most this much per recv: what the kernel has, straight into the target


class DirectReadError(Exception):
    """The direct read could not be done; ask through the client instead."""


def direct_reader(http_client: httpx.Client | httpx.AsyncClient, *, owns_transport: bool) -> DirectReader | None:
    """A reader sending exactly what ``http_client`` would, or ``None`` when that is not possible (module doc)."""
    if not owns_transport or any(http_client.event_hooks.values()) or http_client.cookies:
        return None
    auth = http_client.auth
    if auth is not None and type(auth) is not httpx.BasicAuth:
        return None
    base_url = http_client.base_url
    if base_url.scheme != "http" or not base_url.host or _environment_proxy_applies(base_url):
        return None
    headers = httpx.Headers(http_client.headers)
    headers["Accept-Encoding"] = "identity"
    headers["Host"] = base_url.netloc.decode("ascii")
    if auth is not None:
        # BasicAuth's flow sets one header and needs no answer: run it once here, not once per request.
        authorized = next(auth.sync_auth_flow(httpx.Request("GET", base_url)))
        headers["Authorization"] = authorized.headers["Authorization"]
    return DirectReader(base_url, headers, http_client.timeout)


class DirectReader:
    """Opens connections to one server; each ``DirectConnection`` serves one thread at a time.

    Example::

        reader = direct_reader(client.http_client, owns_transport=True)
        with reader.connect() as connection:
            body = connection.get("instances/1ab.../file")
            first = body.read(4096)           # what has arrived, at most 4096 bytes
            body.readinto(memoryview(array))  # exactly len(view) bytes
            body.discard()                    # the rest, so the connection can be reused
    """

    def __init__(self, base_url: httpx.URL, headers: httpx.Headers, timeout: httpx.Timeout) -> None:
        self.address = (base_url.host, base_url.port or 80)
        self._prefix = base_url.raw_path  # ends with "/": relative paths keep a path prefix
        self._headers = b"".join(name + b": " + value + b"\r\n" for name, value in headers.raw)
        self.connect_timeout = timeout.connect
        self.read_timeout = timeout.read

    def __repr__(self) -> str:
        return f"DirectReader(address={self.address!r})"  # never the headers: they hold the credentials

    def request_bytes(self, path: str) -> bytes:
        target = self._prefix + urllib.parse.quote(path).encode("ascii")
        return b"GET " + target + b" HTTP/1.1\r\n" + self._headers + b"\r\n"

    def connect(self) -> DirectConnection:
        return DirectConnection(self)


class DirectConnection:
    """One keep-alive connection, opened on first use and again after the server or an error closed it."""

    def __init__(self, reader: DirectReader) -> None:
        self._reader = reader
        self._socket: socket.socket | None = None
        self._body: Body | None = None

    def __enter__(self) -> DirectConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def get(self, path: str) -> Body:
        """Sends ``GET <prefix><path>`` and reads the answer's head. Raises ``DirectReadError`` unless the
        answer is a 200 with a Content-Length and no content or transfer encoding (the connection is closed)."""
        if self._body is not None and self._body.remaining:
            self.close()  # the previous body was not read to its end
        self._body = None
        try:
            return self._get(path)
        except (OSError, ValueError, IndexError) as exc:  # socket errors, timeouts, a malformed head
            self.close()
            raise DirectReadError(f"GET {path}: {exc!r}") from None
        except DirectReadError:
            self.close()
            raise

    def _get(self, path: str) -> Body:
        started = time.perf_counter()
        reused = self._socket is not None
        if self._socket is None:
            self._socket = self._open()
        try:
            self._socket.sendall(self._reader.request_bytes(path))
            head, rest = self._read_head(self._socket)
        except (ConnectionError, DirectReadError):
            if not reused:
                raise
            # A kept-alive connection the server closed meanwhile: once more on a new one (a GET is safe).
            self.close()
            self._socket = self._open()
            self._socket.sendall(self._reader.request_bytes(path))
            head, rest = self._read_head(self._socket)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        logger.debug("GET /%s -> %d (%.1f ms, direct)", path, status, (time.perf_counter() - started) * 1000)
        if status != 200:
            raise DirectReadError(f"GET {path}: HTTP {status}")
        if "transfer-encoding" in fields or fields.get("content-encoding", "identity").lower() != "identity":
            raise DirectReadError(f"GET {path}: encoded answer")
        length = int(fields["content-length"]) if "content-length" in fields else -1
        if length < 0:
            raise DirectReadError(f"GET {path}: no Content-Length")
        if len(rest) > length:
            raise DirectReadError(f"GET {path}: more bytes than the Content-Length")
        keep_alive = "close" not in fields.get("connection", "").lower()
        self._body = Body(self, self._socket, rest, length, keep_alive)
        return self._body

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self._reader.address, timeout=self._reader.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._reader.read_timeout)
        return sock

    @staticmethod
    def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
        received = b""
        while True:
            chunk = sock.recv(_MAX_HEAD)
            if not chunk:
                raise ConnectionResetError("connection closed before an answer")
            received += chunk
            end = received.find(b"\r\n\r\n")
            if end >= 0:
                return received[:end], received[end + 4 :]
            if len(received) > _MAX_HEAD:
                raise DirectReadError("answer head too long")

    def _done(self, body: Body) -> None:
        if not body.keep_alive:
            self.close()


class Body:
    """The body of one answer, read in order: ``read`` some bytes, ``readinto`` a buffer, ``discard`` the rest.
    A failure raises ``DirectReadError`` and closes the connection."""

    def __init__(self, connection: DirectConnection, sock: socket.socket, buffered: bytes, length: int,
                 keep_alive: bool) -> None:
        self._connection = connection
        self._socket = sock
        self._buffered = buffered
        self.length = length
        self.remaining = length
        self.keep_alive = keep_alive
        if not length:
            connection._done(self)

    def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one, unless the body is over): what is buffered or has arrived."""
        if self._buffered:
            data, self._buffered = self._buffered[:limit], self._buffered[limit:]
        elif self.remaining:
            data = self._recv(min(limit, self.remaining))
        else:
            return b""
        self._consumed(len(data))
        return data

    def readinto(self, target: memoryview) -> None:
        """Fills ``target`` (a writable byte view) with the next ``len(target)`` bytes of the body."""
        size = target.nbytes
        if size > self.remaining:
            self._fail(f"{size} bytes wanted, {self.remaining} left in the answer")
        filled = 0
        if self._buffered:
            filled = min(size, len(self._buffered))
            target[:filled] = self._buffered[:filled]
            self._buffered = self._buffered[filled:]
        try:
            while filled < size:
                count = self._socket.recv_into(target[filled:], min(size - filled, _READ_SIZE))
                if not count:
                    self._fail("connection closed in the body")
                filled += count
        except OSError as exc:
            self._fail(repr(exc))
        self._consumed(size)

    def discard(self) -> None:
        """Reads and drops what is left, so that the connection can serve the next request."""
        self._consumed(len(self._buffered))
        self._buffered = b""
        if self.remaining > _READ_SIZE:  # cheaper to open a new connection than to read it all
            self._connection.close()
            self.remaining = 0
            return
        if self.remaining:
            self.readinto(memoryview(bytearray(self.remaining)))

    def _recv(self, size: int) -> bytes:
        try:
            data = self._socket.recv(size)
        except OSError as exc:
            self._fail(repr(exc))
        if not data:
            self._fail("connection closed in the body")
        return data

    def _consumed(self, count: int) -> None:
        self.remaining -= count
        if not self.remaining:
            self._connection._done(self)

    def _fail(self, reason: str) -> Any:
        self._connection.close()
        raise DirectReadError(reason)
