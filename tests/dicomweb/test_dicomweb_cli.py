"""``orthanc dicomweb search|retrieve|store|send`` end to end in a subprocess, against the real plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom

from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, write

from ..test_cli import run
from .conftest import empty


def test_store_search_retrieve_send(
    clean_dicomweb: OrthancServer, dicomweb_second_server: OrthancServer, tmp_path: Path
) -> None:
    sent = make_study(2, 2, patient_id="CLI1")
    folder = tmp_path / "in"
    folder.mkdir()
    for index, dataset in enumerate(sent):
        write(dataset, folder / f"{index}.dcm")
    (folder / "readme.txt").write_text("not DICOM")
    stored = run(clean_dicomweb, "dicomweb", "store", str(folder), "--json")
    assert stored.returncode == 0, stored.stderr
    outcome = json.loads(stored.stdout)
    assert len(outcome["stored"]) == 4 and outcome["skipped"][0]["reason"] == "not a DICOM Part 10 file"

    found = run(clean_dicomweb, "dicomweb", "search", "-q", "PatientID=CLI*", "--json")
    assert found.returncode == 0, found.stderr
    (study,) = json.loads(found.stdout)
    study_uid = study["0020000D"]["Value"][0]
    assert study_uid == sent[0].StudyInstanceUID
    table = run(clean_dicomweb, "dicomweb", "search", "--level", "series", "--study", study_uid)
    assert table.returncode == 0 and "2 series results" in table.stdout

    out = tmp_path / "out"
    retrieved = run(clean_dicomweb, "dicomweb", "retrieve", study_uid, "--out", str(out), "--layout", "flat")
    assert retrieved.returncode == 0, retrieved.stderr
    assert "4 stored" in retrieved.stdout
    assert {pydicom.dcmread(p).SOPInstanceUID for p in out.iterdir()} == {ds.SOPInstanceUID for ds in sent}

    empty(dicomweb_second_server)
    user, password = dicomweb_second_server.auth
    from orthanc_client import Orthanc

    with Orthanc(clean_dicomweb.url, *clean_dicomweb.auth) as client:
        client.dicomweb.add_server("cli-b", f"{dicomweb_second_server.url}/dicom-web/", username=user, password=password)
        orthanc_id = client.post_tools_lookup(study_uid)[0]["ID"]
    sent_job = run(clean_dicomweb, "dicomweb", "send", "cli-b", orthanc_id, "--timeout", "60", "--json")
    assert sent_job.returncode == 0, sent_job.stderr
    assert int(json.loads(sent_job.stdout)["content"]["InstancesCount"]) == 4
    assert password not in sent_job.stdout + sent_job.stderr


def test_errors_are_one_line_with_exit_code_1(
    clean_dicomweb: OrthancServer, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    missing = run(clean_dicomweb, "dicomweb", "retrieve", "1.2.3.999", "--out", str(tmp_path / "never"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "1.2.3.999" in missing.stderr and not (tmp_path / "never").exists()
    bad = run(clean_dicomweb, "dicomweb", "retrieve", "../etc")
    assert bad.returncode == 2 and "invalid study_instance_uid" in bad.stderr  # a refused input: usage error
    no_plugin = run(clean_orthanc, "dicomweb", "search")
    assert no_plugin.returncode == 1 and "DICOMweb plugin is not enabled" in no_plugin.stderr


def test_help() -> None:
    import subprocess
    import sys

    for command in (["dicomweb"], ["dicomweb", "search"], ["dicomweb", "retrieve"], ["dicomweb", "store"],
                    ["dicomweb", "send"]):
        result = subprocess.run(
            [sys.executable, "-m", "orthanc_client.cli", *command, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0 and "Usage:" in result.stdout, command
