"""DICOM values as Python values, without I/O: dates, times, numbers, multi-values.

A value that does not parse is returned as the raw string rather than raising: real archives hold malformed
dates, and one bad tag must not make a whole study unreadable.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

# --- dates and times -------------------------------------------------------------------------------------


def parse_date(value: Any) -> dt.date | None:
    """A DICOM DA (``"20240102"``; also the old ``"2024.01.02"``) as a ``date``; ``None`` if empty/invalid.

    >>> parse_date("20240102")
    datetime.date(2024, 1, 2)
    """
    if not isinstance(value, str):
        return None
    text = value.strip().replace(".", "").replace("-", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def parse_time(value: Any) -> dt.time | None:
    """A DICOM TM (``"HHMMSS.FFFFFF"``, hours-only and minutes-only forms too, old ``"HH:MM:SS"``) as a ``time``.

    >>> parse_time("120530.5")
    datetime.time(12, 5, 30, 500000)
    """
    if not isinstance(value, str):
        return None
    text = value.strip().replace(":", "")
    if not text:
        return None
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6) or (fraction and not fraction.isdigit()):
        return None
    hour, minute, second = int(whole[:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
    micro = int((fraction + "000000")[:6]) if fraction else 0
    try:
        # DICOM allows a leap second (60); Python does not: clamp rather than lose the value.
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def parse_datetime(value: Any) -> dt.datetime | None:
    """A DICOM DT (``"YYYYMMDDHHMMSS.FFFFFF&ZZXX"``) or an Orthanc timestamp (``"20240102T120000.123"``).

    A UTC offset gives an aware ``datetime``; otherwise it is naive (Orthanc's own timestamps are UTC
    but carry no offset, see :func:`parse_orthanc_timestamp`).
    """
    if not isinstance(value, str):
        return None
    text = value.strip().replace("T", "")
    offset = None
    match = re.search(r"([+-])(\d{2})(\d{2})$", text)
    if match and len(text) > 8:
        sign = 1 if match.group(1) == "+" else -1
        offset = dt.timezone(sign * dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
        text = text[: match.start()]
    date = parse_date(text[:8])
    if date is None:
        return None
    time = parse_time(text[8:]) if len(text) > 8 else dt.time()
    if time is None:
        return None
    return dt.datetime.combine(date, time, tzinfo=offset)


def parse_orthanc_timestamp(value: Any) -> dt.datetime | None:
    """Orthanc's own timestamps (``LastUpdate``, job ``CreationTime``: ``"20240102T120000.123456"``, UTC) as
    an aware UTC ``datetime``; ``None`` if absent."""
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


# --- numbers and multi-values ----------------------------------------------------------------------------


def split_values(value: Any) -> list[str]:
    """A multi-valued DICOM string (``"CT\\\\MR"``) as a list; ``[]`` if empty."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    text = str(value)
    return [] if text.strip() == "" else [item.strip() for item in text.split("\\")]


def parse_int(value: Any) -> int | None:
    """A DICOM IS (``" 12 "``) as an ``int``; ``None`` if empty or invalid (first value if multi-valued)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    items = split_values(value)
    if not items:
        return None
    try:
        return int(items[0])
    except ValueError:
        try:  # some writers put "12.0" in an IS
            number = float(items[0])
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def parse_float(value: Any) -> float | None:
    """A DICOM DS (``"0.5"``) as a ``float``; ``None`` if empty or invalid (first value if multi-valued)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    items = split_values(value)
    if not items:
        return None
    try:
        return float(items[0])
    except ValueError:
        return None


def parse_floats(value: Any) -> list[float] | None:
    """A multi-valued DS (``"1\\\\0\\\\0"``) as floats; ``None`` if empty or any item is invalid."""
    items = split_values(value)
    if not items:
        return None
    try:
        return [float(item) for item in items]
    except ValueError:
        return None


def parse_bool(value: Any) -> bool | None:
    """Orthanc's ``"1"``/``"0"``/``"true"``/``"false"`` (and JSON booleans) as ``bool``."""
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    return None


def parse_string(value: Any) -> str | None:
    """A DICOM string as ``str``; empty becomes ``None`` so that "missing" has one spelling."""
    if value is None:
        return None
    if isinstance(value, list):
        value = "\\".join(str(item) for item in value)
    text = str(value).strip()
    return text or None
