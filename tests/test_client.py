"""The low-level client against a real Orthanc: calls, streaming, errors. Every test runs sync and async."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orthanc_client import (
    BadRequestError,
    ConnectError,
    HTTPError,
    NotFoundError,
    OrthancError,
    UnauthorizedError,
    UnsupportedByServerError,
)
from orthanc_client.models import PostToolsFindBody
from orthanc_client.testing import OrthancServer, version_tuple
from orthanc_client.testing.dicom import make_series, make_study, to_bytes

from .clients import make_api, read_stream

MISSING_ID = "0" * 8 + "-00000000" * 4  # well formed, on no server


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, clean_orthanc: OrthancServer) -> AsyncIterator[Any]:
    server = clean_orthanc
    async for client in make_api(request.param, server.url, server.username, server.password):
        yield client


@pytest.fixture
def study_files() -> list[bytes]:
    return [to_bytes(ds) for ds in make_study(2, 3, patient_id="CLIENT01", seed=11)]


async def upload(api: Any, files: list[bytes]) -> list[dict[str, Any]]:
    return [await api.post_instances(data) for data in files]


async def test_system_reports_the_server_version(api: Any, orthanc_server: OrthancServer) -> None:
    system = await api.get_system()
    assert system["Version"] == orthanc_server.version
    assert await api.server_version() == orthanc_server.version
    cached = await api.system()
    assert cached["Version"] == orthanc_server.version and cached["DicomAet"] == orthanc_server.aet
    assert await api.system() is cached  # read once per client


async def test_upload_list_expand_and_find(api: Any, study_files: list[bytes]) -> None:
    answers = await upload(api, study_files)
    assert {a["Status"] for a in answers} == {"Success"}
    assert (await api.post_instances(study_files[0]))["Status"] == "AlreadyStored"

    instance_ids = await api.get_instances()
    assert sorted(instance_ids) == sorted(a["ID"] for a in answers)
    patients = await api.get_patients(expand=True)
    assert [p["MainDicomTags"]["PatientID"] for p in patients] == ["CLIENT01"]
    assert await api.get_patients(expand=False) == [patients[0]["ID"]]

    study_id = answers[0]["ParentStudy"]
    series = await api.get_studies_id_series(study_id, expand=True)
    assert len(series) == 2 and all(len(s["Instances"]) == 3 for s in series)

    found = await api.post_tools_find(
        PostToolsFindBody(level="Series", query={"PatientID": "CLIENT*"}, expand=True)
    )
    assert sorted(s["ID"] for s in found) == sorted(s["ID"] for s in series)
    as_dict = await api.post_tools_find({"Level": "Study", "Query": {"PatientID": "NOBODY"}})
    assert as_dict == []
    statistics = await api.get_studies_id_statistics(study_id)
    assert statistics["CountInstances"] == 6


async def test_typed_query_arguments_reach_the_server(api: Any, study_files: list[bytes]) -> None:
    await upload(api, study_files)
    assert len(await api.get_instances(since=0, limit=2)) == 2
    assert len(await api.get_instances(since=4, limit=10)) == 2
    assert len(await api.get_instances(params={"since": 0, "limit": 1})) == 1
    instance = (await api.get_instances())[0]
    simplified = await api.get_instances_id_tags(instance, simplify=True)
    assert simplified["PatientID"] == "CLIENT01"
    short = await api.get_instances_id_tags(instance, short=True)
    assert short["0010,0020"] == "CLIENT01"


async def test_text_and_binary_answers(api: Any, study_files: list[bytes]) -> None:
    answer = (await upload(api, study_files[:1]))[0]
    uid = await api.get_tools_generate_uid(level="instance")
    assert isinstance(uid, str) and uid.startswith("1.2.")
    dicom = await api.get_instances_id_file(answer["ID"])
    assert dicom == study_files[0]
    assert await read_stream(api, "stream_get_instances_id_file", answer["ID"]) == study_files[0]
    syntax = await api.get_instances_id_metadata_name(answer["ID"], "TransferSyntax")
    assert syntax == "1.2.840.10008.1.2.1"


async def test_binary_answers_are_requested_without_gzip(
    api: Any, study_files: list[bytes], orthanc_server: OrthancServer
) -> None:
    answer = (await upload(api, study_files[:1]))[0]
    context = api.stream_get_instances_id_file(answer["ID"])
    if hasattr(context, "__aenter__"):
        async with context as streamed:
            encoding = streamed.headers.get("content-encoding")
            await streamed.aread()
    else:
        with context as streamed:
            encoding = streamed.headers.get("content-encoding")
    assert encoding is None
    # A default httpx client accepts gzip, and Orthanc then deflates the file on the fly where compression is
    # on (the default in 1.10.1): that is the 20-45x slowdown the identity header avoids.
    with httpx.Client(base_url=orthanc_server.url, auth=orthanc_server.auth) as plain:
        default = plain.get(f"/instances/{answer['ID']}/file")
    if version_tuple(orthanc_server.version) < (1, 12):
        assert default.headers.get("content-encoding") == "gzip"
    assert default.content == study_files[0]


async def test_archive_streams_and_is_a_valid_zip(api: Any, study_files: list[bytes]) -> None:
    answers = await upload(api, study_files)
    body = await read_stream(api, "stream_get_studies_id_archive", answers[0]["ParentStudy"])
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        contents = sorted(hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist() if n[-1] != "/")
    assert contents == sorted(hashlib.sha256(f).hexdigest() for f in study_files)


async def test_stream_write_to_a_file(api: Any, study_files: list[bytes], tmp_path: Any) -> None:
    answer = (await upload(api, study_files[:1]))[0]
    target = tmp_path / "one.dcm"
    context = api.stream_get_instances_id_file(answer["ID"])
    if hasattr(context, "__aenter__"):
        async with context as streamed:
            written = await streamed.write_to(target)
    else:
        with context as streamed:
            written = streamed.write_to(target)
    assert written == len(study_files[0]) and target.read_bytes() == study_files[0]
    assert not (tmp_path / "one.dcm.part").exists()


async def test_a_failed_stream_raises_before_anything_is_written(api: Any, tmp_path: Any) -> None:
    target = tmp_path / "missing.zip"
    with pytest.raises(NotFoundError):
        context = api.stream_get_studies_id_archive(MISSING_ID)
        if hasattr(context, "__aenter__"):
            async with context as streamed:
                await streamed.write_to(target)
        else:
            with context as streamed:
                streamed.write_to(target)
    assert not target.exists() and not (tmp_path / "missing.zip.part").exists()


async def test_modify_and_delete(api: Any, study_files: list[bytes]) -> None:
    answers = await upload(api, study_files)
    study_id = answers[0]["ParentStudy"]
    modified = await api.post_studies_id_modify(study_id, {"Replace": {"StudyDescription": "changed"}})
    new_study = await api.get_studies_id(modified["ID"])
    assert new_study["MainDicomTags"]["StudyDescription"] == "changed"
    await api.delete_studies_id(modified["ID"])
    with pytest.raises(NotFoundError):
        await api.get_studies_id(modified["ID"])


async def test_unknown_resource_raises_not_found(api: Any) -> None:
    with pytest.raises(NotFoundError) as caught:
        await api.get_patients_id(MISSING_ID)
    error = caught.value
    assert error.status_code == 404 and error.method == "GET"
    assert error.url.endswith(f"/patients/{MISSING_ID}")
    assert isinstance(error, httpx.HTTPStatusError) and isinstance(error, OrthancError)


async def test_bad_body_raises_bad_request_with_orthancs_details(api: Any, study_files: list[bytes]) -> None:
    answers = await upload(api, study_files[:1])
    with pytest.raises(BadRequestError) as caught:
        await api.post_patients_id_modify(answers[0]["ParentPatient"], {"Replace": {"PatientID": "X"}})
    error = caught.value
    assert error.orthanc_status is not None and error.details and "Force" in error.details
    assert "Force" in str(error)
    with pytest.raises(BadRequestError):
        await api.post_tools_find({"Level": "NotALevel", "Query": {}})


async def test_wrong_password_raises_unauthorized(orthanc_server: OrthancServer) -> None:
    for kind in ("sync", "async"):
        async for api in make_api(kind, orthanc_server.url, orthanc_server.username, "wrong-password"):
            with pytest.raises(UnauthorizedError) as caught:
                await api.get_system()
            assert "wrong-password" not in str(caught.value) and "wrong-password" not in repr(api)
            assert isinstance(caught.value, HTTPError)


async def test_stopped_server_raises_connect_error(orthanc_version: str) -> None:
    server = OrthancServer(orthanc_version, name="stopped")
    server.start()
    for kind in ("sync", "async"):
        async for api in make_api(kind, server.url, server.username, server.password, retries=0):
            assert (await api.get_system())["Version"] == orthanc_version
    server.close()
    for kind in ("sync", "async"):
        async for api in make_api(kind, server.url, server.username, server.password, retries=1):
            with pytest.raises(ConnectError) as caught:
                await api.get_system()
            assert server.url in str(caught.value) and server.password not in str(caught.value)
            assert isinstance(caught.value, httpx.TransportError)


async def test_routes_newer_than_the_server_raise_unsupported(api: Any, orthanc_server: OrthancServer) -> None:
    if version_tuple(orthanc_server.version) >= (1, 12):
        assert isinstance(await api.get_tools_labels(), list)
        return
    with pytest.raises(UnsupportedByServerError) as caught:
        await api.get_tools_labels()
    error = caught.value
    assert (error.required_version, error.server_version) == ("1.12.0", orthanc_server.version)
    assert "GET /tools/labels" in str(error)
    # streamed routes go through the same gate
    with pytest.raises(UnsupportedByServerError, match="GET /tools/create-archive"):
        await read_stream(api, "stream_get_tools_create_archive", resources="x")


async def test_numpy_answer_is_binary(api: Any) -> None:
    series = make_series(3, rows=8, columns=6, patient_id="NUMPY01", seed=3)
    answers = await upload(api, [to_bytes(ds) for ds in series.datasets])
    import numpy as np

    body = await api.get_series_id_numpy(answers[0]["ParentSeries"], rescale=False)
    volume = np.load(io.BytesIO(body))
    assert volume.shape[:3] == (3, 8, 6)


async def test_a_route_first_documented_in_1_12_works_where_older_servers_serve_it(
    api: Any, study_files: list[bytes]
) -> None:
    answer = (await upload(api, study_files[:1]))[0]
    assert await api.get_instances_id_content_path(answer["ID"], "0010-0020") == b"CLIENT01"  # raw tag value


def test_default_tls_context_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    from orthanc_client._core.tls import ssl_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    shared = ssl_context(True)
    assert isinstance(shared, ssl.SSLContext) and shared.verify_mode == ssl.CERT_REQUIRED
    assert ssl_context(True) is shared  # not the 30-45 ms CA bundle load again
    assert ssl_context(False) is False
    mine = ssl.create_default_context()
    assert ssl_context(mine) is mine
    monkeypatch.setenv("SSL_CERT_DIR", "/etc/ssl/certs")  # httpx honours it: another context
    assert ssl_context(True) is not shared
