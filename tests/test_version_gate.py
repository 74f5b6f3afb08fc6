"""The version gate against a real Orthanc 1.12.7 that claims an older release in ``GET /system``.

A small threaded HTTP forwarder sits in front of the real server and rewrites ``/system``'s ``Version``, so that
the client believes it talks to 1.11.0, 1.12.4, ... while every call it does send is answered by a real
Orthanc. The forwarder records the paths it saw: a refused call must never reach the server.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from orthanc_client import (
    AsyncOrthanc,
    HTTPError,
    NotFoundError,
    Orthanc,
    Study,
    UnknownRouteError,
    UnsupportedByServerError,
    find_studies,
)
from orthanc_client.models import PostToolsFindBody
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes

from .clients import make_api

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class VersionRewritingProxy:
    """Forwards every request to ``upstream``; ``GET /system`` answers with ``Version`` = ``reported_version``."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.reported_version = "1.12.7"
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append(f"{self.command} {urlsplit(self.path).path}")
                connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    # identity: /system is rewritten as JSON (a client asking gzip would get it compressed)
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"accept-encoding"}
                    }
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    content = answer.read()
                    if urlsplit(self.path).path == "/system" and answer.status == 200:
                        system = json.loads(content)
                        system["Version"] = proxy.reported_version
                        content = json.dumps(system).encode()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(content)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(content)
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> VersionRewritingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def sent(self, fragment: str) -> list[str]:
        return [line for line in self.seen if fragment in line]


on_1_12_7 = pytest.mark.orthanc_min("1.12.7")  # the real server behind the proxy has everything


@pytest.fixture
def proxy(clean_orthanc: OrthancServer) -> Iterator[VersionRewritingProxy]:
    with VersionRewritingProxy(clean_orthanc.url) as forwarder:
        yield forwarder


@pytest.fixture
def study_id(clean_orthanc: OrthancServer) -> str:
    with Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password) as client:
        answers = [client.post_instances(to_bytes(ds)) for ds in make_study(1, 2, patient_id="GATE01", seed=5)]
    return str(answers[0]["ParentStudy"])


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def client_claiming(
    kind: str, proxy: VersionRewritingProxy, server: OrthancServer, version: str
) -> AsyncIterator[Any]:
    proxy.reported_version = version
    async for api in make_api(kind, proxy.url, server.username, server.password):
        assert await api.server_version() == version
        yield api


@on_1_12_7
@pytest.mark.parametrize("version", ["1.12.0", "1.12.4", "1.12.6"])
async def test_labels_work_on_every_release_that_has_them(
    kind: str, version: str, proxy: VersionRewritingProxy, clean_orthanc: OrthancServer, study_id: str
) -> None:
    async for api in client_claiming(kind, proxy, clean_orthanc, version):
        await api.put_studies_id_labels_label(study_id, "gate")
        assert await api.get_studies_id_labels(study_id) == ["gate"]
        assert "gate" in await api.get_tools_labels()
        found = await api.post_tools_find({"Level": "Study", "Query": {}, "Labels": ["gate"], "LabelsConstraint": "All"})
        assert found == [study_id]
        await api.delete_studies_id_labels_label(study_id, "gate")
        assert await api.get_studies_id_labels(study_id) == []
    assert proxy.sent("/labels/gate") and proxy.sent("POST /tools/find")


@on_1_12_7
def test_the_resource_api_and_find_take_labels_from_1_12_0(
    proxy: VersionRewritingProxy, clean_orthanc: OrthancServer, study_id: str
) -> None:
    proxy.reported_version = "1.12.4"
    with Orthanc(proxy.url, clean_orthanc.username, clean_orthanc.password) as client:
        study = Study(study_id, client)
        study.add_label("field")
        assert study.get_labels() == ["field"]
        assert [s.id for s in find_studies(client, labels=["field"])] == [study_id]
    proxy.reported_version = "1.11.0"
    with Orthanc(proxy.url, clean_orthanc.username, clean_orthanc.password) as client:
        proxy.seen.clear()
        with pytest.raises(UnsupportedByServerError, match=r"1\.12\.0.*1\.11\.0"):
            Study(study_id, client).add_label("other")
        with pytest.raises(UnsupportedByServerError, match="labels"):
            find_studies(client, labels=["field"])
        assert proxy.seen == ["GET /system"]


