"""Pixel data as numpy arrays.

A series costs one request for the geometry of its slices (sorted here, along the slice normal), then its
pixels come one of two ways (``strategy``):

- ``"files"``: the instance files, ``concurrency`` at a time, each into its slot of a preallocated output.
  For Implicit/Explicit VR Little Endian files a small parser (``_dicom.pixel_header.parse_pixel_header``) finds the pixel
  data in the file's head and the rest is read straight into the array: over the client's direct path
  (``_core.fastpath.connections``: plain sockets and ``recv_into``, in worker threads) when the client can use it, else
  through httpx, chunk by chunk. Other files (compressed, big endian, YBR...) are decoded by Orthanc
  (``/instances/{id}/numpy``), or by pydicom on servers without that route. Rescaling is done here, exactly.
- ``"server"``: Orthanc's own ``/series/{id}/numpy`` (two more requests: Orthanc's slice order and the
  pixels, streamed into the output array then reordered in place to geometric order; sent together with the
  geometry's, so that the small answers come while Orthanc builds the big one: 0.16 -> 0.13 s); falls back to
  the files on a server without the route, or whose slice order does not cover exactly the series' instances.

``"auto"`` (the default) reads the files when the direct path is there, unless the first file turns out to
need a decoder (without ``rescale``: Orthanc decodes the whole series on its route, faster than file by
file); without the direct path, Orthanc's route, or the files with ``rescale`` (Orthanc 1.10 rounds rescaled
values to whole numbers). For 100 x 512 x 512 uint16 on a 2-core box shared with Orthanc 1.10.1 (best of
runs): files over the direct path 0.05-0.07 s, Orthanc's route 0.11-0.15 s, files through httpx 0.19-0.27 s
(client CPU: 0.16 s of it); for the same series RLE-compressed, Orthanc's route 0.22-0.30 s, file by file
0.40-0.57 s.

Dtype: the stored type (uint8/uint16/int16/uint32/int32) without rescale; float32 with rescale, whatever the
route. Memory: the output array plus, per file in flight, its head (or one network chunk through httpx), or
a buffer of one instance when converting to float32 (never a second volume).
"""
from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

from ..._core import async_backend as backend
from ..._core.errors import InvalidInputError, NotFoundError, UnexpectedAnswerError, UnsupportedByServerError
from ..._core.fastpath.connections import DirectOrigin
from ..._dicom.pixel_header import NotNativeError, PixelFormat, parse_pixel_header, unused_bits
from ..._dicom.values import parse_float, parse_int
from ..fast_pixels import FAILED, MAX_HEADER, NOT_NATIVE, read_native_files
from ..npy_header import parse_npy_header
from ..slice_order import SliceGeometry, geometric_order
from ..volume import Frames, VolumeBuilder, permute_in_place, require_numpy, squeeze_channels

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..._core._async.streaming import AsyncStreamContext, AsyncStreamedResponse
    from ..._resources._async.resources import Instance, Series

STRATEGIES = ("auto", "files", "server")
DEFAULT_STRATEGY = "auto"


async def instance_to_numpy(instance: Instance, *, rescale: bool) -> npt.NDArray[Any]:
    numpy = require_numpy()
    return _as_result_dtype(numpy, await _decoded_frames(numpy, instance, rescale), rescale)


async def _decoded_frames(numpy: Any, instance: Instance, rescale: bool) -> npt.NDArray[Any]:
    """``(frames, rows, columns[, samples])`` decoded by Orthanc (``/instances/{id}/numpy``), or by pydicom on
    servers without that route; rescaled when asked (float32 from pydicom, Orthanc's float type otherwise)."""
    try:
        answer = await instance.client.get_instances_id_numpy(instance.id, rescale=rescale)
    except (UnsupportedByServerError, NotFoundError):
        return _dataset_pixels(numpy, await instance.get_pydicom(), rescale)
    return squeeze_channels(numpy.load(io.BytesIO(answer), allow_pickle=False))


async def series_to_numpy(
    series: Series, *, rescale: bool, concurrency: int, strategy: str = DEFAULT_STRATEGY
) -> npt.NDArray[Any]:
    """``strategy``: ``"auto"``, ``"files"`` or ``"server"`` (module doc)."""
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    numpy = require_numpy()
    client = series.client
    origin = None if strategy == "server" else client._direct_origin()
    try:
        return await _series_to_numpy(numpy, series, rescale, concurrency, strategy, origin)
    finally:
        if origin is not None:
            origin.close()


