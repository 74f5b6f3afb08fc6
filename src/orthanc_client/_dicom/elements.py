"""Walking the elements of a DICOM file's bytes (little endian): each element's head, and the undefined-length
sequences to step over. Shared by the pixel header (``pixel_header``), the quick tag scan (``header_scan``) and
STOW-RS's SOP instance UID (``_dicomweb.stow``), so that one walk is right for all of them.

Example::

    from orthanc_client._dicom.elements import element

    data = instance.get_file()
    tag, vr, length, value = element(data, 132, implicit=False)   # the first element of the file meta
    print(hex(tag), vr, data[value : value + length])
"""

from __future__ import annotations

import struct

LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
"""The VRs whose explicit value length takes 4 bytes (after 2 reserved ones)."""
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


class ShortBuffer(Exception):
    """The bytes end inside the element (or sequence) being read: more are needed."""


class MalformedSequence(ValueError):
    """An undefined-length sequence holds something other than items."""


def element(buf: bytes, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """``(tag, VR or None, value length, value position)`` of the element at ``pos``; ``ShortBuffer`` when
    ``buf`` ends before its head does."""
    if len(buf) < pos + 8:
        raise ShortBuffer
    group, number = struct.unpack_from("<HH", buf, pos)
    tag = group << 16 | number
    if implicit or group == 0xFFFE:
        return tag, None, struct.unpack_from("<I", buf, pos + 4)[0], pos + 8
    vr = buf[pos + 4 : pos + 6]
    if vr in LONG_VRS:
        if len(buf) < pos + 12:
            raise ShortBuffer
        return tag, vr, struct.unpack_from("<I", buf, pos + 8)[0], pos + 12
    return tag, vr, struct.unpack_from("<H", buf, pos + 6)[0], pos + 8


def skip_sequence(buf: bytes, pos: int, implicit: bool) -> int:
    """The position after an undefined-length sequence whose items start at ``pos``. ``implicit`` for an
    implicit VR data set, or for a sequence of VR UN (its content is implicit VR, PS3.5 6.2.2)."""
    while True:
        tag, _, length, value = element(buf, pos, implicit=True)
        if tag == SEQUENCE_END:
            return value
        if tag != ITEM:
            raise MalformedSequence("malformed sequence")
        pos = value + length if length != UNDEFINED else _skip_item(buf, value, implicit)


def _skip_item(buf: bytes, pos: int, implicit: bool) -> int:
    """The position after an undefined-length item whose elements start at ``pos``."""
    while True:
        tag, vr, length, value = element(buf, pos, implicit)
        if tag == ITEM_END:
            return value
        pos = value + length if length != UNDEFINED else skip_sequence(buf, value, implicit or vr == b"UN")
