"""``upload(pack=True)``: small files go to Orthanc up to 32 at a time in one ZIP, and every file is still
accounted for on its own. Real Orthanc; a forwarder that claims an older release (no ZIPs before 1.8.2); a
real nginx whose body limit refuses a pack.

Orthanc skips a ZIP member it cannot read without a word (its answer just names fewer instances): each file
whose instance the answer does not name must be sent again alone, so that Orthanc's own reason reaches the
result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from orthanc_client import Orthanc, UnexpectedAnswerError, aio as orthanc_aio, upload
from orthanc_client._bulk.dicom_files import read_identifiers
from orthanc_client._core.fastpath import posts as _bulk_post
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes, write
from orthanc_client.testing.proxy import NginxProxy

from .test_version_gate import VersionRewritingProxy


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The body size of every POST the upload's direct pool sends."""
    sizes: list[int] = []
    original = _bulk_post.DirectPoster.post

    def spy(poster: Any, path: str, body: Any, size: int) -> Any:
        sizes.append(size)
        return original(poster, path, body, size)

    monkeypatch.setattr(_bulk_post.DirectPoster, "post", spy)
    return sizes


def _truncated(dataset: Dataset) -> bytes:
    data = to_bytes(dataset)
    return data[: len(data) - 1000]  # the header is whole (its tags scan), the pixels are cut


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_every_file_of_a_pack_gets_its_own_outcome(
    kind: str, clean_orthanc: OrthancServer, posted: list[int], tmp_path: Path
) -> None:
    good = make_study(1, 6, patient_id="PACKED", rows=64, columns=64)
    cut = make_study(1, 1, patient_id="CUT", rows=64, columns=64, seed=3)[0]
    accented = make_study(1, 1, patient_id="ACCENT", seed=4)[0]
    accented.SpecificCharacterSet = "ISO_IR 100"
    accented.PatientName = "Müller^Jürgen"  # not ASCII: the quick scan cannot read it, so it goes alone
    for index, dataset in enumerate(good):
        write(dataset, tmp_path / f"good{index}.dcm")
    write(good[0], tmp_path / "copy-of-good0.dcm")  # the same instance twice in one pack
    (tmp_path / "cut.dcm").write_bytes(_truncated(cut))
    write(accented, tmp_path / "accented.dcm")

    if kind == "sync":
        with Orthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
            result = upload(client, tmp_path, progress=False)
    else:
        async with orthanc_aio.AsyncOrthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
            result = await orthanc_aio.upload(client, tmp_path, progress=False)

    names = {Path(item.name).name: (outcome, item) for outcome in ("stored", "already_stored", "failed")
             for item in getattr(result, outcome)}
    assert len(names) == result.total == 9
    # one ZIP of 7 files (6 + the copy; the cut one too, which Orthanc skips), then the cut and the accented ones
    assert len(posted) == 3 and max(posted) > sum(posted) - max(posted)
    for index in range(1, 6):
        outcome, item = names[f"good{index}.dcm"]
        assert outcome == "stored" and item.attempts == 1
        assert item.instance_id == read_identifiers(open(tmp_path / f"good{index}.dcm", "rb")).instance_id  # noqa: SIM115
    assert sorted(names[n][0] for n in ("good0.dcm", "copy-of-good0.dcm")) == ["already_stored", "stored"]
    outcome, failure = names["cut.dcm"]
    assert outcome == "failed" and failure.details  # Orthanc's own reason, from the file sent alone
    assert names["accented.dcm"][0] == "stored"
    with Orthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
        assert sorted(client.get_instances()) == sorted(set(result.instance_ids))


@pytest.mark.parametrize(("version", "requests"), [("1.8.1", 5), ("1.8.2", 1)])
def test_packs_only_for_a_server_that_unpacks_zips(
    version: str, requests: int, clean_orthanc: OrthancServer
) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 5, patient_id="OLDER")]
    with VersionRewritingProxy(clean_orthanc.url) as proxy:
        proxy.reported_version = version
        with Orthanc(proxy.url, *clean_orthanc.auth) as client:
            result = upload(client, files, progress=False)
            assert client.server_version() == version
        assert len(proxy.sent("POST /instances")) == requests
    assert len(result.stored) == 5 and result.ok


def test_a_proxy_that_refuses_a_pack_turns_packing_off_and_loses_nothing(
    clean_orthanc: OrthancServer, posted: list[int], tmp_path: Path
) -> None:
    datasets = make_study(1, 8, patient_id="LIMIT", rows=224, columns=224)  # 100 KB each
    for index, dataset in enumerate(datasets):
        write(dataset, tmp_path / f"{index}.dcm")
    with NginxProxy(clean_orthanc.url, tls=False, max_body_size="300k") as proxy:
        with Orthanc(proxy.url, *clean_orthanc.auth) as client:
            result = upload(client, tmp_path, progress=False)
    assert result.ok and len(result.stored) == 8 and all(item.attempts == 1 for item in result.stored)
    # one ZIP refused with 413, then each file alone (and no second ZIP)
    assert len(posted) == 9 and posted[0] > 300_000 and all(size < 300_000 for size in posted[1:])


@pytest.mark.parametrize(("flag", "requests"), [([], 1), (["--no-pack"], 4)])
def test_the_command_line_packs_unless_told_not_to(
    flag: list[str], requests: int, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    for index, dataset in enumerate(make_study(1, 4, patient_id="CLIPACK")):
        write(dataset, tmp_path / f"{index}.dcm")
    with VersionRewritingProxy(clean_orthanc.url) as proxy:
        proxy.reported_version = clean_orthanc.version
        environment = {**os.environ, "ORTHANC_URL": proxy.url, "ORTHANC_USERNAME": clean_orthanc.username,
                       "ORTHANC_PASSWORD": clean_orthanc.password}
        done = subprocess.run([sys.executable, "-m", "orthanc_client.cli", "upload", str(tmp_path), "--json", *flag],
                              env=environment, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["summary"]["stored"] == 4
        assert len(proxy.sent("POST /instances")) == requests


def test_a_pack_answered_with_a_login_page_loses_no_file(
    clean_orthanc: OrthancServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A proxy that answers the ZIP with an HTML page (an ``UnexpectedAnswerError``): each file goes alone,
    and the outcomes of the files sent before it in the same group are kept."""
    original = _bulk_post.DirectPoster.post
    refused: list[int] = []

    def login_page_for_zips(poster: Any, path: str, body: Any, size: int) -> Any:
        if isinstance(body, bytes) and body.startswith(b"PK\x03\x04"):
            refused.append(size)
            raise UnexpectedAnswerError("an HTML login page", method="POST", url="/instances", expected="JSON")
        return original(poster, path, body, size)

    monkeypatch.setattr(_bulk_post.DirectPoster, "post", login_page_for_zips)
    accented = make_study(1, 1, patient_id="ALONE", seed=9)[0]
    accented.SpecificCharacterSet = "ISO_IR 100"
    accented.PatientName = "Müller"  # goes alone, before the pack of the same group
    write(accented, tmp_path / "a-accented.dcm")
    for index, dataset in enumerate(make_study(1, 5, patient_id="LOGIN")):
        write(dataset, tmp_path / f"b{index}.dcm")
    with Orthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
        result = upload(client, tmp_path, progress=False)
    assert len(refused) == 1
    assert result.ok and len(result.stored) == 6 and result.total == 6