@on_1_12_7
async def test_labels_are_refused_below_1_12_0_without_a_request(
    kind: str, proxy: VersionRewritingProxy, clean_orthanc: OrthancServer, study_id: str
) -> None:
    async for api in client_claiming(kind, proxy, clean_orthanc, "1.11.0"):
        proxy.seen.clear()
        with pytest.raises(UnsupportedByServerError) as caught:
            await api.put_studies_id_labels_label(study_id, "gate")
        error = caught.value
        assert (error.required_version, error.server_version) == ("1.12.0", "1.11.0")
        assert "PUT /studies/{id}/labels/{label}" in str(error) and "1.11.0" in str(error)
        # the body fields of /tools/find: as a dict and as a model, refused before sending
        for body in (
            {"Level": "Study", "Query": {}, "Labels": ["gate"]},
            PostToolsFindBody(level="Study", query={}, labels=["gate"], labels_constraint="Any"),
        ):
            with pytest.raises(UnsupportedByServerError, match=r"body field 'Labels'.*1\.12\.0.*1\.11\.0"):
                await api.post_tools_find(body)
        assert proxy.seen == []  # /system was read before the loop; nothing else went out
        # what 1.11.0 has still works through the same client
        assert await api.post_tools_find({"Level": "Study", "Query": {}}) == [study_id]
        # child lists: 1.11 always expands, so expand=true is honoured; expand=false would be ignored
        assert len(await api.get_studies_id_series(study_id, expand=True)) == 1
        with pytest.raises(UnsupportedByServerError, match=r"query argument 'expand'.*1\.12\.2"):
            await api.get_studies_id_series(study_id, params={"expand": "false"})


@on_1_12_7
@pytest.mark.parametrize(("version", "refused"), [("1.12.4", True), ("1.12.5", False)])
async def test_count_resources_and_newer_find_fields_from_1_12_5(
    kind: str, version: str, refused: bool, proxy: VersionRewritingProxy, clean_orthanc: OrthancServer, study_id: str
) -> None:
    async for api in client_claiming(kind, proxy, clean_orthanc, version):
        newer_find = {"Level": "Study", "Query": {}, "ResponseContent": ["MainDicomTags"], "Expand": True}
        ordered = {"Level": "Study", "Query": {}, "OrderBy": [{"Type": "DicomTag", "Key": "StudyDate", "Direction": "ASC"}]}
        if refused:
            with pytest.raises(UnsupportedByServerError, match=r"POST /tools/count-resources.*1\.12\.5.*1\.12\.4"):
                await api.post_tools_count_resources({"Level": "Study", "Query": {}})
            with pytest.raises(UnsupportedByServerError, match="ResponseContent"):
                await api.post_tools_find(newer_find)
            with pytest.raises(UnsupportedByServerError, match="OrderBy"):
                await api.post_tools_find(ordered)
            with pytest.raises(UnsupportedByServerError, match=r"query argument 'type'"):
                await api.get_changes(params={"type": "NewStudy"})
            assert not proxy.sent("count-resources") and not proxy.sent("/changes")
        else:
            assert (await api.post_tools_count_resources({"Level": "Study", "Query": {}}))["Count"] == 1
            assert [s["ID"] for s in await api.post_tools_find(newer_find)] == [study_id]
            assert await api.post_tools_find(ordered) == [study_id]
            assert isinstance((await api.get_changes(params={"type": "NewStudy"}))["Changes"], list)


@on_1_12_7
@pytest.mark.parametrize(("version", "refused"), [("1.12.0", True), ("1.12.5", True), ("1.12.6", False)])
async def test_c_get_is_refused_below_1_12_6(
    kind: str, version: str, refused: bool, proxy: VersionRewritingProxy, clean_orthanc: OrthancServer
) -> None:
    async for api in client_claiming(kind, proxy, clean_orthanc, version):
        body = {"Level": "Study", "Resources": [{"StudyInstanceUID": "1.2.3"}]}
        if refused:
            with pytest.raises(UnsupportedByServerError, match=r"POST /modalities/\{id\}/get.*1\.12\.6"):
                await api.post_modalities_id_get("nowhere", body)
            assert not proxy.sent("/modalities/")
        else:
            # sent: the real server answers for the unknown modality, with an HTTP error, not the gate's
            with pytest.raises(HTTPError) as caught:
                await api.post_modalities_id_get("nowhere", body)
            assert not isinstance(caught.value, UnsupportedByServerError)
            assert proxy.sent("POST /modalities/nowhere/get")


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, orthanc_server: OrthancServer) -> AsyncIterator[Any]:
    async for client in make_api(request.param, orthanc_server.url, orthanc_server.username, orthanc_server.password):
        yield client


