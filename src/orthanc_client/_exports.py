"""Where each public name lives: the one table behind ``orthanc_client`` and ``orthanc_client.aio``.

Both packages load a name's module the first time the name is used (PEP 562 ``__getattr__``), so that
``import orthanc_client`` loads no async module, ``import orthanc_client.aio`` no sync one, and neither loads a
feature (DICOMweb, routing, numpy...) a script does not use. Each package also imports the same names under
``TYPE_CHECKING`` for type checkers and IDEs; ``tests/test_layout.py`` checks the two lists agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

# The same object in both APIs (errors, settings, plain data).
NEUTRAL: dict[str, str] = {
    "orthanc_instance_id": "_bulk.dicom_files",
    "BulkError": "_bulk.results",
    "BulkItem": "_bulk.results",
    "BulkResult": "_bulk.results",
    # the same classes under their names before 0.2 (see _bulk/results.py)
    "TransferError": "_bulk.results",
    "TransferItem": "_bulk.results",
    "TransferResult": "_bulk.results",
    "AsyncOrthanc": "_client._async.client",
    "AsyncStreamedResponse": "_core._async.streaming",
    "BadRequestError": "_core.errors",
    "ConflictError": "_core.errors",
    "ConnectError": "_core.errors",
    "DicomNetworkError": "_core.errors",
    "ForbiddenError": "_core.errors",
    "HTTPError": "_core.errors",
    "InvalidInputError": "_core.errors",
    "JobFailedError": "_core.errors",
    "JobTimeoutError": "_core.errors",
    "NotFoundError": "_core.errors",
    "NotLoadedError": "_core.errors",
    "OrthancError": "_core.errors",
    "ProtocolError": "_core.errors",
    "RedirectError": "_core.errors",
    "RequestTimeoutError": "_core.errors",
    "ServerError": "_core.errors",
    "TransportError": "_core.errors",
    "UnauthorizedError": "_core.errors",
    "UnexpectedAnswerError": "_core.errors",
    "UnknownRouteError": "_core.errors",
    "UnsupportedByServerError": "_core.errors",
    "RetryPolicy": "_core.retry",
    "NOT_GIVEN": "_core.types",
    "DicomWebError": "_dicomweb.query",
    "DicomWebNotEnabledError": "_dicomweb.query",
    "MultipartError": "_dicomweb.query",
    "JobState": "_jobs.state",
    "FindAnswer": "_network.bodies",
    "TransferFailure": "_network.transfer_report",
    "TransferReport": "_network.transfer_report",
    "AnonymizeOptions": "_resources.modify",
    "PseudonymMint": "_resources.pseudonyms",
    "AttachmentData": "_resources.revisions",
    "MetadataValue": "_resources.revisions",
    "SearchCache": "_resources.search_cache",
    "Change": "_routing.watch_state",
    "DeadLetter": "_routing.watch_state",
    "SelectionCounts": "_selection.data",
    "SelectionError": "_selection.data",
}

# Written once as async code, twice as modules: ``{api}`` is ``_async`` or ``_sync``.
TWINS: dict[str, str] = {
    "download": "_bulk.{api}.download",
    "download_zip": "_bulk.{api}.download",
    "InstanceInfo": "_bulk.{api}.download",
    "upload": "_bulk.{api}.upload",
    "Job": "_jobs.{api}.jobs",
    "list_jobs": "_jobs.{api}.jobs",
    "Modality": "_network.{api}.modality",
    "Peer": "_network.{api}.peer",
    "transfer": "_network.{api}.transfer",
    "find_instances": "_resources.{api}.find",
    "find_patients": "_resources.{api}.find",
    "find_series": "_resources.{api}.find",
    "find_studies": "_resources.{api}.find",
    "FindOptions": "_resources.{api}.find",
    "iter_instances": "_resources.{api}.find",
    "iter_patients": "_resources.{api}.find",
    "iter_series": "_resources.{api}.find",
    "iter_studies": "_resources.{api}.find",
    "Instance": "_resources.{api}.resources",
    "Patient": "_resources.{api}.resources",
    "Resource": "_resources.{api}.resources",
    "Series": "_resources.{api}.resources",
    "Study": "_resources.{api}.resources",
    "FolderReport": "_routing.{api}.folder_watch",
    "FolderWatcher": "_routing.{api}.folder_watch",
    "watch_folder": "_routing.{api}.folder_watch",
    "route_status": "_routing.{api}.route",
    "Router": "_routing.{api}.route",
    "ChangeWatcher": "_routing.{api}.watch",
    "Selection": "_selection.{api}.selection",
}

# ``orthanc_client`` also gives the async client (as it always has), loaded only when asked for.
SYNC_ONLY: dict[str, str] = {
    "AsyncOrthanc": "_client._async.client",
    "AsyncStreamedResponse": "_core._async.streaming",
    "Orthanc": "_client._sync.client",
    "StreamedResponse": "_core._sync.streaming",
    "DicomWeb": "_dicomweb._sync.dicomweb",
}

ASYNC_ONLY: dict[str, str] = {
    "AsyncOrthanc": "_client._async.client",
    "AsyncStreamedResponse": "_core._async.streaming",
    "AsyncDicomWeb": "_dicomweb._async.dicomweb",
}


def exports(api: Literal["sync", "async"]) -> dict[str, str]:
    """Every public name of one API and the module (below ``orthanc_client``) that defines it."""
    own = SYNC_ONLY if api == "sync" else ASYNC_ONLY
    twins = {name: module.format(api=f"_{api}") for name, module in TWINS.items()}
    return {**NEUTRAL, **twins, **own}


def lazy_attributes(
    namespace: dict[str, Any], table: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: import a name's module on first use, then keep the name.

    ``namespace`` is the package's ``globals()``.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"orthanc_client.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
