"""simple-orthanc 0.9.9.6's API on orthanc-client: change the import, keep the script.

::

    from orthanc_client.compat.simple_orthanc import Orthanc     # was: from simple_orthanc import Orthanc

    image = Orthanc("127.0.0.1", 8042, "orthanc", "orthanc").select(PatientName="JaneDoe",
                                                                    SeriesDescription="ct_scan").get_array()

The same ``Orthanc`` object (counts, DICOM keywords as attributes, ``select``/``reset``/``refresh``,
``sort_by``, headers, arrays, downloads, uploads, deletes), with what never worked fixed: ``sort_by`` sorts,
``get_headers(index=i)`` returns that header, deletes delete exactly the one selected resource,
``upload_pydicom_dataset`` leaves the user's files alone, ``refresh()`` keeps the selection, ``selection=`` is
applied, instance lists keep the server's (or the sorted) order. Underneath: ``orthanc_client.Selection``
(one ``/tools/find`` per narrowing instead of reading the whole index), the fast numpy path, concurrent
transfers, pydicom 3. See ``docs/migrating-from-simple-orthanc.md``.
"""

from __future__ import annotations

from . import constants, dicom_tags
from .constants import ASCENDING, DESCENDING
from .dicom_tags import DicomLevels, OrthancDicomTag
from .orthanc import Orthanc, OrthancInterface

__version__ = "0.9.9.6"
"""The simple-orthanc release whose API this mirrors."""

__all__ = [
    "ASCENDING",
    "DESCENDING",
    "DicomLevels",
    "Orthanc",
    "OrthancDicomTag",
    "OrthancInterface",
    "constants",
    "dicom_tags",
]
