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
from ._async.folder_watch import FolderReport, FolderWatcher, watch_folder
from ._async.jobs import Job, list_jobs
from ._async.modality import Modality
from ._async.peer import Peer
from ._async.resources import Instance, Patient, Resource, Series, Study
from ._async.route import Router, route_status
from ._async.selection import Selection
from ._async.streaming import AsyncStreamedResponse
from ._async.transfer import transfer
from ._async.upload import upload
from ._async.watch import ChangeWatcher
from ._exceptions import JobFailedError, JobTimeoutError, NotLoadedError, RedirectError, UnexpectedAnswerError
from ._job_state import JobState
from ._modify import AnonymizeOptions
from ._networking import FindAnswer
from ._pseudonyms import PseudonymMint
from ._results import TransferError, TransferItem, TransferResult
from ._revisions import AttachmentData, MetadataValue
from ._search_cache import SearchCache
from ._selection_data import SelectionCounts, SelectionError
from ._transfer_report import TransferFailure, TransferReport
from ._watch_state import Change, DeadLetter

__all__ = [
    "AnonymizeOptions",
    "AsyncDicomWeb",
    "AsyncOrthanc",
    "AsyncStreamedResponse",
    "AttachmentData",
    "Change",
    "ChangeWatcher",
    "DeadLetter",
    "FindAnswer",
    "FolderReport",
    "FolderWatcher",
    "FindOptions",
    "Instance",
    "InstanceInfo",
    "Job",
    "JobFailedError",
    "JobState",
    "JobTimeoutError",
    "MetadataValue",
    "Modality",
    "NotLoadedError",
    "Patient",
    "Peer",
    "RedirectError",
    "PseudonymMint",
    "TransferFailure",
    "TransferReport",
    "Resource",
    "Router",
    "Selection",
    "SelectionCounts",
    "SelectionError",
    "SearchCache",
    "Series",
    "Study",
    "TransferError",
    "TransferItem",
    "TransferResult",
    "UnexpectedAnswerError",
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
    "route_status",
    "transfer",
    "upload",
    "watch_folder",
]
