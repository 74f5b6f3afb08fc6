"""The test harness itself, against every installed Orthanc: servers, credentials, synthetic DICOM.

Plain httpx only, so these tests hold whatever state the client under development is in.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import textwrap

import httpx
import numpy as np
import pytest

from orthanc_client.testing import OrthancServer, find_orthanc_binaries
from orthanc_client.testing.dicom import make_instance, make_patient_tree, make_series, to_bytes

BINARY = {"Accept-Encoding": "identity"}  # raw bytes, whatever the server's HttpCompressionEnabled


def client(server: OrthancServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=server.auth, headers=BINARY, timeout=30)


def upload(http: httpx.Client, data: bytes) -> dict[str, str]:
    response = http.post("/instances", content=data, headers={"Content-Type": "application/dicom"})
    response.raise_for_status()
    answer: dict[str, str] = response.json()
    assert answer["Status"] == "Success", answer
    return answer


def test_system_answers_with_version_over_auth(orthanc_server: OrthancServer) -> None:
    with client(orthanc_server) as http:
        system = http.get("/system").raise_for_status().json()
    assert system["Version"] == orthanc_server.version
    assert system["Name"] == orthanc_server.name == "orthanc-test"
    assert system["DicomAet"] == orthanc_server.aet == "ORTHANC-TEST"
    assert system["DicomPort"] == orthanc_server.dicom_port
    assert system["HttpPort"] == orthanc_server.http_port
    assert orthanc_server.url == f"http://127.0.0.1:{orthanc_server.http_port}"


def test_wrong_or_missing_password_is_rejected(orthanc_server: OrthancServer) -> None:
    wrong = httpx.get(f"{orthanc_server.url}/system", auth=(orthanc_server.username, "not-the-password"))
    assert wrong.status_code == 401
    assert httpx.get(f"{orthanc_server.url}/system").status_code == 401


def test_restart_keeps_data_and_ports_close_removes_everything(orthanc_version: str) -> None:
    instance = make_instance(
        patient_id="RESTART", patient_name="Re^Start", study_uid="1.2.3.1", series_uid="1.2.3.1.1"
    )
    with OrthancServer(orthanc_version, name="restart-test") as server:
        ports = (server.http_port, server.dicom_port)
        with client(server) as http:
            instance_id = upload(http, to_bytes(instance))["ID"]
        server.restart()
        assert server.is_running()
        assert (server.http_port, server.dicom_port) == ports
        with client(server) as http:
            assert http.get("/instances").json() == [instance_id]
            tags = http.get(f"/instances/{instance_id}/simplified-tags").json()
        assert tags["PatientID"] == "RESTART"
        workdir = server.workdir
        assert workdir is not None and workdir.is_dir()
    assert not server.is_running()
    assert not workdir.exists()


def test_synthetic_series_uploads_with_its_tags(clean_orthanc: OrthancServer) -> None:
    series = make_series(5, patient_id="SERIES01", origin=(-10.0, 20.5, 100.0), slice_thickness=2.5)
    with client(clean_orthanc) as http:
        answers = [upload(http, to_bytes(ds)) for ds in series.datasets]
        series_id = answers[0]["ParentSeries"]
        assert {a["ParentSeries"] for a in answers} == {series_id}
        assert len(http.get(f"/series/{series_id}").json()["Instances"]) == 5
        assert http.get(f"/series/{series_id}/statistics").json()["CountInstances"] == 5
        for ds, answer in zip(series.datasets, answers, strict=True):
            tags = http.get(f"/instances/{answer['ID']}/simplified-tags").json()
            assert tags["PatientID"] == "SERIES01"
            assert tags["StudyInstanceUID"] == series.datasets[0].StudyInstanceUID
            assert tags["SOPInstanceUID"] == ds.SOPInstanceUID
            position = [float(v) for v in tags["ImagePositionPatient"].split("\\")]
            assert position == pytest.approx([-10.0, 20.5, 100.0 + 2.5 * (int(tags["InstanceNumber"]) - 1)])


def test_patient_tree_counts(clean_orthanc: OrthancServer) -> None:
    tree = make_patient_tree(2, 2, 2, 2)
    with client(clean_orthanc) as http:
        for ds in tree:
            upload(http, to_bytes(ds))
        stats = http.get("/statistics").json()
        patients = sorted(
            http.get(f"/patients/{p}").json()["MainDicomTags"]["PatientID"]
            for p in http.get("/patients").json()
        )
    assert (stats["CountPatients"], stats["CountStudies"], stats["CountSeries"], stats["CountInstances"]) == (
        2,
        4,
        8,
        16,
    )
    assert patients == ["PAT0001", "PAT0002"]


def test_preview_is_a_png(clean_orthanc: OrthancServer) -> None:
    with client(clean_orthanc) as http:
        instance_id = upload(http, to_bytes(make_series(1, patient_id="PREVIEW").datasets[0]))["ID"]
        response = http.get(f"/instances/{instance_id}/preview")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(("dtype", "slice_spacing"), [("uint16", 1.0), ("int16", -1.0)])
def test_series_numpy_equals_generated_volume(
    clean_orthanc: OrthancServer, dtype: str, slice_spacing: float
) -> None:
    """``/series/{id}/numpy`` is ``(slice, row, column, channel)``, slices by increasing position along
    the normal (row direction x column direction): not by InstanceNumber, not by upload order. With a
    negative ``slice_spacing`` InstanceNumber runs against the normal, so Orthanc's order is reversed."""
    series = make_series(
        6, patient_id="NUMPY", rows=12, columns=10, slice_spacing=slice_spacing, dtype=dtype, seed=7
    )
    shuffled = list(series.datasets)
    random.Random(0).shuffle(shuffled)
    with client(clean_orthanc) as http:
        series_ids = {upload(http, to_bytes(ds))["ParentSeries"] for ds in shuffled}
        assert len(series_ids) == 1
        series_id = series_ids.pop()
        response = http.get(f"/series/{series_id}/numpy", params={"rescale": "false"})
    assert response.status_code == 200
    array = np.load(io.BytesIO(response.content))
    assert array.shape == (6, 12, 10, 1)
    assert array.dtype == np.dtype(dtype)
    expected = series.volume if slice_spacing > 0 else series.volume[::-1]
    np.testing.assert_array_equal(array[..., 0], expected)


