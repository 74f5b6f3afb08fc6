"""HTTP/1.1 for the bulk paths, on the standard library's ``http.client``, with a small pool of its own: many
GETs of binary answers read straight into the caller's memory (the instance files behind ``Series.to_numpy``),
and many POSTs of DICOM files (``upload``), over ``http://`` and ``https://`` alike.

Why not the client's httpx pool: on a 2-core machine that also runs Orthanc, the client's CPU per request
competes with the server's, and httpx hands a body out in 64 KB chunks, each through h11, httpcore and httpx
and then copied again. ``http.client`` reads a body with ``readinto`` straight into the target and parses the
protocol (1xx answers, chunked bodies, HTTP/1.0, TLS) in C or in a few lines. Measured (``bench``, GETs of
100 x 526 KB and POSTs of 100 KB files): see ``bench/bench_transport.py``.

A ``DirectOrigin`` sends what the client would send (path prefix, headers, basic or bearer credentials,
timeouts, TLS verification), so it is used only when it can (``direct_origin``): not with a caller's own httpx
client, event hooks, an authentication flow other than basic, cookies or an environment proxy.

What it guarantees beyond ``http.client``:

- informational answers (``100 Continue``, ``103 Early Hints``, asked for or not) are skipped, never taken
  for the answer, and never make it wait;
- two ``Content-Length`` headers that disagree are refused; no more memory than what has arrived is ever
  reserved for a body (it grows in steps of at most 1 MB, whatever a server announces);
- header values holding CR, LF or NUL are refused before anything is sent (``InvalidInputError``);
- writes use the write timeout, reads the read timeout;
- an answer the server sends before it read the whole body (an early ``413``) is reported, not lost;
- a request is sent again (once, on a new connection) only when a kept connection turned out to be closed
  before any answer came, and only when a duplicate is harmless: GETs, and POSTs the caller marks
  ``idempotent`` (``POST /instances`` stores the same instance again).

For a GET, anything it does not expect (a status other than 200, a redirect included, a chunked or encoded
answer, a broken connection) raises ``DirectReadError``; the caller then asks again through the client, which
retries what can be retried and raises the typed errors (``RedirectError`` for a 3xx...). A POST returns any
complete answer; a broken connection raises ``OSError``, an answer that is not HTTP ``DirectProtocolError``.
"""

from __future__ import annotations

import errno
import http.client
import logging
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import httpx

from ..errors import InvalidInputError
from ..settings import CHUNK_SIZE
from ..tls import tls_context

logger = logging.getLogger("orthanc_client")

_READ_SIZE = 1 << 20  # the most reserved at once for a body: what a server announces is not trusted
IDLE_EXPIRY = 0.5  # seconds: Orthanc closes idle connections after 1 s ("Keep-Alive: timeout=1")
_FORBIDDEN_IN_HEADERS = frozenset("\r\n\0")
_F_SETPIPE_SZ = 1031  # Linux's (fcntl.F_SETPIPE_SZ from Python 3.10; fcntl is not on Windows)
_PIPE_SIZE = 1 << 20  # the most an unprivileged process may ask (/proc/sys/fs/pipe-max-size)


class DirectReadError(Exception):
    """The direct read could not be done; ask through the client instead."""


class DirectProtocolError(DirectReadError):
    """The server's answer was not valid HTTP (or contradicted itself, e.g. two ``Content-Length``)."""


