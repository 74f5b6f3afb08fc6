"""Peer against a real second Orthanc: configuration, reachability, store (waited for and as a job)."""

from __future__ import annotations

from orthanc_client import JobState
from orthanc_client.testing.dicom import make_study, to_bytes

from .conftest import Api, call, http


async def test_list_configure_and_check_peers(api: Api) -> None:
    remote = api.Peer(api.client, "remote")
    assert [p.name for p in await call(api.Peer.list(api.client))] == ["remote"]
    assert await call(remote.is_reachable()) is True
    assert (await call(remote.system()))["DicomAet"] == api.network.remote.aet
    assert (await call(remote.configuration()))["Url"].startswith(api.network.remote.url)

    down = await call(
        api.Peer.create(api.client, "down", url="http://127.0.0.1:9", username="u", password="secret-pw")
    )
    try:
        assert await call(down.is_reachable()) is False
        assert down.last_error is not None and down.last_error.remote == "down"
        assert "secret-pw" not in repr(down) + str(down.last_error) + repr(await call(down.configuration()))
    finally:
        await call(down.delete())
    assert [p.name for p in await call(api.Peer.list(api.client))] == ["remote"]


async def test_store_to_peer_waited_and_as_job(api: Api) -> None:
    with http(api.network.local) as local:
        for ds in make_study(1, 3, patient_id="PEER1"):
            local.post("/instances", content=to_bytes(ds)).raise_for_status()
        study_id = local.get("/studies").json()[0]
    remote = api.Peer(api.client, "remote")
    job = await call(remote.store(study_id, timeout=60))
    assert job.state is JobState.SUCCESS and job.content["InstancesCount"] == 3
    with http(api.network.remote) as pacs:
        assert (
            len(pacs.post("/tools/find", json={"Level": "Instance", "Query": {"PatientID": "PEER1"}}).json())
            == 3
        )
    started = await call(remote.start_store([study_id], compress=True))
    assert (await call(started.wait(timeout=60))).content["InstancesCount"] == 3