async def _series_to_numpy(
    numpy: Any, series: Series, rescale: bool, concurrency: int, strategy: str, origin: DirectOrigin | None
) -> npt.NDArray[Any]:
    ordered: list[Instance] | None = None
    if strategy == "files" or (strategy == "auto" and (rescale or origin is not None)):
        ordered = await _ordered_instances(series)
        # auto, no rescale: a first file that needs a decoder sends the series to Orthanc's route instead
        volume = await _series_from_files(numpy, ordered, rescale, concurrency, origin, strategy == "auto" and not rescale)
        if volume is not None:
            return volume
    ordered, volume = await _series_from_server(numpy, series, rescale, ordered)
    if volume is None:
        volume = await _series_from_files(numpy, ordered, rescale, concurrency, origin)
    assert volume is not None  # only a compressed series in "auto" leaves the files route without one
    return volume


async def _ordered_instances(series: Series) -> list[Instance]:
    """The series' instances (one request, geometry included) in geometric order."""
    instances = await series.get_instances()
    geometry = [
        SliceGeometry(i.image_position_patient, i.image_orientation_patient, i.instance_number) for i in instances
    ]
    return [instances[k] for k in geometric_order(geometry)]


async def _series_from_server(
    numpy: Any, series: Series, rescale: bool, ordered: list[Instance] | None
) -> tuple[list[Instance], npt.NDArray[Any] | None]:
    """Orthanc's pixels (streamed into the output array), its slice order and, unless ``ordered`` is given, the
    geometry: three requests at once, so that the small ones go while Orthanc builds the pixels' answer; then
    an in-place reorder. The volume is ``None`` on a server without the route or when Orthanc's slices are not
    exactly the series' instances (e.g. an instance arrived in between): the caller then reads the files,
    never a wrong order."""
    client = series.client

    async def request(name: str) -> Any:
        if name == "geometry":
            return await _ordered_instances(series)
        if name == "slices":
            return await client.get_series_id_ordered_slices(series.id)
        return await _read_npy(numpy, client.stream_get_series_id_numpy(series.id, rescale=rescale))

    names = ["pixels", "slices"] if ordered is not None else ["pixels", "slices", "geometry"]
    answers: dict[str, Any] = {}
    async for name, answer in backend.map_unordered(request, names, len(names)):
        answers[name] = answer
    for name in ("geometry", "slices", "pixels"):  # the geometry's error first: e.g. no such series
        answer = answers.get(name)
        if isinstance(answer, BaseException) and (
            name == "geometry" or not isinstance(answer, (UnsupportedByServerError, NotFoundError))
        ):
            raise answer
    ordered = answers["geometry"] if ordered is None else ordered
    slices, volume = answers["slices"], answers["pixels"]
    if isinstance(slices, BaseException) or isinstance(volume, BaseException):
        return ordered, None
    # Orthanc stacks frames in its own slice order (SliceOrdering, the order of /ordered-slices); map each
    # (instance, frame) to its index there, then reorder in place to our geometric order.
    wanted = [instance.id for instance in ordered]
    orthanc_index: dict[tuple[str, int], int] = {}
    for instance_id, first_frame, count in slices.get("SlicesShort", []):
        for frame in range(first_frame, first_frame + count):
            orthanc_index[(instance_id, frame)] = len(orthanc_index)
    frames_of: dict[str, list[int]] = {}
    for instance_id, frame in orthanc_index:
        frames_of.setdefault(instance_id, []).append(frame)
    source = [orthanc_index[(i, f)] for i in wanted if i in frames_of for f in frames_of[i]]
    if len(source) != volume.shape[0] or set(frames_of) != set(wanted):
        return ordered, None
    permute_in_place(volume, source)
    return ordered, _as_result_dtype(numpy, squeeze_channels(volume), rescale)


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
                    raise _bad_answer(answer, "a Fortran-ordered .npy", "a C-ordered .npy array")
                volume = numpy.empty(header.shape, dtype=numpy.dtype(header.dtype))
                target = memoryview(volume.reshape(-1).view(numpy.uint8))
                chunk = prefix[header.length :]
            target[offset : offset + len(chunk)] = chunk
            offset += len(chunk)
        if target is None or offset != target.nbytes:
            raise _bad_answer(answer, f"a truncated .npy ({offset} bytes of pixel data)", "a whole .npy array")
    return volume  # type: ignore[no-any-return]


