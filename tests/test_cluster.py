"""A client over several Orthanc nodes, on real clusters (PostgreSQL index, shared storage), both APIs.

The cluster's health rules themselves (backoff, re-admission, choice, job owners) are tested without I/O at
the end, against a fake clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import orthanc_client.aio as aio
from orthanc_client import Instance, InvalidInputError, Job, NotFoundError, Orthanc, Study, upload
from orthanc_client._core.fastpath import posts as _bulk_post
from orthanc_client._core.nodes import NodePool, pinned
from orthanc_client.testing.cluster import OrthancCluster
from orthanc_client.testing.dicom import make_study, to_bytes, write

UPLOAD_COUNT = 2000


@pytest.fixture(scope="session")
def cluster(orthanc_version: str) -> Iterator[OrthancCluster]:
    """Two nodes, shared for the session (tests that kill a node start their own cluster)."""
    with OrthancCluster(orthanc_version, nodes=2, extra_config={"CheckRevisions": True, "UserContentType": {"notes": 1030}}) as started:
        yield started


@pytest.fixture
def clean_cluster(cluster: OrthancCluster) -> OrthancCluster:
    for node in cluster.nodes:
        if not node.is_running():
            node.start()
    cluster.clear()
    return cluster


@pytest.fixture(scope="session")
def upload_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 small instances: 20 studies of 100, as files."""
    folder = tmp_path_factory.mktemp("cluster-upload")
    for study in range(20):
        for index, dataset in enumerate(make_study(1, UPLOAD_COUNT // 20, patient_id=f"CL{study}", seed=study, rows=4, columns=4)):
            write(dataset, folder / f"{study:02d}-{index:03d}.dcm")
    return folder


def _raw(cluster: OrthancCluster, index: int) -> httpx.Client:
    return httpx.Client(base_url=cluster.urls[index], auth=cluster.auth, timeout=60)


def _client(kind: str, urls: list[str], cluster: OrthancCluster) -> Any:
    return Orthanc(urls, *cluster.auth) if kind == "sync" else aio.AsyncOrthanc(urls, *cluster.auth)


async def _close(client: Any) -> None:
    if isinstance(client, aio.AsyncOrthanc):
        await client.aclose()
    else:
        client.close()


async def _call(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


# --- upload spread over the nodes, one of them killed mid-run ------------------------------------------------


@pytest.mark.parametrize(("kind", "nodes"), [("sync", 2), ("async", 3)])
async def test_upload_spreads_over_nodes_and_survives_a_sigkill(
    orthanc_version: str, upload_folder: Path, monkeypatch: pytest.MonkeyPatch, kind: str, nodes: int
) -> None:
    with OrthancCluster(orthanc_version, nodes=nodes) as cluster:
        victim = cluster.urls[-1]
        posts: Counter[str] = Counter()
        lock = threading.Lock()
        direct_post = _bulk_post.DirectPoster.post

        kill_after = 20  # of about 63 requests: the 2,000 small files go 32 to a ZIP (``pack``)

        def counting_post(poster: Any, path: str, *args: Any) -> Any:
            with lock:
                posts[poster._base_url.rstrip("/")] += 1
                if sum(posts.values()) == kill_after:
                    cluster.kill(nodes - 1)  # SIGKILL while other posts are in flight on it
            return direct_post(poster, path, *args)

        monkeypatch.setattr(_bulk_post.DirectPoster, "post", counting_post)
        client = _client(kind, cluster.urls, cluster)
        try:
            result = await _call((aio.upload if kind == "async" else upload)(client, upload_folder, concurrency=8))
            assert client._nodes.nodes[-1].failures >= 1  # taken out, never re-admitted (it never answered again)
        finally:
            await _close(client)

        assert not result.failed, [(i.name, i.reason) for i in result.failed[:5]]
        assert len(result.stored) + len(result.already_stored) == UPLOAD_COUNT
        assert set(posts) == set(cluster.urls)  # every node took a share, the killed one until it died
        assert all(count >= kill_after // nodes for url, count in posts.items() if url != victim)
        with _raw(cluster, 0) as raw:
            on_server = raw.get("/instances").json()
            statistics = raw.get("/statistics").json()
        uploaded_ids = {item.instance_id for item in [*result.stored, *result.already_stored]}
        assert len(on_server) == len(set(on_server)) == UPLOAD_COUNT  # each instance stored once
        assert set(on_server) == uploaded_ids
        assert int(statistics["CountInstances"]) == UPLOAD_COUNT


# --- jobs on their own node -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_anonymize_jobs_spread_and_polled_on_their_own_node(clean_cluster: OrthancCluster, kind: str) -> None:
    with _raw(clean_cluster, 0) as raw:
        for study in range(20):
            for dataset in make_study(1, 2, patient_id=f"JOB{study}", seed=100 + study, rows=4, columns=4):
                raw.post("/instances", content=to_bytes(dataset)).raise_for_status()
        study_ids = raw.get("/studies").json()
    assert len(study_ids) == 20

    client = _client(kind, clean_cluster.urls, clean_cluster)
    polled: Counter[tuple[str, str]] = Counter()
    send = type(client)._send

    def recording_send(self: Any, prepared: Any, *args: Any, **kwargs: Any) -> Any:
        if prepared.url.startswith("jobs/") and self._nodes is not None:
            polled[(prepared.url.split("/")[1], self._nodes.route(prepared.url).url)] += 1
        return send(self, prepared, *args, **kwargs)

    try:
        type(client)._send = recording_send
        resources = Study if kind == "sync" else aio.Study
        # One job at a time: jobs running at once on two nodes can collide in PostgreSQL (plugin 5.0's
        # serializable transactions) and fail with "Error with the database engine" on a busy machine, the
        # server's behaviour (docs/cluster.md), not what this test is about: where jobs go and are polled.
        jobs = []
        for study_id in study_ids:
            jobs.append(await _call(resources(study_id, client).anonymize_as_job()))
            await _call(jobs[-1].wait(timeout=120))
        listed = await _call((aio.Job if kind == "async" else Job).list(client))
    finally:
        type(client)._send = send
        await _close(client)

    nodes = [job.node for job in jobs]
    assert None not in nodes and set(nodes) == set(clean_cluster.urls)
    assert Counter(nodes)[clean_cluster.urls[0]] == 10  # round-robin
    for job in jobs:
        assert {url for (job_id, url) in polled if job_id == job.id} == {job.node}  # polled only on its node
        for index, url in enumerate(clean_cluster.urls):
            with _raw(clean_cluster, index) as raw:
                status = raw.get(f"/jobs/{job.id}").status_code
            assert status == (200 if url == job.node else 404)
    assert {job.id for job in jobs} <= {job.id for job in listed}  # the list gathers every node's jobs
    with _raw(clean_cluster, 1) as raw:
        assert len(raw.get("/studies").json()) == 40  # the 20 anonymized studies, readable anywhere


def test_a_job_created_elsewhere_is_found_on_its_node(clean_cluster: OrthancCluster) -> None:
    with _raw(clean_cluster, 1) as raw:
        raw.post("/instances", content=to_bytes(make_study(1, 1, patient_id="ELSEWHERE")[0])).raise_for_status()
        study_id = raw.get("/studies").json()[0]
        job_id = raw.post(f"/studies/{study_id}/anonymize", json={"Asynchronous": True}).json()["ID"]
    with Orthanc(clean_cluster.urls, *clean_cluster.auth) as client:
        job = Job(job_id, client)
        assert job.node is None  # not known yet: this client did not create it
        job.wait(timeout=60)  # the first node answers 404, the second owns it
        assert job.node == clean_cluster.urls[1]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_jobs_through_a_round_robin_load_balancer(orthanc_version: str, kind: str) -> None:
    with OrthancCluster(orthanc_version, nodes=2, balancer=True) as cluster:
        assert cluster.balancer is not None
        with _raw(cluster, 0) as raw:
            for study in range(3):
                raw.post("/instances", content=to_bytes(make_study(1, 1, patient_id=f"LB{study}", seed=study)[0]))
            study_ids = raw.get("/studies").json()
        resources = Study if kind == "sync" else aio.Study
        client = (Orthanc if kind == "sync" else aio.AsyncOrthanc)(cluster.balancer.url, *cluster.auth, balanced_nodes=2)
        naive = (Orthanc if kind == "sync" else aio.AsyncOrthanc)(cluster.balancer.url, *cluster.auth)
        try:
            names = {(await _call(client.get_system()))["Name"] for _ in range(4)}
            assert names == {"orthanc-node-0", "orthanc-node-1"}  # the balancer does spread
            for study_id in study_ids:
                job = await _call(resources(study_id, client).anonymize_as_job())
                await _call(job.wait(timeout=60))  # some polls reached the other node (404) and were asked again
                assert job.content["ID"]
            # Without balanced_nodes, the poll that follows the creation reaches the other node: a 404.
            with pytest.raises(NotFoundError):
                job = await _call(resources(study_ids[0], naive).anonymize_as_job())
                for _ in range(4):
                    await _call(job.refresh())
        finally:
            await _close(client)
            await _close(naive)
    with pytest.raises(InvalidInputError, match="balanced_nodes"):
        Orthanc("http://127.0.0.1:9", balanced_nodes=0)


# --- stored through one node, read through another ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_study_stored_through_a_is_read_through_b(clean_cluster: OrthancCluster, kind: str) -> None:
    datasets = make_study(2, 3, patient_id="ATOB", seed=7, rows=4, columns=4)
    a = _client(kind, [clean_cluster.urls[0]], clean_cluster)
    b = _client(kind, [clean_cluster.urls[1]], clean_cluster)
    try:
        answers = [await _call(a.post_instances(to_bytes(ds))) for ds in datasets]
        study_id = answers[0]["ParentStudy"]
        study = await _call(b.get_studies_id(study_id))
        assert study["PatientMainDicomTags"]["PatientID"] == "ATOB" and len(study["Series"]) == 2
        first = answers[0]["ID"]
        assert await _call(b.get_instances_id_file(first)) == to_bytes(datasets[0])
    finally:
        await _close(a)
        await _close(b)


# --- revision-safe writes across nodes -----------------------------------------------------------------------


def test_metadata_updated_concurrently_through_both_nodes_loses_nothing(clean_cluster: OrthancCluster) -> None:
    with _raw(clean_cluster, 0) as raw:
        instance = raw.post("/instances", content=to_bytes(make_study(1, 1, patient_id="REV")[0])).json()["ID"]
    per_writer, errors = 15, []

    def writer(url: str) -> None:
        try:
            with Orthanc(url, *clean_cluster.auth) as client:
                for _ in range(per_writer):
                    Instance(instance, client).update_metadata("1024", lambda old: str(int(old or 0) + 1), attempts=50)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(url,)) for url in clean_cluster.urls * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with _raw(clean_cluster, 1) as raw:
        answer = raw.get(f"/instances/{instance}/metadata/1024")
    assert answer.text == str(per_writer * len(threads))
    assert answer.headers["etag"].startswith(f'"{per_writer * len(threads) - 1}-')  # one revision per update


async def test_async_metadata_and_attachment_updates_over_a_multi_node_client(clean_cluster: OrthancCluster) -> None:
    with _raw(clean_cluster, 0) as raw:
        instance = raw.post("/instances", content=to_bytes(make_study(1, 1, patient_id="REVA")[0])).json()["ID"]
    async with aio.AsyncOrthanc(clean_cluster.urls, *clean_cluster.auth) as client:
        await asyncio.gather(
            *(aio.Instance(instance, client).update_metadata("1025", lambda old: (old or "") + "x", attempts=50)
              for _ in range(12))
        )
        await asyncio.gather(
            *(aio.Instance(instance, client).update_attachment("notes", lambda old: (old or b"") + b"n", attempts=50)
              for _ in range(6))
        )
    with _raw(clean_cluster, 1) as raw:
        assert raw.get(f"/instances/{instance}/metadata/1025").text == "x" * 12
        assert raw.get(f"/instances/{instance}/attachments/notes/data").content == b"n" * 6
    with Orthanc(clean_cluster.urls[0], *clean_cluster.auth) as client, pytest.raises(NotFoundError):
        Study(instance, client).update_metadata("1025", lambda old: "1")  # an instance's ID is no study's


# --- health: a stopped node is taken out, its work goes to the others, it comes back ------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_dead_node_is_taken_out_and_readmitted(orthanc_version: str, kind: str) -> None:
    with OrthancCluster(orthanc_version, nodes=2) as cluster:
        client = _client(kind, cluster.urls, cluster)
        try:
            assert client.nodes == cluster.urls and client.healthy_nodes == cluster.urls
            client._nodes.base_backoff = 1.0
            cluster.kill(1)
            names = [(await _call(client.get_system()))["Name"] for _ in range(6)]
            assert names == ["orthanc-node-0"] * 6  # the failed request went to node 0 at once
            assert client.healthy_nodes == [cluster.urls[0]]
            cluster.nodes[1].start()
            await asyncio.sleep(1.1)
            names = [(await _call(client.get_system()))["Name"] for _ in range(4)]
            assert sorted(set(names)) == ["orthanc-node-0", "orthanc-node-1"]
            assert client.healthy_nodes == cluster.urls
            with client.on_node(cluster.urls[1]):
                assert (await _call(client.get_system()))["Name"] == "orthanc-node-1"
        finally:
            await _close(client)


# --- the client's API ---------------------------------------------------------------------------------------


def test_single_url_client_has_no_node_pool_and_refuses_bad_node_arguments() -> None:
    with Orthanc("http://127.0.0.1:9", "user", "secret-pw") as client:
        assert client._nodes is None and client.nodes == ["http://127.0.0.1:9"]
        assert client.node_of("jobs", "x") is None
        with client.on_node("http://127.0.0.1:9/"):
            pass
        with pytest.raises(InvalidInputError, match="not a node"):
            client.on_node("http://elsewhere:8042")
    with pytest.raises(InvalidInputError, match="non-empty list"):
        Orthanc([], "u", "p")
    with pytest.raises(InvalidInputError, match="http_client"):
        Orthanc(["http://a:1", "http://b:2"], http_client=httpx.Client())
    with pytest.raises(InvalidInputError, match="URL"):
        Orthanc(["http://a:1", "ftp://b:2"])
    client = Orthanc(["http://u:secret-pw@a:1", "http://b:2"], "u", "secret-pw")
    assert client.nodes == ["http://a:1", "http://b:2"]
    assert "secret-pw" not in repr(client) + repr(client._nodes) + repr(client._nodes.nodes)
    with pytest.raises(InvalidInputError, match="not a node"):
        client.on_node("http://c:3")
    client.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pool_round_robin_backoff_and_readmission() -> None:
    clock = FakeClock()
    pool = NodePool(["http://a/", "http://b/", "http://c/"], clock=clock)
    a, b, c = pool.nodes
    assert [pool.choose().url for _ in range(4)] == ["http://a/", "http://b/", "http://c/", "http://a/"]
    pool.failed(b)
    assert [pool.choose() for _ in range(4)] == [c, a, c, a]
    clock.now += 0.9
    assert b not in [pool.choose() for _ in range(4)]
    clock.now += 0.2  # 1 s after the first failure: on probation
    assert b in [pool.choose() for _ in range(3)]
    pool.failed(b)  # a second failure doubles the backoff
    assert b.down_until == pytest.approx(clock.now + 2.0)
    pool.failed(b)
    assert b.down_until == pytest.approx(clock.now + 4.0)
    pool.succeeded(b)
    assert b.failures == 0 and pool.healthy() == [a, b, c]
    for _ in range(10):
        pool.failed(a)
    assert a.down_until == pytest.approx(clock.now + 30.0)  # capped
    pool.failed(b)
    pool.failed(c)
    assert pool.choose() is b  # all out: the one due back first
    assert pool.choose(avoid=[b]) is c


def test_pool_job_owners_and_pinning() -> None:
    pool = NodePool(["http://a/", "http://b/"])
    a, b = pool.nodes
    pool.note_answer(b, b'{"ID": "j1", "Path": "/jobs/j1"}')
    pool.note_answer(a, b'{"ID": "q1", "Path": "/queries/q1"}')
    pool.note_answer(a, b'{"ID": "x", "Path": "/jobs/other"}')  # not about its own ID: ignored
    pool.note_answer(a, b'{"ID": "s", "Path": "/studies/s"}')
    pool.note_answer(a, b"not json /jobs/")
    for _ in range(3):
        assert pool.route("jobs/j1") is b and pool.route("jobs/j1/cancel") is b
        assert pool.route("queries/q1/answers") is a
    assert pool.owner("jobs/other") is None and pool.owner("studies/s") is None
    pool.failed(b)
    assert pool.route("jobs/j1") is b  # a job lives only on its node: no failover
    with pinned(a):
        assert pool.route("jobs/j1") is a and pool.route("studies") is a
    other = NodePool(["http://z/", "http://y/"])
    with pinned(other.nodes[1]):
        assert pool.route("studies") in (a, b)  # another client's pin does not apply
    tried: list[Any] = []
    assert pool.look_elsewhere("jobs/unknown", a, tried) and tried == [a]
    assert not pool.look_elsewhere("studies/x", a, [])
    pool.found("jobs/unknown", b)
    assert pool.owner("jobs/unknown") is b
