"""The direct binary GETs behind ``Series.to_numpy`` (``_core.fastpath.connections``): what is sent, which answers are refused,
connections kept, reopened and closed; against a scripted socket server (no Orthanc needed)."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from orthanc_client import ConnectError, RequestTimeoutError, ServerError
from orthanc_client._core.fastpath.connections import DirectOrigin, DirectReadError, direct_origin
from orthanc_client._core.fastpath.posts import DirectPoster, direct_poster

Script = Callable[[socket.socket, bytes], bool]  # (connection, request head) -> keep the connection open?


class ScriptedServer:
    """Accepts connections; answers each request head with ``script``; records heads and connections."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []  # the body of each request with a Content-Length
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            received = b""
            while True:
                while b"\r\n\r\n" not in received:
                    data = connection.recv(65536)
                    if not data:
                        return
                    received += data
                head, _, received = received.partition(b"\r\n\r\n")
                self.heads.append(head)
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                    None,
                )
                if length is not None:
                    while len(received) < length:
                        data = connection.recv(65536)
                        if not data:
                            return
                        received += data
                    self.bodies.append(received[:length])
                    received = received[length:]
                if not self.script(connection, head):
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _reader(server: ScriptedServer, prefix: str = "/") -> DirectOrigin:
    http = httpx.Client(base_url=f"http://127.0.0.1:{server.port}{prefix}", auth=("user", "secret"), timeout=5)
    reader = direct_origin(http, owns_transport=True)
    assert reader is not None
    return reader


def _answer(body: bytes, *, extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body


def test_reads_in_parts_into_buffers_and_keeps_the_connection(serve: Callable[[Script], ScriptedServer]) -> None:
    body = bytes(range(256)) * 40

    def script(connection: socket.socket, head: bytes) -> bool:
        answer = _answer(body)
        connection.sendall(answer[:20])  # the head itself split across reads
        connection.sendall(answer[20:])
        return True

    server = serve(script)
    with _reader(server, "/orthanc/").connect() as connection:
        for _ in range(3):
            answer = connection.get("instances/a b/file")
            assert answer.length == len(body)
            first = answer.read(100)
            assert 0 < len(first) <= 100 and body.startswith(first)
            target = bytearray(1000)
            answer.readinto(memoryview(target))
            assert bytes(target) == body[len(first) : len(first) + 1000]
            answer.discard()
            assert answer.remaining == 0
    assert server.connections == 1 and len(server.heads) == 3
    request_line, *fields = server.heads[0].decode().split("\r\n")
    assert request_line == "GET /orthanc/instances/a%20b/file HTTP/1.1"
    headers = dict(field.split(": ", 1) for field in fields)
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:secret").decode()


def test_a_kept_connection_closed_by_the_server_is_reopened_once(serve: Callable[[Script], ScriptedServer]) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b"abc"))
        return False  # closes after each answer, without saying so: the next request finds it closed

    server = serve(script)
    with _reader(server).connect() as connection:
        for _ in range(3):
            answer = connection.get("x")
            assert answer.read(10) == b"abc"
    assert server.connections == 3


def test_connection_close_is_honoured(serve: Callable[[Script], ScriptedServer]) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b"abc", extra=b"Connection: close\r\n"))
        return True

    server = serve(script)
    with _reader(server).connect() as connection:
        for _ in range(2):
            assert connection.get("x").read(10) == b"abc"
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        _answer(b"missing", status=b"404 Not Found"),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        _answer(b"x", extra=b"Content-Encoding: gzip\r\n"),
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
    ids=["404", "chunked", "gzip", "no length", "malformed"],
)
def test_unexpected_answers_are_refused(serve: Callable[[Script], ScriptedServer], answer: bytes) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(answer)
        return True

    server = serve(script)
    with _reader(server).connect() as connection, pytest.raises(DirectReadError):
        connection.get("x")


def test_a_body_cut_short_is_an_error_not_a_short_read(serve: Callable[[Script], ScriptedServer]) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b"0123456789")[:-4])
        return False

    server = serve(script)
    with _reader(server).connect() as connection:
        answer = connection.get("x")
        with pytest.raises(DirectReadError):
            answer.readinto(memoryview(bytearray(10)))
        with pytest.raises(DirectReadError):  # more than the answer holds
            connection.get("x").readinto(memoryview(bytearray(11)))


def test_a_body_left_unread_closes_the_connection(serve: Callable[[Script], ScriptedServer]) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b"a" * 5000))
        return True

    server = serve(script)
    with _reader(server).connect() as connection:
        connection.get("x").read(10)
        assert connection.get("x").read(5000) == b"a" * 5000  # a new connection, not the rest of the first body
    assert server.connections == 2


def test_refused_connection_is_a_direct_read_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    reader = direct_origin(http, owns_transport=True)
    assert reader is not None
    with reader.connect() as connection, pytest.raises(DirectReadError):
        connection.get("x")


