"""Slices in their geometric order: along the normal of the image plane, the way a volume is stacked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    pass

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
