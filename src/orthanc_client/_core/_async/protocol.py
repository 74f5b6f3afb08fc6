"""What a generated API module may use of the hand-written code: ``_core/protocol.py`` plus its own API's
stream context (``async with client.stream_...() as answer``).

A client class mixes in the generated ``AsyncOrthancAPI`` and supplies ``_request`` and ``_stream``.
"""

from __future__ import annotations

from ..protocol import NOT_GIVEN, NotGiven, Operation, QueryParams, RawContent, TimeoutTypes, presence
from .streaming import AsyncStreamContext

__all__ = [
    "NOT_GIVEN",
    "AsyncStreamContext",
    "NotGiven",
    "Operation",
    "QueryParams",
    "RawContent",
    "TimeoutTypes",
    "presence",
]