def test_used_only_when_it_sends_what_the_client_would(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = httpx.Client(base_url="http://127.0.0.1:8042/", auth=("u", "p"))
    assert direct_origin(plain, owns_transport=True) is not None
    assert direct_origin(plain, owns_transport=False) is None  # a caller's own client: its transport may differ
    hooked = httpx.Client(base_url="http://127.0.0.1:8042/", event_hooks={"request": [lambda request: None]})
    assert direct_origin(hooked, owns_transport=True) is None
    tls = direct_origin(httpx.Client(base_url="https://127.0.0.1:8042/"), owns_transport=True)
    assert tls is not None and tls.tls  # HTTPS keeps the fast path, verified (tests/test_tls_proxy.py)
    assert direct_origin(httpx.Client(base_url="ftp://127.0.0.1:8042/"), owns_transport=True) is None
    digest = httpx.Client(base_url="http://127.0.0.1:8042/", auth=httpx.DigestAuth("u", "p"))
    assert direct_origin(digest, owns_transport=True) is None
    with_cookies = httpx.Client(base_url="http://127.0.0.1:8042/", cookies={"session": "1"})
    assert direct_origin(with_cookies, owns_transport=True) is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert direct_origin(plain, owns_transport=True) is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy that does not apply to the server
    assert direct_origin(plain, owns_transport=True) is not None
    monkeypatch.delenv("NO_PROXY")
    token = httpx.Client(base_url="http://127.0.0.1:8042/", headers={"Authorization": "Bearer t"})
    monkeypatch.delenv("HTTP_PROXY")
    reader = direct_origin(token, owns_transport=True)
    assert reader is not None and ("Authorization", "Bearer t") in reader._headers
    assert "Bearer" not in repr(reader)


def _poster(server: ScriptedServer, **options: object) -> DirectPoster:
    http = httpx.Client(base_url=f"http://127.0.0.1:{server.port}/", auth=("user", "secret"), **options)  # type: ignore[arg-type]
    poster = direct_poster(http, owns_transport=True)
    assert poster is not None
    return poster


def test_posts_bytes_and_files_on_one_kept_connection(
    serve: Callable[[Script], ScriptedServer], tmp_path: Path
) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b'{"Status": "Success"}', extra=b"Content-Type: application/json\r\n"))
        return True

    server = serve(script)
    big = bytes(range(256)) * 9000  # over one CHUNK_SIZE: sent in parts
    path = tmp_path / "file.dcm"
    path.write_bytes(b"skip" + big)
    poster = _poster(server)
    try:
        assert poster.post("instances", b"small", 5) == {"Status": "Success"}
        with open(path, "rb") as file:
            file.seek(4)  # sent from the current position, for the given length
            assert poster.post("instances", file, len(big)) == {"Status": "Success"}
    finally:
        poster.close()
    assert server.connections == 1 and server.bodies == [b"small", big]
    request_line, *fields = server.heads[0].decode().split("\r\n")
    assert request_line == "POST /instances HTTP/1.1"
    headers = dict(field.split(": ", 1) for field in fields)
    assert headers["Content-Length"] == "5" and headers["Accept-Encoding"] == "identity"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:secret").decode()
    assert "secret" not in repr(poster)


def test_post_reads_chunked_answers_and_resends_on_a_closed_kept_connection(
    serve: Callable[[Script], ScriptedServer], tmp_path: Path
) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ID\"\r\n4;x=1\r\n:\"a\"\r\n1\r\n}\r\n0\r\n\r\n")
        return False  # then closes without saying so: the next post finds the kept connection dead

    server = serve(script)
    path = tmp_path / "file.dcm"
    path.write_bytes(b"0123456789")
    poster = _poster(server)
    try:
        assert poster.post("instances", b"one", 3) == {"ID": "a"}
        with open(path, "rb") as file:
            assert poster.post("instances", file, 10) == {"ID": "a"}  # sent again from its start
    finally:
        poster.close()
    assert server.bodies[0] == b"one" and server.bodies[-1] == b"0123456789"
    assert server.connections >= 2


def test_post_errors_are_the_clients_typed_errors(serve: Callable[[Script], ScriptedServer]) -> None:
    def busy(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b'{"Message": "busy"}', status=b"503 Service Unavailable"))
        return True

    poster = _poster(serve(busy))
    with pytest.raises(ServerError) as caught:
        poster.post("instances", b"x", 1)
    poster.close()
    assert caught.value.status_code == 503

    def silent(connection: socket.socket, head: bytes) -> bool:
        threading.Event().wait(2)
        return False

    poster = _poster(serve(silent), timeout=0.3)
    with pytest.raises(RequestTimeoutError):
        poster.post("instances", b"x", 1)
    poster.close()

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    refused = direct_poster(httpx.Client(base_url=f"http://127.0.0.1:{port}/"), owns_transport=True)
    assert refused is not None
    with pytest.raises(ConnectError):
        refused.post("instances", b"x", 1)


def test_poster_connections_are_shared_across_threads_not_one_per_thread(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    def script(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(_answer(b"{}"))
        return True

    server = serve(script)
    poster = _poster(server)
    try:
        for _ in range(5):  # batch after batch on new threads, as an upload with skip_existing does
            with ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda i: poster.post("instances", b"x", 1), range(6)))
    finally:
        poster.close()
    assert len(server.bodies) == 30
    assert server.connections <= 3
