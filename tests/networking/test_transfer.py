"""transfer() between two real Orthancs: resolving requests, batching, verification, resuming after the
source went down in the middle of a run, and anonymizing on arrival."""

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
from orthanc_client._network.transfer_manifest import (
    ANONYMIZED,
    ANONYMIZING,
    FAILED,
    VERIFIED,
    Manifest,
    StudyRecord,
)
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


# --- anonymize on arrival ------------------------------------------------------------------------------------


def _local_studies(api: Api) -> dict[str, dict[str, Any]]:
    """Orthanc ID -> expanded study JSON, for every study at the destination."""
    with http(api.network.local) as local:
        return {s["ID"]: s for s in local.get("/studies", params={"expand": ""}).json()}


def _remote_studies(api: Api) -> dict[str, dict[str, Any]]:
    """AccessionNumber -> expanded study JSON at the source."""
    with http(api.network.remote) as remote:
        studies = remote.get("/studies", params={"expand": ""}).json()
    return {s["MainDicomTags"]["AccessionNumber"]: s for s in studies}


def _record(manifest: Path, study_uid: str) -> StudyRecord:
    with Manifest(manifest) as opened:
        record = opened.study(study_uid)
    assert record is not None
    return record


def _changes(sent: list[Any]) -> list[tuple[str, str]]:
    """The requests that change something at the destination (anything but reads and finds)."""
    return [(r.method, r.url.path) for r in sent if r.method != "GET" and r.url.path != "/tools/find"]


async def test_transfer_anonymizes_on_arrival_deletes_the_originals_and_does_it_once(
    api: Api, tmp_path: Path, orthanc_version: str
) -> None:
    remote = api.Modality(api.client, "remote")
    sources = {
        s["MainDicomTags"]["StudyInstanceUID"]: s
        for a, s in _remote_studies(api).items()
        if a in ("ACC000101", "ACC000201")
    }
    manifest = tmp_path / "m.sqlite"
    labels = version_tuple(orthanc_version) >= (1, 12)
    options: dict[str, Any] = dict(
        accession_numbers=["ACC000101", "ACC000201"], manifest=manifest, anonymize=True, batch_size=1
    )
    if labels:
        options["label"] = "research"
    report = await call(api.transfer(remote, **options))

    assert report.ok, str(report)
    assert report.moved == 2 and report.anonymized == 2 and report.originals_deleted == 2
    assert set(report.anonymized_ids) == set(sources)
    assert "anonymized: 2 (this run: 2), identifiable originals deleted: 2" in str(report)
    held = _local_studies(api)
    assert set(held) == set(report.anonymized_ids.values())  # the copies only: both originals deleted
    with http(api.network.local) as local:
        assert local.get("/statistics").json()["CountInstances"] == 2 * INSTANCES_PER_STUDY
        for uid, copy_id in report.anonymized_ids.items():
            source, copy, record = sources[uid], held[copy_id], _record(manifest, uid)
            assert record.anonymize_status == ANONYMIZED and record.anonymized_id == copy_id
            assert record.original_deleted and record.anonymize_attempts == 1 and record.anonymize_job
            assert copy["AnonymizedFrom"] == record.destination_id != copy_id
            assert copy["MainDicomTags"]["StudyInstanceUID"] not in sources
            assert copy["MainDicomTags"]["AccessionNumber"] == ""
            # What the files say, not only Orthanc's index.
            tags = local.get(f"/studies/{copy_id}/shared-tags", params={"simplify": ""}).json()
            assert tags["PatientID"] != source["PatientMainDicomTags"]["PatientID"]
            assert tags["PatientName"] != source["PatientMainDicomTags"]["PatientName"]
            assert not tags["PatientName"].startswith("Test^")
            assert tags["StudyInstanceUID"] == copy["MainDicomTags"]["StudyInstanceUID"]
            assert local.get(f"/studies/{copy_id}/statistics").json()["CountInstances"] == INSTANCES_PER_STUDY
            assert copy.get("Labels") == (["research"] if labels else None)

    sent = record_requests(api)
    again = await call(api.transfer(remote, **options))
    assert again.ok and again.moves == 0 and again.anonymized == 0
    assert again.anonymized_ids == report.anonymized_ids
    assert _changes(sent) == []  # no C-MOVE, no anonymization, no deletion, no label
    assert set(_local_studies(api)) == set(report.anonymized_ids.values())


