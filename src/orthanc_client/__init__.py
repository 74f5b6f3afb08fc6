"""orthanc-client: a fast, typed Python client for the Orthanc DICOM server.

Example::

    from orthanc_client import Orthanc

    with Orthanc() as client:   # ORTHANC_URL, ORTHANC_USERNAME...; or Orthanc("http://localhost:8042", "orthanc", "orthanc")
        print(client.get_system()["Version"])

``Orthanc`` is synchronous, ``AsyncOrthanc`` the same with ``await``. Request body models live in
``orthanc_client.models``; the asynchronous high-level API in ``orthanc_client.aio``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _lean_httpx  # noqa: F401  (first: httpx without its command line, see the module)
from ._dicomfiles import orthanc_instance_id
from ._dicomweb_query import DicomWebError, DicomWebNotEnabledError, MultipartError
from ._exceptions import (
    BadRequestError,
    ConflictError,
    ConnectError,
    DicomNetworkError,
    ForbiddenError,
    HTTPError,
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    NotLoadedError,
    OrthancError,
    ProtocolError,
    RedirectError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnexpectedAnswerError,
    UnknownRouteError,
    UnsupportedByServerError,
)
from ._job_state import JobState
from ._modify import AnonymizeOptions
from ._networking import FindAnswer
from ._pseudonyms import PseudonymMint
from ._results import TransferError, TransferItem, TransferResult
from ._retry import RetryPolicy
from ._revisions import AttachmentData, MetadataValue
from ._search_cache import SearchCache
from ._selection_data import SelectionCounts, SelectionError
from ._sync.client import Orthanc
from ._sync.dicomweb import DicomWeb
from ._sync.download import InstanceInfo, download, download_zip
from ._sync.find import (
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
from ._sync.folder_watch import FolderReport, FolderWatcher, watch_folder
from ._sync.jobs import Job, list_jobs
from ._sync.modality import Modality
from ._sync.peer import Peer
from ._sync.resources import Instance, Patient, Resource, Series, Study
from ._sync.route import Router, route_status
from ._sync.selection import Selection
from ._sync.streaming import StreamedResponse
from ._sync.transfer import transfer
from ._sync.upload import upload
from ._sync.watch import ChangeWatcher
from ._transfer_report import TransferFailure, TransferReport
from ._types import NOT_GIVEN
from ._watch_state import Change, DeadLetter

if TYPE_CHECKING:
    from ._async.client import AsyncOrthanc
    from ._async.streaming import AsyncStreamedResponse

__version__ = "0.1.0"

# The async client pulls in its own 300-method generated module: load it only for those who use it, so that
# `import orthanc_client` stays fast for sync scripts.
_LAZY = {"AsyncOrthanc": "._async.client", "AsyncStreamedResponse": "._async.streaming"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orthanc_client' has no attribute {name!r}")

__all__ = [
    "AnonymizeOptions",
    "AsyncOrthanc",
    "AsyncStreamedResponse",
    "AttachmentData",
    "BadRequestError",
    "Change",
    "ChangeWatcher",
    "ConflictError",
    "ConnectError",
    "DeadLetter",
    "DicomNetworkError",
    "DicomWeb",
    "DicomWebError",
    "DicomWebNotEnabledError",
    "FindAnswer",
    "FolderReport",
    "FolderWatcher",
    "FindOptions",
    "ForbiddenError",
    "HTTPError",
    "Instance",
    "InstanceInfo",
    "InvalidInputError",
    "Job",
    "JobFailedError",
    "JobState",
    "MultipartError",
    "JobTimeoutError",
    "MetadataValue",
    "Modality",
    "NOT_GIVEN",
    "NotFoundError",
    "NotLoadedError",
    "Orthanc",
    "OrthancError",
    "Patient",
    "Peer",
    "ProtocolError",
    "RedirectError",
    "PseudonymMint",
    "RequestTimeoutError",
    "Resource",
    "Router",
    "RetryPolicy",
    "Selection",
    "SelectionCounts",
    "SelectionError",
    "Series",
    "SearchCache",
    "ServerError",
    "StreamedResponse",
    "TransferFailure",
    "TransferReport",
    "Study",
    "TransferError",
    "TransferItem",
    "TransferResult",
    "TransportError",
    "UnauthorizedError",
    "UnknownRouteError",
    "UnexpectedAnswerError",
    "UnsupportedByServerError",
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
    "orthanc_instance_id",
    "upload",
    "watch_folder",
]
