"""Python values to DICOM query strings, for ``/tools/find`` and C-FIND alike.

Orthanc takes DICOM matching syntax: ``"DOE*"`` (wildcards), ``"20240101-20240131"`` (ranges), ``"CT\\\\MR"``
(lists). Users may also write Python: ``date(2024, 1, 1)``, ``(date(2024, 1, 1), None)`` for "from then on",
``["CT", "MR"]`` for "any of these". This module converts; it does no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Union

from ._exceptions import InvalidInputError

QueryValue = Union[str, int, float, dt.date, dt.datetime, dt.time, tuple[Any, Any], list[Any], None]


def dicom_value(value: Any, *, tag: str = "value") -> str:
    """One query value in DICOM matching syntax.

    >>> dicom_value(dt.date(2024, 1, 2))
    '20240102'
    >>> dicom_value((dt.date(2024, 1, 1), None))
    '20240101-'
    >>> dicom_value(["CT", "MR"])
    'CT\\\\MR'
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise InvalidInputError(f"{tag}: a boolean is not a DICOM query value ({value!r})")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%d%H%M%S") + (f".{value.microsecond:06d}" if value.microsecond else "")
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, dt.time):
        return value.strftime("%H%M%S") + (f".{value.microsecond:06d}" if value.microsecond else "")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InvalidInputError(f"{tag}: a range is a (start, end) pair, got {len(value)} items")
        start, end = value
        if start is None and end is None:
            raise InvalidInputError(f"{tag}: a range needs a start or an end, got (None, None)")
        return f"{dicom_value(start, tag=tag)}-{dicom_value(end, tag=tag)}"
    if isinstance(value, (list, set, frozenset)):
        items = [dicom_value(item, tag=tag) for item in value]
        if any("\\" in item for item in items):
            raise InvalidInputError(f"{tag}: a list item may not contain a backslash")
        return "\\".join(sorted(items) if isinstance(value, (set, frozenset)) else items)
    raise InvalidInputError(f"{tag}: cannot turn a {type(value).__name__} into a DICOM query value")


def dicom_query(query: Mapping[str, Any] | None) -> dict[str, str]:
    """A whole query: ``{"StudyDate": (date(2024, 1, 1), None)}`` -> ``{"StudyDate": "20240101-"}``."""
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise InvalidInputError(f"the query must be a mapping of DICOM tag -> value, got {type(query).__name__}")
    out = {}
    for tag, value in query.items():
        if not isinstance(tag, str) or not tag:
            raise InvalidInputError(f"query keys must be DICOM keywords or 'gggg,eeee' strings, got {tag!r}")
        out[tag] = dicom_value(value, tag=tag)
    return out
