"""The header of a DICOM file up to its pixel data: enough to read native pixels straight into an array.

Only native (uncompressed) transfer syntaxes are read here; anything else raises ``NotNativeError`` and is
left to Orthanc to decode.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, NamedTuple

from .elements import LONG_VRS, UNDEFINED, MalformedSequence, ShortBuffer, element, skip_sequence

if TYPE_CHECKING:
    pass

# Transfer syntaxes whose pixel data is raw little-endian samples: UID -> implicit VR.
_NATIVE_SYNTAXES = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
_PIXEL_DATA = 0x7FE00010
_U32 = struct.Struct("<I").unpack_from
_WANTED = {
    0x00280002: "samples", 0x00280004: "photometric", 0x00280006: "planar", 0x00280008: "frames",
    0x00280010: "rows", 0x00280011: "columns", 0x00280100: "allocated", 0x00280101: "stored",
    0x00280102: "high_bit", 0x00280103: "signed", 0x00281052: "intercept", 0x00281053: "slope",
}  # fmt: skip
_IMPLICIT_HEAD = struct.Struct("<HHI").unpack_from  # group, element, value length
_EXPLICIT_HEAD = struct.Struct("<HH2sH").unpack_from  # group, element, VR, short value length
_US = frozenset({"samples", "planar", "rows", "columns", "allocated", "stored", "high_bit", "signed"})


class NotNativeError(ValueError):
    """The file's pixel data is not raw little-endian samples (or its header is unusual): decode it."""


class PixelFormat(NamedTuple):
    """Where and how an uncompressed DICOM file stores its pixels (from :func:`parse_pixel_header`)."""

    frames: int
    rows: int
    columns: int
    samples: int
    dtype: str  # "<u2", "<i2", "|u1"...
    bits_stored: int
    offset: int  # of the first pixel byte in the file
    slope: float | None
    intercept: float | None

    @property
    def shape(self) -> tuple[int, ...]:
        """``(frames, rows, columns)``, plus ``samples`` for color (Orthanc's ``/numpy`` layout, squeezed)."""
        base = (self.frames, self.rows, self.columns)
        return (*base, self.samples) if self.samples > 1 else base

    @property
    def nbytes(self) -> int:
        return self.frames * self.rows * self.columns * self.samples * int(self.dtype[-1])


def parse_pixel_header(prefix: bytes) -> PixelFormat | None:
    """The pixel layout of a DICOM Part 10 file from its first bytes; ``None`` if more bytes are needed.

    Raises :class:`NotNativeError` when the pixels need a decoder: transfer syntax other than Implicit/Explicit
    VR Little Endian, photometric interpretation other than MONOCHROME1/2 or interleaved RGB, 1-bit or
    unusual bit layouts, no PixelData. Only the top-level elements are read (sequences are skipped).

    >>> from orthanc_client.testing.dicom import make_series, to_bytes
    >>> parse_pixel_header(to_bytes(make_series(1, rows=2, columns=3).datasets[0])).shape
    (1, 2, 3)
    """
    try:
        return _parse_pixel_header(prefix)
    except ShortBuffer:
        return None
    except struct.error:  # pragma: no cover - _element checks lengths first
        return None


