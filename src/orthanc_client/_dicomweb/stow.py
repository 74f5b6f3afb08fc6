"""STOW-RS without I/O: what each file to send is, and what the server said about each instance.

A STOW-RS answer lists the instances stored (``ReferencedSOPSequence``, possibly with a ``WarningReason``)
and those refused (``FailedSOPSequence`` with a ``FailureReason``). Servers differ on what they say about a
part that is not DICOM at all (Orthanc says nothing), so files are checked before sending: a non-DICOM file
is reported as skipped, never sent, and an instance the answer does not mention is reported as failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._dicom.elements import ShortBuffer, element

_MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003
HEAD_SIZE = 4096

FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"
RETRIEVE_URL = "00081190"

# PS3.18 table I.2-3 and PS3.4 annex GG: the codes servers send most.
FAILURE_REASONS = {
    0x0110: "processing failure",
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0xA700: "out of resources",
    0xA900: "dataset does not match SOP class",
    0xC000: "cannot understand",
    0xC122: "referenced transfer syntax not supported",
    0xA770: "study instance UID does not match",
}
WARNING_REASONS = {
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}


def sop_instance_uid(head: bytes) -> str | None:
    """The SOPInstanceUID of a DICOM Part 10 file from its first bytes (``MediaStorageSOPInstanceUID`` of
    the file meta information); ``None`` if these bytes are not the start of a DICOM file."""
    if len(head) < 132 or head[128:132] != b"DICM":
        return None
    position = 132
    try:
        while True:
            tag, _, length, start = element(head, position, implicit=False)
            if tag >> 16 != 0x0002:
                return None
            if tag == _MEDIA_STORAGE_SOP_INSTANCE_UID:
                value = head[start : start + length].rstrip(b"\x00 ").decode("ascii", "replace")
                return value or None
            position = start + length
    except ShortBuffer:
        return None


@dataclass(frozen=True)
class StowStatus:
    """What a STOW-RS answer says of one instance: ``stored`` or not, and why (``reason``)."""

    stored: bool
    reason: str | None = None
    url: str | None = None


def _first(item: Mapping[str, Any], tag: str) -> Any:
    element = item.get(tag)
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value")
    return values[0] if isinstance(values, list) and values else None


def _reason(code: Any, names: Mapping[int, str], kind: str) -> str:
    if isinstance(code, int):
        return f"{kind} 0x{code:04X} ({names.get(code, 'see PS3.4 annex GG')})"
    return f"{kind} {code}" if code is not None else kind


def parse_stow_answer(answer: Any) -> dict[str, StowStatus]:
    """``{SOPInstanceUID: StowStatus}`` from a STOW-RS answer (DICOM JSON, one dataset or a list of one)."""
    if isinstance(answer, list):
        answer = answer[0] if answer else {}
    if not isinstance(answer, Mapping):
        return {}
    statuses: dict[str, StowStatus] = {}
    for item in (answer.get(REFERENCED_SOP_SEQUENCE) or {}).get("Value") or []:
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            warning = _first(item, WARNING_REASON)
            reason = _reason(warning, WARNING_REASONS, "warning") if warning is not None else None
            statuses[str(uid)] = StowStatus(True, reason, _first(item, RETRIEVE_URL))
    for item in (answer.get(FAILED_SOP_SEQUENCE) or {}).get("Value") or []:
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            statuses[str(uid)] = StowStatus(False, _reason(_first(item, FAILURE_REASON), FAILURE_REASONS, "failure"))
    return statuses
