"""Jobs against real Orthanc servers (sync and async), plus the polling policy against a scripted client."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

import orthanc_client
import orthanc_client.aio
from orthanc_client import Job, JobFailedError, JobState, JobTimeoutError
from orthanc_client._jobs.state import (
    FIRST_POLL_INTERVAL,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    ProgressPace,
    next_poll_interval,
)
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study

from .test_resources_support import async_client, sync_client, upload


@pytest.fixture
def study_id(clean_orthanc: OrthancServer) -> str:
    answers = upload(clean_orthanc, make_study(1, 3, patient_id="JOBS"))
    return answers[0]["ParentStudy"]


def _dead_modality(server: OrthancServer) -> None:
    """A modality on a closed port: a store job to it fails quickly, on every Orthanc version."""
    with sync_client(server) as client:
        client.put_modalities_id("dead", {"AET": "DEAD", "Host": "127.0.0.1", "Port": 1})


def test_wait_returns_the_finished_job_with_typed_fields(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        answer = client.post_studies_id_anonymize(study_id, {"Asynchronous": True})
        job = Job(answer["ID"], client)
        assert job.state is None and repr(job) == f"Job(id={answer['ID']!r})"
        started = time.monotonic()
        assert job.wait(timeout=60) is job
        assert time.monotonic() - started < 5
        assert job.state is JobState.SUCCESS and job.state.is_finished
        assert job.progress == 100
        assert job.type == "ResourceModification"
        assert isinstance(job.creation_time, dt.datetime) and job.creation_time.tzinfo is dt.timezone.utc
        assert job.completion_time is not None and job.completion_time >= job.creation_time
        assert isinstance(job.effective_runtime, float)
        new_study = job.content["ID"]
        assert new_study != study_id and client.get_studies_id(new_study)["ID"] == new_study
        assert job.error_description in (None, "Success")
        assert clean_orthanc.password not in repr(job)


async def test_async_wait_and_list(clean_orthanc: OrthancServer, study_id: str) -> None:
    async with async_client(clean_orthanc) as client:
        answer = await client.post_studies_id_anonymize(study_id, {"Asynchronous": True})
        job = await orthanc_client.aio.Job(answer["ID"], client).wait(timeout=60)
        assert job.state is JobState.SUCCESS
        listed = await orthanc_client.aio.Job.list(client)
        assert job in listed and len(set(listed)) == len(listed)
        same = next(j for j in listed if j == job)
        assert same.state is JobState.SUCCESS and hash(same) == hash(job)
        assert (await orthanc_client.aio.list_jobs(client)) == listed
        fetched = await orthanc_client.aio.Job.get(client, job.id)
        assert fetched.type == "ResourceModification"


def test_failed_job_raises_with_orthancs_reason(clean_orthanc: OrthancServer, study_id: str) -> None:
    _dead_modality(clean_orthanc)
    with sync_client(clean_orthanc) as client:
        answer = client.post_modalities_id_store("dead", {"Resources": [study_id], "Asynchronous": True})
        job = Job(answer["ID"], client)
        with pytest.raises(JobFailedError) as caught:
            job.wait(timeout=60)
        error = caught.value
        assert error.job_id == job.id and job.state is JobState.FAILURE
        assert isinstance(error.error_code, int) and error.error_code != 0
        assert error.error_description and error.error_description in str(error)
        assert job.error_code == error.error_code
        job.resubmit()  # runs again (and fails again): the job must leave Failure first
        with pytest.raises(JobFailedError):
            job.wait(timeout=60)


async def test_async_failed_job_raises(clean_orthanc: OrthancServer, study_id: str) -> None:
    _dead_modality(clean_orthanc)
    async with async_client(clean_orthanc) as client:
        answer = await client.post_modalities_id_store("dead", {"Resources": [study_id], "Asynchronous": True})
        with pytest.raises(orthanc_client.aio.JobFailedError, match="failed"):
            await orthanc_client.aio.Job(answer["ID"], client).wait(timeout=60)


# --- polling policy, against a scripted client ------------------------------------------------------------


class ScriptedClient:
    """Answers ``GET /jobs/{id}`` from a list of states and records every call."""

    def __init__(self, states: list[str]) -> None:
        self.states = states
        self.calls: list[tuple[str, str]] = []

    def get_jobs_id(self, id_: str) -> dict[str, Any]:
        self.calls.append(("get", id_))
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"ID": id_, "State": state, "Progress": 50, "Type": "Test"}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("post_jobs_id_"):
            return lambda id_: self.calls.append((name.removeprefix("post_jobs_id_"), id_))
        raise AttributeError(name)


def test_timeout_raises_and_says_the_job_goes_on() -> None:
    client = ScriptedClient(["Running"])
    job = Job("j1", client)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(JobTimeoutError) as caught:
        job.wait(timeout=0.3)
    waited = time.monotonic() - started
    assert 0.3 <= waited < 0.6
    assert caught.value.state == "Running" and caught.value.progress == 50
    assert isinstance(caught.value, TimeoutError) and "j1" in str(caught.value)


def test_short_jobs_are_seen_fast_and_polls_stay_few() -> None:
    client = ScriptedClient(["Pending", "Running", "Success"])
    started = time.monotonic()
    Job("j2", client).wait()  # type: ignore[arg-type]
    assert time.monotonic() - started < 3 * FIRST_POLL_INTERVAL + 0.1
    assert len(client.calls) == 3
    # The interval is ~10% of the time already waited: overshoot stays near 5% of a job's duration.
    assert next_poll_interval(0.0, None) == FIRST_POLL_INTERVAL
    assert next_poll_interval(5.0, None) == pytest.approx(0.5)
    assert next_poll_interval(3600.0, None) == MAX_POLL_INTERVAL
    assert next_poll_interval(3600.0, 0.2) == 0.2


def _answer(state: str, progress: int, seconds: float) -> dict[str, Any]:
    stamp = dt.datetime(2024, 1, 2, 12, 0, 0) + dt.timedelta(seconds=seconds)
    return {"State": state, "Progress": progress, "Timestamp": stamp.strftime("%Y%m%dT%H%M%S.%f")}


def test_the_pace_of_progress_brings_the_next_look_forward_never_later() -> None:
    pace = ProgressPace()
    assert pace.remaining(_answer("Pending", 0, 0.0)) is None
    assert pace.remaining(_answer("Running", 0, 0.01)) is None  # the pace starts here
    assert pace.remaining(_answer("Running", 20, 0.11)) == pytest.approx(0.4)  # 20% in 0.1 s: 80% in 0.4 s
    assert pace.remaining(_answer("Running", 20, 0.15)) == pytest.approx(0.56)  # slower: 20% in 0.14 s
    assert pace.remaining(_answer("Running", 90, 0.46)) == pytest.approx(0.05)
    assert pace.remaining(_answer("Paused", 90, 0.5)) is None
    assert pace.remaining(_answer("Running", 90, 0.9)) is None  # paused: the pace starts again
    assert pace.remaining(_answer("Running", 90, 1.0)) is None  # no move since then: no pace yet
    assert pace.remaining(_answer("Running", 95, 1.1)) == pytest.approx(0.2)  # 5% in 0.2 s since 0.9 s
    assert next_poll_interval(0.4, None, remaining=0.03) == pytest.approx(0.03)  # at the expected end
    assert next_poll_interval(0.4, None, remaining=2.0) == FIRST_POLL_INTERVAL  # never later than without
    assert next_poll_interval(0.2, None, remaining=0.0) == MIN_POLL_INTERVAL  # overran: at most 100/s
    assert next_poll_interval(10.0, None, remaining=0.0) == pytest.approx(0.2)  # 2% of the wait: log(t) polls
    assert next_poll_interval(0.4, 0.3, remaining=0.01) == 0.3  # a fixed interval stays fixed


class SteadyJobClient:
    """A job that runs at a steady pace and ends ``duration`` s after its first read. Like Orthanc 1.12.7 it
    gives no usable EstimatedTimeOfArrival (``EffectiveRuntime`` near 0 while running: an estimate of "now")."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.started: float | None = None
        self.reads: list[float] = []

    def get_jobs_id(self, id_: str) -> dict[str, Any]:
        now = time.monotonic()
        self.started = self.started if self.started is not None else now
        seconds = now - self.started
        self.reads.append(seconds)
        if seconds >= self.duration:
            return {"ID": id_, **_answer("Success", 100, seconds)}
        answer = _answer("Running", int(100 * seconds / self.duration), seconds)
        return {"ID": id_, **answer, "EffectiveRuntime": 0.001, "EstimatedTimeOfArrival": answer["Timestamp"]}


def test_wait_looks_again_when_the_job_should_end() -> None:
    client = SteadyJobClient(0.37)
    Job("j4", client).wait()  # type: ignore[arg-type]
    # Without the pace the last look could come up to FIRST_POLL_INTERVAL (50 ms) after the end.
    assert client.reads[-1] - 0.37 < 0.02
    assert len(client.reads) <= 12


def test_control_calls_hit_their_routes() -> None:
    client = ScriptedClient(["Running"])
    job = Job("j3", client)  # type: ignore[arg-type]
    job.pause()
    job.resume()
    job.cancel()
    job.resubmit()
    assert client.calls == [("pause", "j3"), ("resume", "j3"), ("cancel", "j3"), ("resubmit", "j3")]
    assert orthanc_client.JobState("Retry") is JobState.RETRY and not JobState.RUNNING.is_finished
