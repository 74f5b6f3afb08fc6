"""HTTP/1.1 over plain sockets, for the bulk paths: many GETs of binary answers read straight into the caller's
memory (the instance files behind ``Series.to_numpy``), and many POSTs of DICOM files (``upload``).

Why not the client's httpx pool: on a 2-core machine that also runs Orthanc, the client's CPU per request
competes with the server's, and httpx hands a body out in 64 KB chunks, each through h11, httpcore and httpx
and then copied again. Measured with the 100 files of a 512 x 512 x 100 uint16 series (Orthanc 1.10.1), best
of 6: httpx 0.15-0.19 s (0.16-0.19 s of client CPU), httpcore's pool used directly 0.11-0.14 s, one socket per
thread reading with ``recv_into`` 0.05 s (0.04 s of CPU), whatever the concurrency from 2 to 8. Uploading 500
x 100 KB files from 8 threads: httpx 0.83-0.92 s, httpcore 0.68-0.71 s, a connection per thread 0.58-0.62 s.

A ``DirectOrigin`` sends what the client would send (path prefix, headers, basic or bearer credentials,
timeouts), so it is used only when it can (``direct_origin``): not with a caller's own httpx client, event
hooks, an authentication flow other than basic, cookies or an environment proxy, and only for ``http://``
servers (``https://`` goes through httpx). For a GET, anything it does not expect (a status other than 200,
a chunked or encoded answer, a broken connection) raises ``DirectReadError``; the caller then asks again
through the client, which retries what can be retried and raises the typed errors. A POST returns any
answer, whole; a broken connection raises ``OSError`` (the caller decides about sending again).
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx

from ._base import CHUNK_SIZE

logger = logging.getLogger("orthanc_client")

_MAX_HEAD = 64 << 10  # status line and headers
_READ_SIZE = 1 << 20  # at most this much per recv: what the kernel has, straight into the target


class DirectReadError(Exception):
    """The direct read could not be done; ask through the client instead."""


def direct_origin(http_client: httpx.Client | httpx.AsyncClient, *, owns_transport: bool) -> DirectOrigin | None:
    """Connections sending exactly what ``http_client`` would, or ``None`` when that is not possible (module doc)."""
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
    return DirectOrigin(base_url, headers, http_client.timeout)


def _environment_proxy_applies(url: httpx.URL) -> bool:
    """Whether ``HTTP(S)_PROXY``/``ALL_PROXY`` (which httpx honours) would route ``url`` through a proxy."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    return not urllib.request.proxy_bypass_environment(host, proxies)  # type: ignore[attr-defined]  # not in typeshed