@pytest.mark.orthanc_min("1.12")
def test_orthanc_min_marker_runs_only_on_new_enough_servers(orthanc_server: OrthancServer) -> None:
    # Labels arrived in Orthanc 1.12.0 (404 on 1.10.1, where this test is skipped at collection).
    response = httpx.get(f"{orthanc_server.url}/tools/labels", auth=orthanc_server.auth)
    assert response.status_code == 200
    assert isinstance(response.json(), list)


def test_two_servers_run_at_once(orthanc_server: OrthancServer, second_orthanc_server: OrthancServer) -> None:
    assert orthanc_server.is_running() and second_orthanc_server.is_running()
    ports = {orthanc_server.http_port, orthanc_server.dicom_port, second_orthanc_server.http_port}
    assert len(ports | {second_orthanc_server.dicom_port}) == 4
    for server in (orthanc_server, second_orthanc_server):
        with client(server) as http:
            assert http.get("/system").json()["DicomAet"] == server.aet
    assert orthanc_server.aet != second_orthanc_server.aet
    # each server has its own generated password
    other = httpx.get(f"{second_orthanc_server.url}/system", auth=orthanc_server.auth)
    assert other.status_code == 401


def test_repr_hides_the_password(orthanc_server: OrthancServer) -> None:
    text = repr(orthanc_server)
    assert orthanc_server.password not in text
    assert orthanc_server.version in text and orthanc_server.url in text


def test_unknown_version_names_the_installed_ones() -> None:
    with pytest.raises(
        RuntimeError, match="installed versions: .*" + next(iter(find_orthanc_binaries()), "none")
    ):
        OrthancServer("0.9")


def test_failed_start_reports_the_log(orthanc_version: str) -> None:
    server = OrthancServer(orthanc_version, extra_config={"HttpPort": "not-a-port"})
    try:
        with pytest.raises(RuntimeError, match="exited during start-up(.|\n)*HttpPort"):
            server.start()
        assert not server.is_running()
    finally:
        server.close()


def test_atexit_kills_a_server_left_running(orthanc_version: str) -> None:
    script = textwrap.dedent(
        f"""
        from orthanc_client.testing import OrthancServer
        server = OrthancServer({orthanc_version!r})
        server.start()
        print(server.pid, server.workdir, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    pid, workdir = out.stdout.split()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
    assert not os.path.exists(workdir)


def test_dicomweb_plugin_loads_by_name(orthanc_version: str) -> None:
    with OrthancServer(orthanc_version, name="harness-dicomweb", plugins=("dicomweb",)) as server:
        with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as client:
            answer = client.get("/dicom-web/studies")
            assert answer.status_code == 200, answer.text
            assert answer.json() == []
            plugins = client.get("/plugins").json()
            assert "dicom-web" in plugins


def test_unknown_plugin_is_refused_before_start(orthanc_version: str) -> None:
    with pytest.raises(ValueError, match="unknown Orthanc plugin 'dicom_web'"):
        OrthancServer(orthanc_version, plugins=("dicom_web",))
