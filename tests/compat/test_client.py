"""The facade's ``Orthanc``/``AsyncOrthanc`` and the native client's pyorthanc call style, on real servers."""

from __future__ import annotations

import copy
import io
import warnings

import httpx
import numpy as np
import pytest

import orthanc_client
from orthanc_client import NotFoundError
from orthanc_client.testing import OrthancServer

from .conftest import FILES, Pair, facade

MISSING_ID = "0" * 8 + "-00000000" * 4  # well formed, on no server


def test_route_methods_in_pyorthancs_call_style(pair: Pair) -> None:
    ours, ref = pair.ours, pair.ref
    instance_id = ours.get_instances()[0]
    # Path params positional, pyorthanc's alphabetical order for the frame routes, params= as a dict.
    assert ours.get_instances_id(instance_id) == ref.get_instances_id(instance_id)
    numpy_ours = ours.get_instances_id_frames_frame_numpy(0, instance_id)
    assert isinstance(numpy_ours, bytes)
    assert numpy_ours == ref.get_instances_id_frames_frame_numpy(0, instance_id)
    assert ours.get_instances_id_frames_frame_raw(frame=0, id_=instance_id) == ref.get_instances_id_frames_frame_raw(0, instance_id)
    assert ours.get_instances_id_tags(instance_id, {"simplify": True}) == ref.get_instances_id_tags(instance_id, {"simplify": True})
    # JSON body positional; text answers as str; binary as bytes.
    body = {"Level": "Study", "Query": {"PatientID": "PAT0001"}}
    assert sorted(ours.post_tools_find(body)) == sorted(ref.post_tools_find(body))
    patient = ours.get_patients()[0]
    assert ours.get_patients_id_protected(patient) == ref.get_patients_id_protected(patient) == "0"
    assert ours.get_instances_id_file(instance_id) == ref.get_instances_id_file(instance_id)
    # Raw body with data=, metadata round trip; an empty text answer is "".
    ours.put_instances_id_metadata_name(instance_id, "1024", "hello")
    assert ours.get_instances_id_metadata_name(instance_id, "1024") == "hello"
    # A JSON route called without a body sends {} (Orthanc refuses an empty body there).
    assert "ID" in ours.post_patients_id_anonymize(patient)
    # Upload positional raw bytes.
    assert ours.post_instances(FILES[0])["ID"] == instance_id or ours.post_instances(FILES[0])["Status"]
    # Routes the native spec dates after 1.10 but every Orthanc serves: sent anyway, as pyorthanc does.
    assert ours.get_instances_id_content_path(instance_id, "0010-0020") == ref.get_instances_id_content_path(instance_id, "0010-0020")
    # Unknown extra positional argument is a TypeError, as for any Python function.
    with pytest.raises(TypeError):
        ours.get_patients_id(patient, None, "extra")


def test_native_client_accepts_pyorthanc_call_style(pair: Pair) -> None:
    server = pair.server
    with orthanc_client.Orthanc(server.url, server.username, server.password) as native:
        instance_id = native.get_instances()[0]
        assert native.get_instances_id_tags(instance_id, params={"simplify": True})["PatientID"].startswith("PAT")
        assert len(native.post_tools_find({"Level": "Patient", "Query": {}})) == 2
        uploaded = native.post_instances(FILES[1])
        assert uploaded["Status"] == "AlreadyStored"
        assert native.get_patients_id_protected(uploaded["ParentPatient"]) == "0"
        with pytest.raises(httpx.HTTPStatusError):
            native.get_studies_id(MISSING_ID)
        with pytest.raises(orthanc_client.InvalidInputError):  # not an ID: refused before it reaches a path
            native.get_studies_id("nope")


def test_errors_are_httpx_and_typed(pair: Pair) -> None:
    with pytest.raises(NotFoundError) as caught:
        pair.ours.get_patients_id(MISSING_ID)
    assert isinstance(caught.value, httpx.HTTPError)
    assert caught.value.response.status_code == 404
    with pytest.raises(httpx.HTTPError):
        pair.ref.get_patients_id("does-not-exist")  # pyorthanc raises a plain httpx.HTTPError
    with pytest.raises(orthanc_client.HTTPError):
        pair.ours._get(f"{pair.ours.url}/patients/does-not-exist")


