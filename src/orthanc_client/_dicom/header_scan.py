"""The tags that name and identify an instance, read from the first bytes of its file without pydicom: a plain
scan of the top-level elements up to InstanceNumber (a few KB), 20x faster than ``dcmread``. It names the files
a WADO-RS save writes (their layout) and gives the Orthanc ID of each file an upload packs with others.

Example::

    from orthanc_client._dicom.header_scan import layout_tags

    tags = layout_tags(instance.get_file()[:65536])
    print(tags["SOPInstanceUID"], tags["SeriesInstanceUID"])
"""

from __future__ import annotations

import struct

from .elements import UNDEFINED, ShortBuffer, element, skip_sequence

# The tags a saved file's layout may use, by tag number; the scan below stops after the last one.
LAYOUT_TAGS = {
    0x00080018: "SOPInstanceUID",
    0x00080020: "StudyDate",
    0x00080050: "AccessionNumber",
    0x00080060: "Modality",
    0x00081030: "StudyDescription",
    0x0008103E: "SeriesDescription",
    0x00100010: "PatientName",
    0x00100020: "PatientID",
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
    0x00200011: "SeriesNumber",
    0x00200013: "InstanceNumber",
}
LAST_LAYOUT_TAG = max(LAYOUT_TAGS)
FLAT_LAYOUT_LAST_TAG = 0x00080018
"""The flat layout names a file by its SOPInstanceUID only: the scan can stop there."""
_EXPLICIT_LITTLE, _IMPLICIT_LITTLE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
_TRANSFER_SYNTAX_UID = 0x00020010


class _Unreadable(Exception):
    """The bytes given do not allow the quick scan: let pydicom read the file instead."""



def layout_tags(head: bytes, last: int = LAST_LAYOUT_TAG) -> dict[str, str] | None:
    """The layout tags (``LAYOUT_TAGS``) of a Part 10 file from its first bytes, without pydicom: a plain
    scan of the top-level elements up to InstanceNumber (a few KB), 20x faster than ``dcmread``; up to the tag
    ``last`` only, if given. ``None`` when it cannot tell (big endian or deflated data, text that is not
    ASCII, too few bytes): then read the file with pydicom.

    Example::

        tags = layout_tags(instance.get_file()[:65536], last=FLAT_LAYOUT_LAST_TAG)
        print(tags)                                     # {'SOPInstanceUID': '1.2...'}
    """
    try:
        return _layout_tags(head, last)
    except (_Unreadable, ShortBuffer, struct.error, IndexError, ValueError):
        return None


def _layout_tags(buf: bytes, last: int) -> dict[str, str]:
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise _Unreadable
    position, syntax = 132, ""
    while True:
        tag, _, length, start = element(buf, position, implicit=False)
        if tag >> 16 != 0x0002:
            break
        if tag == _TRANSFER_SYNTAX_UID:
            syntax = buf[start : start + length].rstrip(b"\x00 ").decode("ascii")
        position = start + length
    if syntax not in (_EXPLICIT_LITTLE, _IMPLICIT_LITTLE):
        raise _Unreadable
    implicit = syntax == _IMPLICIT_LITTLE
    found: dict[str, str] = {}
    while position + 8 <= len(buf):
        tag, vr, length, start = element(buf, position, implicit=implicit)
        if tag > last:
            return found
        if length == UNDEFINED:
            position = skip_sequence(buf, start, implicit or vr == b"UN")
            continue
        name = LAYOUT_TAGS.get(tag)
        if name is not None:
            if start + length > len(buf):
                raise _Unreadable
            raw = buf[start : start + length].rstrip(b"\x00 ")
            if not raw.isascii():
                raise _Unreadable  # its meaning depends on SpecificCharacterSet: pydicom decodes it
            found[name] = raw.decode("ascii").strip()
        position = start + length
    raise _Unreadable
