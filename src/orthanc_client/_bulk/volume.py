"""A volume assembled without I/O: the output array filled slot by slot, reordered in place, unused high bits
cleared.

numpy is optional for the package: it is imported inside functions (``require_numpy`` says how to get it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy.typing as npt
from .._dicom.pixel_header import PixelFormat


def require_numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("pixel data as arrays needs numpy: pip install 'orthanc-client[dicom]'") from exc
    return numpy


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
