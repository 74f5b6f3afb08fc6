"""WADO-RS answers over the bulk path (the pool of ``_core.fastpath.connections``): blocking, shared by both
APIs (the asyncio one runs them in a worker thread).

Why: a WADO-RS answer is one long ``multipart/related`` body. Through httpx each 64 KB chunk crosses h11,
httpcore and httpx and is copied on the way; here ``http.client`` reads each part that gives its
``Content-Length`` (Orthanc's do) straight into its own bytes (``StreamParts``). ``save_study`` goes further:
it reads the first 4 KB of each part (the layout's tags are in them) and has the kernel move the rest from
the socket into the file (``splice(2)`` through a pipe, plain HTTP on Linux), so the pixels never pass through
Python. Measured on a 200 x 512 KB study (Orthanc 1.10.1, ``bench/bench_dicomweb.py``, docs/performance.md):
``retrieve_study`` from 0.62-0.67x dicomweb-client's time to 0.33-0.40x; ``save_study``'s CPU from 110-186 ms
to 55-65 ms, 1.07-1.33x a plain streamed read (best times; medians 1.11-1.22) where creating a file is cheap.

Only the 200 answer with a ``multipart/related`` content type is read here. Anything else (an error status,
a redirect, an HTML page, a connection that fails before the answer) returns ``None`` before a byte of
content is used: the caller then asks through the client, which retries what can be retried and raises the
same typed errors as without the bulk path. An answer cut once its parts are being read raises
``MultipartError``, as on the httpx path.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable
from typing import Any

from .._core.fastpath.connections import DirectConnection, DirectOrigin, DirectReadError
from .files import PartFiles
from .multipart import StreamParts
from .query import DicomWebError, MultipartError, multipart_boundary

MAX_AHEAD = 16
"""Parts read ahead of the parsing thread in ``read_datasets`` (memory stays bounded by 16 parts)."""
_END = object()
PIECE_BYTES = 256 * 1024
"""``save_parts`` reads and writes in pieces of this size: few system calls, and small enough to stay in the CPU's
cache between the two copies (measured: 256 KB and 1 MB alike, 64 KB slower)."""
FIRST_BYTES = 4096
"""``save_parts`` reads this much of each part through Python, for its tags (the flat layout's SOPInstanceUID,
and the nested layout's tags up to InstanceNumber, lie within it in nearly every file; ``PartFiles`` reads
the file again when they do not). ``http.client`` has already buffered it with the part's headers, so it costs
no system call, and neither does the rest of that buffer, written before the splice. A 64 KB head cost three
more calls and two copies per part: 6-10 ms of a 200-part save that takes 60-80 ms."""


def _open(origin: DirectOrigin, url: str, accept: str) -> tuple[DirectConnection, StreamParts] | None:
    """The answer's parts, or ``None`` when the bulk path cannot read it (module doc)."""
    if "?" in url:  # the pool quotes paths: a query would be sent as part of the path
        return None
    connection = origin.connect()
    try:
        stream = connection.stream(url, {"Accept": accept})
        content_type = stream.header("Content-Type")
        if content_type.partition(";")[0].strip().lower() != "multipart/related":
            connection.close()
            return None
        return connection, StreamParts(stream, multipart_boundary(content_type))
    except (DirectReadError, DicomWebError):  # the client's path gives these answers their typed errors
        connection.close()
        return None
    except BaseException:
        connection.close()
        raise


def _cut(url: str, parts: StreamParts, error: DirectReadError) -> MultipartError:
    return MultipartError(f"the multipart answer of {url} was cut after {parts.received} bytes: {error}")


def read_datasets(origin: DirectOrigin, url: str, accept: str, parse: Callable[[Any], Any]) -> list[Any] | None:
    """Every part of the answer, each given to ``parse`` (a file-like object over the part's bytes), in order;
    ``None`` when not done (module doc). A thread reads the next parts while this one parses: receiving
    waits on the server and the socket, parsing is pydicom's CPU."""
    opened = _open(origin, url, accept)
    if opened is None:
        return None
    connection, parts = opened
    ahead: queue.Queue[Any] = queue.Queue(MAX_AHEAD)
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set() and parts.next_part() is not None:
                ahead.put(parts.read_part())
            ahead.put(_END)
        except DirectReadError as error:
            ahead.put(_cut(url, parts, error))
        except BaseException as error:  # noqa: BLE001 - raised by the parsing thread
            ahead.put(error)

    reader = threading.Thread(target=read, name="orthanc-client-wado", daemon=True)
    reader.start()
    results: list[Any] = []
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            results.append(parse(io.BytesIO(item)))
    finally:
        stop.set()
        while reader.is_alive():  # after a parse error: let the reader finish its part and stop
            try:
                ahead.get(timeout=0.05)
            except queue.Empty:
                pass
        connection.close()
    return results


def save_parts(
    origin: DirectOrigin, url: str, accept: str, files: PartFiles, *, advance: Callable[[int], Any]
) -> bool:
    """Writes every part of the answer through ``files`` (``start``/``data``/``end``; the caller calls
    ``finish`` or ``abort``) and calls ``advance(size)`` after each; ``False`` when not done (module doc)."""
    opened = _open(origin, url, accept)
    if opened is None:
        return False
    connection, parts = opened
    buffer = memoryview(bytearray(PIECE_BYTES))
    with connection:
        try:
            while parts.next_part() is not None:
                files.start()
                size = 0
                if parts.part_length is None:
                    for chunk in parts.iter_part():
                        files.data(chunk)
                        size += len(chunk)
                else:
                    # The first bytes through one reused buffer (the layout's tags are read from them), the
                    # rest straight from the socket into the file where the kernel can (splice), else
                    # through the buffer too.
                    count = parts.readinto_part(buffer[:FIRST_BYTES])
                    files.data(buffer[:count])
                    size += count
                    while parts.part_left:
                        if parts.can_splice and not files.write_in_thread:
                            count = parts.splice_part(files.fileno(), parts.part_left)
                            files.moved(count)
                        else:
                            count = parts.readinto_part(buffer)
                            files.data(buffer[:count])
                        size += count
                files.end()
                advance(size)
        except DirectReadError as error:
            raise _cut(url, parts, error) from None
    return True
