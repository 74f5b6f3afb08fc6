"""The bulk fast path (``_core.fastpath.connections``) on every protocol case of issues 14 and 13 (part 7), each against a
tiny threaded socket server scripted to misbehave the way a real server or proxy can: informational answers,
conflicting lengths, HTTP/1.0, length-less answers, writes that stall, header injection, huge announced
lengths, an early 413, connections closed after the request was read, garbage, redirects, the pool's bounds."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from orthanc_client import (
    ConnectError,
    HTTPError,
    InvalidInputError,
    Orthanc,
    ProtocolError,
    RedirectError,
    RequestTimeoutError,
    UnexpectedAnswerError,
    upload,
)
from orthanc_client._bulk.fast_files import fetch_file
from orthanc_client._core.fastpath.connections import DirectOrigin, DirectReadError, direct_origin
from orthanc_client._core.fastpath.posts import DirectPoster, direct_poster
from orthanc_client.testing.dicom import make_study, to_bytes

Handler = Callable[["RawServer", socket.socket], None]
OK_JSON = b'{"ID": "a", "Status": "Success"}'


class RawServer:
    """Accepts connections on a loopback port and hands each to ``handler`` in a thread of its own; counts
    connections and requests (``read_request``)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(connection)
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        try:
            self.handler(self, connection)
        except OSError:
            pass
        finally:
            connection.close()

    def read_request(self, connection: socket.socket, *, body: bool = True) -> tuple[bytes, bytes] | None:
        """The next request's head and (when ``body``) its body; ``None`` when the client closed."""
        received = b""
        while b"\r\n\r\n" not in received:
            data = connection.recv(65536)
            if not data:
                return None
            received += data
        head, _, rest = received.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if body:
            while len(rest) < length:
                data = connection.recv(1 << 20)
                if not data:
                    return None
                rest += data
        self.requests.append((head, rest))
        return head, rest

    def close(self) -> None:
        self._listener.close()
        for connection in self._open:
            connection.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answer(body: bytes, *, status: bytes = b"200 OK", extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return version + b" " + status + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body


def keep_answering(response: bytes) -> Handler:
    def handler(server: RawServer, connection: socket.socket) -> None:
        while server.read_request(connection) is not None:
            connection.sendall(response)

    return handler


def poster_for(server: RawServer, timeout: float | httpx.Timeout = 5) -> DirectPoster:
    http = httpx.Client(base_url=server.url, auth=("user", "secret"), timeout=timeout)
    poster = direct_poster(http, owns_transport=True)
    assert poster is not None
    return poster


def origin_for(server: RawServer, timeout: float = 5, max_connections: int = 32) -> DirectOrigin:
    origin = direct_origin(httpx.Client(base_url=server.url, timeout=timeout), owns_transport=True,
                           max_connections=max_connections)
    assert origin is not None
    return origin


@pytest.mark.parametrize("informational", [b"100 Continue", b"103 Early Hints\r\nLink: </style.css>", b"102 Processing"])
def test_an_unsolicited_informational_answer_is_skipped_at_once(
    serve: Callable[[Handler], RawServer], informational: bytes
) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        while server.read_request(connection) is not None:
            connection.sendall(b"HTTP/1.1 " + informational + b"\r\n\r\n")
            time.sleep(0.05)
            connection.sendall(answer(OK_JSON))

    server = serve(handler)
    poster = poster_for(server, timeout=20)
    started = time.monotonic()
    assert poster.post("instances", b"x", 1) == {"ID": "a", "Status": "Success"}
    with origin_for(server, timeout=20).connect() as connection:
        assert connection.get("x").read(100) == OK_JSON
    assert time.monotonic() - started < 5  # not the 20 s read timeout
    assert server.connections == 2 and len(server.requests) == 2  # the connection kept after the 1xx
    poster.close()


def test_conflicting_content_lengths_are_refused(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(keep_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 32\r\n\r\n" + OK_JSON))
    poster = poster_for(server)
    with pytest.raises(ProtocolError, match="conflicting Content-Length"):
        poster.post("instances", b"x", 1)
    with origin_for(server).connect() as connection, pytest.raises(DirectReadError, match="Content-Length"):
        connection.get("x")
    same = serve(keep_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 32\r\nContent-Length: 32\r\n\r\n" + OK_JSON))
    assert poster_for(same).post("instances", b"x", 1)["ID"] == "a"  # the same value twice is one length
    malformed = serve(keep_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n" + OK_JSON))
    with pytest.raises(ProtocolError, match="malformed Content-Length"):
        poster_for(malformed).post("instances", b"x", 1)


@pytest.mark.parametrize(("extra", "kept"), [(b"", False), (b"Connection: keep-alive\r\n", True)])
def test_http_1_0_without_keep_alive_is_a_closed_connection(
    serve: Callable[[Handler], RawServer], extra: bytes, kept: bool
) -> None:
    # The server leaves the connection open: a client taking HTTP/1.0 for keep-alive would send on it
    # and wait for an answer that never comes.
    def handler(server: RawServer, connection: socket.socket) -> None:
        if server.read_request(connection) is not None:
            connection.sendall(answer(OK_JSON, version=b"HTTP/1.0", extra=extra))
        if kept and server.read_request(connection) is not None:
            connection.sendall(answer(OK_JSON, version=b"HTTP/1.0", extra=extra))
        time.sleep(3)

    server = serve(handler)
    poster = poster_for(server, timeout=2)
    for _ in range(2):
        assert poster.post("instances", b"x", 1)["Status"] == "Success"
    poster.close()
    assert server.connections == (1 if kept else 2)


def test_a_length_less_answer_is_read_until_close_and_never_reused(serve: Callable[[Handler], RawServer]) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        if server.read_request(connection) is not None:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + OK_JSON)

    server = serve(handler)
    poster = poster_for(server)
    for _ in range(2):
        assert poster.post("instances", b"x", 1)["ID"] == "a"
    assert server.connections == 2
    with origin_for(server).connect() as connection, pytest.raises(DirectReadError, match="no Content-Length"):
        connection.get("x")  # a GET wants a length: the client path reads it instead


def test_writes_use_the_write_timeout(serve: Callable[[Handler], RawServer]) -> None:
    stop = threading.Event()

    def handler(server: RawServer, connection: socket.socket) -> None:
        server.read_request(connection, body=False)
        stop.wait(30)  # reads nothing more: the client's writes stall once the buffers are full

    server = serve(handler)
    poster = poster_for(server, timeout=httpx.Timeout(30, write=0.5))
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        poster.post("tools/upload", b"x" * (64 << 20), 64 << 20)
    stop.set()
    assert time.monotonic() - started < 10  # the write timeout, not the 30 s read timeout
    assert len(server.requests) == 1  # a timeout is never sent again


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nInjected: 1", "a\r\n folded", "a\0b"])
def test_header_values_with_cr_lf_or_nul_are_refused(value: str) -> None:
    with Orthanc("http://127.0.0.1:1", headers={"X-Custom": value}) as client:
        with pytest.raises(InvalidInputError, match="X-Custom") as caught:
            client._direct_poster()
        assert value not in str(caught.value)
        with pytest.raises(InvalidInputError):
            client._direct_origin()


def test_a_huge_announced_length_reserves_only_what_arrived(serve: Callable[[Handler], RawServer]) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        if server.read_request(connection) is not None:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n{")

    server = serve(handler)
    poster = poster_for(server)
    tracemalloc.start()
    try:
        with pytest.raises((ProtocolError, ConnectError)):
            poster.post("instances", b"x", 1)
        with origin_for(server).connect() as connection:
            body = connection.get("x")
            assert body.length == 2_000_000_000 and body.read(1 << 30) == b"{"
            with pytest.raises(DirectReadError):
                body.read(10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


@pytest.mark.parametrize("linger", [True, False], ids=["lingering close", "abrupt close"])
def test_an_early_413_is_reported_and_not_sent_again(serve: Callable[[Handler], RawServer], linger: bool) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        while True:
            request = server.read_request(connection, body=False)
            if request is None:
                return
            if b"Content-Length: 1\r\n" in request[0] + b"\r\n":  # the first, small post: answered normally
                if not request[1]:  # the body came after the head
                    connection.recv(1)
                connection.sendall(answer(OK_JSON))
                continue
            message = b'{"Message": "too large"}'
            connection.sendall(answer(message, status=b"413 Payload Too Large", extra=b"Connection: close\r\n"))
            if linger:  # as nginx: stop sending, drain for a while, then close
                connection.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + 1
                while time.monotonic() < deadline and connection.recv(1 << 20):
                    pass
            return

    server = serve(handler)
    poster = poster_for(server)
    assert poster.post("instances", b"x", 1)["ID"] == "a"  # then the 413 comes on a kept connection
    with pytest.raises(HTTPError) as caught:
        poster.post("instances", b"x" * (32 << 20), 32 << 20)
    assert caught.value.status_code == 413
    assert len(server.requests) == 2 and server.connections == 1


def test_only_idempotent_posts_are_sent_again_on_a_connection_closed_without_answer(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        if server.read_request(connection) is not None:
            connection.sendall(answer(OK_JSON))
        server.read_request(connection)  # the second request is read, then the connection closes unanswered

    server = serve(handler)
    poster = poster_for(server)
    assert poster.post("tools/find", b"{}", 2)["ID"] == "a"
    with pytest.raises(ConnectError):
        poster.post("tools/find", b"{}", 2)  # Orthanc may have acted on it: never twice
    assert len(server.requests) == 2

    server = serve(handler)
    poster = poster_for(server)
    assert poster.post("instances", b"x", 1)["ID"] == "a"
    assert poster.post("instances", b"y", 1)["ID"] == "a"  # stored again at worst: sent once more
    assert [body for _, body in server.requests] == [b"x", b"y", b"y"] and server.connections == 2


def test_a_garbage_answer_is_posted_again_at_most_once_per_file(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(keep_answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"))
    with pytest.raises(ProtocolError):
        poster_for(server).post("instances", b"x", 1)
    server.requests.clear()
    files = [to_bytes(ds) for ds in make_study(1, 2, patient_id="GARBAGE")]
    with Orthanc(server.url) as client:
        result = upload(client, files, retry_for=10, progress=False)
    assert len(result.failed) == 2 and not result.stored
    assert all(item.attempts == 2 for item in result.failed)
    # the version asked first (ZIPs need 1.8.2: garbage, so each file goes alone), then two posts per file
    posts = [request for request in server.requests if request[0].startswith(b"POST ")]
    assert len(posts) == 4 and all(request[0].startswith(b"GET /system ") for request in server.requests[:1])


def test_html_where_json_is_due_is_an_unexpected_answer(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(keep_answering(answer(b"<html>login</html>", extra=b"Content-Type: text/html\r\n")))
    with pytest.raises(UnexpectedAnswerError, match="not JSON") as caught:
        poster_for(server).post("instances", b"x", 1)
    assert caught.value.content_type == "text/html" and not isinstance(caught.value, ProtocolError)


def test_a_redirect_is_never_a_success(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(keep_answering(answer(b"", status=b"302 Found", extra=b"Location: /login\r\n")))
    with pytest.raises(RedirectError) as caught:
        poster_for(server).post("instances", b"x", 1)
    assert caught.value.status_code == 302 and caught.value.location is not None
    with origin_for(server).connect() as connection, pytest.raises(DirectReadError, match="HTTP 302"):
        connection.get("instances/x/file")  # the caller asks the client, which raises the typed error


def test_the_pool_is_bounded_and_idle_connections_expire(serve: Callable[[Handler], RawServer]) -> None:
    def slow(server: RawServer, connection: socket.socket) -> None:
        while server.read_request(connection) is not None:
            time.sleep(0.02)
            connection.sendall(answer(OK_JSON))

    server = serve(slow)
    http = httpx.Client(base_url=server.url)
    poster = direct_poster(http, owns_transport=True, max_connections=2)
    assert poster is not None
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: poster.post("instances", b"x", 1), range(24)))
    assert len(server.requests) == 24 and server.connections <= 2
    before = server.connections
    time.sleep(0.7)  # past the idle expiry, before Orthanc's 1 s keep-alive
    poster.post("instances", b"x", 1)
    assert server.connections == before + 1
    poster.close()


@pytest.mark.parametrize(
    "response",
    [
        answer(b"<html>" + b"x" * 300 + b"</html>", extra=b"Content-Type: text/html\r\n"),
        answer(b"", status=b"302 Found", extra=b"Location: /login\r\n"),
        answer(b"short"),
        answer(b"\0" * 128 + b"DICM" + b"cut", extra=b"")[:-2],  # cut short: the server closes below
    ],
    ids=["login page", "redirect", "too short", "truncated"],
)
def test_a_file_the_fast_path_cannot_vouch_for_is_left_to_the_client(
    serve: Callable[[Handler], RawServer], tmp_path: Path, response: bytes
) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        if server.read_request(connection) is not None:
            connection.sendall(response)

    server = serve(handler)
    target = tmp_path / "a.dcm"
    assert fetch_file(origin_for(server), "x", target) is None
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part
    good = b"\0" * 128 + b"DICM" + bytes(range(256)) * 5000
    server = serve(keep_answering(answer(good)))
    assert fetch_file(origin_for(server), "x", target) == len(good) and target.read_bytes() == good


def test_a_dead_kept_connection_costs_one_resend_not_one_per_idle_connection(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        if server.read_request(connection) is not None:
            time.sleep(0.1)  # so that three posts need three connections
            connection.sendall(answer(OK_JSON))
        server.read_request(connection)  # then the server drops it, unanswered, as after a restart

    server = serve(handler)
    poster = poster_for(server)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: poster.post("instances", b"x", 1), range(3)))
    assert server.connections == 3
    assert poster.post("instances", b"y", 1)["ID"] == "a"
    assert [body for _, body in server.requests].count(b"y") == 2  # the dead one, then a new connection
    assert server.connections == 4
    poster.close()


def test_a_full_pool_waits_for_the_pool_timeout(serve: Callable[[Handler], RawServer]) -> None:
    def handler(server: RawServer, connection: socket.socket) -> None:
        while server.read_request(connection) is not None:
            time.sleep(0.5)
            connection.sendall(answer(OK_JSON))

    server = serve(handler)
    http = httpx.Client(base_url=server.url, timeout=httpx.Timeout(5, pool=0.1))
    poster = direct_poster(http, owns_transport=True, max_connections=1)
    assert poster is not None
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: _outcome(lambda: poster.post("instances", b"x", 1)), range(2)))
    assert sorted(outcomes) == ["RequestTimeoutError", "ok"]  # one waited 0.1 s for the only connection
    poster.close()


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the test compares the kinds
        return type(exc).__name__
    return "ok"


@pytest.mark.parametrize("verify", [123, "/nonexistent/ca.pem", object()])
def test_a_bad_verify_is_refused_when_the_client_is_made(verify: object) -> None:
    with pytest.raises(InvalidInputError, match="verify"):
        Orthanc("https://127.0.0.1:1", verify=verify)


def test_a_post_sends_its_head_and_a_small_body_in_one_write(
    serve: Callable[[Handler], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orthanc_client._core.fastpath import connections as _direct_http

    writes: list[int] = []
    send = _direct_http._HTTPConnection.send

    def counting_send(self: _direct_http._HTTPConnection, data: bytes) -> None:
        writes.append(len(data))
        send(self, data)

    monkeypatch.setattr(_direct_http._HTTPConnection, "send", counting_send)
    server = serve(keep_answering(answer(OK_JSON)))
    poster = poster_for(server)
    body = bytes(range(256)) * 400  # 100 KB, as a typical upload
    try:
        assert poster.post("instances", body, len(body)) == {"ID": "a", "Status": "Success"}
        assert len(writes) == 1 and writes[0] > len(body)
        assert server.requests[-1][1] == body
        big = b"x" * (1 << 20)  # from CHUNK_SIZE on, the body goes in its own writes (no copy)
        poster.post("instances", big, len(big))
        assert len(writes) >= 3 and server.requests[-1][1] == big
    finally:
        poster.close()
