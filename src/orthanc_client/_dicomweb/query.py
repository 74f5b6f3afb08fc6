"""DICOMweb requests without I/O: UID checks, QIDO-RS query strings, ``Accept`` headers, and the errors.

Shared by the sync and async ``DicomWeb`` clients. Query values are the same Python values as ``find_*``
takes (``datetime.date``, ``(start, end)`` ranges, lists, wildcards), turned into DICOM matching syntax by
``orthanc_client._dicom.query``; the query string is written here rather than by httpx because httpx sends ``*``
as ``%2A``, which the Orthanc DICOMweb plugin does not decode, so wildcard searches would find nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .._core.errors import InvalidInputError, OrthancError
from .._dicom.query import dicom_value

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
MAX_UID_LENGTH = 64
# Characters a DICOM query value keeps unescaped: wildcards, ranges, lists, person name separators, and
# others every server reads literally. The Orthanc plugin decodes no %XX in query values at all (measured on
# 1.10.1 and 1.12.7): "%2A" or "%5E" would be compared literally and match nothing.
_QUERY_SAFE = "*?-.,^_/:~@"

DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"


class DicomWebError(OrthancError):
    """A DICOMweb answer that is not what the standard says: a redirect, an HTML page, a cut stream."""


class DicomWebNotEnabledError(DicomWebError):
    """The server answers, but has no DICOMweb service at the configured root (for Orthanc: the DICOMweb
    plugin is not loaded or not enabled)."""


class MultipartError(DicomWebError):
    """A ``multipart/related`` answer that ended early or is malformed (the server died mid-stream, or a
    proxy cut it). ``result`` holds what was completed before, when the call writes files."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


