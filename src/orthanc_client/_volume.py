"""Volume assembly, sans I/O: slice ordering by geometry, ``.npy`` and DICOM header parsing, in-place reordering,
the output volume filled slot by slot.

numpy is optional for the package: it is imported inside functions (``require_numpy`` says how to get it).
"""

from __future__ import annotations

import ast
import struct
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy.typing as npt


def require_numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("pixel data as arrays needs numpy: pip install 'orthanc-client[dicom]'") from exc
    return numpy


class SliceGeometry(NamedTuple):
    """What ordering needs from one slice: ImagePositionPatient, ImageOrientationPatient, InstanceNumber."""

    position: Sequence[float] | None
    orientation: Sequence[float] | None
    instance_number: int | None


def _normal(orientation: Sequence[float]) -> tuple[float, float, float]:
    rx, ry, rz, cx, cy, cz = (float(v) for v in orientation[:6])
    return (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)


def geometric_order(slices: Sequence[SliceGeometry]) -> list[int]:
    """Indices of ``slices`` sorted along the slice normal (position projected on row x column direction),
    ascending; by InstanceNumber when any slice lacks position/orientation. Ties keep InstanceNumber order.

    >>> geometric_order([SliceGeometry((0, 0, 2), (1, 0, 0, 0, 1, 0), 1),
    ...                  SliceGeometry((0, 0, 1), (1, 0, 0, 0, 1, 0), 2)])
    [1, 0]
    """
    orientation = next((s.orientation for s in slices if s.orientation and len(s.orientation) >= 6), None)
    usable = orientation is not None and all(s.position and len(s.position) >= 3 for s in slices)

    def number(index: int) -> tuple[int, int]:
        value = slices[index].instance_number
        return (value if value is not None else 1 << 62, index)

    if not usable:
        return sorted(range(len(slices)), key=number)
    assert orientation is not None
    nx, ny, nz = _normal(orientation)

    def distance(index: int) -> tuple[float, int, int]:
        x, y, z = (float(v) for v in slices[index].position[:3])  # type: ignore[index]
        return (round(x * nx + y * ny + z * nz, 6), *number(index))

    return sorted(range(len(slices)), key=distance)


class NpyHeader(NamedTuple):
    dtype: str
    shape: tuple[int, ...]
    fortran_order: bool
    length: int  # bytes before the data


