"""Error paths a real server can't produce on demand (timeouts, 5xx, dropped connections), with mock transports.

Every test runs the sync and the async client through the same handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orthanc_client import (
    AsyncOrthanc,
    ConflictError,
    ConnectError,
    InvalidInputError,
    Orthanc,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
)

Handler = Callable[[httpx.Request], httpx.Response]
FAST = RetryPolicy(max_retries=3, backoff=0.001)

SOME_ID = "0a1b2c3d-00000000-11111111-22222222-33333333"  # a well-formed Orthanc ID


async def call(kind: str, handler: Handler, method: str, *args: Any, url: str = "http://orthanc.test",
               **options: Any) -> Any:
    options.setdefault("retries", FAST)
    if kind == "sync":
        with Orthanc(url, "user", "s3cret", http_client=httpx.Client(transport=httpx.MockTransport(handler)),
                     **options) as client:
            return getattr(client, method)(*args)

    async def async_handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        return handler(request)

    transport = httpx.MockTransport(async_handler)
    async with AsyncOrthanc(url, "user", "s3cret", http_client=httpx.AsyncClient(transport=transport),
                            **options) as client:
        return await getattr(client, method)(*args)


class Script:
    """Answers with the scripted outcomes in turn (an exception class is raised), and counts requests."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, type) and issubclass(outcome, Exception):
            raise outcome("scripted", request=request)
        if isinstance(outcome, int):
            return httpx.Response(outcome, json={"HttpStatus": outcome, "Message": "scripted"})
        return httpx.Response(200, json=outcome)


kinds = pytest.mark.parametrize("kind", ["sync", "async"])


@kinds
async def test_503_on_a_get_is_retried_until_it_succeeds(kind: str) -> None:
    script = Script(503, 502, {"Version": "1.12.7"})
    assert await call(kind, script, "get_system") == {"Version": "1.12.7"}
    assert len(script.requests) == 3


@kinds
async def test_retries_give_up_after_max_retries(kind: str) -> None:
    script = Script(503)
    with pytest.raises(ServerError) as caught:
        await call(kind, script, "get_system")
    assert len(script.requests) == 4 and caught.value.status_code == 503


@kinds
async def test_a_non_idempotent_post_is_never_replayed_after_a_503(kind: str) -> None:
    script = Script(503, {"ID": "x"})
    with pytest.raises(ServerError):
        await call(kind, script, "post_instances", b"DICM")
    assert len(script.requests) == 1


@kinds
async def test_read_only_posts_are_retried(kind: str) -> None:
    script = Script(httpx.RemoteProtocolError, [])
    assert await call(kind, script, "post_tools_find", {"Level": "Study", "Query": {}}) == []
    assert len(script.requests) == 2


@kinds
async def test_409_is_never_retried(kind: str) -> None:
    script = Script(409, {})
    with pytest.raises(ConflictError):
        await call(kind, script, "put_instances_id_metadata_name", SOME_ID, "1024", "value")
    assert len(script.requests) == 1


@kinds
async def test_connect_errors_are_retried_even_for_posts(kind: str) -> None:
    script = Script(httpx.ConnectError, httpx.ConnectError, {"Status": "Success"})
    assert await call(kind, script, "post_instances", b"DICM") == {"Status": "Success"}
    assert len(script.requests) == 3
    assert all(r.content == b"DICM" for r in script.requests)


@kinds
async def test_a_dropped_connection_on_a_post_is_not_replayed(kind: str) -> None:
    script = Script(httpx.RemoteProtocolError, {"Status": "Success"})
    with pytest.raises(ConnectError):
        await call(kind, script, "post_instances", b"DICM")
    assert len(script.requests) == 1


@kinds
async def test_read_timeout_raises_a_typed_error_without_retry(kind: str) -> None:
    script = Script(httpx.ReadTimeout, {})
    with pytest.raises(RequestTimeoutError) as caught:
        await call(kind, script, "get_patients")
    assert len(script.requests) == 1
    assert "ReadTimeout" in str(caught.value) and "http://orthanc.test/patients" in str(caught.value)


