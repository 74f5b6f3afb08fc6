"""Orthanc jobs (``/jobs``): read their state, wait for them, cancel/pause/resume/resubmit them.

Long operations (anonymize, modify, archive, transfers) run as server-side jobs; waiting for one is a loop of
short ``GET /jobs/{id}`` requests, so no single HTTP request outlives a timeout however long the job takes.
"""

from __future__ import annotations

import builtins
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from ..._core import async_backend as backend
from ..._core.errors import JobFailedError, JobTimeoutError
from ..._dicom.values import parse_orthanc_timestamp
from ..state import JobState, ProgressPace, next_poll_interval

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

class Job:
    """An Orthanc job. Properties reflect the last read (``refresh()``, ``wait()`` or the creating call).

    Example::

        job = await series.anonymize_as_job()         # or Job(job_id, client)
        await job.wait(timeout=60)                    # raises JobFailedError with Orthanc's reason
        print(job.state, job.content["ID"])
        await client.delete_series_id(job.content["ID"])   # the anonymized copy

        for job in await Job.list(client):
            print(job.id, job.type, job.state, job.progress)

    With a client over several cluster nodes, every call about a job goes to the node that created it (jobs
    live in that node's memory; the others answer 404): ``job.node`` names it.
    """

    def __init__(self, id: str, client: AsyncOrthanc, info: dict[str, Any] | None = None) -> None:
        self.id = id
        self.client = client
        self._info: dict[str, Any] = dict(info) if info else {}

    @classmethod
    async def get(cls, client: AsyncOrthanc, id: str) -> Job:
        """The job ``id``, read once (``GET /jobs/{id}``)."""
        job = cls(id, client)
        await job.refresh()
        return job

    @property
    def node(self) -> str | None:
        """The URL of the cluster node that runs this job, when the client has several nodes and knows it
        (it created the job, listed it, or found it by asking each node); ``None`` with one URL."""
        return self.client.node_of("jobs", self.id)

    @classmethod
    async def list(cls, client: AsyncOrthanc) -> builtins.list[Job]:
        """Every job the server remembers (``GET /jobs?expand``: one request per node, details included)."""
        jobs: builtins.list[Job] = []
        for node in client.nodes:
            with client.on_node(node):
                answer = await client.get_jobs(expand=True)
            for info in answer:
                client._remember_job(str(info["ID"]), node)
                jobs.append(cls(str(info["ID"]), client, info))
        return jobs

    async def refresh(self) -> Job:
        """Re-reads the job from the server; returns ``self``."""
        self._info = dict(await self.client.get_jobs_id(self.id))
        return self

    @property
    def info(self) -> dict[str, Any]:
        """The raw last answer of ``GET /jobs/{id}`` (empty before the first read)."""
        return self._info

    @property
    def state(self) -> JobState | None:
        """``Pending``, ``Running``, ``Success``, ``Failure``, ``Paused`` or ``Retry``; ``None`` before a read."""
        value = self._info.get("State")
        return JobState(value) if value in JobState._value2member_map_ else None

    @property
    def progress(self) -> int | None:
        """Percent complete, 0-100."""
        value = self._info.get("Progress")
        return int(value) if isinstance(value, (int, float)) else None

    @property
    def type(self) -> str | None:
        """Orthanc's job type, e.g. ``"ResourceModification"``, ``"Archive"``, ``"DicomModalityStore"``."""
        value = self._info.get("Type")
        return str(value) if value is not None else None

    @property
    def priority(self) -> int | None:
        """Orthanc's scheduling priority (higher runs first)."""
        value = self._info.get("Priority")
        return int(value) if isinstance(value, int) else None

    @property
    def creation_time(self) -> dt.datetime | None:
        """When the job was submitted (UTC)."""
        return parse_orthanc_timestamp(self._info.get("CreationTime"))

    @property
    def completion_time(self) -> dt.datetime | None:
        """When the job ended (UTC); ``None`` while it runs."""
        return parse_orthanc_timestamp(self._info.get("CompletionTime"))

    @property
    def timestamp(self) -> dt.datetime | None:
        """When Orthanc last updated the job's state."""
        return parse_orthanc_timestamp(self._info.get("Timestamp"))

    @property
    def effective_runtime(self) -> float | None:
        """Seconds the job actually ran on the server (``EffectiveRuntime``)."""
        value = self._info.get("EffectiveRuntime")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def content(self) -> dict[str, Any]:
        """The job's result/details: for a modification, ``{"ID": new id, "Path": "/studies/...", ...}``."""
        value = self._info.get("Content")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def error_code(self) -> int | None:
        """Orthanc's numeric ``ErrorCode`` (0 when the job did not fail)."""
        value = self._info.get("ErrorCode")
        return int(value) if isinstance(value, int) else None

    @property
    def error_description(self) -> str | None:
        """Orthanc's ``ErrorDescription`` (``"Success"`` when the job did not fail)."""
        value = self._info.get("ErrorDescription")
        return str(value) if value else None

    @property
    def error_details(self) -> str | None:
        """Orthanc's ``ErrorDetails`` (1.11+; ``None`` before), often the most useful part of a failure."""
        value = self._info.get("ErrorDetails")
        return str(value) if value else None

    async def wait(self, timeout: float | None = None, poll_interval: float | None = None) -> Job:
        """Waits until the job succeeds and returns ``self``.

        Polls ``GET /jobs/{id}`` quickly at first then less often, and again when the job should end at the
        pace of its progress (see ``next_poll_interval``); give ``poll_interval`` for a fixed period instead.

        Raises:
            JobFailedError: the job ended in ``Failure`` (carries Orthanc's error code, description, details).
            JobTimeoutError: ``timeout`` seconds passed first; the job goes on running on the server.

        Example::

            job = await series.modify_as_job(replace={"SeriesDescription": "scratch"})
            await job.wait(timeout=60)          # JobFailedError with Orthanc's reason, JobTimeoutError after 60 s
            await client.delete_series_id(job.content["ID"])
        """
        started = time.monotonic()
        pace = ProgressPace()
        while True:
            await self.refresh()
            state = self.state
            if state is JobState.SUCCESS:
                return self
            if state is JobState.FAILURE:
                raise JobFailedError(self.id, self._info)
            elapsed = time.monotonic() - started
            delay = next_poll_interval(elapsed, poll_interval, pace.remaining(self._info))
            if timeout is not None:
                if elapsed >= timeout:
                    raise JobTimeoutError(self.id, timeout, self._info.get("State"), self.progress)
                delay = min(delay, max(0.0, timeout - elapsed))
            await backend.sleep(delay)

    async def cancel(self) -> None:
        """Asks Orthanc to cancel the job (it ends in ``Failure``)."""
        await self.client.post_jobs_id_cancel(self.id)

    async def pause(self) -> None:
        """Asks Orthanc to pause the job (``resume()`` continues it)."""
        await self.client.post_jobs_id_pause(self.id)

    async def resume(self) -> None:
        """Resumes a paused job."""
        await self.client.post_jobs_id_resume(self.id)

    async def resubmit(self) -> None:
        """Runs a failed or cancelled job again (same id)."""
        await self.client.post_jobs_id_resubmit(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("Job", self.id))

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}"]
        if self._info:
            parts += [f"type={self.type!r}", f"state={self._info.get('State')!r}", f"progress={self.progress}"]
        return f"Job({', '.join(parts)})"


async def list_jobs(client: AsyncOrthanc) -> list[Job]:
    """Every job the server remembers, with details (one request). Same as ``Job.list(client)``.

    Example::

        for job in await list_jobs(client):
            print(job.id, job.type, job.state)
    """
    return await Job.list(client)
