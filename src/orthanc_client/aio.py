"""The asynchronous API: the same names as ``orthanc_client``, with ``await``.

Example::

    from orthanc_client.aio import AsyncOrthanc

    async with AsyncOrthanc() as client:
        print((await client.get_system())["Version"])
"""

from __future__ import annotations

from ._async.client import AsyncOrthanc
from ._async.jobs import Job, list_jobs
from ._async.modality import Modality
from ._async.peer import Peer
from ._async.streaming import AsyncStreamedResponse
from ._exceptions import JobFailedError, JobTimeoutError
from ._networking import FindAnswer
from ._job_state import JobState

__all__ = [
    "AsyncOrthanc",
    "AsyncStreamedResponse",
    "FindAnswer",
    "Job",
    "JobFailedError",
    "JobState",
    "JobTimeoutError",
    "Modality",
    "Peer",
    "list_jobs",
]
