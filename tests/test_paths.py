"""Path values can only address their own route (issue 13, part 1).

httpx collapses ``..`` segments and Orthanc decodes ``%2F`` before routing: before this check,
``Study(sid, c).remove_label("..")`` sent ``DELETE /studies/<sid>`` and deleted the study. Here every route
family gets a table of hostile values on a real server holding data, each must raise ``InvalidInputError``
before anything is sent, and the server must be exactly as it was afterwards. Every generated route is
also checked without a server: ``prepare_request`` must refuse a hostile value in each of its placeholders.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

import orthanc_client
import orthanc_client.aio as aio
from orthanc_client import InvalidInputError, NotFoundError
from orthanc_client._core.operation import Operation
from orthanc_client._core.paths import (
    KINDS,
    checked_raw_path,
    checked_route,
    placeholder_kinds,
    validated_segment,
)
from orthanc_client._core.prepare import prepare_request
from orthanc_client._generated import operations as ops
from orthanc_client.testing import OrthancServer, version_tuple
from orthanc_client.testing.dicom import make_patient_tree

from .test_resources_support import async_client, sync_client, upload

LONG = "x" * 5000
HOSTILE: list[Any] = [
    "..", ".", "...", "../x", "a/b", "%2F", "%2e%2e", "?x", "#x", "x\n", "x\r", "\x00", "", " ", "a b", "a\\b",
    "\u2025",  # two dot leader, looks like ".."
    "\uff0e\uff0e",  # fullwidth full stops
    "a\u2215b",  # division slash, looks like "/"
    "\uff0fx",  # fullwidth solidus
    "é", LONG, None, True, b"..", 1.5,
]
VALID_SAMPLE: dict[str, Any] = {
    "orthanc_id": "0" * 8 + "-00000000" * 4,
    "uuid": "2abbd1c8-01c8-43c2-b6cd-53bdfd214bad",
    "label": "Reviewed_2-x",
    "symbolic_name": "PACS_1-a",
    "metadata_name": "1025",
    "attachment_name": "dicom-until-pixel-data",
    "name": "archive",
    "index": 0,
    "tag_path": "0008-1140/1/0008,1150",
}


def _operations() -> list[Operation]:
    return [value for value in vars(ops).values() if isinstance(value, Operation) and "{" in value.path]


def _hostile_for(kind: str) -> list[Any]:
    # "a/b" is two keyword segments: a well-formed tag path (Orthanc answers 400/404 for unknown keywords)
    return [value for value in HOSTILE if not (kind == "tag_path" and value == "a/b")]


# --- no server: every generated route, every placeholder ------------------------------------------------------


def test_every_generated_placeholder_has_a_kind_of_its_own() -> None:
    """No route falls back to the generic segment check: a new spec's placeholder must be added to the table."""
    fallbacks = [
        (operation.path, name)
        for operation in _operations()
        for name, kind in placeholder_kinds(operation.path)
        if kind.name == "segment"
    ]
    assert fallbacks == []


@pytest.mark.parametrize("operation", _operations(), ids=lambda operation: operation.name)
def test_every_generated_route_refuses_hostile_values_before_sending(operation: Operation) -> None:
    kinds = placeholder_kinds(operation.path)
    valid = tuple(VALID_SAMPLE[kind.name] for _, kind in kinds)
    prepared = prepare_request(operation, valid, is_async=False)  # well-formed values pass
    assert ".." not in prepared.url.split("/")
    for position, (name, kind) in enumerate(kinds):
        for value in _hostile_for(kind.name):
            args = valid[:position] + (value,) + valid[position + 1 :]
            with pytest.raises(InvalidInputError) as caught:
                prepare_request(operation, args, is_async=False)
            message = str(caught.value)
            assert repr(name) in message and operation.path in message, message
            assert len(message) < 400  # a 5000-character value is cut short


