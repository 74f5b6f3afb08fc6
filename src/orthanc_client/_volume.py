"""Volume assembly, sans I/O: slice ordering by geometry, ``.npy`` header parsing, in-place reordering.

numpy is optional for the package: it is imported inside functions (``require_numpy`` says how to get it).
"""

from __future__ import annotations

import ast
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
