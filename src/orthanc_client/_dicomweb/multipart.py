"""``multipart/related`` (RFC 2387) without I/O: a push parser for WADO-RS answers, and the STOW-RS body.

The parser is fed chunks as they come off the socket and returns events (a part starts with its headers,
some of its bytes, the part ends), so a caller can write each part straight to a file and hold no more than
one chunk in memory, or gather small parts whole. ``close()`` raises ``MultipartError`` unless the closing
delimiter was seen: an answer cut mid-stream is never taken for a complete one.
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, Union, cast

from .._core.fastpath.connections import write_all
from .query import MultipartError


@dataclass
class PartStart:
    """A part begins; ``headers`` are lower-cased names -> values."""

    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def content_location(self) -> str | None:
        return self.headers.get("content-location")


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = Union[PartStart, PartData, PartEnd]

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE, _COUNTED = range(6)
_MAX_HEADERS = 64 * 1024


class MultipartParser:
    """Incremental parser of one ``multipart/related`` body with the given boundary.

    Example::

        parser = MultipartParser(b"abc")
        events = parser.feed(b"--abc\\r\\nContent-Type: application/dicom\\r\\n\\r\\nDICM...\\r\\n--abc--")
        parser.close()
    """

    def __init__(self, boundary: bytes) -> None:
        if not boundary:
            raise MultipartError("empty multipart boundary")
        self._delimiter = b"\r\n--" + boundary
        # A body starting with "--boundary" (no preamble) matches the same search as every later delimiter.
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self.parts = 0
        self.received = 0
        self._remaining = 0
        self._counted = False

    @property
    def complete(self) -> bool:
        """True once the closing delimiter was read."""
        return self._state == _DONE

    def feed(self, chunk: bytes) -> list[Event]:
        """Parses ``chunk``; returns the events it completes (possibly none)."""
        self.received += len(chunk)
        if self._state == _DONE:
            return []  # the epilogue is ignored, as RFC 2046 says
        events: list[Event] = []
        buffer = self._buffer
        if self._state == _COUNTED and not buffer:
            # A part that gave its Content-Length: its bytes are handed on without copying or searching.
            if len(chunk) <= self._remaining:
                self._remaining -= len(chunk)
                if chunk:
                    events.append(PartData(chunk))
                if self._remaining:
                    return events
                self._state = _BODY
                return events
            events.append(PartData(chunk[: self._remaining]))
            chunk = chunk[self._remaining :]
            self._remaining = 0
            self._state = _BODY
        buffer += chunk
        delimiter = self._delimiter
        while True:
            state = self._state
            if state == _COUNTED:
                take = min(self._remaining, len(buffer))
                if take:
                    events.append(PartData(bytes(buffer[:take])))
                    del buffer[:take]
                    self._remaining -= take
                if self._remaining:
                    return events
                self._state = _BODY
            elif state == _BODY:
                if self._counted:
                    # The declared length must end exactly at a delimiter: a wrong Content-Length is an error,
                    # never a part that silently swallowed its neighbour.
                    if len(buffer) < len(delimiter):
                        return events
                    if not buffer.startswith(delimiter):
                        raise MultipartError(f"part {self.parts} is not followed by a delimiter after its Content-Length")
                    self._counted = False
                index = buffer.find(delimiter)
                if index < 0:
                    # Keep what could be the start of a delimiter split across chunks.
                    safe = len(buffer) - len(delimiter) + 1
                    if safe > 0:
                        events.append(PartData(bytes(buffer[:safe])))
                        del buffer[:safe]
                    return events
                if index:
                    events.append(PartData(bytes(buffer[:index])))
                events.append(PartEnd())
                del buffer[: index + len(delimiter)]
                self._state = _AFTER_DELIMITER
            elif state == _PREAMBLE:
                index = buffer.find(delimiter)
                if index < 0:
                    keep = len(delimiter) - 1
                    if len(buffer) > keep:
                        del buffer[: len(buffer) - keep]
                    return events
                del buffer[: index + len(delimiter)]
                self._state = _AFTER_DELIMITER
            elif state == _AFTER_DELIMITER:
                if len(buffer) < 2:
                    return events
                if buffer[:2] == b"--":
                    self._state = _DONE
                    buffer.clear()
                    return events
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 1024:
                        raise MultipartError("garbage after a multipart delimiter")
                    return events
                if buffer[:end].strip(b" \t"):
                    raise MultipartError("garbage after a multipart delimiter")
                del buffer[: end + 2]
                self._state = _HEADERS
            elif state == _HEADERS:
                if buffer[:2] == b"\r\n":
                    head = b""
                    del buffer[:2]
                else:
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buffer) > _MAX_HEADERS:
                            raise MultipartError("a multipart part has more than 64 KB of headers")
                        return events
                    head = bytes(buffer[:end])
                    del buffer[: end + 4]
                start = _parse_headers(head)
                events.append(PartStart(start))
                self.parts += 1
                length = start.get("content-length", "")
                # With a length, the delimiter is still checked right after it (_BODY finds it at index 0).
                if length.isdigit():
                    self._remaining = int(length)
                    self._counted = True
                    self._state = _COUNTED
                else:
                    self._state = _BODY
            else:
                return events

    def close(self) -> None:
        """Raises ``MultipartError`` unless the whole body (up to the closing delimiter) was fed."""
        if self._state != _DONE:
            where = "before its first part" if self.parts == 0 and self._state == _PREAMBLE else (
                f"in part {self.parts}" if self._state == _BODY else f"after part {self.parts}"
            )
            raise MultipartError(
                f"the multipart answer ended early ({where}, {self.received} bytes received): "
                "the server or a proxy cut the stream"
            )


class BinaryStream(Protocol):
    """What ``StreamParts`` reads: ``read`` gives exactly ``size`` bytes unless the stream ends first, ``read1``
    what has arrived (at least one byte unless it ended), ``readline`` up to a newline or ``limit`` bytes."""

    def read(self, size: int) -> bytes: ...

    def read1(self, size: int) -> bytes: ...

    def readline(self, limit: int) -> bytes: ...


class BufferedStream(BinaryStream, Protocol):
    """A ``BinaryStream`` that also fills a caller's buffer: ``readinto1`` puts what has arrived (up to the
    buffer's size) into it and returns the count, ``0`` at the end."""

    def readinto1(self, target: memoryview) -> int: ...