class DirectOrigin:
    """Opens connections to one server; each ``DirectConnection`` serves one thread at a time.

    Example::

        origin = direct_origin(client.http_client, owns_transport=True)
        with origin.connect() as connection:
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
        return f"DirectOrigin(address={self.address!r})"  # never the headers: they hold the credentials

    def request_bytes(self, path: str, method: bytes = b"GET", length: int | None = None) -> bytes:
        target = self._prefix + urllib.parse.quote(path).encode("ascii")
        fields = self._headers if length is None else self._headers + b"Content-Length: %d\r\n" % length
        return method + b" " + target + b" HTTP/1.1\r\n" + fields + b"\r\n"

    def connect(self) -> DirectConnection:
        return DirectConnection(self)


class DirectConnection:
    """One keep-alive connection, opened on first use and again after the server or an error closed it."""

    def __init__(self, origin: DirectOrigin) -> None:
        self._origin = origin
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
        request = self._origin.request_bytes(path)
        head, rest = self._exchange(lambda sock: sock.sendall(request))
        status, fields = _parse_head(head)
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
        assert self._socket is not None  # open after an exchange
        self._body = Body(self, self._socket, rest, length, keep_alive)
        return self._body

    def post(self, path: str, body: bytes | IO[bytes], length: int) -> tuple[int, dict[str, str], bytes]:
        """Sends ``POST <prefix><path>`` with ``body`` (bytes, or a binary file sent from its current position,
        ``length`` bytes) and returns the answer's status, headers (lower-case names) and whole body, whatever
        the status. A kept connection the server closed meanwhile is reopened once (nothing was answered, and
        the body is sent again); other failures raise ``OSError`` (``TimeoutError`` for a timeout) or
        ``DirectReadError`` (an answer that is not HTTP), and close the connection."""
        started = time.perf_counter()
        try:
            status, fields, content = self._post(path, body, length)
        except (OSError, DirectReadError):
            self.close()
            raise
        except (ValueError, IndexError) as exc:
            self.close()
            raise DirectReadError(f"POST {path}: a malformed answer ({exc!r})") from None
        logger.debug("POST /%s -> %d (%.1f ms, direct)", path, status, (time.perf_counter() - started) * 1000)
        if "close" in fields.get("connection", "").lower():
            self.close()
        return status, fields, content

    def _post(self, path: str, body: bytes | IO[bytes], length: int) -> tuple[int, dict[str, str], bytes]:
        head = self._origin.request_bytes(path, b"POST", length)
        start = None if isinstance(body, bytes) else body.tell()

        def send(sock: socket.socket) -> None:
            if isinstance(body, bytes):
                if len(body) < CHUNK_SIZE:
                    sock.sendall(head + body)  # one system call for a small file
                else:
                    sock.sendall(head)
                    sock.sendall(body)
                return
            body.seek(start)  # type: ignore[arg-type]  # a file: start is its position
            sock.sendall(head)
            for chunk in _file_chunks(body, length):
                sock.sendall(chunk)

        head_bytes, rest = self._exchange(send)
        sock = self._socket
        assert sock is not None  # open after an exchange
        status, fields = _parse_head(head_bytes)
        if "chunked" in fields.get("transfer-encoding", "").lower():
            content = _read_chunked(sock, rest)
        elif "content-length" in fields:
            content = _read_exactly(sock, rest, int(fields["content-length"]))
        else:  # the answer ends when the server closes the connection
            content = rest + _read_to_end(sock)
            fields["connection"] = "close"
        return status, fields, content

    def _exchange(self, send: Callable[[socket.socket], None]) -> tuple[bytes, bytes]:
        """Sends a request with ``send`` and reads the answer's head (and what came after it). A kept
        connection the server closed meanwhile is reopened once and the request sent again: nothing was
        answered on it."""
        if self._body is not None and self._body.remaining:
            self.close()  # the previous body was not read to its end
        self._body = None
        reused = self._socket is not None
        if self._socket is None:
            self._socket = self._open()
        try:
            send(self._socket)
            return self._read_head(self._socket)
        except ConnectionError:
            if not reused:
                raise
            self.close()
            self._socket = self._open()
            send(self._socket)
            return self._read_head(self._socket)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self._origin.address, timeout=self._origin.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._origin.read_timeout)
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


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the headers (lower-case names) of an answer's head; ``ValueError``/``IndexError`` if it
    is not one."""
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP answer: {lines[0][:40]!r}")
    status = int(lines[0].split(" ", 2)[1])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields


def _file_chunks(file: IO[bytes], length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        chunk = file.read(min(CHUNK_SIZE, left))
        if not chunk:
            raise DirectReadError(f"the file ended {left} bytes before its announced length")
        left -= len(chunk)
        yield chunk


def _read_exactly(sock: socket.socket, buffered: bytes, length: int) -> bytes:
    if len(buffered) > length:
        raise DirectReadError("more bytes than the Content-Length")
    content = bytearray(length)
    view = memoryview(content)
    view[: len(buffered)] = buffered
    filled = len(buffered)
    while filled < length:
        count = sock.recv_into(view[filled:], min(length - filled, _READ_SIZE))
        if not count:
            raise ConnectionResetError("connection closed in the body")
        filled += count
    return bytes(content)


def _read_to_end(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(_READ_SIZE):
        parts.append(chunk)
    return b"".join(parts)


def _read_chunked(sock: socket.socket, buffered: bytes) -> bytes:
    """A chunked body (a proxy in front of Orthanc may send one): the chunks' data, trailers dropped."""
    data = bytearray(buffered)
    position = 0
    content = bytearray()

    def need(count: int) -> None:
        while len(data) - position < count:
            chunk = sock.recv(_READ_SIZE)
            if not chunk:
                raise ConnectionResetError("connection closed in a chunked body")
            data.extend(chunk)

    def line() -> bytes:
        nonlocal position
        while (end := data.find(b"\r\n", position)) < 0:
            need(len(data) - position + 1)
        text, position = bytes(data[position:end]), end + 2
        return text

    while True:
        size = int(line().split(b";", 1)[0], 16)
        if size == 0:
            while line():  # trailers, up to the empty line
                pass
            return bytes(content)
        need(size + 2)
        content += data[position : position + size]
        position += size + 2
