"""Python values to DICOM query strings, for ``/tools/find`` and C-FIND alike.

Orthanc takes DICOM matching syntax: ``"DOE*"`` (wildcards), ``"20240101-20240131"`` (ranges), ``"CT\\\\MR"``
(lists). Users may also write Python: ``date(2024, 1, 1)``, ``(date(2024, 1, 1), None)`` for "from then on",
``["CT", "MR"]`` for "any of these". This module converts; it does no I/O.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Union

from .._core.errors import InvalidInputError

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
        return _whole_periods(value, tag) if _is_date_tag(tag) else value
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


# A year ("2024"), a month ("202403" or "2024-03"), or a range of them ("2023-2024", "202401-202406", "2024-"):
# what a person types for "studies of 2024". DICOM itself has only whole dates, so "2024" would match nothing.
_PERIOD = r"(\d{4})(?:-?(\d{2}))?"
_ONE_PERIOD = re.compile(rf"^{_PERIOD}$")
_PERIOD_RANGE = re.compile(r"^(\d{4}|\d{6})?-(\d{4}|\d{6})?$")


def _is_date_tag(tag: str) -> bool:
    """DA attributes by keyword (StudyDate, SeriesDate, PatientBirthDate, AcquisitionDate...)."""
    return tag.endswith("Date") and tag[:1].isupper()


def _period_bounds(text: str, tag: str) -> tuple[str, str]:
    match = _ONE_PERIOD.match(text)
    if match is None:
        raise InvalidInputError(f"{tag}: not a year or a year and month: {text!r}")
    year, month = int(match.group(1)), match.group(2)
    if month is None:
        return f"{year:04d}0101", f"{year:04d}1231"
    month_number = int(month)
    if not 1 <= month_number <= 12:
        raise InvalidInputError(f"{tag}: {text!r} has no month {month_number}")
    last_day = calendar.monthrange(year, month_number)[1]
    return f"{year:04d}{month_number:02d}01", f"{year:04d}{month_number:02d}{last_day:02d}"


def _whole_periods(text: str, tag: str = "date") -> str:
    """``"2024"`` -> ``"20240101-20241231"``, ``"2024-03"`` -> ``"20240301-20240331"``, ``"2023-2024"`` ->
    ``"20230101-20241231"``; whole dates, DICOM ranges of them and wildcards are left as they are.

    >>> _whole_periods("202402")
    '20240201-20240229'
    """
    text = text.strip()
    if _ONE_PERIOD.match(text):
        start, end = _period_bounds(text, tag)
        return f"{start}-{end}"
    match = _PERIOD_RANGE.match(text)
    if match and (match.group(1) or match.group(2)):
        start = _period_bounds(match.group(1), tag)[0] if match.group(1) else ""
        end = _period_bounds(match.group(2), tag)[1] if match.group(2) else ""
        return f"{start}-{end}"
    return text


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
