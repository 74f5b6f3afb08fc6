"""pyorthanc 1.23.0's API on orthanc-client: change the import, keep the script.

::

    from orthanc_client.compat import pyorthanc          # was: import pyorthanc
    from orthanc_client.compat.pyorthanc import Orthanc, find_studies
    from orthanc_client.compat.pyorthanc.jobs import State

Same names, submodules (``client``, ``async_client``, ``errors``, ``util``, ``jobs``, ``retrieve``,
``orthanc_sdk``), signatures and return shapes as pyorthanc; underneath, the native client does the work
(typed errors that are also ``httpx`` errors, identity encoding for binaries, one ``/tools/find`` per page,
downloads that raise instead of writing an error body). See ``docs/migrating-from-pyorthanc.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._exports import lazy_attributes
from . import errors as errors, util as util

if TYPE_CHECKING:
    from ._find import (
        find as find,
        find_instances as find_instances,
        find_patients as find_patients,
        find_series as find_series,
        find_studies as find_studies,
        query_orthanc as query_orthanc,
        trim_patients as trim_patients,
    )
    from ._internal_client import get_internal_client as get_internal_client
    from ._modality import Modality as Modality, RemoteModality as RemoteModality
    from ._resources import Instance as Instance, Patient as Patient, Series as Series, Study as Study
    from ._upload import async_upload as async_upload, upload as upload
    from .async_client import AsyncOrthanc as AsyncOrthanc
    from .client import Orthanc as Orthanc
    from .jobs import Job as Job
    from .retrieve import (
        retrieve_and_write_instance as retrieve_and_write_instance,
        retrieve_and_write_patient as retrieve_and_write_patient,
        retrieve_and_write_patients as retrieve_and_write_patients,
        retrieve_and_write_series as retrieve_and_write_series,
        retrieve_and_write_study as retrieve_and_write_study,
    )
    from .util import async_delete_queries as async_delete_queries, delete_queries as delete_queries

# Loaded on first use, like orthanc_client's own names: a sync script never loads the async client.
_EXPORTS: dict[str, str] = {
    "async_delete_queries": "compat.pyorthanc.util",
    "async_upload": "compat.pyorthanc._upload",
    "AsyncOrthanc": "compat.pyorthanc.async_client",
    "delete_queries": "compat.pyorthanc.util",
    "find": "compat.pyorthanc._find",
    "find_instances": "compat.pyorthanc._find",
    "find_patients": "compat.pyorthanc._find",
    "find_series": "compat.pyorthanc._find",
    "find_studies": "compat.pyorthanc._find",
    "get_internal_client": "compat.pyorthanc._internal_client",
    "Instance": "compat.pyorthanc._resources",
    "Job": "compat.pyorthanc.jobs",
    "Modality": "compat.pyorthanc._modality",
    "Orthanc": "compat.pyorthanc.client",
    "Patient": "compat.pyorthanc._resources",
    "query_orthanc": "compat.pyorthanc._find",
    "RemoteModality": "compat.pyorthanc._modality",
    "retrieve_and_write_instance": "compat.pyorthanc.retrieve",
    "retrieve_and_write_patient": "compat.pyorthanc.retrieve",
    "retrieve_and_write_patients": "compat.pyorthanc.retrieve",
    "retrieve_and_write_series": "compat.pyorthanc.retrieve",
    "retrieve_and_write_study": "compat.pyorthanc.retrieve",
    "Series": "compat.pyorthanc._resources",
    "Study": "compat.pyorthanc._resources",
    "trim_patients": "compat.pyorthanc._find",
    "upload": "compat.pyorthanc._upload",
}
__all__ = sorted([*_EXPORTS, "errors", "util"])
__getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)