async def test_transfer_anonymizes_what_an_earlier_run_moved_keeping_then_deleting_the_original(
    api: Api, tmp_path: Path
) -> None:
    """A run that stopped between moving and anonymizing leaves the manifest as a run without ``anonymize``
    does: verified, not anonymized. The next run with ``anonymize`` anonymizes without moving."""
    remote = api.Modality(api.client, "remote")
    source = _remote_studies(api)["ACC000101"]
    uid = source["MainDicomTags"]["StudyInstanceUID"]
    manifest = tmp_path / "m.sqlite"
    first = await call(api.transfer(remote, accession_numbers=["ACC000101"], manifest=manifest))
    assert first.ok and first.moved == 1 and first.anonymized_ids == {}
    (original_id,) = _local_studies(api)
    assert _record(manifest, uid).anonymize_status is None

    second = await call(
        api.transfer(
            remote,
            accession_numbers=["ACC000101"],
            manifest=manifest,
            anonymize={"replace": {"PatientName": "PSEUDO^ONE"}, "keep": ["StudyDescription"]},
            keep_original=True,
        )
    )
    assert second.ok, str(second)
    assert second.moves == 0 and second.anonymized == 1 and second.originals_deleted == 0
    copy_id = second.anonymized_ids[uid]
    held = _local_studies(api)
    assert set(held) == {original_id, copy_id}  # the original kept, as asked
    copy = held[copy_id]
    assert copy["PatientMainDicomTags"]["PatientName"] == "PSEUDO^ONE"
    assert copy["PatientMainDicomTags"]["PatientID"] != "PAT0001"
    assert copy["MainDicomTags"]["StudyDescription"] == source["MainDicomTags"]["StudyDescription"]
    assert copy["MainDicomTags"]["StudyInstanceUID"] != uid
    assert held[original_id]["PatientMainDicomTags"]["PatientName"] == "Test^Patient1"  # untouched
    record = _record(manifest, uid)
    assert (record.destination_id, record.anonymized_id, record.original_deleted) == (
        original_id,
        copy_id,
        False,
    )

    # Asked again without keep_original: the original goes; the copy is not made again.
    sent = record_requests(api)
    third = await call(
        api.transfer(remote, accession_numbers=["ACC000101"], manifest=manifest, anonymize=True)
    )
    assert third.ok and third.anonymized == 0 and third.originals_deleted == 1
    assert third.anonymized_ids == {uid: copy_id}
    assert _changes(sent) == [("DELETE", f"/studies/{original_id}")]
    assert set(_local_studies(api)) == {copy_id}
    assert _record(manifest, uid).original_deleted


class _Interrupted(Exception):
    """Stands for Ctrl-C or a crash: not an OrthancError, so transfer() lets it through."""