@kinds
async def test_an_iterator_body_cannot_be_replayed_so_is_not_retried(kind: str) -> None:
    script = Script(httpx.ConnectError, {"Status": "Success"})
    with pytest.raises(ConnectError):
        await call(kind, script, "post_instances", iter([b"DI", b"CM"]))
    assert len(script.requests) == 1


@kinds
async def test_retries_can_be_turned_off(kind: str) -> None:
    script = Script(503, {})
    with pytest.raises(ServerError):
        await call(kind, script, "get_system", retries=0)
    assert len(script.requests) == 1


@kinds
async def test_a_seekable_file_is_streamed_and_replayed_from_its_start(kind: str, tmp_path: Any) -> None:
    path = tmp_path / "file.dcm"
    path.write_bytes(b"x" * 3_000_000)
    script = Script(httpx.ConnectError, {"Status": "Success"})
    with path.open("rb") as file:
        await call(kind, script, "post_instances", file)
    assert [len(r.content) for r in script.requests] == [3_000_000, 3_000_000]
    assert script.requests[-1].headers["content-length"] == "3000000"


@kinds
async def test_a_json_route_without_body_sends_an_empty_object(kind: str) -> None:
    script = Script({"ID": "new"})
    await call(kind, script, "post_studies_id_anonymize", SOME_ID)
    assert script.requests[0].content == b"{}"


@kinds
async def test_pyorthanc_call_style_is_accepted(kind: str) -> None:
    script = Script({})
    await call(kind, script, "get_patients_id", SOME_ID)
    await call(kind, script, "post_modalities_id_store", "pacs")  # json body defaults to {}
    assert [r.url.path for r in script.requests] == [f"/patients/{SOME_ID}", "/modalities/pacs/store"]


@kinds
async def test_client_timeout_applies_to_every_call(kind: str) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    await call(kind, handler, "get_system", timeout=3.0)
    await call(kind, handler, "get_system")
    # a number is the whole call's deadline: each phase gets at most what is left of it
    assert 2.5 < seen[0]["read"] <= 3.0
    assert seen[1]["read"] == 600.0 and seen[1]["connect"] == 10.0


def test_per_call_timeout_overrides_the_client_default() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    client = Orthanc("http://orthanc.test", timeout=3.0, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    client.get_system(timeout=1.5)
    client.get_system()
    assert 1.0 < seen[0]["read"] <= 1.5 and 2.5 < seen[1]["read"] <= 3.0


def test_credentials_never_appear_in_reprs_or_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="orthanc_client")

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        return httpx.Response(404, json={"Message": "Unknown resource"})

    client = Orthanc("http://alice:pa55word@orthanc.test:8042/", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(Exception) as caught:
        client.get_patients_id("x")
    text = " ".join([repr(client), str(caught.value), repr(caught.value), caplog.text])
    assert "pa55word" not in text
    assert "alice" not in repr(client)
    assert client.url == "http://orthanc.test:8042"


def test_environment_variables_configure_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORTHANC_URL", "http://env-orthanc:9999/proxy/")
    monkeypatch.setenv("ORTHANC_USERNAME", "envuser")
    monkeypatch.setenv("ORTHANC_PASSWORD", "envpass")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = Orthanc(http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    client.get_system()
    assert str(seen[0].url) == "http://env-orthanc:9999/proxy/system"
    assert seen[0].headers["authorization"] == httpx.BasicAuth("envuser", "envpass")._auth_header


def test_default_url_is_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORTHANC_URL", raising=False)
    assert Orthanc().url == "http://localhost:8042"


@pytest.mark.parametrize("url", ["ftp://host", "not a url", "http://"])
def test_a_bad_url_is_refused_with_a_typed_error(url: str) -> None:
    with pytest.raises(InvalidInputError):
        Orthanc(url)


def test_two_bodies_are_refused() -> None:
    client = Orthanc("http://orthanc.test")
    with pytest.raises(InvalidInputError, match="one body"):
        client.post_tools_find({"Level": "Study"}, data="x")