class SplicingStream(BufferedStream, Protocol):
    """A ``BufferedStream`` that can also move its next bytes straight into a file (``Stream`` of the bulk
    path): ``splice_to`` returns how many it moved, fewer at the end or once ``can_splice`` turned False."""

    @property
    def can_splice(self) -> bool: ...

    def splice_to(self, file: int, count: int) -> int: ...


_BLOCK = 1 << 20
_MAX_LINE = 8 * 1024
_MAX_PREAMBLE = 1 << 20


class StreamParts:
    """A pull parser of one ``multipart/related`` body read from a blocking stream (the bulk path's answers).

    A part that gives its ``Content-Length`` (Orthanc's do) is read with one ``read``, straight into its own
    bytes, and the delimiter is checked right after it: no search, no copy. Other parts are found by searching
    the delimiter in blocks of 1 MB. As with ``MultipartParser``, a body that ends before its closing delimiter
    raises ``MultipartError``; failures of the stream itself propagate as they are.

    Example::

        import io

        crlf = bytes([13, 10])
        body = crlf.join([b"--abc", b"Content-Length: 4", b"", b"DICM", b"--abc--", b""])
        parts = StreamParts(io.BufferedReader(io.BytesIO(body)), b"abc")
        while (start := parts.next_part()) is not None:
            content = parts.read_part()      # or: for chunk in parts.iter_part(): ...
        assert content == b"DICM"
    """

    def __init__(self, stream: BinaryStream, boundary: bytes) -> None:
        if not boundary:
            raise MultipartError("empty multipart boundary")
        self._stream = stream
        self._dash_boundary = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._pending = b""  # read past the end of a searched part, not yet parsed
        self._state = _PREAMBLE
        self._length: int | None = None
        self._left = 0  # of the current part's length, not read yet
        self.parts = 0
        self.received = 0

    @property
    def complete(self) -> bool:
        """True once the closing delimiter was read."""
        return self._state == _DONE

    def next_part(self) -> PartStart | None:
        """Reads up to the next part's content and returns its headers; ``None`` after the closing delimiter.
        What is left of the current part is skipped."""
        if self._state == _BODY:
            for _ in self.iter_part():
                pass
        if self._state == _PREAMBLE:
            self._skip_preamble()
        if self._state == _AFTER_DELIMITER:
            rest = self._readline(_MAX_LINE)
            if rest.startswith(b"--"):
                self._state = _DONE
            elif not rest.endswith(b"\n"):
                self._cut_or_garbage(rest)
            elif rest.strip(b" \t\r\n"):
                raise MultipartError("garbage after a multipart delimiter")
            else:
                self._state = _HEADERS
        if self._state == _DONE:
            return None
        headers = self._read_headers()
        self.parts += 1
        length = headers.get("content-length", "")
        self._length = int(length) if length.isdigit() else None
        self._left = self._length or 0
        self._state = _BODY
        return PartStart(headers)

    def read_part(self) -> bytes:
        """The whole content of the current part (after ``next_part``)."""
        if self._length is not None:
            left, self._left = self._left, 0
            content = self._read(left)
            if len(content) < left:
                self._ended_early()
            self._check_delimiter()
            return content
        return b"".join(self._search(whole=True))

    def iter_part(self, size: int = _BLOCK) -> Iterator[bytes]:
        """The content of the current part in pieces of at most about ``size`` bytes, as they arrive."""
        if self._length is None:
            yield from self._search(whole=False)
            return
        while self._left:
            chunk = self._read(min(self._left, size))
            if not chunk:
                self._ended_early()
            self._left -= len(chunk)
            yield chunk
        self._check_delimiter()

    @property
    def part_length(self) -> int | None:
        """The current part's ``Content-Length``, ``None`` when it gave none."""
        return self._length

    @property
    def part_left(self) -> int:
        """Bytes of the current part not read yet, when it gives its length (0 otherwise)."""
        return self._left

    @property
    def can_splice(self) -> bool:
        """Whether ``splice_part`` can move bytes (the stream moves them in the kernel)."""
        return bool(getattr(self._stream, "can_splice", False))

    def splice_part(self, file: int, count: int) -> int:
        """Moves the next ``count`` bytes of the current part (at most ``part_left``) into the file descriptor
        ``file`` without copying them through Python, and returns how many it moved; after the part's last
        byte, checks the delimiter. Fewer than asked (maybe 0) when the stream stopped splicing
        (``can_splice`` is then False): read the rest with ``readinto_part``."""
        if self._length is None:
            raise MultipartError("splice_part needs a part that gives its Content-Length")
        count = min(count, self._left)
        moved = 0
        if self._pending:
            moved = min(count, len(self._pending))
            write_all(file, memoryview(self._pending)[:moved])
            self._pending = self._pending[moved:]
        if moved < count:
            stream = cast("SplicingStream", self._stream)
            spliced = stream.splice_to(file, count - moved)
            self.received += spliced
            moved += spliced
            if moved < count and stream.can_splice:
                self._left -= moved
                self._ended_early()
        self._left -= moved
        if not self._left:
            self._check_delimiter()
        return moved

    def readinto_part(self, buffer: memoryview) -> int:
        """Fills ``buffer`` with the next bytes of the current part (all of them, or as many as fit) and returns
        the count; after its last byte, checks the delimiter. Only for a part that gives its length
        (``part_length``), on a stream with ``readinto1``: nothing is allocated, so a caller that recycles its
        buffers reads a study of any size in a few megabytes.

        Example::

            import io

            crlf = bytes([13, 10])
            body = crlf.join([b"--abc", b"Content-Length: 6", b"", b"DICM..", b"--abc--", b""])
            parts = StreamParts(io.BufferedReader(io.BytesIO(body)), b"abc")
            buffer, out = memoryview(bytearray(4)), io.BytesIO()
            parts.next_part()
            while parts.part_left:
                count = parts.readinto_part(buffer)     # 4 bytes, then 2
                out.write(buffer[:count])
            assert out.getvalue() == b"DICM.."
        """
        if self._length is None:
            raise MultipartError("readinto_part needs a part that gives its Content-Length")
        stream = cast("BufferedStream", self._stream)
        want = min(self._left, buffer.nbytes)
        filled = 0
        while filled < want:
            if self._pending:
                count = min(want - filled, len(self._pending))
                buffer[filled : filled + count] = self._pending[:count]
                self._pending = self._pending[count:]
            else:
                count = stream.readinto1(buffer[filled:want])
                self.received += count
                if not count:
                    self._ended_early()
            filled += count
        self._left -= filled
        if not self._left:
            self._check_delimiter()
        return filled

    # ---- reading

    def _read(self, size: int) -> bytes:
        pending = self._pending
        if not pending:
            data = self._stream.read(size)
            self.received += len(data)
            return data
        if len(pending) >= size:
            self._pending = pending[size:]
            return pending[:size]
        self._pending = b""
        data = self._stream.read(size - len(pending))
        self.received += len(data)
        return pending + data

    def _readline(self, limit: int) -> bytes:
        pending = self._pending
        if pending:
            end = pending.find(b"\n", 0, limit)
            if end >= 0 or len(pending) >= limit:
                cut = end + 1 if end >= 0 else limit
                self._pending = pending[cut:]
                return pending[:cut]
            self._pending = b""
        line = self._stream.readline(limit - len(pending))
        self.received += len(line)
        return pending + line if pending else line

    # ---- structure

    def _skip_preamble(self) -> None:
        skipped = 0
        while skipped <= _MAX_PREAMBLE:
            line = self._readline(_MAX_LINE)
            if not line:
                self._ended_early()
            skipped += len(line)
            if line.startswith(self._dash_boundary):
                rest = line[len(self._dash_boundary) :]
                if rest.startswith(b"--"):
                    self._state = _DONE
                    return
                if rest.endswith(b"\n") and not rest.strip(b" \t\r\n"):
                    self._state = _HEADERS
                    return
        raise MultipartError("no multipart delimiter in the first megabyte of the answer")

    def _read_headers(self) -> dict[str, str]:
        lines: list[bytes] = []
        size = 0
        while True:
            line = self._readline(_MAX_LINE)
            if not line.endswith(b"\n"):
                if len(line) < _MAX_LINE:
                    self._ended_early()
                raise MultipartError("a multipart header line is longer than 8 KB")
            line = line.rstrip(b"\r\n")
            if not line:
                return _parse_headers(b"\r\n".join(lines))
            lines.append(line)
            size += len(line)
            if size > _MAX_HEADERS:
                raise MultipartError("a multipart part has more than 64 KB of headers")

    def _check_delimiter(self) -> None:
        """The declared length must end exactly at a delimiter: a wrong Content-Length is an error, never a
        part that silently swallowed its neighbour."""
        after = self._read(len(self._delimiter))
        if after != self._delimiter:
            if len(after) < len(self._delimiter) and self._delimiter.startswith(after):
                self._ended_early()
            raise MultipartError(f"part {self.parts} is not followed by a delimiter after its Content-Length")
        self._state = _AFTER_DELIMITER

    def _search(self, *, whole: bool) -> Iterator[bytes]:
        delimiter = self._delimiter
        buffer = bytearray(self._pending)
        self._pending = b""
        start = 0
        while True:
            index = buffer.find(delimiter, start)
            if index >= 0:
                if index:
                    yield bytes(buffer[:index])
                self._pending = bytes(buffer[index + len(delimiter) :])
                self._state = _AFTER_DELIMITER
                return
            # Keep what could be the start of a delimiter split across blocks.
            safe = len(buffer) - len(delimiter) + 1
            if not whole and safe > 0:
                yield bytes(buffer[:safe])
                del buffer[:safe]
            start = max(0, len(buffer) - len(delimiter) + 1)
            more = self._stream.read1(_BLOCK)
            if not more:
                self._ended_early()
            self.received += len(more)
            buffer += more

    def _cut_or_garbage(self, rest: bytes) -> None:
        if len(rest) < _MAX_LINE:
            self._ended_early()
        raise MultipartError("garbage after a multipart delimiter")

    def _ended_early(self) -> None:
        where = "before its first part" if self.parts == 0 else (
            f"in part {self.parts}" if self._state == _BODY else f"after part {self.parts}"
        )
        raise MultipartError(
            f"the multipart answer ended early ({where}, {self.received} bytes received): "
            "the server or a proxy cut the stream"
        )


