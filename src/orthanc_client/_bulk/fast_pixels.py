"""The files route of ``Series.to_numpy`` over a ``DirectOrigin``: blocking, shared by both APIs (the asyncio
one runs it in a worker thread).

``concurrency`` threads, each with its own connection, take instances in turn: a file's head is parsed
(``parse_pixel_header``) and its uncompressed pixel data read with ``recv_into`` straight into the instance's
slot of the output volume (a float32 output is filled from a buffer of one instance). No chunk is copied
on the way and no second volume exists.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .._core.fastpath.connections import DirectConnection, DirectOrigin, DirectReadError
from .._dicom.pixel_header import NotNativeError, PixelFormat, parse_pixel_header, unused_bits
from .volume import Frames, VolumeBuilder

_FIRST_READ = 64 << 10  # a file's head: read this much at a time until the pixel data starts
MAX_HEADER = 8 << 20  # a header longer than this: let Orthanc decode

NATIVE, NOT_NATIVE, FAILED = "native", "not native", "failed"


def read_native_files(
    origin: DirectOrigin, volume: VolumeBuilder, concurrency: int, instance_ids: Sequence[str]
) -> dict[str, str]:
    """Reads the files of ``instance_ids`` into ``volume``; returns those it left: ``NOT_NATIVE`` (compressed,
    big endian, YBR...: to be decoded elsewhere) or ``FAILED`` (not read here: to be asked through the client,
    which retries and raises the typed errors). After a first failure (a proxy that chunks its answers, a
    server going away...) the files not started yet are all left to the client. Other errors (pixels that do
    not fit the volume) are raised."""
    left: dict[str, str] = {}
    pending = iter(instance_ids)
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        with origin.connect() as connection:
            while not stop.is_set():
                with lock:
                    instance_id = next(pending, None)
                if instance_id is None:
                    return
                try:
                    outcome = read_native_file(connection, volume, instance_id)
                except DirectReadError:
                    outcome = FAILED
                    stop.set()
                except BaseException:
                    stop.set()
                    raise
                if outcome != NATIVE:
                    left[instance_id] = outcome

    workers = max(1, min(concurrency, len(instance_ids)))
    if workers == 1:
        work()
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="orthanc-client") as pool:
            futures = [pool.submit(work) for _ in range(workers)]
        for future in futures:
            future.result()
    left.update((instance_id, FAILED) for instance_id in pending)  # not started after a failure
    return left


def read_native_file(connection: DirectConnection, volume: VolumeBuilder, instance_id: str) -> str:
    """``NATIVE`` once the instance's pixels are in place, ``NOT_NATIVE`` if the file needs a decoder."""
    body = connection.get(f"instances/{instance_id}/file")
    prefix = b""
    layout: PixelFormat | None = None
    while layout is None:
        chunk = body.read(_FIRST_READ)
        if not chunk or len(prefix) > MAX_HEADER:
            body.discard()
            return NOT_NATIVE
        prefix += chunk
        try:
            layout = parse_pixel_header(prefix)
        except NotNativeError:
            body.discard()
            return NOT_NATIVE
    target, buffer = volume.native_target(instance_id, layout)
    head = prefix[layout.offset : layout.offset + target.nbytes]
    target[: len(head)] = head
    if len(head) < target.nbytes:
        body.readinto(target[len(head) :])
    body.discard()  # elements after the pixel data, if any
    volume.place(instance_id, Frames(buffer, unused_bits(layout), layout.slope, layout.intercept))
    return NATIVE
