"""pyorthanc's ``upload`` and ``async_upload``, on the native client's ``POST /instances``.

Not the native ``orthanc_client.upload``: that one picks files by content, sends a zip entry by entry and reports
every file in a ``BulkResult`` without raising, where pyorthanc picks ``*.dcm`` names, sends a zip whole,
returns ``Instance`` objects and raises on the first refusal. The Orthanc ID of a file comes from the native
header reader.
"""

from __future__ import annotations

import glob
import gzip
import os
from io import BytesIO
from pathlib import Path
from typing import Any

from ..._bulk.dicom_files import read_identifiers
from ..._core.errors import HTTPError
from ._native import native_of
from ._resources import Instance
from .util import ensure_non_raw_response

_PATTERNS = ("*.dcm", "*.DCM", "*.dcm.gz", "*.DCM.gz")


def _read(path_or_ds: Any) -> bytes:
    """The bytes to send for a path (``.gz`` files are decompressed) or a pydicom dataset."""
    if isinstance(path_or_ds, (str, Path)):
        with open(path_or_ds, "rb") as file:  # FileNotFoundError for a bad path, as in pyorthanc
            content = file.read()
        if str(path_or_ds).lower().endswith(".gz"):
            content = gzip.decompress(content)
        return content
    import pydicom

    if isinstance(path_or_ds, pydicom.Dataset):
        buffer = BytesIO()
        path_or_ds.save_as(buffer)
        return buffer.getvalue()
    raise TypeError("path_or_ds must be either a file path or pydicom Dataset")


def _directory_files(directory: str | Path, recursive: bool) -> list[str]:
    """pyorthanc's selection: ``*.dcm``/``*.DCM`` (and ``.gz``), in sub-folders too when ``recursive``."""
    found: set[str] = set()
    for pattern in _PATTERNS:
        found.update(glob.glob(os.path.join(directory, pattern)))
        if recursive:
            found.update(glob.glob(os.path.join(directory, "**", pattern), recursive=True))
    return sorted(found)


def _already_stored(api: Any, client: Any, content: bytes) -> Instance | None:
    """The stored ``Instance`` with ``content``'s Orthanc ID (computed from the header alone), if any."""
    # Without pydicom: ModuleNotFoundError, as pyorthanc (which needs it) gives, not a silent upload of everything.
    import pydicom  # noqa: F401

    try:
        orthanc_id = read_identifiers(BytesIO(content), feature="check_before_upload").instance_id
    except ValueError:
        return None  # a zip, or a file without the identifying tags: upload it
    try:
        api.get_instances_id_metadata(orthanc_id)
    except HTTPError:
        return None
    return Instance(orthanc_id, client)


def upload(client: Any, path_or_ds: Any, recursive: bool = False, check_before_upload: bool = False) -> list[Instance]:
    """Uploads a DICOM file, a zip, a directory of ``*.dcm`` files or a pydicom Dataset.

    Returns the ``Instance`` objects stored (or already there, with ``check_before_upload``). A missing path
    raises ``FileNotFoundError``; an Orthanc refusal raises the typed HTTP error.
    """
    client = ensure_non_raw_response(client)
    api = native_of(client)
    if isinstance(path_or_ds, (str, Path)) and os.path.isdir(path_or_ds):
        sources: list[Any] = list(_directory_files(path_or_ds, recursive))
    else:
        sources = [path_or_ds]
    instances: list[Instance] = []
    for source in sources:
        content = _read(source)
        if check_before_upload:
            existing = _already_stored(api, client, content)
            if existing is not None:
                instances.append(existing)
                continue
        answer = api.post_instances(content)
        if isinstance(answer, list):  # a zip holds many instances
            instances += [Instance(item["ID"], client) for item in answer]
        else:
            instances.append(Instance(answer["ID"], client))
    return instances


async def async_upload(client: Any, path_or_ds: Any) -> Any:
    """Uploads one DICOM file, zip or pydicom Dataset with ``AsyncOrthanc``; returns Orthanc's answer."""
    return await native_of(client).post_instances(_read(path_or_ds))
