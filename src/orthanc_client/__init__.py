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
    )
    from ._bulk._sync.download import (
        download as download,
    )
    from ._bulk._sync.download import (
        download_zip as download_zip,
    )
    from ._bulk._sync.upload import upload as upload
    from ._bulk.dicom_files import orthanc_instance_id as orthanc_instance_id
    from ._bulk.results import (
        TransferError as TransferError,
    )
    from ._bulk.results import (
        TransferItem as TransferItem,
    )
    from ._bulk.results import (
        TransferResult as TransferResult,
    )
    from ._client._async.client import AsyncOrthanc as AsyncOrthanc
    from ._client._sync.client import Orthanc as Orthanc
    from ._core._async.streaming import AsyncStreamedResponse as AsyncStreamedResponse
    from ._core._sync.streaming import StreamedResponse as StreamedResponse
    from ._core.errors import (
        BadRequestError as BadRequestError,
    )
    from ._core.errors import (
        ConflictError as ConflictError,
    )
    from ._core.errors import (
        ConnectError as ConnectError,
    )
    from ._core.errors import (
        DicomNetworkError as DicomNetworkError,
    )
    from ._core.errors import (
        ForbiddenError as ForbiddenError,
    )
    from ._core.errors import (
        HTTPError as HTTPError,
    )
    from ._core.errors import (
        InvalidInputError as InvalidInputError,
    )
    from ._core.errors import (
        JobFailedError as JobFailedError,
    )
    from ._core.errors import (
        JobTimeoutError as JobTimeoutError,
    )
    from ._core.errors import (
        NotFoundError as NotFoundError,
    )
    from ._core.errors import (
        NotLoadedError as NotLoadedError,
    )
    from ._core.errors import (
        OrthancError as OrthancError,
    )
    from ._core.errors import (
        ProtocolError as ProtocolError,
    )
    from ._core.errors import (
        RedirectError as RedirectError,
    )
    from ._core.errors import (
        RequestTimeoutError as RequestTimeoutError,
    )
    from ._core.errors import (
        ServerError as ServerError,
    )
    from ._core.errors import (
        TransportError as TransportError,
    )
    from ._core.errors import (
        UnauthorizedError as UnauthorizedError,
    )
    from ._core.errors import (
        UnexpectedAnswerError as UnexpectedAnswerError,
    )
    from ._core.errors import (
        UnknownRouteError as UnknownRouteError,
    )
    from ._core.errors import (
        UnsupportedByServerError as UnsupportedByServerError,
    )
    from ._core.retry import RetryPolicy as RetryPolicy
    from ._core.types import NOT_GIVEN as NOT_GIVEN
    from ._dicomweb._sync.dicomweb import DicomWeb as DicomWeb
    from ._dicomweb.query import (
        DicomWebError as DicomWebError,
    )
    from ._dicomweb.query import (
        DicomWebNotEnabledError as DicomWebNotEnabledError,
    )
    from ._dicomweb.query import (
        MultipartError as MultipartError,
    )
    from ._jobs._sync.jobs import Job as Job
    from ._jobs._sync.jobs import list_jobs as list_jobs
    from ._jobs.state import JobState as JobState
    from ._network._sync.modality import Modality as Modality
    from ._network._sync.peer import Peer as Peer
    from ._network._sync.transfer import transfer as transfer
    from ._network.bodies import FindAnswer as FindAnswer
    from ._network.transfer_report import TransferFailure as TransferFailure
    from ._network.transfer_report import TransferReport as TransferReport
    from ._resources._sync.find import (
        FindOptions as FindOptions,
    )
    from ._resources._sync.find import (
        find_instances as find_instances,
    )
    from ._resources._sync.find import (
        find_patients as find_patients,
    )
    from ._resources._sync.find import (
        find_series as find_series,
    )
    from ._resources._sync.find import (
        find_studies as find_studies,
    )
    from ._resources._sync.find import (
        iter_instances as iter_instances,
    )
    from ._resources._sync.find import (
        iter_patients as iter_patients,
    )
    from ._resources._sync.find import (
        iter_series as iter_series,
    )
    from ._resources._sync.find import (
        iter_studies as iter_studies,
    )
    from ._resources._sync.resources import (
        Instance as Instance,
    )
    from ._resources._sync.resources import (
        Patient as Patient,
    )
    from ._resources._sync.resources import (
        Resource as Resource,
    )
    from ._resources._sync.resources import (
        Series as Series,
    )
    from ._resources._sync.resources import (
        Study as Study,
    )
    from ._resources.modify import AnonymizeOptions as AnonymizeOptions
    from ._resources.pseudonyms import PseudonymMint as PseudonymMint
    from ._resources.revisions import AttachmentData as AttachmentData
    from ._resources.revisions import MetadataValue as MetadataValue
    from ._resources.search_cache import SearchCache as SearchCache
    from ._routing._sync.folder_watch import (
        FolderReport as FolderReport,
    )
    from ._routing._sync.folder_watch import (
        FolderWatcher as FolderWatcher,
    )
    from ._routing._sync.folder_watch import (
        watch_folder as watch_folder,
    )
    from ._routing._sync.route import Router as Router
    from ._routing._sync.route import route_status as route_status
    from ._routing._sync.watch import ChangeWatcher as ChangeWatcher
    from ._routing.watch_state import Change as Change
    from ._routing.watch_state import DeadLetter as DeadLetter
    from ._selection._sync.selection import Selection as Selection
    from ._selection.data import SelectionCounts as SelectionCounts
    from ._selection.data import SelectionError as SelectionError

__version__ = "0.1.0"

_EXPORTS = exports("sync")
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)
