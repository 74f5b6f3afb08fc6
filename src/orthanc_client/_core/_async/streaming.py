"""Streamed answers: binary routes handed out chunk by chunk, never held whole in memory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

import httpx

from ..answers import AnswerKind, answer_kind, head_size, problem_with_head, unexpected_answer
from ..errors import OrthancError, error_for_decoding
from ..operation import Operation
from ..prepare import PreparedRequest
from ..timeouts import CallTimeout
from ..types import StreamTarget


class AsyncSender(Protocol):
    """What a stream context needs of its client: one send that leaves the answer's body unread."""

    async def _send(self, prepared: PreparedRequest, call: CallTimeout, *, stream: bool) -> httpx.Response: ...


class AsyncStreamedResponse:
    """An answer whose status was checked and whose body has not been read yet.

    Example::

        async with client.stream_get_studies_id_archive(study_id) as answer:
            await answer.write_to("study.zip")
    """

    def __init__(self, response: httpx.Response, operation: Operation | None = None) -> None:
        self.response = response
        self._operation = operation
        self._kind: AnswerKind = answer_kind(operation) if operation is not None else "binary"

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def content_length(self) -> int | None:
        value = self.response.headers.get("content-length")
        return int(value) if value and value.isdigit() else None

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body in chunks as they arrive, or re-cut to ``chunk_size`` bytes (which copies every byte once).

        On a DICOM or zip route, the first bytes are checked before any is handed out: a body that is not DICOM
        (no ``DICM`` at offset 128) or not a zip raises ``UnexpectedAnswerError``. A connection cut mid-answer
        raises ``ConnectError``, the call's deadline ``RequestTimeoutError``, a false ``Content-Encoding``
        ``UnexpectedAnswerError``: never httpx's own errors.
        """
        needed = head_size(self._kind)
        head = b""
        try:
            async for chunk in self.response.aiter_bytes(chunk_size):
                if len(head) < needed:
                    head += chunk
                    if len(head) < needed:
                        continue
                    self._check_head(head, complete=False)
                    chunk, head = head, head[:needed]
                yield chunk
        except httpx.DecodingError as exc:
            if isinstance(exc, OrthancError):
                raise
            raise error_for_decoding(
                exc, self.response.request, "a body that decodes", self.headers.get("content-type")
            ) from None
        if len(head) < needed:
            self._check_head(head, complete=True)
            if head:
                yield head

    def _check_head(self, head: bytes, *, complete: bool) -> None:
        problem = problem_with_head(self._kind, head, complete=complete, content_type=self.headers.get("content-type"))
        if problem is not None and self._operation is not None:
            raise unexpected_answer(self._operation, self.response, problem)

    async def aread(self) -> bytes:
        """The whole body (defeats streaming: for small answers only); checked as ``aiter_bytes`` checks it."""
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def write_to(
        self, target: StreamTarget, chunk_size: int | None = None, on_chunk: Callable[[int], object] | None = None
    ) -> int:
        """Writes the body to a path or a binary file object; returns the number of bytes written.

        A path is written to ``<path>.part`` and renamed when complete, so an interrupted download never leaves
        a truncated file under the final name. ``on_chunk(n)`` is called after each ``n`` bytes written (for a
        progress bar).
        """
        if not isinstance(target, (str, os.PathLike)):
            return await self._copy_to(target, chunk_size, on_chunk)
        path = Path(os.fspath(target))
        partial = path.with_name(path.name + ".part")
        try:
            with open(partial, "wb") as file:
                written = await self._copy_to(file, chunk_size, on_chunk)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return written

    async def _copy_to(self, file: IO[bytes], chunk_size: int | None, on_chunk: Callable[[int], object] | None) -> int:
        written = 0
        async for chunk in self.aiter_bytes(chunk_size):
            file.write(chunk)
            written += len(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
        return written


class AsyncStreamContext:
    """``async with`` gives an ``AsyncStreamedResponse``; errors are raised on entry, before any byte is used."""

    def __init__(self, client: AsyncSender, prepared: PreparedRequest, call: CallTimeout) -> None:
        self._client = client
        self._prepared = prepared
        self._call = call
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> AsyncStreamedResponse:
        self._response = await self._client._send(self._prepared, self._call, stream=True)
        return AsyncStreamedResponse(self._response, self._prepared.operation)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._response is not None:
            await self._response.aclose()