def direct_origin(
    http_client: httpx.Client | httpx.AsyncClient,
    *,
    owns_transport: bool,
    verify: Any = True,
    max_connections: int = 32,
) -> DirectOrigin | None:
    """Connections sending exactly what ``http_client`` would, or ``None`` when that is not possible (module doc).

    ``verify`` is what the client gave httpx (``True``, ``False``, a CA bundle path or an ``ssl.SSLContext``).
    Raises ``InvalidInputError`` for a header value that holds CR, LF or NUL (header injection)."""
    if not owns_transport or any(http_client.event_hooks.values()) or http_client.cookies:
        return None
    auth = http_client.auth
    if auth is not None and type(auth) is not httpx.BasicAuth:
        return None
    base_url = http_client.base_url
    if base_url.scheme not in ("http", "https") or not base_url.host or _environment_proxy_applies(base_url):
        return None
    headers = httpx.Headers(http_client.headers)
    headers["Accept-Encoding"] = "identity"
    headers["Host"] = base_url.netloc.decode("ascii")
    if auth is not None:
        # BasicAuth's flow sets one header and needs no answer: run it once here, not once per request.
        authorized = next(auth.sync_auth_flow(httpx.Request("GET", base_url)))
        headers["Authorization"] = authorized.headers["Authorization"]
    context = tls_context(verify) if base_url.scheme == "https" else None
    return DirectOrigin(base_url, headers, http_client.timeout, context, max_connections=max_connections)


def _environment_proxy_applies(url: httpx.URL) -> bool:
    """Whether ``HTTP(S)_PROXY``/``ALL_PROXY`` (which httpx honours) would route ``url`` through a proxy."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    return not urllib.request.proxy_bypass_environment(host, proxies)  # type: ignore[attr-defined]  # not in typeshed


class _Response(http.client.HTTPResponse):
    """``http.client``'s answer, skipping every informational (1xx) answer, not only ``100 Continue``.
    ``raw_socket``: the connection's socket (``http.client`` forgets it once an answer will close)."""

    raw_socket: socket.socket | None = None

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]  # private, stable since 3.0
        if 100 < status < 200 and status != 101:
            return version, 100, reason  # ``begin`` then skips its headers and reads the next answer
        return version, status, reason


class _OneWrite(http.client.HTTPConnection):
    """Sends the head and a bytes body of up to ``CHUNK_SIZE`` in one write, where ``http.client`` makes two:
    over TLS that is one ``SSL_write`` instead of a small record for the head and another for the body, and
    the server (or nginx) reads the request in one go. Copying 100 KB costs less than the second write."""

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if isinstance(message_body, bytes) and not encode_chunked and len(message_body) < CHUNK_SIZE:
            buffer: list[bytes] = self._buffer  # type: ignore[attr-defined]  # http.client's, stable since 3.0
            buffer.extend((b"", b""))
            head = b"\r\n".join(buffer)
            del buffer[:]
            self.send(head + message_body)
            return
        super()._send_output(message_body, encode_chunked)  # type: ignore[misc]  # private, as above


class _HTTPConnection(_OneWrite):
    response_class = _Response


class _HTTPSConnection(_OneWrite, http.client.HTTPSConnection):
    response_class = _Response


