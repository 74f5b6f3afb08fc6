"""``multipart/related`` (RFC 2387) without I/O: a push parser for WADO-RS answers, and the STOW-RS body.

The parser is fed chunks as they come off the socket and returns events (a part starts with its headers,
some of its bytes, the part ends), so a caller can write each part straight to a file and hold no more than
one chunk in memory, or gather small parts whole. ``close()`` raises ``MultipartError`` unless the closing
delimiter was seen: an answer cut mid-stream is never taken for a complete one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Union

from ._dicomweb_query import MultipartError


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

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)
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

    @property
    def complete(self) -> bool:
        """True once the closing delimiter was read."""
        return self._state == _DONE

    def feed(self, chunk: bytes) -> list[Event]:
        """Parses ``chunk``; returns the events it completes (possibly none)."""
        self.received += len(chunk)
        if self._state == _DONE:
            return []  # the epilogue is ignored, as RFC 2046 says
        buffer = self._buffer
        buffer += chunk
        events: list[Event] = []
        delimiter = self._delimiter
        while True:
            state = self._state
            if state == _BODY:
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
                events.append(PartStart(_parse_headers(head)))
                self.parts += 1
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
