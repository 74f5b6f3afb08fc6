"""The ``orthanc`` command line, end to end in a subprocess, configured by environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pydicom
import pytest

from orthanc_client.testing import OrthancServer, version_tuple
from orthanc_client.testing.dicom import make_patient_tree, write


def run(
    server: OrthancServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "ORTHANC_URL": server.url,
        "ORTHANC_USERNAME": server.username,
        "ORTHANC_PASSWORD": server.password,
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "orthanc_client.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upload_find_download_anonymize_jobs_system(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i, ds in enumerate(make_patient_tree(2, 1, 1, 3)):
        write(ds, source / f"IM{i}")
    (source / "notes.txt").write_text("hello")

    uploaded = run(clean_orthanc, "upload", str(source), "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    summary = json.loads(uploaded.stdout)["summary"]
    assert (summary["stored"], summary["skipped"], summary["failed"]) == (6, 1, 0)

    again = run(clean_orthanc, "upload", str(source), "--skip-existing")
    assert again.returncode == 0 and "0 stored, 6 already stored" in again.stdout

    found = run(clean_orthanc, "find", "--level", "study", "-q", "PatientID=PAT0001", "--json")
    assert found.returncode == 0, found.stderr
    (study,) = json.loads(found.stdout)
    table = run(clean_orthanc, "find", "--level", "study", "-q", "PatientID=PAT*")
    assert "PAT0001" in table.stdout and "PAT0002" in table.stdout

    out = tmp_path / "out"
    downloaded = run(clean_orthanc, "download", study["ID"], "-o", str(out))
    assert downloaded.returncode == 0, downloaded.stderr
    assert len(list(out.rglob("*.dcm"))) == 3
    zipped = run(
        clean_orthanc, "download", "-q", "PatientID=PAT0002", "--zip", "-o", str(tmp_path / "p2.zip")
    )
    assert zipped.returncode == 0, zipped.stderr
    assert len(zipfile.ZipFile(tmp_path / "p2.zip").namelist()) == 3

    anonymized = run(clean_orthanc, "anonymize", study["ID"], "-r", "PatientName=Anon^Ymous", "--json")
    assert anonymized.returncode == 0, anonymized.stderr
    new_id = json.loads(anonymized.stdout)["ID"]
    assert new_id != study["ID"]
    jobs = run(clean_orthanc, "jobs", "list", "--json")
    assert any(job["ID"] == json.loads(anonymized.stdout)["job"] for job in json.loads(jobs.stdout))

    system = run(clean_orthanc, "system")
    assert system.returncode == 0 and clean_orthanc.version in system.stdout
    for result in (uploaded, again, found, table, downloaded, zipped, anonymized, jobs, system):
        assert clean_orthanc.password not in result.stdout + result.stderr


def test_failures_give_one_line_and_exit_code_1(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")  # DICOM magic, nothing after: Orthanc refuses it
    uploaded = run(clean_orthanc, "upload", str(bad))
    assert uploaded.returncode == 1
    assert "FAILED" in uploaded.stdout and "1 failed" in uploaded.stdout

    missing = run(
        clean_orthanc, "download", "00000000-00000000-00000000-00000000-00000000", "-o", str(tmp_path / "o")
    )
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr and "404" in missing.stderr
    assert not (tmp_path / "o").exists()

    wrong = run(clean_orthanc, "system", env={"ORTHANC_PASSWORD": "not-the-password"})
    assert wrong.returncode == 1 and "401" in wrong.stderr and "Traceback" not in wrong.stderr
    assert "not-the-password" not in wrong.stderr

    flags = run(
        clean_orthanc, "--url", clean_orthanc.url, "--username", "nobody", "--password", "secret-x", "system"
    )
    assert flags.returncode == 1 and "secret-x" not in flags.stderr + flags.stdout

    usage = run(clean_orthanc, "find", "-q", "no-equals-sign")
    assert usage.returncode == 2


def test_modify_refuses_identity_changes_without_force(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    """The same guard as the resources' ``.modify``: nothing is sent, so no job is created."""
    write(make_patient_tree(1, 1, 1, 1)[0], tmp_path / "one.dcm")
    assert run(clean_orthanc, "upload", str(tmp_path)).returncode == 0
    study = json.loads(run(clean_orthanc, "find", "--json").stdout)[0]["ID"]

    def job_ids() -> set[str]:
        return {job["ID"] for job in json.loads(run(clean_orthanc, "jobs", "list", "--json").stdout)}

    jobs_before = job_ids()

    refused = run(clean_orthanc, "modify", study, "--level", "study", "-r", "PatientID=SOMEONE-ELSE")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "PatientID" in refused.stderr and "force" in refused.stderr
    assert job_ids() == jobs_before

    # With --force the request goes to Orthanc, which runs the job (1.10 fails it: its own rule at study level).
    run(clean_orthanc, "modify", study, "-r", "PatientID=SOMEONE-ELSE", "--force")
    assert len(job_ids() - jobs_before) == 1