def test_each_kind_accepts_what_orthanc_accepts_and_escapes_it() -> None:
    accepted = {
        "orthanc_id": ["ce42f924-f6020bea-aa810144-6941b6f0-88331094"],
        "uuid": ["a71cc8fd-28dc-4a9b-a569-35fd339d800c"],
        "label": ["a", "A-b_9", "x" * 64],
        "symbolic_name": ["pacs", "PACS_2-b"],
        "metadata_name": ["1025", "ReceptionDate", "my.meta-data_1", 1025],
        "attachment_name": ["dicom", "dicom-until-pixel-data", 1026],
        "name": ["archive", "2.25.1234"],
        "index": [0, 12, "3", 4.0],
        "tag_path": ["0010,0010", "0010-0010", "00100010", "PatientName", "/0008-1140/1/0008-1150"],
    }
    for kind, values in accepted.items():
        for value in values:
            segment = validated_segment(kind, value)
            text = str(int(value)) if isinstance(value, (int, float)) else value.lstrip("/")
            assert segment == quote(text, safe="/" if kind == "tag_path" else "")  # escaped, or needs none
            assert "/" not in segment or kind == "tag_path"
            assert segment.lstrip("/") and ".." not in segment.split("/")
    assert validated_segment("tag_path", "/0008-1140/1/0008,1150") == "0008-1140/1/0008%2C1150"
    for kind, refused in {"label": ["x" * 65, "a.b"], "index": [-1, "1e3"], "orthanc_id": ["CE42F924-F6020BEA-AA810144-6941B6F0-88331094"]}.items():
        for value in refused:
            with pytest.raises(InvalidInputError):
                validated_segment(kind, value)
    assert set(VALID_SAMPLE) | {"segment"} == set(KINDS)


@pytest.mark.parametrize(
    "path",
    [
        "/studies/../patients", "studies/./x", "/studies/%2e%2E/patients", "/a//b", "/x?expand", "/x#y",
        "/patients/%2F..", "/a%5Cb", "/a\\b", "/x\n", "", "/", "//evil.example/x", "http://127.0.0.1:1/studies",
        "/studies/x/labels/..", "/studies/%2e",
    ],
)
def test_raw_paths_refuse_segments_that_leave_their_route(path: str) -> None:
    with pytest.raises(InvalidInputError):
        checked_raw_path(path)


def test_raw_paths_keep_ordinary_ones() -> None:
    assert checked_raw_path("tools/now") == "/tools/now"
    assert checked_raw_path("/modalities/my%20pacs/echo") == "/modalities/my%20pacs/echo"


def test_the_pyorthanc_facade_routes_are_checked_too() -> None:
    for route in ("http://h:8042/studies/../patients", "http://h/studies/%2e%2e?x=1", "/patients/a%2Fb", "/a//b"):
        with pytest.raises(InvalidInputError):
            checked_route(route)
    for route in ("http://h:8042/patients?expand", "http://h:8042", "http://h:8042/", "/tools/now", "http://h/x/"):
        assert checked_route(route) == route


def test_the_pyorthanc_facade_refuses_a_dot_dot_route_before_sending(clean_orthanc: OrthancServer) -> None:
    from orthanc_client.compat import pyorthanc as facade

    data = Data(clean_orthanc)
    before = snapshot(clean_orthanc)
    with facade.Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password) as client:
        with pytest.raises(InvalidInputError):
            client._delete(f"{clean_orthanc.url}/studies/{data.study}/labels/..")
        with pytest.raises(InvalidInputError):
            client._delete(f"{clean_orthanc.url}/patients/{data.patient}/%2E%2E/%2E%2E/studies/{data.study}")
        with pytest.raises(InvalidInputError):
            facade.Study(data.study, client).remove_label("..")
        with pytest.raises(InvalidInputError):
            facade.Patient(f"../studies/{data.study}", client).get_main_information()
        assert client._get(f"{clean_orthanc.url}/studies/{data.study}")["ID"] == data.study
    assert snapshot(clean_orthanc) == before


# --- a real server holding data ------------------------------------------------------------------------------


def snapshot(server: OrthancServer) -> dict[str, Any]:
    """Everything the hostile calls could have touched, read with plain httpx."""
    labels = version_tuple(server.version) >= (1, 12)
    state: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as http:
        for level in ("patients", "studies", "series", "instances"):
            ids = sorted(http.get(f"/{level}").raise_for_status().json())
            state[level] = ids
            for resource_id in ids:
                base = f"/{level}/{resource_id}"
                state[f"{base} metadata"] = http.get(f"{base}/metadata", params={"expand": ""}).json()
                state[f"{base} attachments"] = sorted(http.get(f"{base}/attachments").json())
                if labels:
                    state[f"{base} labels"] = sorted(http.get(f"{base}/labels").json())
        state["modalities"] = http.get("/modalities").json()
        state["peers"] = http.get("/peers").json()
    return state


class Data:
    def __init__(self, server: OrthancServer) -> None:
        answers = upload(server, make_patient_tree(2, 1, 1, 2, seed=13))
        first = answers[0]
        self.patient, self.study = first["ParentPatient"], first["ParentStudy"]
        self.series, self.instance = first["ParentSeries"], first["ID"]
        self.other_patient = next(a["ParentPatient"] for a in answers if a["ParentPatient"] != self.patient)
        with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as http:
            http.put(f"/studies/{self.study}/metadata/1025", content=b"keep").raise_for_status()
            http.put(f"/studies/{self.study}/attachments/1026", content=b"keep").raise_for_status()
            http.put(f"/instances/{self.instance}/metadata/1025", content=b"keep").raise_for_status()
            if version_tuple(server.version) >= (1, 12):
                http.put(f"/studies/{self.study}/labels/keep").raise_for_status()


