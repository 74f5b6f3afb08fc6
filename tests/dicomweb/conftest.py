"""Two real Orthanc servers with the DICOMweb plugin, and helpers to run one test body on both APIs.

``dicomweb_server`` (A) is the client's server; ``dicomweb_second_server`` (B) plays a remote DICOMweb server
that A knows as ``"second"`` (declared at run time by the tests that need it, with B's credentials).
Both are started once per Orthanc version; ``clean_dicomweb`` empties them before a test.
"""

from __future__ import annotations

import inspect
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from orthanc_client import AsyncOrthanc, Orthanc
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import to_bytes

DICOMWEB_CONFIG = {"DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado"}}


@pytest.fixture(scope="session")
def dicomweb_server(orthanc_version: str) -> Iterator[OrthancServer]:
    with OrthancServer(
        orthanc_version, name="dicomweb-a", plugins=("dicomweb",), extra_config=DICOMWEB_CONFIG
    ) as server:
        yield server


@pytest.fixture(scope="session")
def dicomweb_second_server(orthanc_version: str) -> Iterator[OrthancServer]:
    with OrthancServer(
        orthanc_version, name="dicomweb-b", plugins=("dicomweb",), extra_config=DICOMWEB_CONFIG
    ) as server:
        yield server


def empty(server: OrthancServer) -> None:
    if not server.is_running():
        server.start()
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for patient in http.get("/patients").raise_for_status().json():
            http.delete(f"/patients/{patient}").raise_for_status()


@pytest.fixture
def clean_dicomweb(dicomweb_server: OrthancServer) -> OrthancServer:
    empty(dicomweb_server)
    return dicomweb_server


def upload(server: OrthancServer, datasets: list[Any]) -> None:
    """Stores datasets through the REST API (plain httpx: independent of the code under test)."""
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for dataset in datasets:
            http.post("/instances", content=to_bytes(dataset)).raise_for_status()


class Api:
    """One test body for both APIs: ``await api.call("search_for_studies", ...)`` and
    ``await api.collect("iter_study", ...)`` run ``Orthanc.dicomweb`` or ``AsyncOrthanc.dicomweb``."""

    def __init__(self, kind: str, client: Any) -> None:
        self.kind = kind
        self.client = client

    @property
    def dicomweb(self) -> Any:
        return self.client.dicomweb

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client.dicomweb, name)(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def collect(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        iterator = getattr(self.client.dicomweb, name)(*args, **kwargs)
        if hasattr(iterator, "__aiter__"):
            return [item async for item in iterator]
        return list(iterator)

    async def close(self) -> None:
        if self.kind == "sync":
            self.client.close()
        else:
            await self.client.aclose()


async def make_api(kind: str, server: OrthancServer | str, auth: tuple[str, str] | None = None) -> Api:
    url = server if isinstance(server, str) else server.url
    username, password = auth if auth is not None else server.auth  # type: ignore[union-attr]
    client: Any = Orthanc(url, username, password) if kind == "sync" else AsyncOrthanc(url, username, password)
    return Api(kind, client)


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, clean_dicomweb: OrthancServer) -> AsyncIterator[Api]:
    helper = await make_api(request.param, clean_dicomweb)
    yield helper
    await helper.close()


class FakeServer:
    """A one-thread HTTP server on a free loopback port that answers every request with ``answer`` (raw
    bytes: status line, headers, body) and closes the connection: for answers a real Orthanc cannot be
    made to give (a stream cut mid-part, a redirect, an HTML page). ``hold``: seconds to keep the connection
    open after the answer, silent (a server that stalls)."""

    def __init__(self, answer: bytes, *, hold: float = 0) -> None:
        self.answer = answer
        self.hold = hold
        self.requests = 0
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self._socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    data = connection.recv(65536)
                    if not data:
                        break
                    request += data
                self.requests += 1
                connection.sendall(self.answer)
                self._stop.wait(self.hold)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()
