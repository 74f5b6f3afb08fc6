"""``upload`` and ``Modality`` through the facade, against real servers (and real pyorthanc for upload)."""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest

from orthanc_client.testing import OrthancServer

from .conftest import FILES, facade, real_pyorthanc


@pytest.fixture
def client(clean_orthanc: OrthancServer) -> Iterator[facade.Orthanc]:
    with facade.Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password) as c:
        yield c


def _ids(instances: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(i.id_ for i in instances)


def test_upload_file_dataset_zip_and_directory(client: facade.Orthanc, tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(FILES[0])
    one = facade.upload(client, str(tmp_path / "a.dcm"))
    assert len(one) == 1 and isinstance(one[0], facade.Instance)
    assert one[0].id_ == client.get_instances()[0]
    ds = pydicom.dcmread(io.BytesIO(FILES[1]))
    assert facade.upload(client, ds)[0].uid == ds.SOPInstanceUID
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, body in enumerate(FILES[2:6]):
            archive.writestr(f"f{k}.dcm", body)
    (tmp_path / "x.zip").write_bytes(buffer.getvalue())
    assert len(facade.upload(client, tmp_path / "x.zip")) == 4
    folder = tmp_path / "dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.DCM").write_bytes(FILES[6])
    (folder / "c.dcm.gz").write_bytes(gzip.compress(FILES[7]))
    (folder / "sub" / "d.dcm").write_bytes(FILES[8])
    (folder / "ignored.txt").write_bytes(FILES[9])
    flat = facade.upload(client, str(folder))
    assert len(flat) == 2
    deep = facade.upload(client, str(folder), recursive=True)
    assert len(deep) == 3
    assert len(client.get_instances()) == 9


def test_upload_results_match_pyorthanc(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    for k, body in enumerate(FILES[:5]):
        (tmp_path / f"{k}.dcm").write_bytes(body)
    with facade.Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password) as ours:
        ref = real_pyorthanc.Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password)
        expected = _ids(real_pyorthanc.upload(ref, str(tmp_path)))
        assert _ids(facade.upload(ours, str(tmp_path))) == expected
        # check_before_upload: known instances are not sent again.
        sent: list[str] = []
        ours.event_hooks["request"] = [lambda request: sent.append(request.method)]
        assert _ids(facade.upload(ours, str(tmp_path), check_before_upload=True)) == expected
        assert "POST" not in sent
        ref.close()


def test_upload_errors(client: facade.Orthanc, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        facade.upload(client, str(tmp_path / "missing.dcm"))
    with pytest.raises(TypeError):
        facade.upload(client, 42)
    (tmp_path / "bad.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(httpx.HTTPStatusError):
        facade.upload(client, str(tmp_path / "bad.dcm"))


def test_check_before_upload_needs_pydicom(client: facade.Orthanc, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.dcm").write_bytes(FILES[0])
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ModuleNotFoundError):
        facade.upload(client, str(tmp_path / "a.dcm"), check_before_upload=True)
    assert client.get_instances() == []


@pytest.fixture
def modality_pair(orthanc_server: OrthancServer, second_orthanc_server: OrthancServer) -> Iterator[tuple]:  # type: ignore[type-arg]
    """``orthanc_server`` knows ``second_orthanc_server`` as the modality ``remote`` and vice versa."""
    local, remote = orthanc_server, second_orthanc_server
    for server in (local, remote):
        with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
            for patient in http.get("/patients").raise_for_status().json():
                http.delete(f"/patients/{patient}").raise_for_status()
    with httpx.Client(base_url=local.url, auth=local.auth, timeout=60) as http:
        http.put("/modalities/remote", json={"AET": remote.aet, "Host": "127.0.0.1", "Port": remote.dicom_port}).raise_for_status()
        http.put("/modalities/nobody", json={"AET": "NOBODY", "Host": "127.0.0.1", "Port": 9}).raise_for_status()
    with httpx.Client(base_url=remote.url, auth=remote.auth, timeout=60) as http:
        http.put("/modalities/local", json={"AET": local.aet, "Host": "127.0.0.1", "Port": local.dicom_port,
                                            "AllowGet": True}).raise_for_status()
        for body in FILES[:4]:
            http.post("/instances", content=body).raise_for_status()
    with facade.Orthanc(local.url, local.username, local.password) as client:
        yield client, local, remote


def test_modality_echo_find_move_store(modality_pair: tuple) -> None:  # type: ignore[type-arg]
    client, local, remote = modality_pair
    modality = facade.Modality(client, "remote")
    assert modality.echo() is True
    assert facade.Modality(client, "nobody").echo() is False
    found = modality.find({"Level": "Study", "Query": {"PatientID": "", "StudyInstanceUID": ""}})
    assert set(found) == {"ID", "answers"}
    assert len(found["answers"]) == 1
    assert found["answers"][0]["PatientID"] == "PAT0001"
    ref = real_pyorthanc.Modality(real_pyorthanc.Orthanc(local.url, local.username, local.password), "remote")
    assert ref.get_query_answers(found["ID"]) == modality.get_query_answers(found["ID"])
    answer = modality.query({"Level": "Series", "Query": {"SeriesInstanceUID": ""}})
    assert len(answer["answers"]) == 2
    moved = modality.move(found["ID"], {"TargetAet": local.aet})
    assert isinstance(moved, dict)
    assert len(client.get_instances()) == 4
    instance_id = client.get_instances()[0]
    with httpx.Client(base_url=remote.url, auth=remote.auth) as http:
        http.delete(f"/instances/{instance_id}").raise_for_status()
        stored = modality.store(instance_id)
        assert isinstance(stored, dict)
        assert http.get(f"/instances/{instance_id}").status_code == 200
    facade.delete_queries(client)
    assert client.get_queries() == []
    with pytest.raises(ValueError):
        modality.get("Image", {})


@pytest.mark.orthanc_min("1.12.7")
def test_modality_get(modality_pair: tuple) -> None:  # type: ignore[type-arg]
    client, local, remote = modality_pair
    modality = facade.Modality(client, "remote")
    study_uid = pydicom.dcmread(io.BytesIO(FILES[0])).StudyInstanceUID
    answer = modality.get("Study", {"StudyInstanceUID": study_uid})
    assert isinstance(answer, dict)
    assert len(client.get_instances()) == 4