async def test_an_unknown_plugin_route_raises_unknown_route_naming_the_version(
    api: Any, orthanc_server: OrthancServer
) -> None:
    with pytest.raises(UnknownRouteError) as caught:
        await api.request("GET", "/dicom-web/studies")  # the DICOMweb plugin is not loaded
    error = caught.value
    assert isinstance(error, UnsupportedByServerError) and isinstance(error, NotFoundError)
    assert error.server_version == orthanc_server.version and error.required_version is None
    assert "GET /dicom-web/studies" in str(error) and f"Orthanc {orthanc_server.version}" in str(error)
    assert error.orthanc_status == 17 and error.status_code == 404
    # a missing resource under a route every release has stays a plain NotFoundError
    with pytest.raises(NotFoundError) as missing:
        await api.get_studies_id("-".join(["0" * 8] * 5))
    assert not isinstance(missing.value, UnsupportedByServerError)
    # ... even where Orthanc answers it like an unknown route: the specs vouch for the route
    with pytest.raises(NotFoundError) as unknown_query:
        await api.get_queries_id_answers("00000000-0000-4000-8000-000000000000")
    assert unknown_query.value.orthanc_status == 17
    assert not isinstance(unknown_query.value, UnsupportedByServerError)


def test_an_unknown_route_also_raises_from_stream_and_async(orthanc_server: OrthancServer) -> None:
    import asyncio

    with Orthanc(orthanc_server.url, orthanc_server.username, orthanc_server.password) as client:
        with pytest.raises(UnknownRouteError, match=orthanc_server.version):
            with client.stream("GET", "/dicom-web/studies/1.2.3/series"):
                pass

    async def run() -> None:
        async with AsyncOrthanc(orthanc_server.url, orthanc_server.username, orthanc_server.password) as client:
            with pytest.raises(UnknownRouteError, match="POST /dicom-web/studies"):
                await client.request("POST", "/dicom-web/studies", content=b"x")

    asyncio.run(run())


@on_1_12_7
async def test_older_than_every_published_spec_a_404_unknown_resource_is_not_proven_a_missing_resource(
    kind: str, proxy: VersionRewritingProxy, clean_orthanc: OrthancServer
) -> None:
    # 1.8.0 predates the first published spec (1.9.0): nothing proves it serves /queries/{id}/answers
    async for api in client_claiming(kind, proxy, clean_orthanc, "1.8.0"):
        with pytest.raises(UnknownRouteError, match=r"Orthanc 1\.8\.0") as caught:
            await api.get_queries_id_answers("00000000-0000-4000-8000-000000000000")
        assert isinstance(caught.value, NotFoundError)
        assert proxy.sent("GET /queries/00000000-0000-4000-8000-000000000000/answers")  # sent: never refused on a guess
        # an empty 404 (a missing resource) stays a plain NotFoundError
        with pytest.raises(NotFoundError) as missing:
            await api.get_studies_id("-".join(["0" * 8] * 5))
        assert not isinstance(missing.value, UnsupportedByServerError)


def test_a_failing_system_call_leaves_the_original_404() -> None:
    unknown = {"HttpStatus": 404, "OrthancStatus": 17, "OrthancError": "Unknown resource", "Uri": "/x"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system":
            return httpx.Response(500, json={"Message": "Internal error"})
        return httpx.Response(404, json=unknown)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    with Orthanc("http://orthanc.invalid", http_client=http, retries=0) as client:
        with pytest.raises(NotFoundError) as caught:
            client.request("GET", "/x")
    assert not isinstance(caught.value, UnknownRouteError) and caught.value.orthanc_status == 17