@pytest.fixture
def data(clean_orthanc: OrthancServer) -> Data:
    return Data(clean_orthanc)


def families(client: Any, package: Any, data: Data) -> dict[str, list[Callable[[Any], Any]]]:
    """Calls that take a hostile value, by route family, through the resource layer and the generated API."""
    study = package.Study(data.study, client)
    instance = package.Instance(data.instance, client)
    job = "2abbd1c8-01c8-43c2-b6cd-53bdfd214bad"
    return {
        "resources": [
            lambda v: package.Study(v, client).delete(),
            lambda v: package.Patient(v, client).delete(),
            lambda v: package.Study(v, client).load(),
            lambda v: client.delete_instances_id(v),
            lambda v: client.delete_studies_id(v),
            lambda v: client.get_series_id(v),
        ],
        "labels": [
            lambda v: study.remove_label(v),
            lambda v: study.add_label(v),
            lambda v: client.delete_studies_id_labels_label(data.study, v),
            lambda v: client.delete_studies_id_labels_label(v, "keep"),
        ],
        "metadata": [
            lambda v: study.delete_metadata(v),
            lambda v: study.set_metadata(v, "x"),
            lambda v: study.get_metadata_with_revision(v),
            lambda v: instance.delete_metadata(v),
            lambda v: client.delete_studies_id_metadata_name(data.study, v),
        ],
        "attachments": [
            lambda v: study.delete_attachment(v),
            lambda v: study.set_attachment(v, b"x"),
            lambda v: study.get_attachment(v),
            lambda v: client.delete_studies_id_attachments_name(data.study, v),
        ],
        "jobs": [
            lambda v: package.Job(v, client).cancel(),
            lambda v: client.get_jobs_id(v),
            lambda v: client.delete_jobs_id_key(job, v),
        ],
        "modalities": [lambda v: package.Modality(client, v), lambda v: client.delete_modalities_id(v)],
        "peers": [lambda v: package.Peer(client, v), lambda v: client.delete_peers_id(v)],
        "queries": [
            lambda v: client.delete_queries_id(v),
            lambda v: client.get_queries_id_answers_index_content(job, v),
        ],
        "frames": [lambda v: client.get_instances_id_frames_frame_raw(data.instance, v)],
    }


ISSUE_CASES = ["..", "../studies/{study}", "{study}?expand", "../patients/{other_patient}", "{study}/../.."]


async def _call(function: Callable[[Any], Any], value: Any) -> Any:
    result = function(value)
    if inspect.isawaitable(result):
        result = await result
    return result


@pytest.fixture(params=["sync", "async"])
def api_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _with_client(server: OrthancServer, kind: str) -> Any:
    return sync_client(server) if kind == "sync" else async_client(server)


async def _close(client: Any) -> None:
    result = client.close() if hasattr(client, "close") else client.aclose()
    if inspect.isawaitable(result):
        await result


async def test_hostile_values_never_reach_the_server(clean_orthanc: OrthancServer, data: Data, api_kind: str) -> None:
    before = snapshot(clean_orthanc)
    sent: list[str] = []
    client = await _with_client(clean_orthanc, api_kind)
    client.http_client.event_hooks["request"] = [_record(sent, api_kind)]
    package = orthanc_client if api_kind == "sync" else aio
    tried = 0
    not_refused: list[tuple[str, Any, str]] = []
    try:
        issue = [case.format(**vars(data)) for case in ISSUE_CASES]
        for family, calls in families(client, package, data).items():
            for call in calls:
                for value in [*HOSTILE, *issue]:
                    tried += 1
                    try:
                        await _call(call, value)
                    except InvalidInputError:
                        continue
                    except Exception as exc:  # noqa: BLE001 - collected, reported below
                        not_refused.append((family, value, repr(exc)))
                    else:
                        not_refused.append((family, value, "no error"))
        # a raw path that would leave its route
        for path in ["/studies/../patients", f"/studies/{data.study}/labels/..", f"/studies/{data.study}/labels/%2e%2e",
                     f"/patients/{data.patient}/%2F..", f"/studies/{data.study}?expand", f"/studies/{data.study}/."]:
            for method in ("DELETE", "GET"):
                with pytest.raises(InvalidInputError):
                    await _call(lambda p, m=method: client.request(m, p), path)
                tried += 1
    finally:
        await _close(client)
    assert not_refused == []
    assert tried > 600 and sent == []  # nothing at all reached the server
    assert snapshot(clean_orthanc) == before


