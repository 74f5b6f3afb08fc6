"""The generator: deterministic output, naming, and a method with the right URL for every route of every spec."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from generator import naming
from generator.render import render_all
from generator.spec import load_spec, merge_operations
from orthanc_client import AsyncOrthanc, Orthanc
from orthanc_client._core.paths import placeholder_kinds
from orthanc_client._generated import operations as ops

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "openapi").glob("orthanc-*.json"))


def spec_routes(path: Path) -> set[tuple[str, str]]:
    document = json.loads(path.read_text())
    routes = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    listing = path.with_name(path.stem + ".undocumented.txt")
    for line in listing.read_text().splitlines() if listing.exists() else []:
        method, _, route = line.partition(" ")
        routes.add((method, route))
    return routes


def test_pinned_specs_are_the_two_supported_releases() -> None:
    versions = sorted(json.loads(p.read_text())["info"]["version"] for p in SPECS)
    assert versions == ["1.10.1", "1.12.7"]
    documented = {p.name: len(json.loads(p.read_text())["paths"]) for p in SPECS}
    operations = {
        p.name: sum(len(item) for item in json.loads(p.read_text())["paths"].values()) for p in SPECS
    }
    assert operations == {"orthanc-1.10.1.json": 208, "orthanc-1.12.7.json": 230}, documented


def test_committed_output_matches_a_fresh_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_rendering_twice_is_byte_identical() -> None:
    specs = [load_spec(p) for p in SPECS]
    first = render_all(specs, merge_operations(specs), "make generate")
    second = render_all(specs, merge_operations(specs), "make generate")
    assert first == second


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/patients/{id}/studies", "get_patients_id_studies"),
        ("POST", "/tools/find", "post_tools_find"),
        ("GET", "/tools/generate-uid", "get_tools_generate_uid"),
        ("POST", "/tools/invalidate-tags", "post_tools_invalidate_tags"),
        ("GET", "/instances/{id}/frames/{frame}/image-uint16", "get_instances_id_frames_frame_image_uint16"),
        ("GET", "/tools/dicom-conformance", "get_tools_dicom_conformance"),
    ],
)
def test_method_names_follow_the_verb_plus_route_scheme(method: str, path: str, expected: str) -> None:
    assert naming.method_name(method, path) == expected


def test_every_route_of_every_spec_has_a_sync_and_an_async_method() -> None:
    routes = set().union(*(spec_routes(p) for p in SPECS))
    assert len(routes) == len(ops.ALL)
    for method, path in routes:
        name = naming.method_name(method, path)
        assert callable(getattr(Orthanc, name, None)), name
        assert inspect.iscoroutinefunction(getattr(AsyncOrthanc, name, None)), name


def test_since_is_the_first_published_release_that_documents_the_route() -> None:
    # the history README's table; absent_through is the release before (its spec proves the route absent)
    assert (ops.GET_TOOLS_LABELS.since, ops.GET_TOOLS_LABELS.absent_through) == ("1.12.0", "1.11.3")
    assert (ops.PUT_STUDIES_ID_LABELS_LABEL.since, ops.PUT_STUDIES_ID_LABELS_LABEL.absent_through) == (
        "1.12.0",
        "1.11.3",
    )
    assert (ops.POST_TOOLS_COUNT_RESOURCES.since, ops.POST_TOOLS_COUNT_RESOURCES.absent_through) == (
        "1.12.5",
        "1.12.4",
    )
    assert (ops.POST_MODALITIES_ID_GET.since, ops.POST_MODALITIES_ID_GET.absent_through) == ("1.12.6", "1.12.5")
    assert ops.POST_PEERS_ID_STORE_STRAIGHT.since == "1.9.1"
    assert ops.DELETE_JOBS_ID_KEY.since == "1.12.1"
    # in the first published spec: nothing proves an older server lacks it
    assert (ops.GET_SYSTEM.since, ops.GET_SYSTEM.absent_through) == ("1.9.0", "")
    # served before it was documented (generator/overrides.py SERVED_SINCE): never refused
    assert (ops.GET_INSTANCES_ID_CONTENT_PATH.since, ops.GET_INSTANCES_ID_CONTENT_PATH.absent_through) == (
        "1.10.1",
        "",
    )
    find_fields = {name: (since, absent) for name, since, absent in ops.POST_TOOLS_FIND.body_since}
    assert find_fields["Labels"] == find_fields["LabelsConstraint"] == ("1.12.0", "1.11.3")
    assert find_fields["ResponseContent"] == find_fields["OrderBy"] == ("1.12.5", "1.12.4")
    assert "Level" not in find_fields and "Query" not in find_fields  # as old as the route
    changes = {name for name, _, _ in ops.GET_CHANGES.query_since}
    assert "type" in changes and "last" not in changes  # ARGUMENTS_SERVED_SINCE: 1.10.1 takes ?last


def test_a_newer_spec_adds_routes_tagged_with_its_version(tmp_path: Path) -> None:
    newest = json.loads((ROOT / "openapi/orthanc-1.12.7.json").read_text())
    newest["info"]["version"] = "1.12.11"
    newest["paths"]["/tools/brand-new"] = {"get": {"summary": "New route", "responses": {}}}
    extra = tmp_path / "orthanc-1.12.11.json"
    extra.write_text(json.dumps(newest))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--spec", str(extra), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    table = (out / "operations.py").read_text()
    assert re.search(r'"/tools/brand-new",\n    since="1.12.11"', table)
    assert "def get_tools_brand_new(" in (out / "sync_api.py").read_text()
    assert "async def get_tools_brand_new(" in (out / "async_api.py").read_text()


# A well-formed value for each kind of path placeholder (the client refuses anything else before sending).
_SAMPLES = {
    "orthanc_id": "0a1b2c3d-00000000-11111111-22222222-33333333",
    "uuid": "2abbd1c8-01c8-43c2-b6cd-53bdfd214bad",
    "label": "a-b_c",
    "symbolic_name": "a-b_c",
    "metadata_name": "a-b.c",
    "attachment_name": "a-b.c",
    "name": "a-b.c",
    "tag_path": "0010,0010/0/PatientName",
}


def _dummy(annotation: Any, kind: str) -> Any:
    return 7 if annotation == "int" else _SAMPLES.get(kind, "7")


def _calls() -> list[tuple[Any, str, tuple[Any, ...]]]:
    out = []
    for op in ops.ALL:
        method = getattr(Orthanc, op.name)
        params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
        path_params = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD][: op.path.count("{")]
        kinds = [kind.name for _, kind in placeholder_kinds(op.path)]
        out.append((op, op.name, tuple(_dummy(p.annotation, k) for p, k in zip(path_params, kinds, strict=True))))
    return out


def _expected_path(path: str, args: tuple[Any, ...]) -> str:
    values = iter(args)
    return re.sub(r"{[^}]+}", lambda _: str(next(values)), path)


def _recording_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/system"):
            return httpx.Response(200, json={"Version": "1.12.7"})
        # DICOM and zip routes are checked for their signature: answer one
        if re.search(r"^/prefix/instances/[^/]+/(file|modify)$", path):
            return httpx.Response(200, content=bytes(128) + b"DICM", headers={"Content-Type": "application/dicom"})
        if re.search(r"/(archive|media|create-archive|create-media|create-media-extended)$", path):
            return httpx.Response(200, content=b"PK\x05\x06" + bytes(18), headers={"Content-Type": "application/zip"})
        return httpx.Response(200, json={})

    return httpx.MockTransport(handler)


def test_every_sync_method_requests_exactly_its_route() -> None:
    seen: list[httpx.Request] = []
    client = Orthanc("http://orthanc.test/prefix", http_client=httpx.Client(transport=_recording_transport(seen)))
    for op, name, args in _calls():
        seen.clear()
        getattr(client, name)(*args)
        request = seen[-1]
        assert request.method == op.method, name
        assert request.url.path == "/prefix" + _expected_path(op.path, args), name
        binary = op.response in ("binary", "mixed")
        assert (request.headers.get("accept-encoding") == "identity") == binary, name


async def test_every_async_method_requests_exactly_its_route() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        return _recording_transport(seen).handle_request(request)

    client = AsyncOrthanc(
        "http://orthanc.test/prefix", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )
    for op, name, args in _calls():
        seen.clear()
        await getattr(client, name)(*args)
        assert seen[-1].method == op.method, name
        assert seen[-1].url.path == "/prefix" + _expected_path(op.path, args), name
    await client.aclose()


def test_literal_route_words_are_never_altered() -> None:
    seen: list[httpx.Request] = []
    client = Orthanc("http://orthanc.test", http_client=httpx.Client(transport=_recording_transport(seen)))
    client.get_tools_generate_uid(level="study")
    client.post_tools_invalidate_tags()
    assert [r.url.path for r in seen] == ["/tools/generate-uid", "/tools/invalidate-tags"]


def test_generated_files_say_they_are_generated() -> None:
    for path in (ROOT / "src/orthanc_client/_generated").glob("*.py"):
        assert path.read_text().startswith("# Generated by `make generate`"), path
