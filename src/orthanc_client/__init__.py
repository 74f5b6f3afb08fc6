"""orthanc-client: a fast, typed Python client for the Orthanc DICOM server.

Example::

    from orthanc_client import Orthanc

    with Orthanc() as client:   # ORTHANC_URL, ORTHANC_USERNAME...; or Orthanc("http://localhost:8042", "orthanc", "orthanc")
        print(client.get_system()["Version"])

``Orthanc`` is synchronous, ``AsyncOrthanc`` the same with ``await``. Request body models live in
``orthanc_client.models``; the asynchronous high-level API in ``orthanc_client.aio``. Names are loaded on first
use (see ``_exports``), so ``import orthanc_client`` costs next to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _core  # noqa: F401  (first: httpx without its command line, see _core/lean_httpx.py)
from ._exports import exports, lazy_attributes

if TYPE_CHECKING:
    from ._bulk._sync.download import (
        InstanceInfo as InstanceInfo,
        download as download,
        download_zip as download_zip,
    )
    from ._bulk._sync.upload import upload as upload
    from ._bulk.dicom_files import orthanc_instance_id as orthanc_instance_id
    from ._bulk.results import (
        BulkError as BulkError,
        BulkItem as BulkItem,
        BulkResult as BulkResult,
        TransferError as TransferError,
        TransferItem as TransferItem,
        TransferResult as TransferResult,
    )
    from ._client._async.client import AsyncOrthanc as AsyncOrthanc
    from ._client._sync.client import Orthanc as Orthanc
    from ._core._async.streaming import AsyncStreamedResponse as AsyncStreamedResponse
    from ._core._sync.streaming import StreamedResponse as StreamedResponse
    from ._core.errors import (
        BadRequestError as BadRequestError,
        ConflictError as ConflictError,
        ConnectError as ConnectError,
        DicomNetworkError as DicomNetworkError,
        ForbiddenError as ForbiddenError,
        HTTPError as HTTPError,
        InvalidInputError as InvalidInputError,
        JobFailedError as JobFailedError,
        JobTimeoutError as JobTimeoutError,
        NotFoundError as NotFoundError,
        NotLoadedError as NotLoadedError,
        OrthancError as OrthancError,
        ProtocolError as ProtocolError,
        RedirectError as RedirectError,
        RequestTimeoutError as RequestTimeoutError,
        ServerError as ServerError,
        TransportError as TransportError,
        UnauthorizedError as UnauthorizedError,
        UnexpectedAnswerError as UnexpectedAnswerError,
        UnknownRouteError as UnknownRouteError,
        UnsupportedByServerError as UnsupportedByServerError,
    )
    from ._core.retry import RetryPolicy as RetryPolicy
    from ._core.types import NOT_GIVEN as NOT_GIVEN
    from ._dicomweb._sync.dicomweb import DicomWeb as DicomWeb
    from ._dicomweb.query import (
        DicomWebError as DicomWebError,
        DicomWebNotEnabledError as DicomWebNotEnabledError,
        MultipartError as MultipartError,
    )
    from ._jobs._sync.jobs import Job as Job, list_jobs as list_jobs
    from ._jobs.state import JobState as JobState
    from ._network._sync.modality import Modality as Modality
    from ._network._sync.peer import Peer as Peer
    from ._network._sync.transfer import transfer as transfer
    from ._network.bodies import FindAnswer as FindAnswer
    from ._network.transfer_report import TransferFailure as TransferFailure, TransferReport as TransferReport
    from ._resources._sync.find import (
        FindOptions as FindOptions,
        find_instances as find_instances,
        find_patients as find_patients,
        find_series as find_series,
        find_studies as find_studies,
        iter_instances as iter_instances,
        iter_patients as iter_patients,
        iter_series as iter_series,
        iter_studies as iter_studies,
    )
    from ._resources._sync.resources import (
        Instance as Instance,
        Patient as Patient,
        Resource as Resource,
        Series as Series,
        Study as Study,
    )
    from ._resources.modify import AnonymizeOptions as AnonymizeOptions
    from ._resources.pseudonyms import PseudonymMint as PseudonymMint
    from ._resources.revisions import AttachmentData as AttachmentData, MetadataValue as MetadataValue
    from ._resources.search_cache import SearchCache as SearchCache
    from ._routing._sync.folder_watch import (
        FolderReport as FolderReport,
        FolderWatcher as FolderWatcher,
        watch_folder as watch_folder,
    )
    from ._routing._sync.route import Router as Router, route_status as route_status
    from ._routing._sync.watch import ChangeWatcher as ChangeWatcher
    from ._routing.watch_state import Change as Change, DeadLetter as DeadLetter
    from ._selection._sync.selection import Selection as Selection
    from ._selection.data import SelectionCounts as SelectionCounts, SelectionError as SelectionError

__version__ = "0.1.0"

_EXPORTS = exports("sync")
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)