class DirectOrigin:
    """A bounded pool of connections to one server, shared by threads.

    ``connect()`` gives a handle for one thread; each request on it takes a connection from the pool (an idle
    one younger than ``IDLE_EXPIRY``, or a new one) and gives it back once its answer was read whole. At most
    ``max_connections`` are open at once (a thread waits, up to the client's pool timeout, for one to free up).

    Example::

        origin = direct_origin(client.http_client, owns_transport=True)
        with origin.connect() as connection:
            body = connection.get(f"instances/{instance_id}/file")
            first = body.read(4096)           # what has arrived, at most 4096 bytes
            preamble = bytearray(128)
            body.readinto(memoryview(preamble))  # exactly len(view) bytes
            body.discard()                    # the rest, so the connection can be reused
        origin.close()
    """

    def __init__(
        self,
        base_url: httpx.URL,
        headers: httpx.Headers,
        timeout: httpx.Timeout,
        context: ssl.SSLContext | None = None,
        *,
        max_connections: int = 32,
    ) -> None:
        self.address = (base_url.host, base_url.port or (443 if context is not None else 80))
        self.tls = context is not None
        self._context = context
        self._prefix = base_url.raw_path.decode("ascii")  # ends with "/": relative paths keep a path prefix
        # names as given (``multi_items`` lower-cases them)
        self._headers = _checked_headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in headers.raw)
        self.connect_timeout = timeout.connect
        self.read_timeout = timeout.read
        self.write_timeout = timeout.write
        self.pool_timeout = timeout.pool
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: list[tuple[float, http.client.HTTPConnection]] = []
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"DirectOrigin(address={self.address!r}, scheme={scheme!r})"  # never the headers: credentials

    def connect(self) -> DirectConnection:
        return DirectConnection(self)

    def close(self) -> None:
        """Closes the idle connections; those in use close when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for _, connection in idle:
            connection.close()

    def target(self, path: str) -> str:
        return self._prefix + urllib.parse.quote(path)

    # The pool. A slot is held from ``_take`` to ``_give_back``/``_discard``.
    def _take(self, *, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was kept from an earlier request; ``fresh``: a new one, the idle
        ones closed."""
        if not self._slots.acquire(timeout=self.pool_timeout):  # None: as long as it takes
            raise TimeoutError(f"no free connection among the pool's to {self.address} (pool timeout)")
        now = time.monotonic()
        with self._lock:
            while self._idle:
                since, connection = self._idle.pop()
                if now - since < IDLE_EXPIRY and not fresh:
                    return connection, True
                connection.close()  # the server may be closing it: never send on it
        return self._new(), False

    def _new(self) -> http.client.HTTPConnection:
        host, port = self.address
        if self._context is None:
            return _HTTPConnection(host, port, timeout=self.connect_timeout)
        return _HTTPSConnection(host, port, timeout=self.connect_timeout, context=self._context)

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        if connection.sock is None:  # closed by the answer (Connection: close, HTTP/1.0, read to its end)
            self._slots.release()
            return
        with self._lock:
            if not self._closed:
                self._idle.append((time.monotonic(), connection))
                connection = None  # type: ignore[assignment]  # kept
        if connection is not None:
            connection.close()
        self._slots.release()

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._slots.release()

    def exchange(
        self, method: str, path: str, body: bytes | IO[bytes] | None = None, length: int = 0,
        *, idempotent: bool = False, headers: Mapping[str, str] | None = None,
    ) -> tuple[http.client.HTTPConnection, _Response]:
        """Sends a request and reads the head of its (final) answer; the caller reads the body and gives the
        connection back. A kept connection closed before any answer came is replaced, and the request sent
        again, once and only if ``idempotent``. ``headers`` replace the client's headers of the same names."""
        target = self.target(path)
        sent_headers = self._headers
        if headers:
            replaced = {name.lower() for name in headers}
            sent_headers = [(n, v) for n, v in self._headers if n.lower() not in replaced]
            sent_headers += _checked_headers(headers.items())
        start = None if body is None or isinstance(body, bytes) else body.tell()
        fresh = False
        while True:
            connection, reused = self._take(fresh=fresh)
            try:
                response = self._send(connection, method, target, body, start, length, sent_headers)
            except _NothingAnswered as nothing:
                self._discard(connection)
                if reused and idempotent:
                    fresh = True  # once, on a new connection: the other idle ones may be as dead
                    continue
                raise nothing.error from None
            except http.client.HTTPException as exc:  # whatever http.client refuses: never a raw error
                self._discard(connection)
                raise DirectProtocolError(f"{method} {target}: {exc!r}") from None
            except BaseException:
                self._discard(connection)
                raise
            return connection, response

    def _send(
        self, connection: http.client.HTTPConnection, method: str, target: str,
        body: bytes | IO[bytes] | None, start: int | None, length: int, headers: list[tuple[str, str]],
    ) -> _Response:
        if connection.sock is None:
            connection.connect()  # with the connect timeout
        sock = connection.sock
        sock.settimeout(self.write_timeout)
        sent = False
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(length))
            if isinstance(body, bytes) and length < CHUNK_SIZE:
                connection.endheaders(body)  # one system call for a small file
            else:
                connection.endheaders()
                if isinstance(body, bytes):
                    connection.send(body)
                elif body is not None:
                    body.seek(start)  # type: ignore[arg-type]  # a file: start is its position
                    for chunk in _file_chunks(body, length):
                        connection.send(chunk)
            sent = True
        except OSError as exc:
            # The server may have answered before reading the whole body (an early 413) and closed, or
            # stopped reading: read what it said. A timeout is never sent again.
            early = self._early_answer(connection)
            if early is not None:
                return early
            if isinstance(exc, TimeoutError):
                raise
            raise _NothingAnswered(exc) from None
        sock.settimeout(self.read_timeout)
        try:
            response: _Response = connection.getresponse()  # type: ignore[assignment]  # our response_class
            response.raw_socket = sock
        except http.client.RemoteDisconnected as exc:  # closed without a byte of an answer
            raise _NothingAnswered(ConnectionResetError(f"the server closed the connection: {exc}")) from None
        except ConnectionResetError as exc:
            raise _NothingAnswered(exc) from None
        except (http.client.HTTPException, ValueError) as exc:
            raise DirectProtocolError(f"{method} {target}: not an HTTP answer ({exc!r})") from None
        assert sent
        _check_lengths(response)
        return response

    def _early_answer(self, connection: http.client.HTTPConnection) -> _Response | None:
        sock = connection.sock
        if sock is None:
            return None
        try:
            sock.settimeout(min(self.read_timeout or 1.0, 1.0))
            response: _Response = connection.getresponse()  # type: ignore[assignment]  # our response_class
            _check_lengths(response)
        except (OSError, http.client.HTTPException, ValueError, DirectReadError):
            return None
        response.will_close = True  # the body was not sent whole: this connection cannot carry another request
        return response