def parse_npy_header(prefix: bytes) -> NpyHeader | None:
    """The header of a ``.npy`` stream from its first bytes; ``None`` if more bytes are needed."""
    if len(prefix) < 10:
        return None
    if prefix[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy stream")
    major = prefix[6]
    if major == 1:
        size_bytes, start = 2, 8
    else:
        size_bytes, start = 4, 8
        if len(prefix) < 12:
            return None
    header_len = int.from_bytes(prefix[start : start + size_bytes], "little")
    end = start + size_bytes + header_len
    if len(prefix) < end:
        return None
    info = ast.literal_eval(prefix[start + size_bytes : end].decode("latin1"))
    return NpyHeader(str(info["descr"]), tuple(int(n) for n in info["shape"]), bool(info["fortran_order"]), end)


def permute_in_place(volume: npt.NDArray[Any], source: Sequence[int]) -> None:
    """Reorders ``volume`` along axis 0 so that ``volume[j]`` becomes the old ``volume[source[j]]``, with one
    slice of extra memory (cycle following) instead of a second volume."""
    n = len(source)
    if sorted(source) != list(range(n)):
        raise ValueError("source must be a permutation")
    visited = [False] * n
    for start in range(n):
        if visited[start] or source[start] == start:
            visited[start] = True
            continue
        saved = volume[start].copy()
        current = start
        while True:
            visited[current] = True
            origin = source[current]
            if origin == start:
                volume[current] = saved
                break
            volume[current] = volume[origin]
            current = origin


def squeeze_channels(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Orthanc's ``(n, rows, columns, 1)`` as ``(n, rows, columns)`` (a view); color keeps its last axis."""
    if array.ndim == 4 and array.shape[3] == 1:
        return array.reshape(array.shape[:3])
    return array



# Transfer syntaxes whose pixel data is raw little-endian samples: UID -> implicit VR.
_NATIVE_SYNTAXES = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_PIXEL_DATA = 0x7FE00010
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_WANTED = {
    0x00280002: "samples", 0x00280004: "photometric", 0x00280006: "planar", 0x00280008: "frames",
    0x00280010: "rows", 0x00280011: "columns", 0x00280100: "allocated", 0x00280101: "stored",
    0x00280102: "high_bit", 0x00280103: "signed", 0x00281052: "intercept", 0x00281053: "slope",
}  # fmt: skip
_IMPLICIT_HEAD = struct.Struct("<HHI").unpack_from  # group, element, value length
_EXPLICIT_HEAD = struct.Struct("<HH2sH").unpack_from  # group, element, VR, short value length
_U32 = struct.Struct("<I").unpack_from
_US = frozenset({"samples", "planar", "rows", "columns", "allocated", "stored", "high_bit", "signed"})


class NotNativeError(ValueError):
    """The file's pixel data is not raw little-endian samples (or its header is unusual): decode it."""


class _MoreBytes(Exception):
    pass


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
    except _MoreBytes:
        return None
    except struct.error:  # pragma: no cover - _element checks lengths first
        return None


def _parse_pixel_header(buf: bytes) -> PixelFormat:
    if len(buf) < 132:
        raise _MoreBytes
    if buf[128:132] != b"DICM":
        raise NotNativeError("no DICOM Part 10 preamble")
    pos, syntax = 132, None
    while True:  # file meta: always Explicit VR Little Endian
        if len(buf) < pos + 2:
            raise _MoreBytes
        if struct.unpack_from("<H", buf, pos)[0] != 0x0002:
            break
        tag, _, length, value = _element(buf, pos, implicit=False)
        if length == _UNDEFINED:
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
            raise _MoreBytes
        vr: bytes | None
        if implicit:
            group, number, length = _IMPLICIT_HEAD(buf, pos)
            vr, value = None, pos + 8
        else:
            group, number, vr, length = _EXPLICIT_HEAD(buf, pos)
            if group == 0xFFFE:
                vr, length, value = None, _U32(buf, pos + 4)[0], pos + 8
            elif vr in _LONG_VRS:
                if size < pos + 12:
                    raise _MoreBytes
                length, value = _U32(buf, pos + 8)[0], pos + 12
            else:
                value = pos + 8
        tag = group << 16 | number
        if tag == _PIXEL_DATA:
            if length == _UNDEFINED:
                raise NotNativeError("encapsulated pixel data")
            return _pixel_format(found, value, length)
        if tag > _PIXEL_DATA:
            raise NotNativeError("no PixelData")
        name = _WANTED.get(tag)
        if name is not None:
            found[name] = _value(buf, value, length)
        if length == _UNDEFINED:
            pos = _skip_items(buf, value, implicit or vr == b"UN")
        else:
            pos = value + length


def _element(buf: bytes, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, VR or None, value length, value position) of the element at ``pos``."""
    if len(buf) < pos + 8:
        raise _MoreBytes
    group, number = struct.unpack_from("<HH", buf, pos)
    tag = group << 16 | number
    if implicit or group == 0xFFFE:
        return tag, None, struct.unpack_from("<I", buf, pos + 4)[0], pos + 8
    vr = buf[pos + 4 : pos + 6]
    if vr in _LONG_VRS:
        if len(buf) < pos + 12:
            raise _MoreBytes
        return tag, vr, struct.unpack_from("<I", buf, pos + 8)[0], pos + 12
    return tag, vr, struct.unpack_from("<H", buf, pos + 6)[0], pos + 8


def _value(buf: bytes, pos: int, length: int) -> bytes:
    if length == _UNDEFINED:
        return b""
    if len(buf) < pos + length:
        raise _MoreBytes
    return buf[pos : pos + length]


def _skip_items(buf: bytes, pos: int, implicit: bool) -> int:
    """Position after an undefined-length sequence whose items start at ``pos``."""
    while True:
        tag, _, length, value = _element(buf, pos, implicit=True)
        if tag == _SEQUENCE_END:
            return value
        if tag != _ITEM:
            raise NotNativeError("malformed sequence")
        pos = value + length if length != _UNDEFINED else _skip_item_elements(buf, value, implicit)


def _skip_item_elements(buf: bytes, pos: int, implicit: bool) -> int:
    """Position after an undefined-length item whose elements start at ``pos``."""
    while True:
        tag, vr, length, value = _element(buf, pos, implicit)
        if tag == _ITEM_END:
            return value
        pos = value + length if length != _UNDEFINED else _skip_items(buf, value, implicit or vr == b"UN")


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


def fix_unused_bits(pixels: npt.NDArray[Any], bits_stored: int) -> None:
    """In place: clears the bits above ``bits_stored`` (unsigned) or extends the sign (signed), as DICOM
    decoders do when BitsStored < BitsAllocated."""
    bits = pixels.dtype.itemsize * 8
    if bits_stored >= bits:
        return
    if pixels.dtype.kind == "i":
        shift = bits - bits_stored
        pixels <<= shift
        pixels >>= shift
    else:
        pixels &= (1 << bits_stored) - 1


class Frames(NamedTuple):
    """One instance's pixels, ready for ``VolumeBuilder.place``: ``pixels`` to copy into its slot (``None`` when
    they were read straight into it), the bit layout to fix and the rescale still to apply (``None``: nothing
    to do, e.g. pixels that Orthanc or pydicom decoded come rescaled as asked)."""

    pixels: Any
    bits_stored: int | None = None
    slope: float | None = None
    intercept: float | None = None


class VolumeBuilder:
    """The output volume of a series: allocated by the first instance whose pixel layout is known (from any
    thread, hence the lock), with one slot of frames per instance, in the order given."""

    def __init__(self, numpy: Any, frame_counts: Sequence[tuple[str, int]], rescale: bool) -> None:
        self.numpy = numpy
        self.rescale = rescale
        self.first_frame: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        total = 0
        for instance_id, count in frame_counts:
            self.first_frame[instance_id] = total
            self.frames[instance_id] = count
            total += count
        self.total = total
        self.array: Any = None
        self._lock = threading.Lock()

    def frames_of(self, instance_id: str) -> Any:
        """The instance's frames in the (allocated) output."""
        start = self.first_frame[instance_id]
        return self.array[start : start + self.frames[instance_id]]

    def slot(self, instance_id: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """The instance's frames in the output (allocated here if needed); checks that they fit."""
        with self._lock:
            if self.array is None:
                out_dtype = self.numpy.float32 if self.rescale else dtype
                self.array = self.numpy.empty((self.total, *shape[1:]), dtype=out_dtype)
        array = self.array
        if not self.rescale and self.numpy.dtype(dtype) != array.dtype:
            raise ValueError(f"instance {instance_id}: {self.numpy.dtype(dtype)} pixels in a {array.dtype} series")
        if tuple(shape[1:]) != array.shape[1:] or shape[0] != self.frames[instance_id]:
            raise ValueError(
                f"instance {instance_id}: {tuple(shape)} pixels do not fit a {array.shape} series (frames or "
                "image size differ from the other instances, or NumberOfFrames from the index)"
            )
        return self.frames_of(instance_id)

    def native_target(self, instance_id: str, layout: PixelFormat) -> tuple[Any, Any]:
        """``(bytes view to fill, buffer)`` for an instance's stored pixels: its slot itself (buffer ``None``)
        or, when the output is rescaled to float32, a buffer of one instance, converted by ``place``."""
        slot = self.slot(instance_id, layout.shape, layout.dtype)
        if slot.dtype == self.numpy.dtype(layout.dtype):
            return memoryview(slot.reshape(-1).view(self.numpy.uint8)), None
        buffer = self.numpy.empty(layout.shape, dtype=layout.dtype)
        return memoryview(buffer.reshape(-1).view(self.numpy.uint8)), buffer

    def place(self, instance_id: str, result: Frames) -> None:
        """Completes an instance's slot: copies ``result.pixels`` in, fixes unused bits, rescales."""
        pixels = result.pixels
        target = self.frames_of(instance_id) if pixels is None else self.slot(instance_id, pixels.shape, pixels.dtype)
        if result.bits_stored is not None:
            fix_unused_bits(target if pixels is None else pixels, result.bits_stored)
        if pixels is not None:
            target[...] = pixels
        if self.rescale:
            if result.slope is not None and result.slope != 1.0:
                target *= result.slope
            if result.intercept:
                target += result.intercept

    def result(self) -> Any:
        """The volume (an empty one for a series without instances)."""
        if self.array is None:
            return self.numpy.empty((0, 0, 0), dtype=self.numpy.float32 if self.rescale else self.numpy.uint16)
        return self.array


def unused_bits(layout: PixelFormat) -> int | None:
    """``layout.bits_stored`` when it leaves bits of the stored type unused (to fix), else ``None``."""
    return layout.bits_stored if layout.bits_stored < int(layout.dtype[-1]) * 8 else None