def _parse_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise MultipartError(f"malformed multipart header line {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def new_boundary() -> str:
    """A boundary that cannot occur in DICOM data by chance."""
    return "orthanc-client-" + secrets.token_hex(16)


def part_head(boundary: str, content_type: str, length: int | None = None) -> bytes:
    """The delimiter and headers that open one part of a body we send."""
    head = f"--{boundary}\r\nContent-Type: {content_type}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + "\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def split_parts(body: bytes, boundary: bytes) -> Iterator[tuple[PartStart, bytes]]:
    """Every part of a whole body (for small answers): ``(headers, content)`` pairs."""
    parser = MultipartParser(boundary)
    start: PartStart | None = None
    pieces: list[bytes] = []
    for event in parser.feed(body):
        if isinstance(event, PartStart):
            start, pieces = event, []
        elif isinstance(event, PartData):
            pieces.append(event.data)
        elif start is not None:
            yield start, b"".join(pieces)
    parser.close()


class ChunksReader:
    """A read-only binary file over a list of chunks (a part as it arrived), so that pydicom reads a part
    without the chunks being joined first: each large value (the pixel data) is copied once, into its own
    bytes, instead of twice.

    Example::

        import pydicom

        data = instance.get_file()
        dataset = pydicom.dcmread(ChunksReader([data[:1000], data[1000:]]))   # as the part arrived
    """

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = [chunk for chunk in chunks if chunk]
        self._starts: list[int] = []
        total = 0
        for chunk in self._chunks:
            self._starts.append(total)
            total += len(chunk)
        self._size = total
        self._position = 0
        self._index = 0  # the chunk holding self._position (sequential reads stay O(1))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._position
        elif whence == 2:
            offset += self._size
        self._position = max(0, offset)
        self._index = max(0, bisect.bisect_right(self._starts, self._position) - 1)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        size = min(size, self._size - self._position)
        if size <= 0:
            return b""
        index = self._index
        while index + 1 < len(self._chunks) and self._starts[index + 1] <= self._position:
            index += 1
        offset = self._position - self._starts[index]
        chunk = self._chunks[index]
        if offset + size <= len(chunk):
            data = chunk[offset : offset + size] if size != len(chunk) else chunk
        else:
            pieces = [memoryview(chunk)[offset:]]
            needed = size - len(pieces[0])
            while needed > 0:
                index += 1
                piece = memoryview(self._chunks[index])[:needed]
                pieces.append(piece)
                needed -= len(piece)
            data = b"".join(pieces)
        self._position += size
        self._index = index
        return data

    def close(self) -> None:
        self._chunks = []
