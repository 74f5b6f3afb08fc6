"""Modality against a real second Orthanc: C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE, configuration."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from orthanc_client import (
    DicomNetworkError,
    FindAnswer,
    InvalidInputError,
    Job,
    JobFailedError,
    JobState,
    UnsupportedByServerError,
    aio,
)
from orthanc_client.testing import version_tuple
from orthanc_client.testing.dicom import make_study, to_bytes

from .conftest import (
    INSTANCES,
    INSTANCES_PER_STUDY,
    PATIENTS,
    SERIES,
    STUDIES,
    Api,
    call,
    http,
    record_requests,
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_echo_reachable_and_unreachable(api: Api) -> None:
    remote = api.Modality(api.client, "remote")
    assert await call(remote.echo()) is True
    assert remote.last_error is None

    nowhere = await call(
        api.Modality.create(api.client, "nowhere", aet="NOWHERE", host="127.0.0.1", port=_closed_port())
    )
    try:
        assert await call(nowhere.echo(dicom_timeout=2)) is False
        assert isinstance(nowhere.last_error, DicomNetworkError)
        assert "NOWHERE" in str(nowhere.last_error.details)  # Orthanc's own reason is kept
        with pytest.raises(DicomNetworkError, match="C-ECHO"):
            await call(nowhere.check(dicom_timeout=2))
    finally:
        await call(nowhere.delete())


async def test_configure_list_and_delete_modalities(api: Api) -> None:
    created = await call(
        api.Modality.create(
            api.client, "scanner", aet="SCANNER", host="10.0.0.9", port=104, manufacturer="GE"
        )
    )
    try:
        names = [m.name for m in await call(api.Modality.list(api.client))]
        assert set(names) == {"remote", "scanner"}
        config = await call(created.configure(port=11112, allow={"get": False, "move": True}))
        assert config["Port"] == 11112
        stored = await call(created.configuration())
        assert (stored["AET"], stored["Host"], stored["Port"], stored["AllowGet"], stored["AllowMove"]) == (
            "SCANNER",
            "10.0.0.9",
            11112,
            False,
            True,
        )
        assert stored["Manufacturer"] == "GE"
    finally:
        await call(created.delete())
    assert [m.name for m in await call(api.Modality.list(api.client))] == ["remote"]


async def test_find_at_each_level_with_wildcards_dates_and_lists(api: Api) -> None:
    remote = api.Modality(api.client, "remote")

    patients = await call(remote.find("Patient", {"PatientName": "Test^Patient*"}))
    assert sorted(p.patient_id for p in patients) == [f"PAT{i:04d}" for i in range(1, PATIENTS + 1)]
    assert [p.patient_id for p in await call(remote.find("patient", {"PatientName": "*2"}))] == ["PAT0002"]

    # Study j of every patient is dated 2024-01-02 + j: an open range keeps the second study of each.
    later = await call(remote.find("Study", {"StudyDate": (dt.date(2024, 1, 3), None)}))
    assert len(later) == PATIENTS
    assert all(isinstance(a, FindAnswer) and a.study_date == dt.date(2024, 1, 3) for a in later)
    assert all(a.number_of_instances == INSTANCES_PER_STUDY for a in later)
    closed = await call(remote.find("Study", {"StudyDate": (dt.date(2024, 1, 1), dt.date(2024, 1, 2))}))
    assert {a.accession_number for a in closed} == {f"ACC{p:04d}01" for p in range(1, PATIENTS + 1)}
    listed = await call(remote.find("Study", {"AccessionNumber": ["ACC000101", "ACC000302"]}))
    assert sorted(a.accession_number for a in listed) == ["ACC000101", "ACC000302"]

    study_uid = listed[0].study_instance_uid
    series = await call(remote.find("Series", {"StudyInstanceUID": study_uid}))
    assert len(series) == SERIES and all(s.number_of_instances == INSTANCES for s in series)
    instances = await call(
        remote.find("Instance", {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series[0].uid})
    )
    assert len(instances) == INSTANCES and all(i.sop_instance_uid for i in instances)

    # Each find cleans up the query it stored on the local Orthanc.
    assert await call(api.client.get_queries()) == []
    assert {a.query_id for a in listed} == {None}
    kept = await call(remote.find("Study", {}, keep_query=True))
    assert await call(api.client.get_queries()) == [kept[0].query_id]
    assert {a.query_id for a in kept} == {kept[0].query_id}
    assert await call(remote.delete_queries()) == 1


async def test_find_requests_do_not_grow_with_answers(api: Api) -> None:
    """All answers come back in one GET (expand&simplify), not one request per answer."""
    sent = record_requests(api)
    answers = await call(api.Modality(api.client, "remote").find("Instance", {"PatientID": "PAT*"}))
    assert len(answers) == PATIENTS * STUDIES * SERIES * INSTANCES
    assert len(sent) == 3, [r.url.path for r in sent]  # POST query, GET answers, DELETE query


async def test_long_operations_ask_orthanc_for_a_job(api: Api, orthanc_version: str) -> None:
    """Every route that starts a C-MOVE, C-GET or C-STORE gets ``"Asynchronous": true`` (the sync API too:
    tools/unasync.py must leave the word alone), so Orthanc answers at once with a job to poll."""
    with http(api.network.local) as local:
        for ds in make_study(1, 1, patient_id="JOBS1"):
            local.post("/instances", content=to_bytes(ds)).raise_for_status()
        study_id = local.get("/studies").json()[0]
    remote = api.Modality(api.client, "remote")
    (study,) = await call(remote.find("Study", {"AccessionNumber": "ACC000101"}))
    sent = record_requests(api)
    await call(remote.move([study], timeout=60))
    await call(remote.store(study_id, timeout=60))
    await call(api.Peer(api.client, "remote").store(study_id, timeout=60))
    expected = [
        "/modalities/remote/move" if version_tuple(orthanc_version) >= (1, 12) else "/retrieve",
        "/modalities/remote/store",
        "/peers/remote/store",
    ]
    if version_tuple(orthanc_version) >= (1, 12):
        await call(remote.get([study], timeout=60))
        expected.append("/modalities/remote/get")
    started = [
        r
        for r in sent
        if r.method == "POST" and r.url.path.endswith(("/move", "/retrieve", "/store", "/get"))
    ]
    paths = [r.url.path for r in started]
    assert len(paths) == len(expected) and all(map(str.endswith, paths, expected)), paths
    assert all(json.loads(r.content)["Asynchronous"] is True for r in started)


async def test_move_answers_uids_and_as_job(api: Api) -> None:
    remote = api.Modality(api.client, "remote")
    studies = await call(remote.find("Study", {"PatientID": "PAT0002"}))
    job = await call(remote.move(studies, timeout=60))
    assert isinstance(job, (Job, aio.Job)) and job.state is JobState.SUCCESS
    with http(api.network.local) as local:
        assert local.get("/statistics").json()["CountInstances"] == STUDIES * INSTANCES_PER_STUDY
        moved = {
            local.get(f"/studies/{s}").json()["MainDicomTags"]["StudyInstanceUID"]
            for s in local.get("/studies").json()
        }
    assert moved == {s.study_instance_uid for s in studies}

    # Explicit UIDs at series level, started as a job and waited for later.
    series = await call(remote.find("Series", {"PatientID": "PAT0003"}))
    started = await call(remote.start_move([s.identifier() for s in series[:1]], level="Series"))
    await call(started.wait(timeout=60))
    with http(api.network.local) as local:
        assert local.get("/statistics").json()["CountInstances"] == STUDIES * INSTANCES_PER_STUDY + INSTANCES


async def test_move_to_an_aet_the_remote_does_not_know_says_what_to_check(api: Api) -> None:
    import pickle

    remote = api.Modality(api.client, "remote")
    studies = await call(remote.find("Study", {"PatientID": "PAT0001"}))
    with pytest.raises(JobFailedError) as failure:
        await call(remote.move(studies, target_aet="NOSUCHAET", timeout=60))
    message = str(failure.value)
    assert "could not deliver to the AET 'NOSUCHAET'" in message and "DicomModalities" in message
    assert failure.value.error_details  # the remote's own answer stays in the message
    copy = pickle.loads(pickle.dumps(failure.value))
    assert str(copy) == message and copy.job_id == failure.value.job_id


async def test_move_refuses_mixed_levels_before_sending(api: Api) -> None:
    remote = api.Modality(api.client, "remote")
    study = FindAnswer("Study", {"StudyInstanceUID": "1.2.3"})
    series = FindAnswer("Series", {"StudyInstanceUID": "1.2.3", "SeriesInstanceUID": "1.2.3.4"})
    with pytest.raises(InvalidInputError, match="one level"):
        await call(remote.start_move([study, series]))
    with pytest.raises(InvalidInputError, match="SeriesInstanceUID"):
        await call(remote.start_move([{"StudyInstanceUID": "1.2.3"}], level="Series"))


async def test_move_to_unreachable_source_fails_with_orthancs_reason(api: Api) -> None:
    nowhere = await call(
        api.Modality.create(api.client, "nowhere", aet="NOWHERE", host="127.0.0.1", port=_closed_port())
    )
    try:
        with pytest.raises((JobFailedError, DicomNetworkError), match="NOWHERE"):
            await call(nowhere.move(["1.2.3"], level="Study", dicom_timeout=2, timeout=30))
    finally:
        await call(nowhere.delete())


@pytest.mark.orthanc_min("1.12")
async def test_get_series_into_local(api: Api) -> None:
    remote = api.Modality(api.client, "remote")
    series = await call(remote.find("Series", {"PatientID": "PAT0001"}))
    job = await call(remote.get(series[:2], timeout=60))
    assert job.state is JobState.SUCCESS
    with http(api.network.local) as local:
        assert local.get("/statistics").json()["CountInstances"] == 2 * INSTANCES


async def test_get_is_refused_before_sending_on_old_servers(api: Api, orthanc_version: str) -> None:
    if version_tuple(orthanc_version) >= (1, 12):
        pytest.skip("C-GET is supported")
    with pytest.raises(UnsupportedByServerError, match="1.12"):
        await call(api.Modality(api.client, "remote").get(["1.2.3"], level="Study"))


async def test_store_resources_sync_and_as_job(api: Api) -> None:
    with http(api.network.local) as local:
        for ds in make_study(2, 3, patient_id="STORE1"):
            local.post("/instances", content=to_bytes(ds)).raise_for_status()
        study_id = local.get("/studies").json()[0]
    remote = api.Modality(api.client, "remote")
    job = await call(remote.store(study_id, timeout=60, dicom_timeout=10))
    assert job.content["InstancesCount"] == 6 and job.content["FailedInstancesCount"] == 0
    with http(api.network.remote) as pacs:
        found = pacs.post("/tools/find", json={"Level": "Instance", "Query": {"PatientID": "STORE1"}}).json()
        assert len(found) == 6
    started = await call(remote.start_store([study_id]))
    assert (await call(started.wait(timeout=60))).state is JobState.SUCCESS
