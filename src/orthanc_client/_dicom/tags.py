"""DICOM tags in Orthanc's JSON, without I/O: found by keyword, ``(group, element)``, ``"0010,0010"`` or
``0x00100010``, in the "full", ``?simplify`` or ``MainDicomTags`` forms, and parsed by their dictionary VR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .values import parse_date, parse_datetime, parse_float, parse_int, parse_string, parse_time, split_values

TagKey = str | int | tuple[int, int]
"""A tag: a keyword (``"PatientName"``), ``"0010,0010"`` / ``"00100010"``, ``0x00100010`` or ``(0x0010, 0x0010)``."""

_HEX_TAG = re.compile(r"^\(?([0-9A-Fa-f]{4})[,|]?([0-9A-Fa-f]{4})\)?$")


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
