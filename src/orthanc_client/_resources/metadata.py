"""Orthanc's metadata and statistics answers as Python values (dates, numbers), without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._dicom.values import parse_int, parse_orthanc_timestamp

# --- Orthanc metadata and statistics -------------------------------------------------------------------------

_METADATA_PARSERS: dict[str, Any] = {
    "LastUpdate": parse_orthanc_timestamp,
    "ReceptionDate": parse_orthanc_timestamp,
    "IndexInSeries": parse_int,
    "PixelDataOffset": parse_int,
}


def parse_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /{level}/{id}/metadata?expand`` with Orthanc's own entries typed (``LastUpdate`` and
    ``ReceptionDate`` as aware UTC datetimes, ``IndexInSeries`` as int); user metadata stays as strings."""
    out: dict[str, Any] = {}
    for name, value in metadata.items():
        parser = _METADATA_PARSERS.get(name)
        parsed = parser(value) if parser is not None else value
        out[name] = value if parsed is None and value not in (None, "") else parsed
    return out


class ResourceStatistics:
    """``GET /{level}/{id}/statistics``: sizes in bytes (Orthanc sends them as strings) and counts.

    ``disk_size`` is what the resource takes in Orthanc's storage (after compression),
    ``uncompressed_size`` what its attachments hold; counts are ``None`` where they do not apply.
    """

    def __init__(self, answer: Mapping[str, Any]) -> None:
        self.raw = dict(answer)
        self.disk_size = parse_int(answer.get("DiskSize")) or 0
        self.uncompressed_size = parse_int(answer.get("UncompressedSize")) or 0
        self.dicom_disk_size = parse_int(answer.get("DicomDiskSize"))
        self.count_studies = parse_int(answer.get("CountStudies"))
        self.count_series = parse_int(answer.get("CountSeries"))
        self.count_instances = parse_int(answer.get("CountInstances"))

    def __repr__(self) -> str:
        return (
            f"ResourceStatistics(disk_size={self.disk_size}, count_studies={self.count_studies}, "
            f"count_series={self.count_series}, count_instances={self.count_instances})"
        )