def test_instance_level_modify_writes_the_answered_file(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    """Orthanc modifies one instance in its answer and stores nothing: the CLI asks where to write it."""
    write(make_patient_tree(1, 1, 1, 1)[0], tmp_path / "one.dcm")
    assert run(clean_orthanc, "upload", str(tmp_path)).returncode == 0
    instance = json.loads(run(clean_orthanc, "find", "--level", "instance", "--json").stdout)[0]["ID"]
    missing_output = run(clean_orthanc, "anonymize", instance, "--level", "instance")
    assert missing_output.returncode == 2 and "--output" in missing_output.stderr
    target = tmp_path / "out" / "anonymized.dcm"
    target.parent.mkdir()
    done = run(clean_orthanc, "anonymize", instance, "--level", "instance", "-r", "PatientName=Anon", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert pydicom.dcmread(target).PatientName == "Anon"
    modified = run(clean_orthanc, "modify", instance, "-l", "instance", "-r", "SeriesDescription=X", "-o", str(target))
    assert modified.returncode == 0 and pydicom.dcmread(target).SeriesDescription == "X"


@pytest.mark.orthanc_min("1.12")
def test_labels(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    write(make_patient_tree(1, 1, 1, 1)[0], tmp_path / "one.dcm")
    assert run(clean_orthanc, "upload", str(tmp_path)).returncode == 0
    study = json.loads(run(clean_orthanc, "find", "--json").stdout)[0]["ID"]
    assert run(clean_orthanc, "labels", "add", study, "reviewed", "todo").returncode == 0
    assert run(clean_orthanc, "labels").stdout.split() == ["reviewed", "todo"]
    assert run(clean_orthanc, "labels", "remove", study, "todo").returncode == 0
    assert run(clean_orthanc, "labels", "show", study).stdout.split() == ["reviewed"]
    labelled = json.loads(run(clean_orthanc, "find", "--label", "reviewed", "--json").stdout)
    assert [s["ID"] for s in labelled] == [study]


def test_labels_on_a_server_without_them_say_which_version_is_needed(clean_orthanc: OrthancServer) -> None:
    if version_tuple(clean_orthanc.version) >= (1, 12):
        pytest.skip("labels exist on this server")
    result = run(clean_orthanc, "labels", "add", "0a1b2c3d-00000000-11111111-22222222-33333333", "reviewed")
    assert result.returncode != 0 and "1.12" in result.stderr and "Traceback" not in result.stderr


def test_help_everywhere() -> None:
    for command in (
        [],
        ["upload"],
        ["download"],
        ["find"],
        ["anonymize"],
        ["modify"],
        ["labels"],
        ["jobs"],
        ["jobs", "wait"],
        ["system"],
        ["show"],
        ["delete"],
        ["metadata", "set"],
        ["stats"],
        ["peers", "send"],
        ["modality", "store"],
        ["modality", "get"],
        ["modality", "add"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "orthanc_client.cli", *command, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0 and "Usage:" in result.stdout, command
