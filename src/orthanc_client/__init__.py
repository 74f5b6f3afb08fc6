"""orthanc-client: a fast, typed Python client for the Orthanc DICOM server.

Example::

    from orthanc_client import Orthanc

    with Orthanc("http://localhost:8042", "orthanc", "orthanc") as client:
        print(client.get_system()["Version"])

``Orthanc`` is synchronous, ``AsyncOrthanc`` the same with ``await``. Request body models live in
``orthanc_client.models``; the asynchronous high-level API in ``orthanc_client.aio``.
"""

from __future__ import annotations

from ._async.client import AsyncOrthanc
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
    NotLoadedError,
    NotFoundError,
    OrthancError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnsupportedByServerError,
)
from ._dicomfiles import orthanc_instance_id
from ._results import TransferError, TransferItem, TransferResult
from ._networking import FindAnswer
from ._retry import RetryPolicy
from ._sync.download import InstanceInfo, download, download_zip
from ._sync.upload import upload
from ._sync.client import Orthanc
from ._sync.modality import Modality
from ._sync.peer import Peer
from ._job_state import JobState
from ._sync.jobs import Job, list_jobs
from ._sync.resources import Instance, Patient, Resource, Series, Study
from ._sync.streaming import StreamedResponse
from ._async.streaming import AsyncStreamedResponse
from ._types import NOT_GIVEN

__version__ = "0.1.0"

__all__ = [
    "Patient",
    "Resource",
    "Series",
    "Study",
    "NOT_GIVEN",
    "AsyncOrthanc",
    "AsyncStreamedResponse",
    "BadRequestError",
    "ConflictError",
    "ConnectError",
    "DicomNetworkError",
    "FindAnswer",
    "ForbiddenError",
    "HTTPError",
    "InstanceInfo",
    "InvalidInputError",
    "Instance",
    "Job",
    "NotLoadedError",
    "JobFailedError",
    "JobState",
    "JobTimeoutError",
    "Modality",
    "NotFoundError",
    "Orthanc",
    "OrthancError",
    "Peer",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServerError",
    "StreamedResponse",
    "TransferError",
    "TransferItem",
    "TransferResult",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedByServerError",
    "download",
    "download_zip",
    "list_jobs",
    "orthanc_instance_id",
    "upload",
]
