"""The bulk upload's direct pool (``_core.fastpath.posts``): used only when it sends what the client would, typed errors."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from orthanc_client import ConnectError, Orthanc, ServerError, UnauthorizedError, aio as orthanc_aio, upload
from orthanc_client._core.fastpath import posts as _bulk_post
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes


@pytest.fixture
def direct_posts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths posted through a ``DirectPoster`` (the calls still happen)."""
    posted: list[str] = []
    original = _bulk_post.DirectPoster.post

    def spy(poster: Any, path: str, *args: Any) -> Any:
        posted.append(path)
        return original(poster, path, *args)

    monkeypatch.setattr(_bulk_post.DirectPoster, "post", spy)
    return posted


async def _upload(kind: str, client: Any, source: Any) -> Any:
    if kind == "sync":
        return upload(client, source, progress=False)
    return await orthanc_aio.upload(client, source, progress=False)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("setup", ["default", "event hook", "own http client"])
async def test_upload_posts_directly_unless_the_client_was_customised(
    kind: str, setup: str, clean_orthanc: OrthancServer, direct_posts: list[str]
) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 3, patient_id="DIRECT")]
    hooked: list[str] = []
    options: dict[str, Any] = {}
    if setup == "own http client":
        options["http_client"] = httpx.Client() if kind == "sync" else httpx.AsyncClient()
    client: Any = (Orthanc if kind == "sync" else orthanc_aio.AsyncOrthanc)(
        clean_orthanc.url, *clean_orthanc.auth, **options
    )
    if setup == "event hook":
        if kind == "sync":
            client.http_client.event_hooks = {"request": [lambda request: hooked.append(request.url.path)]}
        else:

            async def hook(request: httpx.Request) -> None:
                hooked.append(request.url.path)

            client.http_client.event_hooks = {"request": [hook]}
    try:
        result = await _upload(kind, client, files)
    finally:
        if kind == "sync":
            client.close()
        else:
            await client.aclose()
    assert len(result.stored) == 3 and result.ok
    # the 3 small files go in one ZIP (``pack``), whichever way it is sent
    if setup == "default":
        assert direct_posts == ["instances"]
    else:  # a hook must see every request; a caller's client may carry a transport the pool cannot copy
        assert direct_posts == []
    # the version, asked once per client: ZIPs need Orthanc 1.8.2
    assert hooked == (["/system", "/instances"] if setup == "event hook" else [])


def test_direct_poster_answers_errors_and_secrets(orthanc_server: OrthancServer, tmp_path: Path) -> None:
    data = to_bytes(make_study(1, 1, patient_id="POSTER")[0])
    path = tmp_path / "a.dcm"
    path.write_bytes(data)
    with Orthanc(orthanc_server.url, *orthanc_server.auth) as client:
        poster = client._direct_poster()
        assert poster is not None
        try:
            with open(path, "rb") as file:  # a file is streamed with its length
                answer = poster.post("instances", file, len(data))
            assert answer["Status"] in ("Success", "AlreadyStored")
            assert poster.post("instances", data, len(data))["ID"] == answer["ID"]
            assert orthanc_server.password not in repr(poster)
        finally:
            poster.close()

    with Orthanc(orthanc_server.url, orthanc_server.username, "wrong-secret") as client:
        poster = client._direct_poster()
        assert poster is not None
        with pytest.raises(UnauthorizedError) as caught:
            poster.post("instances", data, len(data))
        poster.close()
        assert caught.value.status_code == 401 and "wrong-secret" not in str(caught.value)


class _Unavailable(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"Message": "busy", "OrthancStatus": 503}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def unavailable_server() -> Iterator[str]:
    """A loopback server answering every POST with 503 (a proxy in front of a busy Orthanc)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_direct_poster_raises_typed_errors_and_upload_retries_503(unavailable_server: str) -> None:
    with Orthanc(unavailable_server, "user", "pw") as client:
        poster = client._direct_poster()
        assert poster is not None
        with pytest.raises(ServerError) as caught:
            poster.post("instances", b"x", 1)
        poster.close()
        assert caught.value.status_code == 503
        result = upload(client, io.BytesIO(to_bytes(make_study(1, 1)[0])), retry_for=0.3, progress=False)
    (failed,) = result.failed
    assert failed.attempts > 1 and "503" in (failed.reason or "")

    closed_port = unavailable_server.rsplit(":", 1)[0] + ":1"
    with Orthanc(closed_port) as client:
        poster = client._direct_poster()
        assert poster is not None
        with pytest.raises(ConnectError):
            poster.post("instances", b"x", 1)
        poster.close()
