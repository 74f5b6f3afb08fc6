"""``orthanc show/delete/metadata/stats/peers`` and ``modality store/add/remove``, end to end in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, to_bytes

from .test_cli import run


@pytest.fixture
def one_study(clean_orthanc: OrthancServer) -> dict[str, str]:
    """One patient, one study of two series of two instances; returns the Orthanc IDs by level."""
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth, timeout=30) as http:
        for ds in make_patient_tree(1, 1, 2, 2, rows=8, columns=8):
            http.post("/instances", content=to_bytes(ds)).raise_for_status()
        study = http.get("/studies").json()[0]
        series = http.get(f"/studies/{study}/series").json()[0]
        patient = http.get(f"/studies/{study}").json()["ParentPatient"]
        return {"patient": patient, "study": study, "series": series["ID"], "instance": series["Instances"][0]}


def test_show_prints_tags_and_children_in_full_when_piped(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    shown = run(clean_orthanc, "show", one_study["study"])
    assert shown.returncode == 0, shown.stderr
    assert "StudyInstanceUID" in shown.stdout and "PAT0001" in shown.stdout
    assert one_study["series"] in shown.stdout            # whole IDs: never cut in a pipe
    as_json = json.loads(run(clean_orthanc, "show", one_study["study"], "--json").stdout)
    assert as_json["ID"] == one_study["study"] and len(as_json["Children"]) == 2


def test_an_id_of_another_level_is_named_as_such(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    shown = run(clean_orthanc, "show", one_study["series"])          # --level defaults to study
    assert shown.returncode == 2
    assert "is a series ID, not a study ID: use --level series" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_metadata_set_get_list_delete(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    study = one_study["study"]
    assert run(clean_orthanc, "metadata", "set", study, "1024", "qc-passed").returncode == 0
    assert run(clean_orthanc, "metadata", "get", study, "1024").stdout.strip() == "qc-passed"
    assert json.loads(run(clean_orthanc, "metadata", "list", study, "--json").stdout)["1024"] == "qc-passed"
    assert run(clean_orthanc, "metadata", "delete", study, "1024").returncode == 0
    missing = run(clean_orthanc, "metadata", "get", study, "1024")
    assert missing.returncode == 1 and "has no metadata '1024'" in missing.stderr


def test_stats_of_the_server_and_of_a_study(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    server = json.loads(run(clean_orthanc, "stats", "--json").stdout)
    assert server["CountInstances"] == 4
    study = json.loads(run(clean_orthanc, "stats", one_study["study"], "--json").stdout)
    assert int(study["CountInstances"]) == 4 and int(study["CountSeries"]) == 2


def test_delete_removes_exactly_that_resource(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    deleted = run(clean_orthanc, "delete", one_study["series"], "--level", "series", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth) as http:
        assert http.get(f"/series/{one_study['series']}").status_code == 404
        assert len(http.get(f"/studies/{one_study['study']}/instances").json()) == 2
    refused = run(clean_orthanc, "delete", one_study["study"])          # no --yes, no terminal: aborted
    assert refused.returncode == 1
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth) as http:
        assert http.get(f"/studies/{one_study['study']}").status_code == 200


def test_modality_add_store_remove_and_peers(
    clean_orthanc: OrthancServer, second_orthanc_server: OrthancServer, one_study: dict[str, str]
) -> None:
    with httpx.Client(base_url=second_orthanc_server.url, auth=second_orthanc_server.auth) as http:
        for patient in http.get("/patients").json():
            http.delete(f"/patients/{patient}")
    added = run(
        clean_orthanc, "modality", "add", "second", "--aet", second_orthanc_server.aet,
        "--host", "127.0.0.1", "--port", str(second_orthanc_server.dicom_port),
    )
    assert added.returncode == 0, added.stderr
    stored = run(clean_orthanc, "modality", "store", "second", one_study["study"], "--json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["InstancesCount"] == 4
    with httpx.Client(base_url=second_orthanc_server.url, auth=second_orthanc_server.auth) as http:
        assert http.get("/statistics").json()["CountInstances"] == 4
    assert run(clean_orthanc, "modality", "remove", "second").returncode == 0
    listed = json.loads(run(clean_orthanc, "modality", "list", "--json").stdout)
    assert "second" not in listed
    peers = run(clean_orthanc, "peers", "list", "--json")
    assert peers.returncode == 0 and json.loads(peers.stdout) == []


def test_upload_exit_code_for_files_that_are_not_dicom(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not DICOM")
    named = run(clean_orthanc, "upload", str(notes), "--no-progress")
    assert named.returncode == 1
    assert f"named on the command line but not DICOM: {notes}" in named.stderr
    folder = run(clean_orthanc, "upload", str(tmp_path), "--no-progress")   # a folder holding it: fine
    assert folder.returncode == 0, folder.stderr
    strict = run(clean_orthanc, "upload", str(tmp_path), "--no-progress", "--strict")
    assert strict.returncode == 1 and "skipped (--strict)" in strict.stderr


def test_modify_and_anonymize_refuse_what_they_would_ignore(
    clean_orthanc: OrthancServer, one_study: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "anon.dcm"
    no_level = run(clean_orthanc, "anonymize", one_study["instance"], "-o", str(output))
    assert no_level.returncode == 2 and "--output is for --level instance" in no_level.stderr
    wrong_level = run(clean_orthanc, "anonymize", one_study["instance"])
    assert wrong_level.returncode == 2 and "is an instance ID, not a study ID" in wrong_level.stderr
    forced = run(clean_orthanc, "modify", one_study["study"], "-r", "PatientID=OTHER")
    assert forced.returncode == 2 and "give --force" in forced.stderr and "force=True" not in forced.stderr
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth) as http:
        assert len(http.get("/studies").json()) == 1          # nothing was created
    assert not output.exists()
    written = run(clean_orthanc, "anonymize", one_study["instance"], "-l", "instance", "-o", str(output))
    assert written.returncode == 0, written.stderr
    assert output.read_bytes()[128:132] == b"DICM"


def test_cancelling_a_finished_job_says_so(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    import time

    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth, timeout=30) as http:
        job = http.post(f"/studies/{one_study['study']}/anonymize", json={"Asynchronous": True}).json()["ID"]
        deadline = time.monotonic() + 30
        while http.get(f"/jobs/{job}").json()["State"] != "Success" and time.monotonic() < deadline:
            time.sleep(0.05)
    cancelled = run(clean_orthanc, "jobs", "cancel", job)
    assert cancelled.returncode == 1
    assert f"job {job} already finished (Success): nothing to cancel" in cancelled.stderr


def test_echo_and_jobs_wait_have_json(clean_orthanc: OrthancServer, one_study: dict[str, str]) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    run(clean_orthanc, "modality", "add", "nobody", "--aet", "NOBODY", "--host", "127.0.0.1", "--port", str(port))
    echo = run(clean_orthanc, "modality", "echo", "nobody", "--dicom-timeout", "2", "--json")
    assert echo.returncode == 1
    answer = json.loads(echo.stdout)
    assert answer["modality"] == "nobody" and answer["ok"] is False and answer["error"]
    run(clean_orthanc, "modality", "remove", "nobody")
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth, timeout=30) as http:
        job = http.post(f"/studies/{one_study['study']}/anonymize", json={"Asynchronous": True}).json()["ID"]
    waited = run(clean_orthanc, "jobs", "wait", job, "--json")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["State"] == "Success"


# Commands that print nothing on success (Unix style) need no --json; `route` runs as a daemon and logs.
SILENT_COMMANDS = {"labels add", "labels remove", "metadata set", "metadata delete", "route"}


def test_every_command_that_prints_something_has_json() -> None:
    import importlib

    import click

    from orthanc_client.cli import COMMAND_MODULES
    from orthanc_client.cli._common import cli

    for module in COMMAND_MODULES:
        importlib.import_module(f"orthanc_client.cli.{module}").register(cli)

    def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        found = []
        for name in group.list_commands(click.Context(group)):
            command = group.get_command(click.Context(group), name)
            assert command is not None
            if isinstance(command, click.Group):
                found += commands(command, f"{prefix}{name} ")
            else:
                found.append((f"{prefix}{name}", command))
        return found

    every = commands(cli)
    assert len(every) > 30 and SILENT_COMMANDS <= {name for name, _ in every}
    without = [name for name, command in every if not any("--json" in getattr(p, "opts", ()) for p in command.params)]
    assert sorted(without) == sorted(SILENT_COMMANDS)


def test_json_of_delete_metadata_get_cancel_and_modality_add_remove(
    clean_orthanc: OrthancServer, one_study: dict[str, str]
) -> None:
    study = one_study["study"]
    assert run(clean_orthanc, "metadata", "set", study, "1024", 'say "hi"').returncode == 0
    assert json.loads(run(clean_orthanc, "metadata", "get", study, "1024", "--json").stdout) == 'say "hi"'
    added = run(clean_orthanc, "modality", "add", "scratch", "--aet", "SCRATCH", "--host", "127.0.0.1",
                "--port", "11112", "--json")
    assert added.returncode == 0, added.stderr
    configuration = json.loads(added.stdout)
    assert configuration["name"] == "scratch" and configuration["AET"] == "SCRATCH" and configuration["Port"] == 11112
    removed = run(clean_orthanc, "modality", "remove", "scratch", "--json")
    assert json.loads(removed.stdout) == {"name": "scratch", "removed": True}
    import socket

    with socket.socket() as black_hole, httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth, timeout=30) as http:
        # a C-STORE job to a port that accepts the connection and never answers: running until we cancel it
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen()
        port = black_hole.getsockname()[1]
        http.put("/modalities/hole", json={"AET": "HOLE", "Host": "127.0.0.1", "Port": port}).raise_for_status()
        job = http.post("/modalities/hole/store", json={"Resources": [study], "Asynchronous": True}).json()["ID"]
        cancelled = run(clean_orthanc, "jobs", "cancel", job, "--json")
        http.delete("/modalities/hole")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["ID"] == job
    deleted = run(clean_orthanc, "delete", study, "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"level": "study", "deleted": [study]}