def _checked_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    checked = []
    for name, value in headers:
        if _FORBIDDEN_IN_HEADERS.intersection(name) or _FORBIDDEN_IN_HEADERS.intersection(value):
            # Only the name: the value may be a credential.
            raise InvalidInputError(f"header {name!r} holds a CR, LF or NUL character (header injection)")
        checked.append((name, value))
    return checked


class _NothingAnswered(Exception):
    """The connection broke before the server sent a byte of an answer (the server may have read the request)."""

    def __init__(self, error: OSError) -> None:
        self.error = error


def _check_lengths(response: http.client.HTTPResponse) -> None:
    """``http.client`` takes the first of several ``Content-Length`` and reads a malformed one as "until the
    server closes": both are refused (a body framed two ways is how answers get mixed up)."""
    lengths = {value.strip() for value in response.headers.get_all("Content-Length") or ()}
    if len(lengths) > 1:
        response.close()
        raise DirectProtocolError(f"conflicting Content-Length headers: {sorted(lengths)}")
    if lengths and not next(iter(lengths)).isdigit():
        response.close()
        raise DirectProtocolError(f"malformed Content-Length header: {next(iter(lengths))!r}")


class DirectConnection:
    """One thread's handle on a ``DirectOrigin``: one request at a time, its answer read before the next."""

    def __init__(self, origin: DirectOrigin) -> None:
        self._origin = origin
        self._body: Body | None = None

    def __enter__(self) -> DirectConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Ends the current body, if any: its connection is closed when not read to its end."""
        if self._body is not None:
            self._body.release()
            self._body = None

    def get(self, path: str) -> Body:
        """Sends ``GET <prefix><path>`` and reads the answer's head. Raises ``DirectReadError`` unless the
        answer is a 200 with a Content-Length and no content or transfer encoding."""
        self.close()
        started = time.perf_counter()
        try:
            connection, response = self._origin.exchange("GET", path, idempotent=True)
        except DirectReadError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:  # socket errors, timeouts, TLS
            raise DirectReadError(f"GET {path}: {exc!r}") from None
        status = response.status
        logger.debug("GET /%s -> %d (%.1f ms, direct)", path, status, (time.perf_counter() - started) * 1000)
        reason = None
        if status != 200:
            reason = f"HTTP {status}"
        elif response.chunked or response.getheader("Content-Encoding", "identity").lower() != "identity":
            reason = "encoded answer"
        elif response.length is None:
            reason = "no Content-Length"
        if reason is not None:
            response.close()
            self._origin._discard(connection)
            raise DirectReadError(f"GET {path}: {reason}")
        self._body = Body(self._origin, connection, response)
        return self._body

    def stream(self, path: str, headers: Mapping[str, str]) -> Stream:
        """Sends ``GET <prefix><path>`` with ``headers`` and returns the body of its answer as a stream, whatever
        its framing (a Content-Length, chunked, or until the server closes): for answers parsed as they arrive
        (WADO-RS ``multipart/related``). Raises ``DirectReadError`` unless the answer is a 200 with no content
        encoding (the caller then asks through the client, which raises the typed errors)."""
        self.close()
        started = time.perf_counter()
        try:
            connection, response = self._origin.exchange("GET", path, idempotent=True, headers=headers)
        except DirectReadError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:  # socket errors, timeouts, TLS
            raise DirectReadError(f"GET {path}: {exc!r}") from None
        logger.debug("GET /%s -> %d (%.1f ms, direct)", path, response.status, (time.perf_counter() - started) * 1000)
        if response.status != 200 or response.getheader("Content-Encoding", "identity").lower() != "identity":
            response.close()
            self._origin._discard(connection)
            raise DirectReadError(f"GET {path}: HTTP {response.status}")
        stream = Stream(self._origin, connection, response)
        self._body = stream
        return stream


class Body:
    """The body of one answer, read in order: ``read`` some bytes, ``readinto`` a buffer, ``discard`` the rest.
    A failure raises ``DirectReadError`` and closes the connection."""

    def __init__(self, origin: DirectOrigin, connection: http.client.HTTPConnection, response: _Response) -> None:
        self._origin = origin
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self.length: int = response.length or 0
        self.remaining = self.length
        self.keep_alive = not response.will_close
        if not self.remaining:
            self.release()

    def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one, unless the body is over): what is buffered or has arrived."""
        if not self.remaining:
            return b""
        try:
            data = self._response.read1(min(limit, self.remaining, _READ_SIZE))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._fail(repr(exc))
        if not data:
            self._fail("connection closed in the body")
        self._consumed(len(data))
        return data

    def readinto(self, target: memoryview) -> None:
        """Fills ``target`` (a writable byte view) with the next ``len(target)`` bytes of the body."""
        size = target.nbytes
        if size > self.remaining:
            self._fail(f"{size} bytes wanted, {self.remaining} left in the answer")
        filled = 0
        view = target.cast("B") if target.format != "B" else target
        try:
            while filled < size:
                count = self._response.readinto(view[filled:])
                if not count:
                    self._fail("connection closed in the body")
                filled += count
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._fail(repr(exc))
        self._consumed(size)

    def discard(self) -> None:
        """Reads and drops what is left, so that the connection can serve the next request."""
        if self.remaining > _READ_SIZE:  # cheaper to open a new connection than to read it all
            self._fail(None)
        if self.remaining:
            self.readinto(memoryview(bytearray(self.remaining)))

    def release(self) -> None:
        """Gives the connection back to the pool (closed first unless the body was read to its end)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        self._response.close()  # its file only: a kept socket stays open
        if self.remaining or not self.keep_alive:
            self._origin._discard(connection)
        else:
            self._origin._give_back(connection)

    def _consumed(self, count: int) -> None:
        self.remaining -= count
        if not self.remaining:
            self.release()

    def _fail(self, reason: str | None) -> Any:
        self.remaining = max(self.remaining, 1)  # never give a half-read connection back
        self.release()
        self.remaining = 0
        if reason is not None:
            raise DirectReadError(reason)


class Stream(Body):
    """The body of a ``DirectConnection.stream`` answer, of any framing, read in order by a parser: ``read``
    (exactly ``size`` bytes unless the body ends first), ``read1`` (what has arrived), ``readline``.
    ``received`` counts the bytes read. Failures raise ``DirectReadError`` and close the connection; the end of
    the body is ``b""`` (the caller tells a complete body from a cut one by its content)."""

    def __init__(self, origin: DirectOrigin, connection: http.client.HTTPConnection, response: _Response) -> None:
        self._origin = origin
        self._connection = connection
        self._response = response
        self.length = response.length or 0
        self.remaining = 1  # unknown until the body ends: never given back half-read
        self.keep_alive = not response.will_close
        self.received = 0
        self._can_splice: bool | None = None
        self._pipe: tuple[int, int] | None = None

    def header(self, name: str) -> str:
        return self._response.getheader(name, "") or ""

    def read(self, size: int) -> bytes:  # exactly size bytes, unlike Body.read
        return self._call(self._response.read, size)

    def read1(self, size: int) -> bytes:
        return self._call(self._response.read1, size)

    def readline(self, limit: int) -> bytes:
        return self._call(self._response.readline, limit)

    @property
    def can_splice(self) -> bool:
        """Whether ``splice_to`` can move bytes: a body read as it comes off a plain TCP socket (not TLS, not
        chunked), on Linux, until a file refused it."""
        if self._can_splice is None:
            sock = self._response.raw_socket
            self._can_splice = (
                hasattr(os, "splice")
                and sock is not None
                and not isinstance(sock, ssl.SSLSocket)
                and not self._response.chunked
            )
        return self._can_splice

    def splice_to(self, file: int, count: int) -> int:
        """Moves the next ``count`` bytes of the body into the file descriptor ``file`` and returns how many it
        moved: fewer at the end of the body, or when the file refused ``splice(2)`` (``can_splice`` is then
        False, and the caller reads the rest). The bytes go from the socket to the file through a pipe, in the
        kernel: they are never copied into Python's memory, which saves a third of the CPU of a WADO-RS save.
        The connection is not reused afterwards (``http.client`` no longer knows where its answer stands)."""
        self.keep_alive = False
        response = self._response
        if response.fp is None:  # the body is over
            return 0
        moved = 0
        try:
            # what http.client has buffered comes first (peek reads at most its buffer's size, 8 KB, if empty)
            buffered = response.fp.peek(0)
            if buffered:
                chunk = response.fp.read1(min(count, len(buffered)))
                write_all(file, chunk)
                moved += len(chunk)
                while moved < count and self._can_splice:
                    step = self._splice(file, count - moved)
                    if step == 0:
                        break
                    moved += step
        except (OSError, ValueError) as exc:
            self._fail(repr(exc))
        finally:
            self.received += moved
            if response.length is not None:  # read behind http.client's back: keep its count right
                response.length -= moved
        return moved

    def _splice(self, file: int, count: int) -> int:
        """One move of up to a pipe's size; 0 at the end of the body or when the file refuses splice."""
        sock = self._response.raw_socket
        assert sock is not None
        if self._pipe is None:
            self._pipe = os.pipe()
            try:
                import fcntl  # splice is Linux's: so is this

                fcntl.fcntl(self._pipe[1], _F_SETPIPE_SZ, _PIPE_SIZE)
            except OSError:  # over the system's limit: the default 64 KB pipe works, in more steps
                pass
        read_end, write_end = self._pipe
        while True:
            try:
                received = os.splice(sock.fileno(), write_end, count)
                break
            except BlockingIOError:  # Python's timeouts make the socket non-blocking: wait as recv would
                self._wait_readable(sock)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    self._can_splice = False
                    return 0
                raise
        written = 0
        while written < received:
            try:
                written += os.splice(read_end, file, received - written)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                self._can_splice = False  # this file system takes no splice: the pipe's bytes by hand
                while written < received:
                    data = os.read(read_end, received - written)
                    write_all(file, data)
                    written += len(data)
        return received

    def _wait_readable(self, sock: socket.socket) -> None:
        timeout = sock.gettimeout()
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        if not poller.poll(None if timeout is None else timeout * 1000):
            raise TimeoutError("timed out")

    def release(self) -> None:
        if self._pipe is not None:
            for end in self._pipe:
                os.close(end)
            self._pipe = None
        super().release()

    def readinto1(self, target: memoryview) -> int:
        """Fills ``target`` with what arrives, up to its size; ``0`` at the end of the body. Unlike ``read``,
        allocates nothing: a caller that writes each piece at once (``save_study``) reuses one buffer."""
        try:
            count = self._response.readinto(target)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._fail(repr(exc))
        self.received += count
        if not count and target.nbytes:
            self.remaining = 0 if self._response.isclosed() else 1
            self.release()
        return count

    def _call(self, method: Any, size: int) -> bytes:
        try:
            data: bytes = method(size)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._fail(repr(exc))
        self.received += len(data)
        if not data and size:
            self.remaining = 0 if self._response.isclosed() else 1  # read to its end: reusable if kept alive
            self.release()
        return data