def _parse_pixel_header(buf: bytes) -> PixelFormat:
    if len(buf) < 132:
        raise ShortBuffer
    if buf[128:132] != b"DICM":
        raise NotNativeError("no DICOM Part 10 preamble")
    pos, syntax = 132, None
    while True:  # file meta: always Explicit VR Little Endian
        if len(buf) < pos + 2:
            raise ShortBuffer
        if struct.unpack_from("<H", buf, pos)[0] != 0x0002:
            break
        tag, _, length, value = element(buf, pos, implicit=False)
        if length == UNDEFINED:
            raise NotNativeError("undefined length in the file meta")
        if tag == 0x00020010:
            syntax = _value(buf, value, length).decode("ascii", "replace").strip("\0 ")
        pos = value + length
    implicit = _NATIVE_SYNTAXES.get(syntax or "")
    if implicit is None:
        raise NotNativeError(f"transfer syntax {syntax}")
    found: dict[str, bytes] = {}
    size = len(buf)
    while True:  # _element inlined: about 50 elements before the pixels, for every file of a series
        if size < pos + 8:
            raise ShortBuffer
        vr: bytes | None
        if implicit:
            group, number, length = _IMPLICIT_HEAD(buf, pos)
            vr, value = None, pos + 8
        else:
            group, number, vr, length = _EXPLICIT_HEAD(buf, pos)
            if group == 0xFFFE:
                vr, length, value = None, _U32(buf, pos + 4)[0], pos + 8
            elif vr in LONG_VRS:
                if size < pos + 12:
                    raise ShortBuffer
                length, value = _U32(buf, pos + 8)[0], pos + 12
            else:
                value = pos + 8
        tag = group << 16 | number
        if tag == _PIXEL_DATA:
            if length == UNDEFINED:
                raise NotNativeError("encapsulated pixel data")
            return _pixel_format(found, value, length)
        if tag > _PIXEL_DATA:
            raise NotNativeError("no PixelData")
        name = _WANTED.get(tag)
        if name is not None:
            found[name] = _value(buf, value, length)
        if length == UNDEFINED:
            try:
                pos = skip_sequence(buf, value, implicit or vr == b"UN")
            except MalformedSequence as exc:
                raise NotNativeError(str(exc)) from None
        else:
            pos = value + length


def _value(buf: bytes, pos: int, length: int) -> bytes:
    if length == UNDEFINED:
        return b""
    if len(buf) < pos + length:
        raise ShortBuffer
    return buf[pos : pos + length]


def _pixel_format(found: dict[str, bytes], offset: int, length: int) -> PixelFormat:
    values: dict[str, Any] = {}
    for name, raw in found.items():
        if name in _US:
            values[name] = struct.unpack_from("<H", raw)[0] if len(raw) >= 2 else None
        else:
            values[name] = raw.decode("ascii", "replace").split("\\")[0].strip("\0 ") or None
    try:
        rows, columns = int(values["rows"]), int(values["columns"])
        allocated, stored = int(values["allocated"]), int(values["stored"])
        samples = int(values.get("samples") or 1)
        frames = int(values.get("frames") or 1)
        high_bit = int(values.get("high_bit", stored - 1))
        signed = int(values.get("signed") or 0) == 1
        slope = float(values["slope"]) if values.get("slope") else None
        intercept = float(values["intercept"]) if values.get("intercept") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise NotNativeError(f"unusable image pixel module: {exc!r}") from None
    photometric = values.get("photometric") or ""
    if samples == 1:
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise NotNativeError(f"photometric interpretation {photometric}")
    elif not (samples == 3 and photometric == "RGB" and not values.get("planar")):
        raise NotNativeError(f"{samples} samples per pixel, {photometric}, planar {values.get('planar')}")
    if allocated not in (8, 16, 32) or not 0 < stored <= allocated or high_bit != stored - 1:
        raise NotNativeError(f"bits allocated/stored/high bit {allocated}/{stored}/{high_bit}")
    kind = "i" if signed else "u"
    dtype = f"|{kind}1" if allocated == 8 else f"<{kind}{allocated // 8}"
    result = PixelFormat(frames, rows, columns, samples, dtype, stored, offset, slope, intercept)
    if length < result.nbytes:
        raise NotNativeError(f"{length} bytes of pixel data for {result.shape} {dtype}")
    return result


def unused_bits(layout: PixelFormat) -> int | None:
    """``layout.bits_stored`` when it leaves bits of the stored type unused (to fix), else ``None``."""
    return layout.bits_stored if layout.bits_stored < int(layout.dtype[-1]) * 8 else None
