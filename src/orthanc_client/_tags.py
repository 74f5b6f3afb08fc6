"""DICOM values and Orthanc metadata as Python values: sans-I/O parsing shared by resources, find and jobs.

Orthanc answers with DICOM strings (``"20240102"``, ``"0.5\\\\0.5"``, ``"12"``) in its JSON. This module turns
them into ``datetime.date``, lists of floats, ints... and finds tags by keyword or ``(group, element)`` in
Orthanc's tag JSON (``/instances/{id}/tags`` in "full" form, or ``?simplify`` form, or ``MainDicomTags``).
A value that does not parse is returned as the raw string rather than raising: real archives hold
malformed dates, and one bad tag must not make a whole study unreadable.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

TagKey = str | int | tuple[int, int]
"""A tag: a keyword (``"PatientName"``), ``"0010,0010"`` / ``"00100010"``, ``0x00100010`` or ``(0x0010, 0x0010)``."""

_HEX_TAG = re.compile(r"^\(?([0-9A-Fa-f]{4})[,|]?([0-9A-Fa-f]{4})\)?$")


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


# --- tag lookup ------------------------------------------------------------------------------------------


def tag_hex(key: TagKey) -> str | None:
    """``"0010,0010"`` for any tag spelling that is not a keyword; ``None`` for keywords.

    >>> tag_hex((0x0010, 0x0010)), tag_hex(0x00100010), tag_hex("0010,0010"), tag_hex("PatientName")
    ('0010,0010', '0010,0010', '0010,0010', None)
    """
    if isinstance(key, tuple):
        group, element = key
        return f"{group:04x},{element:04x}"
    if isinstance(key, int):
        return f"{key >> 16:04x},{key & 0xFFFF:04x}"
    match = _HEX_TAG.match(key.strip())
    if match:
        return f"{match.group(1)},{match.group(2)}".lower()
    return None


def keyword_for(key: TagKey) -> str | None:
    """The DICOM keyword of a tag, from pydicom's dictionary when pydicom is installed (it is optional)."""
    hex_tag = tag_hex(key)
    if hex_tag is None:
        return str(key)
    try:
        from pydicom.datadict import keyword_for_tag
    except ImportError:
        return None
    keyword = keyword_for_tag(int(hex_tag.replace(",", ""), 16))
    return keyword or None


def hex_for_keyword(keyword: str) -> str | None:
    """``"0010,0010"`` for ``"PatientName"`` (pydicom's dictionary; ``None`` without pydicom or if unknown)."""
    try:
        from pydicom.datadict import tag_for_keyword
    except ImportError:
        return None
    tag = tag_for_keyword(keyword)
    return None if tag is None else f"{tag >> 16:04x},{tag & 0xFFFF:04x}"


def find_tag(tags: Mapping[str, Any], key: TagKey) -> tuple[bool, Any]:
    """Looks ``key`` up in Orthanc tag JSON; returns ``(found, value)``.

    Understands the three shapes Orthanc uses: simplified/main tags (``{"PatientName": "DOE^J"}``), full
    tags (``{"0010,0010": {"Name": "PatientName", "Type": "String", "Value": "DOE^J"}}``) and short
    (``{"0010,0010": "DOE^J"}``). Full-form values are unwrapped: sequences become lists of dicts in the same
    shape, ``Null`` becomes ``None``.
    """
    hex_tag = tag_hex(key)
    keyword = keyword_for(key) if hex_tag is not None else str(key)
    if hex_tag is None:
        hex_tag = hex_for_keyword(str(key))
    for candidate in (keyword, hex_tag, hex_tag.upper() if hex_tag else None):
        if candidate and candidate in tags:
            return True, _unwrap(tags[candidate])
    if keyword:  # full form without pydicom: entries name themselves
        for entry in tags.values():
            if isinstance(entry, Mapping) and entry.get("Name") == keyword and "Value" in entry:
                return True, _unwrap(entry)
    return False, None


def _unwrap(entry: Any) -> Any:
    if isinstance(entry, Mapping) and "Type" in entry and "Value" in entry:
        kind, value = entry["Type"], entry["Value"]
        if kind == "Null":
            return None
        if kind == "Sequence" and isinstance(value, list):
            return [dict(item) for item in value]
        return value
    return entry


def simplify_tags(tags: Mapping[str, Any]) -> dict[str, Any]:
    """Full-form tag JSON (``/instances/{id}/tags``) as ``{keyword or "gggg,eeee": value}``."""
    out: dict[str, Any] = {}
    for hex_tag, entry in tags.items():
        name = entry.get("Name") if isinstance(entry, Mapping) else None
        value = _unwrap(entry)
        if isinstance(value, list):
            value = [simplify_tags(item) if isinstance(item, Mapping) else item for item in value]
        out[name or hex_tag] = value
    return out


# --- values by VR ------------------------------------------------------------------------------------------

_INT_VRS = frozenset({"IS", "US", "UL", "SS", "SL", "UV", "SV", "AT"})
_FLOAT_VRS = frozenset({"DS", "FL", "FD"})


def dictionary_vr_vm(key: TagKey) -> tuple[str | None, str | None]:
    """The VR and VM of a tag from pydicom's dictionary; ``(None, None)`` without pydicom or if unknown."""
    try:
        from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
    except ImportError:
        return None, None
    hex_tag = tag_hex(key)
    tag = int(hex_tag.replace(",", ""), 16) if hex_tag else tag_for_keyword(str(key))
    if tag is None:
        return None, None
    try:
        return str(dictionary_VR(tag)), str(dictionary_VM(tag))
    except KeyError:
        return None, None


def parse_value(value: Any, vr: str | None, vm: str | None = None) -> Any:
    """A tag's value as a Python value given its VR: DA -> date, TM -> time, DT -> datetime, IS/US... -> int,
    DS/FL/FD -> float, several values -> list; strings stay strings; empty -> ``None``. Unparseable values
    are returned as they came (never an exception for a malformed archive)."""
    if value is None or isinstance(value, (list, dict)) and not value:
        return None
    if isinstance(value, list):  # a sequence: items already simplified
        return value
    items = split_values(value)
    if not items:
        return None
    several = len(items) > 1 or (vm is not None and vm != "1")
    parser: Any = {"DA": parse_date, "TM": parse_time, "DT": parse_datetime}.get(vr or "")
    if vr in _INT_VRS:
        parser = parse_int
    elif vr in _FLOAT_VRS:
        parser = parse_float
    if parser is None:
        return items if several else parse_string(value)
    parsed = [parser(item) for item in items]
    if any(p is None for p in parsed):
        return value
    return parsed if several else parsed[0]


def parse_tag(key: TagKey, value: Any) -> Any:
    """``parse_value`` with the VR/VM looked up from the tag."""
    vr, vm = dictionary_vr_vm(key)
    return parse_value(value, vr, vm)


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