def _record(sent: list[str], kind: str) -> Any:
    if kind == "sync":
        return lambda request: sent.append(f"{request.method} {request.url}")

    async def hook(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url}")

    return hook


async def test_tag_paths_can_only_name_tags(clean_orthanc: OrthancServer, data: Data, api_kind: str) -> None:
    before = snapshot(clean_orthanc)
    client = await _with_client(clean_orthanc, api_kind)
    try:
        for value in [*_hostile_for("tag_path"), "0010,0010/..", "0010,0010//x", "../../studies", "/..", "0010,0010/%2F"]:
            with pytest.raises(InvalidInputError):
                await _call(lambda v: client.get_instances_id_content_path(data.instance, v), value)
        # the forms Orthanc documents do reach it
        for path in ("0010-0010", "/0010-0010", "00100010", "0010,0010", "PatientName"):
            name = await _call(lambda p: client.get_instances_id_content_path(data.instance, p), path)
            assert bytes(name).rstrip(b"\0 ").startswith(b"Test^Patient"), path
    finally:
        await _close(client)
    assert snapshot(clean_orthanc) == before


async def test_an_id_of_another_level_is_answered_not_found_and_touches_nothing(
    clean_orthanc: OrthancServer, data: Data, api_kind: str
) -> None:
    """All levels share one ID format, so the format check passes it. Orthanc itself checks the level on most
    routes, but not on metadata, attachments or modify (``PUT /series/<study id>/metadata/1025`` writes the
    study's): the resource objects check their level (one ``GET /{level}/{id}``) before those."""
    before = snapshot(clean_orthanc)
    client = await _with_client(clean_orthanc, api_kind)
    package = orthanc_client if api_kind == "sync" else aio
    try:
        for call in (
            lambda: package.Study(data.patient, client).delete(),
            lambda: package.Patient(data.study, client).delete(),
            lambda: client.delete_instances_id(data.series),
            lambda: package.Series(data.study, client).delete_metadata("1025"),
            lambda: package.Series(data.study, client).set_metadata("1025", "overwritten"),
            lambda: package.Instance(data.study, client).get_metadata(),
            lambda: package.Patient(data.study, client).delete_attachment("1026"),
            lambda: package.Series(data.study, client).set_attachment("1026", b"overwritten"),
            lambda: package.Series(data.study, client).update_metadata("1025", lambda value: "overwritten"),
            lambda: package.Series(data.study, client).modify_as_job(replace={"SeriesDescription": "x"}),
            lambda: package.Patient(data.study, client).remove_label("keep"),
        ):
            with pytest.raises((NotFoundError, orthanc_client.UnsupportedByServerError)):
                await _call(lambda _, c=call: c(), None)
    finally:
        await _close(client)
    assert snapshot(clean_orthanc) == before


@pytest.mark.orthanc112
def test_labels_and_metadata_still_work_with_ordinary_names(clean_orthanc: OrthancServer, data: Data) -> None:
    with sync_client(clean_orthanc) as client:
        study = orthanc_client.Study(data.study, client)
        study.add_label("Second_label-2")
        assert sorted(study.get_labels()) == ["Second_label-2", "keep"]
        study.remove_label("Second_label-2")
        assert study.get_labels() == ["keep"]
        study.set_metadata(1027, "v")
        assert study.get_metadata_with_revision("1027").value == "v"


# --- the command line ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> Any:
    from orthanc_client.cli import COMMAND_MODULES
    from orthanc_client.cli._common import cli as group

    for name in COMMAND_MODULES:
        importlib.import_module(f"orthanc_client.cli.{name}").register(group)
    return group


def _env(server: OrthancServer) -> dict[str, str]:
    return {"ORTHANC_URL": server.url, "ORTHANC_USERNAME": server.username, "ORTHANC_PASSWORD": server.password}


@pytest.mark.parametrize(
    "args",
    [
        ["labels", "remove", "{study}", ".."],
        ["labels", "add", "{study}", "a/b"],
        ["labels", "remove", "../studies/{study}", "keep"],
        ["labels", "show", "{study}?expand"],
        ["labels", "remove", "--level", "patient", "../studies/{study}", "keep"],
    ],
)
def test_cli_refuses_hostile_arguments_as_usage_errors(
    clean_orthanc: OrthancServer, data: Data, cli: Any, args: list[str]
) -> None:
    before = snapshot(clean_orthanc)
    result = CliRunner().invoke(cli, [arg.format(**vars(data)) for arg in args], env=_env(clean_orthanc))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert "Error:" in result.output and ("label" in result.output or "identifier" in result.output)
    assert snapshot(clean_orthanc) == before

