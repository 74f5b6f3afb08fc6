"""transfer() between two real Orthancs: resolving requests, batching, verification, and resuming after
the source went down in the middle of a run."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading
from pathlib import Path
from typing import Any

import pydicom
import pytest

from orthanc_client import InvalidInputError, TransferReport, UnsupportedByServerError
from orthanc_client._manifest import VERIFIED, Manifest
from orthanc_client.testing import version_tuple
from orthanc_client.testing.dicom import to_bytes

from .conftest import (
    INSTANCES_PER_STUDY,
    PATIENTS,
    STUDIES,
    TOTAL_INSTANCES,
    Api,
    call,
    http,
    record_requests,
)

ALL_ACCESSIONS = [f"ACC{p:04d}{s:02d}" for p in range(1, PATIENTS + 1) for s in range(1, STUDIES + 1)]


def _local_counts(api: Api) -> dict[str, int]:
    """StudyInstanceUID -> instances at the destination."""
    with http(api.network.local) as local:
        counts = {}
        for study in local.get("/studies", params={"expand": ""}).json():
            stats = local.get(f"/studies/{study['ID']}/statistics").json()
            counts[study["MainDicomTags"]["StudyInstanceUID"]] = int(stats["CountInstances"])
        return counts


async def _run_until_verified_then_stop_source(
    api: Api, manifest: Path, verified: int, **options: Any
) -> TransferReport:
    """Runs a transfer and kills the source once ``verified`` studies are recorded as verified."""
    remote = api.Modality(api.client, "remote")

    def source_stopper() -> None:
        with Manifest(manifest) as watcher:
            while watcher.count_studies().get(VERIFIED, 0) < verified:
                threading.Event().wait(0.01)
        api.network.remote.stop(timeout=0)  # SIGKILL: a crash, storage kept for the restart

    stopper = threading.Thread(target=source_stopper)
    stopper.start()
    try:
        if api.kind == "async":
            return await api.transfer(remote, manifest=manifest, **options)
        return await asyncio.to_thread(api.transfer, remote, manifest=manifest, **options)
    finally:
        stopper.join(timeout=30)


async def test_transfer_interrupted_by_source_crash_then_resumed(api: Api, tmp_path: Path) -> None:
    manifest = tmp_path / "run.sqlite"
    Manifest(manifest).close()  # the watcher opens it before the transfer does
    options: dict[str, Any] = dict(
        accession_numbers=ALL_ACCESSIONS,
        batch_size=1,
        concurrency=1,
        max_attempts=2,
        backoff=0.05,
        dicom_timeout=3,
    )
    first = await _run_until_verified_then_stop_source(api, manifest, 2, **options)
    assert not first.ok
    assert first.requests == len(ALL_ACCESSIONS) and first.studies == len(ALL_ACCESSIONS)
    assert 2 <= first.verified < first.studies
    assert first.failed and all("REMOTE" in f.reason for f in first.failed)  # Orthanc's reason is kept
    verified_before = {s.study_uid for s in Manifest(manifest).studies(VERIFIED)}

    api.network.remote.start()
    second = await call(
        api.transfer(api.Modality(api.client, "remote"), manifest=manifest, **{**options, "batch_size": 2})
    )
    assert second.ok, str(second)
    assert second.verified == second.studies == len(ALL_ACCESSIONS)
    assert second.moved == len(ALL_ACCESSIONS) - len(verified_before)  # nothing verified is moved again
    assert second.instances_received == second.instances_expected == TOTAL_INSTANCES
    counts = _local_counts(api)
    assert len(counts) == len(ALL_ACCESSIONS) and set(counts.values()) == {INSTANCES_PER_STUDY}
    with http(api.network.local) as local:
        assert local.get("/statistics").json()["CountInstances"] == TOTAL_INSTANCES  # each instance once

    third = await call(api.transfer(api.Modality(api.client, "remote"), manifest=manifest, **options))
    assert third.ok and third.moves == 0


async def test_transfer_by_patient_and_query_skips_what_already_arrived(api: Api, tmp_path: Path) -> None:
    remote = api.Modality(api.client, "remote")
    first_study = (await call(remote.find("Study", {"AccessionNumber": "ACC000101"})))[0]
    await call(remote.move([first_study], timeout=60))

    report = await call(
        api.transfer(
            remote,
            patient_ids=["PAT0001"],
            queries=[{"StudyDate": (dt.date(2024, 1, 3), None)}, {"AccessionNumber": "NO-SUCH-STUDY"}],
            manifest=tmp_path / "m.sqlite",
            batch_size=10,
            concurrency=2,
        )
    )
    assert report.studies == STUDIES + PATIENTS - 1  # PAT0001's two, plus the later study of the others
    assert report.verified == report.studies
    assert report.already_present == 1 and report.moved == report.studies - 1
    assert report.moves == 1  # all in one batch of <= 10 studies; the one already there is left out of it
    assert [f.key for f in report.failed] == ['Query={"AccessionNumber": "NO-SUCH-STUDY"}']
    assert not report.ok
    assert "INCOMPLETE" in str(report)


async def test_transfer_checks_the_destination_per_batch_not_per_study(
    api: Api, tmp_path: Path, orthanc_version: str
) -> None:
    sent = record_requests(api)
    report = await call(
        api.transfer(
            api.Modality(api.client, "remote"),
            accession_numbers=ALL_ACCESSIONS,
            manifest=tmp_path / "m.sqlite",
            batch_size=3,
            concurrency=1,
        )
    )
    assert report.ok and report.moved == len(ALL_ACCESSIONS) and report.moves == 2
    checks = [r.url.path for r in sent if r.url.path == "/tools/find" or r.url.path.startswith("/studies")]
    # Per batch: one find before the move (nothing there yet), one after; before 1.11 (no RequestedTags)
    # a second one after, counting the instances of the studies' series.
    per_batch = 2 if version_tuple(orthanc_version) >= (1, 11) else 3
    assert checks == ["/tools/find"] * per_batch * 2


async def test_transfer_finds_a_study_the_destination_keeps_under_another_patient_id(
    api: Api, tmp_path: Path
) -> None:
    remote = api.Modality(api.client, "remote")
    (study,) = await call(remote.find("Study", {"AccessionNumber": "ACC000101"}))
    with http(api.network.local) as local:
        for body in api.network.remote_files:
            ds = pydicom.dcmread(io.BytesIO(body))
            if ds.AccessionNumber == "ACC000101":
                ds.PatientID = "RENAMED"
                local.post("/instances", content=to_bytes(ds)).raise_for_status()
        (renamed,) = local.get("/studies", params={"expand": ""}).json()
    assert renamed["PatientMainDicomTags"]["PatientID"] == "RENAMED"
    assert renamed["MainDicomTags"]["StudyInstanceUID"] == study.study_instance_uid

    report = await call(api.transfer(remote, accession_numbers=["ACC000101"], manifest=tmp_path / "m.sqlite"))
    assert report.ok and report.already_present == 1 and report.moves == 0
    assert report.instances_received == INSTANCES_PER_STUDY


async def test_transfer_labels_on_arrival(api: Api, tmp_path: Path, orthanc_version: str) -> None:
    remote = api.Modality(api.client, "remote")
    if version_tuple(orthanc_version) < (1, 12):
        with pytest.raises(UnsupportedByServerError):
            await call(
                api.transfer(
                    remote, accession_numbers=["ACC000101"], manifest=tmp_path / "m.sqlite", label="x"
                )
            )
        return
    report = await call(
        api.transfer(remote, accession_numbers=["ACC000101"], manifest=tmp_path / "m.sqlite", label="pulled")
    )
    assert report.ok
    with http(api.network.local) as local:
        (study,) = local.get("/studies", params={"expand": ""}).json()
        assert study["Labels"] == ["pulled"]


async def test_transfer_refuses_empty_requests(api: Api, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        await call(api.transfer(api.Modality(api.client, "remote"), manifest=tmp_path / "m.sqlite"))
