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

from . import errors, util
from ._find import (
    find,
    find_instances,
    find_patients,
    find_series,
    find_studies,
    query_orthanc,
    trim_patients,
)
from ._internal_client import get_internal_client
from ._modality import Modality, RemoteModality
from ._resources import Instance, Patient, Series, Study
from ._upload import async_upload, upload
from .async_client import AsyncOrthanc
from .client import Orthanc
from .jobs import Job
from .retrieve import (
    retrieve_and_write_instance,
    retrieve_and_write_patient,
    retrieve_and_write_patients,
    retrieve_and_write_series,
    retrieve_and_write_study,
)
from .util import async_delete_queries, delete_queries

__all__ = [
    "AsyncOrthanc",
    "Instance",
    "Job",
    "Modality",
    "Orthanc",
    "Patient",
    "RemoteModality",
    "Series",
    "Study",
    "async_delete_queries",
    "async_upload",
    "delete_queries",
    "errors",
    "find",
    "find_instances",
    "find_patients",
    "find_series",
    "find_studies",
    "get_internal_client",
    "query_orthanc",
    "retrieve_and_write_instance",
    "retrieve_and_write_patient",
    "retrieve_and_write_patients",
    "retrieve_and_write_series",
    "retrieve_and_write_study",
    "trim_patients",
    "upload",
    "util",
]