async def test_transfer_interrupted_during_the_anonymization_job_resumes_that_job(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = api.Modality(api.client, "remote")
    uid = _remote_studies(api)["ACC000101"]["MainDicomTags"]["StudyInstanceUID"]
    manifest = tmp_path / "m.sqlite"
    started = Manifest.anonymize_started

    def started_then_crash(self: Manifest, *args: Any) -> None:
        started(self, *args)
        raise _Interrupted

    monkeypatch.setattr(Manifest, "anonymize_started", started_then_crash)
    with pytest.raises(_Interrupted):
        await call(api.transfer(remote, accession_numbers=["ACC000101"], manifest=manifest, anonymize=True))
    monkeypatch.undo()
    record = _record(manifest, uid)
    assert record.status == VERIFIED and record.anonymize_status == ANONYMIZING
    assert record.anonymize_job and record.anonymized_id is None and not record.original_deleted
    (original_id,) = [
        i for i, s in _local_studies(api).items() if s["MainDicomTags"]["StudyInstanceUID"] == uid
    ]
    assert record.destination_id == original_id

    sent = record_requests(api)
    resumed = await call(
        api.transfer(remote, accession_numbers=["ACC000101"], manifest=manifest, anonymize=True)
    )
    assert resumed.ok, str(resumed)
    assert resumed.moves == 0 and resumed.anonymized == 1
    assert not [path for _, path in _changes(sent) if path.endswith("/anonymize")]  # the job was not rerun
    assert f"/jobs/{record.anonymize_job}" in [r.url.path for r in sent]
    with http(api.network.local) as local:
        job = local.get(f"/jobs/{record.anonymize_job}").json()
    assert resumed.anonymized_ids == {uid: job["Content"]["ID"]}
    assert set(_local_studies(api)) == {job["Content"]["ID"]}  # one copy, and the original deleted
    assert _record(manifest, uid).anonymize_attempts == 2  # the interrupted one, and its resumption


async def test_transfer_records_a_failed_anonymization_keeps_the_original_and_retries_next_run(
    api: Api, tmp_path: Path
) -> None:
    remote = api.Modality(api.client, "remote")
    uid = _remote_studies(api)["ACC000101"]["MainDicomTags"]["StudyInstanceUID"]
    manifest = tmp_path / "m.sqlite"
    failing = await call(
        api.transfer(
            remote,
            accession_numbers=["ACC000101"],
            manifest=manifest,
            anonymize={"dicom_version": "bogus"},  # Orthanc refuses it
            max_attempts=2,
            backoff=0.01,
        )
    )
    assert not failing.ok and failing.verified == 1 and failing.anonymized_ids == {}
    (failure,) = failing.failed
    assert (failure.kind, failure.key, failure.attempts) == ("anonymize", uid, 2)
    assert failure.reason.startswith("anonymization failed: 400") and "bogus" in failure.reason
    assert "INCOMPLETE" in str(failing) and "bogus" in str(failing)
    record = _record(manifest, uid)
    assert (record.anonymize_status, record.anonymize_error) == (FAILED, failure.reason)
    assert record.anonymized_id is None and not record.original_deleted
    (original,) = _local_studies(api).values()  # the original is not deleted when anonymizing failed
    assert original["PatientMainDicomTags"]["PatientID"] == "PAT0001"

    fixed = await call(
        api.transfer(remote, accession_numbers=["ACC000101"], manifest=manifest, anonymize=True)
    )
    assert fixed.ok, str(fixed)
    assert fixed.moves == 0 and fixed.anonymized == 1 and list(fixed.anonymized_ids) == [uid]
    assert set(_local_studies(api)) == set(fixed.anonymized_ids.values())
    assert _record(manifest, uid).anonymize_error is None


async def test_transfer_refuses_to_anonymize_a_study_split_over_two_patient_ids(
    api: Api, tmp_path: Path
) -> None:
    remote = api.Modality(api.client, "remote")
    uid = _remote_studies(api)["ACC000101"]["MainDicomTags"]["StudyInstanceUID"]
    with http(api.network.local) as local:
        renamed = [pydicom.dcmread(io.BytesIO(b)) for b in api.network.remote_files]
        renamed = [ds for ds in renamed if ds.AccessionNumber == "ACC000101"][:2]
        for ds in renamed:
            ds.PatientID = "RENAMED"
            local.post("/instances", content=to_bytes(ds)).raise_for_status()

    report = await call(
        api.transfer(remote, accession_numbers=["ACC000101"], manifest=tmp_path / "m.sqlite", anonymize=True)
    )
    assert report.verified == 1 and report.moved == 1 and not report.ok
    (failure,) = report.failed
    assert failure.kind == "anonymize" and failure.attempts == 1  # refused before any job, not retried
    assert "as 2 Orthanc studies" in failure.reason
    held = _local_studies(api)
    assert len(held) == 2 and not any("AnonymizedFrom" in s for s in held.values())
    assert {s["MainDicomTags"]["StudyInstanceUID"] for s in held.values()} == {uid}


async def test_transfer_checks_anonymize_options_before_sending_anything(api: Api, tmp_path: Path) -> None:
    sent = record_requests(api)
    remote = api.Modality(api.client, "remote")
    for bad in ({"keep_source": True}, {"replace": {"StudyInstanceUID": "1.2"}}, {"keep": "PatientName"}):
        with pytest.raises(InvalidInputError):
            await call(
                api.transfer(
                    remote, accession_numbers=["ACC000101"], manifest=tmp_path / "m.sqlite", anonymize=bad
                )
            )
    assert sent == []
