"""``orthanc modality ...`` against the two real Orthancs (click's runner, in process)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("click")
from click.testing import CliRunner  # noqa: E402

from orthanc_client.cli import COMMAND_MODULES  # noqa: E402
from orthanc_client.cli._common import cli  # noqa: E402

from .conftest import INSTANCES_PER_STUDY, NetworkPair  # noqa: E402


def _run(network: NetworkPair, *args: str) -> tuple[int, str]:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"orthanc_client.cli.{name}").register(cli)
    local = network.local
    result = CliRunner().invoke(
        cli, ["--url", local.url, "--username", local.username, "--password", local.password, *args]
    )
    return result.exit_code, result.output


def test_modality_echo_find_move_and_transfer(network: NetworkPair, tmp_path: Path) -> None:
    assert _run(network, "modality", "echo", "remote") == (0, "remote: C-ECHO ok\n")
    code, out = _run(
        network, "modality", "find", "remote", "-l", "study", "-q", "PatientID=PAT0001", "--json"
    )
    assert code == 0 and {a["AccessionNumber"] for a in json.loads(out)} == {"ACC000101", "ACC000102"}
    code, out = _run(network, "modality", "move", "remote", "-q", "AccessionNumber=ACC000101")
    assert code == 0 and "moved 1 study" in out
    manifest = str(tmp_path / "m.sqlite")
    code, out = _run(
        network,
        "modality",
        "transfer",
        "remote",
        "--accession",
        "ACC000101",
        "--accession",
        "ACC000201",
        "--manifest",
        manifest,
        "--json",
    )
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["already_present"] == 1 and report["moved"] == 1
    assert report["instances_received"] == 2 * INSTANCES_PER_STUDY
    code, out = _run(network, "modality", "transfer", "remote", "--accession", "NOPE", "--manifest", manifest)
    assert code == 1 and "no study matches" in out


def test_modality_transfer_anonymizes_on_arrival(network: NetworkPair, tmp_path: Path) -> None:
    manifest = str(tmp_path / "m.sqlite")
    args = ["modality", "transfer", "remote", "--accession", "ACC000101", "--manifest", manifest]
    code, out = _run(network, *args, "--keep-original")
    assert code == 2 and "need --anonymize" in out
    code, out = _run(
        network,
        *args,
        "--anonymize",
        "--anonymize-replace",
        "PatientName=CLI^ANON",
        "--anonymize-keep",
        "StudyDescription",
        "--json",
    )
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["anonymized"] == 1 and report["originals_deleted"] == 1
    ((uid, copy_id),) = report["anonymized_ids"].items()
    with httpx.Client(base_url=network.local.url, auth=network.local.auth, timeout=60) as local:
        (study,) = local.get("/studies", params={"expand": ""}).json()  # the copy only
    assert study["ID"] == copy_id and study["MainDicomTags"]["StudyInstanceUID"] != uid
    assert study["PatientMainDicomTags"]["PatientName"] == "CLI^ANON"
    assert study["MainDicomTags"]["StudyDescription"] == "Study 1"
    code, out = _run(network, *args, "--anonymize")
    assert code == 0 and "anonymized: 1 (this run: 0)" in out
