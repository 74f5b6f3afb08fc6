"""The asynchronous API: the same names as ``orthanc_client``, with ``await``.

Example::

    from orthanc_client.aio import AsyncOrthanc

    async with AsyncOrthanc() as client:
        print((await client.get_system())["Version"])
"""

from __future__ import annotations

from ._async.client import AsyncOrthanc
from ._async.download import InstanceInfo, download, download_zip
from ._async.jobs import Job, list_jobs
from ._async.resources import Instance, Patient, Resource, Series, Study
from ._async.modality import Modality
from ._async.peer import Peer
from ._async.streaming import AsyncStreamedResponse
from ._async.upload import upload
from ._exceptions import JobFailedError, JobTimeoutError, NotLoadedError
from ._networking import FindAnswer
from ._job_state import JobState
from ._results import TransferError, TransferItem, TransferResult

__all__ = [
    "Patient",
    "Resource",
    "Series",
    "Study",
    "AsyncOrthanc",
    "AsyncStreamedResponse",
    "FindAnswer",
    "InstanceInfo",
    "Instance",
    "Job",
    "NotLoadedError",
    "JobFailedError",
    "JobState",
    "JobTimeoutError",
    "Modality",
    "Peer",
    "TransferError",
    "TransferItem",
    "TransferResult",
    "download",
    "download_zip",
    "list_jobs",
    "upload",
]