def _bad_answer(answer: AsyncStreamedResponse, problem: str, expected: str) -> UnexpectedAnswerError:
    request = answer.response.request
    return UnexpectedAnswerError(
        problem, method=request.method, url=str(request.url), expected=expected,
        content_type=answer.headers.get("content-type"), status_code=answer.status_code, request=request,
    )


async def _series_from_files(
    numpy: Any,
    ordered: list[Instance],
    rescale: bool,
    concurrency: int,
    origin: DirectOrigin | None,
    unless_compressed: bool = False,
) -> npt.NDArray[Any] | None:
    """Instance files, ``concurrency`` at a time, each read into its slot of the output: through ``origin``
    when there is one (in a worker thread for the asyncio API), else (and for what it could not read) through
    the client. Instances keep their geometric order, the frames of a multi-frame instance their own order.
    ``None`` when ``unless_compressed`` and the first file needs a decoder."""
    volume = VolumeBuilder(numpy, [(i.id, max(1, i.number_of_frames or 1)) for i in ordered], rescale)
    left = {instance.id: FAILED for instance in ordered}
    if origin is not None and ordered:
        ids = list(left)
        read = functools.partial(read_native_files, origin, volume, concurrency)
        if unless_compressed:
            left = await backend.run_in_worker(None, read, ids[:1])
            if left.get(ids[0]) == NOT_NATIVE:
                return None
            ids = ids[1:]
        else:
            left = {}
        left.update(await backend.run_in_worker(None, read, ids))
    remaining = [instance for instance in ordered if instance.id in left]

    async def fetch(instance: Instance) -> Frames:
        if left[instance.id] == NOT_NATIVE:  # the direct read saw it: no need to read the file again
            return Frames(await _decoded_frames(numpy, instance, rescale))
        return await _instance_frames(numpy, instance, volume)

    async for instance, result in backend.map_unordered(fetch, remaining, concurrency):
        if isinstance(result, BaseException):
            raise result
        volume.place(instance.id, result)
    return volume.result()  # type: ignore[no-any-return]


async def _instance_frames(numpy: Any, instance: Instance, volume: VolumeBuilder) -> Frames:
    """Streams the file through the client; uncompressed pixels go straight into the output (or, when they
    need converting, into a buffer of one instance). Others: Orthanc decodes (``/instances/{id}/numpy``), or
    pydicom."""
    instance_id = instance.id
    layout: PixelFormat | None = None
    async with instance.client.stream_get_instances_id_file(instance_id) as answer:
        prefix = b""
        target: Any = None
        buffer: Any = None
        filled = 0
        async for chunk in answer.aiter_bytes():  # as received: no re-chunking copies
            if layout is None:
                prefix += chunk
                try:
                    layout = parse_pixel_header(prefix)
                except NotNativeError:
                    break
                if layout is None:
                    if len(prefix) > MAX_HEADER:
                        break
                    continue
                target, buffer = volume.native_target(instance_id, layout)
                chunk = prefix[layout.offset :]
                prefix = b""
            size = min(len(chunk), target.nbytes - filled)
            target[filled : filled + size] = chunk[:size]
            filled += size
        if layout is not None and filled != target.nbytes:
            raise _bad_answer(answer, f"a truncated file ({filled} of {target.nbytes} pixel bytes)", "a whole DICOM file")
    if layout is not None:
        return Frames(buffer, unused_bits(layout), layout.slope, layout.intercept)
    # compressed, big endian, YBR...: decoded by Orthanc (or pydicom), rescaled as asked
    return Frames(await _decoded_frames(numpy, instance, volume.rescale))


def _as_result_dtype(numpy: Any, array: npt.NDArray[Any], rescale: bool) -> npt.NDArray[Any]:
    if rescale and array.dtype != numpy.float32:
        return array.astype(numpy.float32)
    return array


def _dataset_pixels(numpy: Any, dataset: Any, rescale: bool) -> npt.NDArray[Any]:
    """``(frames, rows, columns[, samples])``: stored type, float32 when ``rescale``."""
    pixels = dataset.pixel_array
    frames = parse_int(getattr(dataset, "NumberOfFrames", None)) or 1
    if frames == 1:
        pixels = pixels[numpy.newaxis]
    if rescale:
        pixels = pixels.astype(numpy.float32)
        slope = parse_float(getattr(dataset, "RescaleSlope", None))
        intercept = parse_float(getattr(dataset, "RescaleIntercept", None))
        pixels *= 1.0 if slope is None else slope
        pixels += 0.0 if intercept is None else intercept
    return pixels  # type: ignore[no-any-return]
