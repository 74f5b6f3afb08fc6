"""Pixel data as numpy arrays: Orthanc's ``/numpy`` routes streamed into a preallocated array, pydicom otherwise.

Memory: the output array is allocated once from the ``.npy`` header and the answer is copied into it chunk
by chunk (never the whole answer in memory next to the array); slices are then reordered in place. Peak is
the volume plus one chunk and one slice.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from .. import _async_backend as backend
from .._exceptions import NotFoundError, UnsupportedByServerError
from .._tags import parse_float, parse_int
from .._volume import (
    SliceGeometry,
    geometric_order,
    parse_npy_header,
    permute_in_place,
    require_numpy,
    squeeze_channels,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from .resources import Instance, Series
    from .streaming import AsyncStreamContext


async def instance_to_numpy(instance: Instance, *, rescale: bool) -> npt.NDArray[Any]:
    numpy = require_numpy()
    try:
        answer = await instance.client.get_instances_id_numpy(instance.id, rescale=rescale)
    except (UnsupportedByServerError, NotFoundError):
        dataset = await instance.get_pydicom()
        return _dataset_pixels(numpy, dataset, rescale)
    array: npt.NDArray[Any] = numpy.load(io.BytesIO(answer), allow_pickle=False)
    return squeeze_channels(array)


async def series_to_numpy(series: Series, *, rescale: bool, concurrency: int) -> npt.NDArray[Any]:
    numpy = require_numpy()
    instances = await series.get_instances()  # geometry of every slice, one request
    geometry = [
        SliceGeometry(i.image_position_patient, i.image_orientation_patient, i.instance_number) for i in instances
    ]
    wanted = [instances[k].id for k in geometric_order(geometry)]
    client = series.client
    try:
        slices = await client.get_series_id_ordered_slices(series.id)
        volume = await _read_npy(numpy, client.stream_get_series_id_numpy(series.id, rescale=rescale))
    except (UnsupportedByServerError, NotFoundError):
        return await _series_with_pydicom(numpy, series, wanted, rescale, concurrency)
    # Orthanc stacks frames in its own slice order (SliceOrdering, the order of /ordered-slices); map each
    # (instance, frame) to its index there, then reorder in place to our geometric order.
    orthanc_index: dict[tuple[str, int], int] = {}
    for instance_id, first_frame, count in slices.get("SlicesShort", []):
        for frame in range(first_frame, first_frame + count):
            orthanc_index[(instance_id, frame)] = len(orthanc_index)
    frames_of: dict[str, list[int]] = {}
    for instance_id, frame in orthanc_index:
        frames_of.setdefault(instance_id, []).append(frame)
    source = [orthanc_index[(i, f)] for i in wanted if i in frames_of for f in frames_of[i]]
    if len(source) == volume.shape[0]:
        permute_in_place(volume, source)
    return squeeze_channels(volume)


async def _read_npy(numpy: Any, context: AsyncStreamContext) -> npt.NDArray[Any]:
    async with context as answer:
        prefix = b""
        target = None
        volume: Any = None
        offset = 0
        async for chunk in answer.aiter_bytes():
            if target is None:
                prefix += chunk
                header = parse_npy_header(prefix)
                if header is None:
                    continue
                if header.fortran_order:
                    raise ValueError("unexpected Fortran-ordered .npy from Orthanc")
                volume = numpy.empty(header.shape, dtype=numpy.dtype(header.dtype))
                target = memoryview(volume.reshape(-1).view(numpy.uint8))
                chunk = prefix[header.length :]
            target[offset : offset + len(chunk)] = chunk
            offset += len(chunk)
    if target is None or offset != target.nbytes:
        raise ValueError(f"truncated .npy answer from Orthanc ({offset} bytes of pixel data)")
    return volume  # type: ignore[no-any-return]


def _dataset_pixels(numpy: Any, dataset: Any, rescale: bool) -> npt.NDArray[Any]:
    pixels = dataset.pixel_array.astype(numpy.float32)
    frames = parse_int(getattr(dataset, "NumberOfFrames", None)) or 1
    if frames == 1:
        pixels = pixels[numpy.newaxis]
    if rescale:
        slope = parse_float(getattr(dataset, "RescaleSlope", None))
        intercept = parse_float(getattr(dataset, "RescaleIntercept", None))
        pixels *= 1.0 if slope is None else slope
        pixels += 0.0 if intercept is None else intercept
    return pixels  # type: ignore[no-any-return]


async def _series_with_pydicom(
    numpy: Any, series: Series, wanted: list[str], rescale: bool, concurrency: int
) -> npt.NDArray[Any]:
    """For servers without ``/numpy``: files fetched concurrently, each decoded into its slot of the output."""
    by_id = {instance.id: instance for instance in await series.get_instances()}
    position = {instance_id: k for k, instance_id in enumerate(wanted)}
    volume: Any = None

    async def decode(instance_id: str) -> Any:
        return _dataset_pixels(numpy, await by_id[instance_id].get_pydicom(), rescale)

    async for instance_id, result in backend.map_unordered(decode, wanted, concurrency):
        if isinstance(result, BaseException):
            raise result
        if result.shape[0] != 1:
            raise ValueError("multi-frame series need Orthanc's /numpy route (Orthanc >= 1.10)")
        if volume is None:
            volume = numpy.empty((len(wanted), *result.shape[1:]), dtype=numpy.float32)
        volume[position[instance_id]] = result[0]
    if volume is None:
        return numpy.empty((0, 0, 0), dtype=numpy.float32)  # type: ignore[no-any-return]
    return volume  # type: ignore[no-any-return]