def post(
    origin: DirectOrigin, path: str, body: bytes | IO[bytes], length: int, *, idempotent: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """Sends ``POST <prefix><path>`` with ``body`` (bytes, or a binary file sent from its current position,
    ``length`` bytes) and returns the answer's status, headers (lower-case names) and whole body, whatever the
    status. Failures raise ``OSError`` (``TimeoutError`` for a timeout; ``ssl.SSLError`` for TLS) or
    ``DirectProtocolError`` (an answer that is not HTTP). See ``DirectOrigin.exchange`` for re-sends."""
    started = time.perf_counter()
    connection, response = origin.exchange("POST", path, body, length, idempotent=idempotent)
    try:
        content = _read_whole(response)
    except (http.client.HTTPException, ValueError) as exc:
        origin._discard(connection)
        raise DirectProtocolError(f"POST {path}: a malformed answer body ({exc!r})") from None
    except BaseException:
        origin._discard(connection)
        raise
    response.close()  # its file only: a kept socket stays open
    if response.will_close:
        origin._discard(connection)
    else:
        origin._give_back(connection)
    logger.debug("POST /%s -> %d (%.1f ms, direct)", path, response.status, (time.perf_counter() - started) * 1000)
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        headers.setdefault(name.lower(), value)
    return response.status, headers, content


def _read_whole(response: http.client.HTTPResponse) -> bytes:
    """The whole body, in steps of at most 1 MB: a server announcing 2 GB and sending 1 byte costs 1 MB."""
    if response.length is not None and not response.chunked:
        parts: list[bytes] = []
        left = response.length
        while left > 0:
            part = response.read(min(left, _READ_SIZE))
            if not part:
                raise http.client.IncompleteRead(b"".join(parts), left)
            parts.append(part)
            left -= len(part)
        return b"".join(parts)
    content = bytearray()  # chunked, or until the server closes (length-less): as it arrives
    while part := response.read1(_READ_SIZE):
        content += part
    return bytes(content)


def _file_chunks(file: IO[bytes], length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        chunk = file.read(min(CHUNK_SIZE, left))
        if not chunk:
            raise DirectReadError(f"the file ended {left} bytes before its announced length")
        left -= len(chunk)
        yield chunk


def write_all(file: int, data: bytes | memoryview) -> None:
    """Writes all of ``data`` to the file descriptor ``file`` (``os.write`` may write less, on a full disk or a
    signal; for a regular file it writes everything in one call)."""
    view = memoryview(data)
    while view:
        view = view[os.write(file, view) :]