def test_wrong_credentials_raise_unauthorized(populated: OrthancServer) -> None:
    with facade.Orthanc(populated.url, populated.username, "wrong") as client:
        with pytest.raises(orthanc_client.UnauthorizedError):
            client.get_system()


def test_transport_errors_are_httpx_transport_errors() -> None:
    with facade.Orthanc("http://127.0.0.1:9", timeout=2) as client:
        with pytest.raises(httpx.TransportError) as caught:
            client.get_system()
        assert isinstance(caught.value, orthanc_client.TransportError)


def test_is_an_httpx_client(pair: Pair) -> None:
    server = pair.server
    with facade.Orthanc(server.url, server.username, server.password) as client:
        response = client.get(f"{server.url}/system")
        assert isinstance(response, httpx.Response)
        assert response.json()["Version"] == server.version
        assert client._get(f"{client.url}/patients") == pair.ref._get(f"{client.url}/patients")
        assert client.version == pair.ref.version


def test_return_raw_response(pair: Pair) -> None:
    ours = pair.ours
    ours.return_raw_response = True
    response = ours.get_patients()
    assert isinstance(response, httpx.Response) and response.status_code == 200
    missing = ours.get_patients_id(MISSING_ID)
    assert isinstance(missing, httpx.Response) and missing.status_code == 404
    # Resources switch to a decoding copy with a warning, as in pyorthanc.
    with pytest.warns(UserWarning, match="return_raw_response"):
        patient = facade.Patient(response.json()[0], ours)
    assert patient.patient_id.startswith("PAT")
    assert ours.return_raw_response is True
    copied = copy.copy(ours)
    copied.return_raw_response = False
    assert isinstance(copied.get_patients(), list)
    ours.return_raw_response = False
    assert isinstance(ours.get_patients(), list)


def test_binary_answers_use_identity_encoding(pair: Pair) -> None:
    seen: list[str] = []
    pair.ours.event_hooks["request"] = [lambda request: seen.append(request.headers.get("accept-encoding", ""))]
    pair.ours.get_instances_id_file(pair.ours.get_instances()[0])
    assert seen[-1] == "identity"


async def test_async_client(pair: Pair) -> None:
    server = pair.server
    async with facade.AsyncOrthanc(server.url, server.username, server.password) as client:
        patients = await client.get_patients()
        assert sorted(patients) == sorted(pair.ref.get_patients())
        instance_id = (await client.get_instances())[0]
        raw = await client.get_instances_id_frames_frame_numpy(0, instance_id)
        assert np.load(io.BytesIO(raw)).shape[:2] == (16, 16)
        with pytest.raises(NotFoundError):
            await client.get_studies_id(MISSING_ID)
        client.return_raw_response = True
        assert (await client.get_studies_id(MISSING_ID)).status_code == 404
        client.return_raw_response = False
        answer = await facade.async_upload(client, _write_tmp(FILES[0]))
        assert answer["Status"] == "AlreadyStored"
        sync = facade.util.async_to_sync(client)
        assert sorted(sync.get_patients()) == sorted(patients)
        sync.close()
        back = facade.util.sync_to_async(pair.ours)
        assert sorted(await back.get_patients()) == sorted(patients)
        await back.aclose()


def _write_tmp(content: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as file:
        file.write(content)
    return file.name


def test_delete_queries(pair: Pair) -> None:
    facade.delete_queries(pair.ours)
    assert pair.ours.get_queries() == []


async def test_async_delete_queries(pair: Pair) -> None:
    server = pair.server
    async with facade.AsyncOrthanc(server.url, server.username, server.password) as client:
        await facade.async_delete_queries(client)
        assert await client.get_queries() == []


def test_no_warning_noise_on_import() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import orthanc_client.compat.pyorthanc  # noqa: F401
