"""pyorthanc's helpers (``pyorthanc.util``): dates, Orthanc identifiers, client conversions, pydicom."""

from __future__ import annotations

import copy
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..._bulk.dicom_files import orthanc_hash
from ..._resources._sync.resources import Instance as _NativeInstance
from ._native import native_of
from .client import Orthanc

if TYPE_CHECKING:
    import pydicom

    from .async_client import AsyncOrthanc

__all__ = [
    "async_delete_queries",
    "async_to_sync",
    "delete_queries",
    "ensure_non_raw_response",
    "get_pydicom",
    "make_datetime_from_dicom_date",
    "sync_to_async",
    "to_orthanc_instance_id",
    "to_orthanc_instance_id_from_ds",
    "to_orthanc_patient_id",
    "to_orthanc_series_id",
    "to_orthanc_study_id",
]

_C = TypeVar("_C")


def delete_queries(client: Orthanc) -> None:
    """Deletes every C-FIND query Orthanc keeps (``/queries``)."""
    api = native_of(client)
    for query_id in api.get_queries():
        api.delete_queries_id(query_id)


async def async_delete_queries(client: AsyncOrthanc) -> None:
    """Deletes every C-FIND query Orthanc keeps, with the async client."""
    api = native_of(client)
    for query_id in await api.get_queries():
        await api.delete_queries_id(query_id)


def make_datetime_from_dicom_date(date: str, time: str | None = None) -> datetime | None:
    """``datetime`` from a DICOM date (``YYYYMMDD``) and optional time (``HHMMSS...``); ``None`` if unreadable.

    A time that cannot be read is ignored (the date alone is used), as in pyorthanc.
    """
    try:
        day = datetime(int(date[:4]), int(date[4:6]), int(date[6:8]))
    except (ValueError, TypeError):
        return None
    if time is None:
        return day
    try:
        return day.replace(hour=int(time[:2]), minute=int(time[2:4]), second=int(time[4:6]))
    except (ValueError, TypeError):
        return day


def _copy_settings(source: Any, target: Any) -> Any:
    target.auth = source.auth
    for key, value in source.headers.items():
        if key.lower() == "authorization":
            target.headers[key] = value
    return target


def async_to_sync(orthanc: AsyncOrthanc) -> Orthanc:
    """A sync ``Orthanc`` on the same server with the same credentials."""
    return _copy_settings(orthanc, Orthanc(url=orthanc.url))  # type: ignore[no-any-return]


def sync_to_async(orthanc: Orthanc) -> AsyncOrthanc:
    """An ``AsyncOrthanc`` on the same server with the same credentials."""
    from .async_client import AsyncOrthanc  # here: a sync script never loads the async client

    return _copy_settings(orthanc, AsyncOrthanc(url=orthanc.url))  # type: ignore[no-any-return]


def get_pydicom(orthanc: Orthanc, instance_identifier: str) -> pydicom.FileDataset:
    """The instance's DICOM file as a ``pydicom.FileDataset`` (downloaded with identity encoding)."""
    dataset = _NativeInstance(instance_identifier, native_of(orthanc)).get_pydicom()
    return cast("pydicom.FileDataset", dataset)  # pydicom.dcmread's answer for a Part 10 file


def ensure_non_raw_response(client: _C) -> _C:
    """``client`` itself, or a copy with ``return_raw_response`` off (with a warning), as pyorthanc does."""
    if getattr(client, "return_raw_response", False):
        warnings.warn(
            "client.return_raw_response is True, which is currently not supported for this class/function. "
            "Will use the client with client.return_raw_response=False",
            stacklevel=2,
        )
        client = copy.copy(client)
        client.return_raw_response = False  # type: ignore[attr-defined]
    return client


def _orthanc_id(*parts: str) -> str:
    # The values as given, as pyorthanc hashes them (the native ``orthanc_instance_id`` strips them first).
    return orthanc_hash("|".join(parts))


def to_orthanc_patient_id(patient_id: str) -> str:
    """Orthanc's identifier of a patient, computed from its PatientID (SHA-1, as Orthanc does)."""
    return _orthanc_id(patient_id)


def to_orthanc_study_id(patient_id: str, study_uid: str) -> str:
    """Orthanc's identifier of a study."""
    return _orthanc_id(patient_id, study_uid)


def to_orthanc_series_id(patient_id: str, study_uid: str, series_uid: str) -> str:
    """Orthanc's identifier of a series."""
    return _orthanc_id(patient_id, study_uid, series_uid)


def to_orthanc_instance_id(patient_id: str, study_uid: str, series_uid: str, instance_uid: str) -> str:
    """Orthanc's identifier of an instance."""
    return _orthanc_id(patient_id, study_uid, series_uid, instance_uid)


def to_orthanc_instance_id_from_ds(ds: pydicom.Dataset) -> str:
    """Orthanc's identifier of the instance a pydicom dataset would become."""
    return _orthanc_id(ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)


def __getattr__(name: str) -> Any:
    # pyorthanc.util has AsyncOrthanc too (it imports it); here it loads on first use only.
    if name == "AsyncOrthanc":
        from .async_client import AsyncOrthanc

        return AsyncOrthanc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
