"""The asynchronous API: the same names as ``orthanc_client``, with ``await``.

Example::

    from orthanc_client.aio import AsyncOrthanc

    async with AsyncOrthanc() as client:
        print((await client.get_system())["Version"])
"""

from __future__ import annotations

from ._async.client import AsyncOrthanc
from ._async.dicomweb import AsyncDicomWeb
from ._async.download import InstanceInfo, download, download_zip
from ._async.find import (
    FindOptions,
    find_instances,
    find_patients,
    find_series,
    find_studies,
    iter_instances,
    iter_patients,
    iter_series,
    iter_studies,
)
from ._async.jobs import Job, list_jobs
from ._async.modality import Modality
from ._async.peer import Peer
from ._async.resources import Instance, Patient, Resource, Series, Study
from ._async.streaming import AsyncStreamedResponse
from ._async.transfer import transfer
from ._async.upload import upload
from ._exceptions import JobFailedError, JobTimeoutError, NotLoadedError
from ._job_state import JobState
from ._modify import AnonymizeOptions
from ._networking import FindAnswer
from ._results import TransferError, TransferItem, TransferResult
from ._search_cache import SearchCache
from ._transfer_report import TransferFailure, TransferReport

__all__ = [
    "AnonymizeOptions",
    "AsyncDicomWeb",
    "AsyncOrthanc",
    "AsyncStreamedResponse",
    "FindAnswer",
    "FindOptions",
    "Instance",
    "InstanceInfo",
    "Job",
    "JobFailedError",
    "JobState",
    "JobTimeoutError",
    "Modality",
    "NotLoadedError",
    "Patient",
    "Peer",
    "TransferFailure",
    "TransferReport",
    "Resource",
    "SearchCache",
    "Series",
    "Study",
    "TransferError",
    "TransferItem",
    "TransferResult",
    "download",
    "download_zip",
    "find_instances",
    "find_patients",
    "find_series",
    "find_studies",
    "iter_instances",
    "iter_patients",
    "iter_series",
    "iter_studies",
    "list_jobs",
    "transfer",
    "upload",
]
