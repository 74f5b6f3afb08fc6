"""Type aliases shared by the generated and hand-written code."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import IO, Union

import httpx

QueryValue = Union[str, int, float, bool, None]
QueryParams = Mapping[str, Union[QueryValue, Sequence[QueryValue]]]
"""Extra query arguments: ``{"expand": True, "limit": 10}``."""

RawContent = Union[bytes, bytearray, memoryview, str, IO[bytes], Iterable[bytes], AsyncIterable[bytes]]
"""A raw request body: bytes, a binary file object or an iterator of chunks (the last two are streamed)."""

StreamTarget = Union[str, "os.PathLike[str]", IO[bytes]]
"""Where a streamed answer goes: a path (written atomically) or a binary file object."""

TimeoutTypes = Union[float, None, httpx.Timeout]


class NotGiven:
    """Marks an argument the caller did not pass (``None`` means "no timeout" for ``timeout``)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()