def check_uid(value: object, what: str = "UID") -> str:
    """``value`` if it is a valid DICOM UID (digits and dots, at most 64 characters, no empty component),
    else ``InvalidInputError``: a UID goes into the URL path, so ``..`` or ``/`` must never pass.

    >>> check_uid("1.2.840.10008.1.2.1")
    '1.2.840.10008.1.2.1'
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"the {what} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidInputError(f"the {what} is empty")
    if len(value) > MAX_UID_LENGTH or not _UID.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidInputError(
            f"invalid {what} {shown!r}: a DICOM UID is digits separated by single dots, at most 64 characters"
        )
    return value


def resource_path(
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
) -> str:
    """``studies/{uid}/series/{uid}/instances/{uid}`` for the levels given (each UID checked)."""
    parts: list[str] = []
    if study_instance_uid is not None:
        parts += ["studies", check_uid(study_instance_uid, "study_instance_uid")]
    if series_instance_uid is not None:
        parts += ["series", check_uid(series_instance_uid, "series_instance_uid")]
    if sop_instance_uid is not None:
        parts += ["instances", check_uid(sop_instance_uid, "sop_instance_uid")]
    return "/".join(parts)


def encode_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """``key=value&...`` with DICOM wildcards left as they are (see the module docstring)."""
    return "&".join(f"{quote(key, safe='')}={quote(value, safe=_QUERY_SAFE)}" for key, value in pairs)


def qido_pairs(
    search_filters: Mapping[str, Any] | None = None,
    *,
    fields: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    fuzzymatching: bool | None = None,
) -> list[tuple[str, str]]:
    """The QIDO-RS query parameters, in order.

    >>> qido_pairs({"PatientName": "DOE*", "StudyDate": ("20240101", None)}, fields=["StudyDescription"], limit=5)
    [('PatientName', 'DOE*'), ('StudyDate', '20240101-'), ('includefield', 'StudyDescription'), ('limit', '5')]
    """
    pairs: list[tuple[str, str]] = []
    if search_filters is not None:
        if not isinstance(search_filters, Mapping):
            raise InvalidInputError(
                f"search_filters must be a mapping of attribute -> value, got {type(search_filters).__name__}"
            )
        for key, value in search_filters.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(f"search_filters keys must be DICOM keywords or tags, got {key!r}")
            if key.lower() in ("limit", "offset", "fuzzymatching", "includefield"):
                raise InvalidInputError(f"pass {key!r} as its own argument, not in search_filters")
            if isinstance(value, (list, set, frozenset)):
                # QIDO-RS separates values with commas (PS3.18 8.3.4.1); the Orthanc plugin reads no backslash
                items = [dicom_value(item, tag=key) for item in value]
                if not items or any("," in item for item in items):
                    raise InvalidInputError(f"{key}: a list of values must be non-empty, without commas")
                pairs.append((key, ",".join(sorted(items) if not isinstance(value, list) else items)))
            else:
                pairs.append((key, dicom_value(value, tag=key)))
    for field in fields or ():
        if not isinstance(field, str) or not field:
            raise InvalidInputError(f"fields must be DICOM keywords, tags or 'all', got {field!r}")
        pairs.append(("includefield", field))
    for name, number in (("limit", limit), ("offset", offset)):
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {number!r}")
        pairs.append((name, str(number)))
    if fuzzymatching is not None:
        pairs.append(("fuzzymatching", "true" if fuzzymatching else "false"))
    return pairs


def dicom_accept(transfer_syntax: str | None, media_type: str = DICOM) -> str:
    """The ``Accept`` header of a WADO-RS retrieve: ``"*"`` takes the stored syntax (no transcoding)."""
    if transfer_syntax is None:
        return f'multipart/related; type="{media_type}"'
    if transfer_syntax != "*":
        check_uid(transfer_syntax, "transfer_syntax")
    return f'multipart/related; type="{media_type}"; transfer-syntax={transfer_syntax}'


def frames_accept(media_types: Sequence[str | tuple[str, str]] | None) -> str:
    """The ``Accept`` header of a frames or bulk data retrieve, from dicomweb-client's ``media_types``:
    ``("application/octet-stream",)`` or ``(("image/jp2", "1.2.840.10008.1.2.4.90"),)``."""
    if not media_types:
        return f'multipart/related; type="{OCTET_STREAM}"; transfer-syntax=*'
    ranges = []
    for item in media_types:
        if isinstance(item, str):
            media, syntax = item, None
        elif isinstance(item, tuple) and len(item) == 2:
            media, syntax = item
        else:
            raise InvalidInputError(f"a media type is a string or a (media type, transfer syntax) pair: {item!r}")
        if not re.fullmatch(r"[a-z]+/[A-Za-z0-9.+-]+", str(media)):
            raise InvalidInputError(f"invalid media type {media!r}")
        text = f'multipart/related; type="{media}"'
        if syntax is not None:
            if syntax != "*":
                check_uid(syntax, "transfer syntax")
            text += f"; transfer-syntax={syntax}"
        ranges.append(text)
    return ", ".join(ranges)


def frame_list(frame_numbers: Sequence[int] | int) -> str:
    """``"1,3,5"``: frame numbers start at 1."""
    numbers = [frame_numbers] if isinstance(frame_numbers, int) else list(frame_numbers)
    if not numbers:
        raise InvalidInputError("frame_numbers is empty")
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InvalidInputError(f"frame numbers are integers from 1, got {number!r}")
    return ",".join(str(number) for number in numbers)


def multipart_boundary(content_type: str) -> bytes:
    """The ``boundary`` parameter of a ``multipart/related`` content type; ``MultipartError`` if missing."""
    main, _, parameters = content_type.partition(";")
    if main.strip().lower() != "multipart/related":
        raise DicomWebError(f"expected a multipart/related answer, got {content_type or 'no content type'!r}")
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if value:
                return value.encode("latin-1")
    raise MultipartError(f"the multipart answer has no boundary: {content_type!r}")


_NUMERIC_VRS = {"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"}


def standard_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """Standard DICOM JSON from the form Orthanc's ``/dicom-web/servers/{name}/qido`` proxy answers (each
    ``Value`` a string, multiple values joined by backslashes, with ``Name``/``Group``/``Element`` added)."""
    out: dict[str, Any] = {}
    for tag, element in item.items():
        if not isinstance(element, Mapping):
            continue
        vr = str(element.get("vr", "UN"))
        converted: dict[str, Any] = {"vr": vr}
        for key in ("BulkDataURI", "InlineBinary"):
            if key in element:
                converted[key] = element[key]
        value = element.get("Value")
        if isinstance(value, str):
            if value != "":
                values: list[Any] = value.split("\\")
                if vr == "PN":
                    values = [{"Alphabetic": v} for v in values]
                elif vr in _NUMERIC_VRS:
                    values = [float(v) if vr in ("FL", "FD") else int(v) for v in values]
                converted["Value"] = values
        elif isinstance(value, list):
            converted["Value"] = [standard_json(v) if vr == "SQ" and isinstance(v, Mapping) else v for v in value]
        out[tag] = converted
    return out
