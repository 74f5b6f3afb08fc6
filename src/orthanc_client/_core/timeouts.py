"""Timeouts and whole-call deadlines: a call that must give up after ``timeout`` seconds does, even when an
answer drips in a byte at a time (``GuardedStream``).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from .errors import (
    InvalidInputError,
    OrthancError,
    RequestTimeoutError,
    error_for_transport,
)
from .types import NotGiven, TimeoutTypes

if TYPE_CHECKING:
    from .settings import ClientSettings

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=600.0)



def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_seconds(name: str, value: Any) -> float:
    if not _is_number(value):
        raise InvalidInputError(f"{name} must be a number of seconds, an httpx.Timeout or None, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"{name} must be a finite number of seconds > 0 (or None: no limit), got {value!r}")
    return seconds


def as_timeout(timeout: TimeoutTypes) -> httpx.Timeout:
    """Seconds (a bare number still connects within 10 s at most), an ``httpx.Timeout``, or ``None`` (no limit).

    Anything else, and a number that is not finite and positive (``-1``, ``nan``, ``inf``, ``0``), raises
    ``InvalidInputError`` naming the value.
    """
    if timeout is None:
        return httpx.Timeout(None)
    if isinstance(timeout, httpx.Timeout):
        for phase, value in timeout.as_dict().items():
            if value is not None:
                _checked_seconds(f"the {phase} timeout", value)
        return timeout
    seconds = _checked_seconds("timeout", timeout)
    return httpx.Timeout(seconds, connect=min(seconds, DEFAULT_TIMEOUT.connect or 10.0))


def call_deadline(timeout: TimeoutTypes) -> float | None:
    """Seconds for the whole call: a number means the whole call (connecting, every retry and every byte of the
    answer, streamed or not); an ``httpx.Timeout`` keeps httpx's meaning (a limit per connect, per read, per
    write, per wait for a pooled connection, none for the whole); ``None`` waits forever."""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return None
    return _checked_seconds("timeout", timeout)


def timeout_for(timeout: TimeoutTypes | NotGiven) -> Any:
    """A per-call ``timeout=``: the client's own when not given."""
    return httpx.USE_CLIENT_DEFAULT if isinstance(timeout, NotGiven) else as_timeout(timeout)


@dataclass(frozen=True)
class CallTimeout:
    """The limits of one call: httpx's per-phase ``timeout`` and, when given in seconds, an overall deadline
    (``time.monotonic()`` value) by which the whole answer must have arrived."""

    timeout: httpx.Timeout
    seconds: float | None
    deadline: float | None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def for_attempt(self) -> httpx.Timeout:
        """httpx's per-phase limits, none longer than what is left of the deadline."""
        remaining = self.remaining()
        if remaining is None:
            return self.timeout
        remaining = max(remaining, 0.001)
        phases = {
            phase: remaining if value is None else min(value, remaining)
            for phase, value in self.timeout.as_dict().items()
        }
        return httpx.Timeout(**phases)


def call_timeout(timeout: TimeoutTypes | NotGiven, settings: ClientSettings) -> CallTimeout:
    """The limits of a call starting now: the call's own ``timeout=``, else the client's."""
    if isinstance(timeout, NotGiven):
        httpx_timeout, seconds = settings.timeout, settings.deadline
    else:
        httpx_timeout, seconds = as_timeout(timeout), call_deadline(timeout)
    deadline = None if seconds is None else time.monotonic() + seconds
    return CallTimeout(httpx_timeout, seconds, deadline)


class GuardedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An answer's body stream that ends at the call's deadline and raises only typed errors.

    httpx's read timeout bounds each read, not the whole answer: an answer that drips a byte at a time would
    live forever. This wrapper checks the deadline between chunks (each read is also bounded by what was left
    when the request was sent), and turns a connection cut mid-answer or a read timeout into the client's
    ``ConnectError``/``RequestTimeoutError``. One class serves both clients (it wraps whichever stream httpx
    gave).
    """

    def __init__(self, inner: Any, request: httpx.Request, call: CallTimeout) -> None:
        self._inner = inner
        self._request = request
        self._call = call

    def _check_deadline(self) -> None:
        if self._call.expired():
            raise deadline_error(self._request, self._call, reading=True)

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                yield chunk
                self._check_deadline()
        except httpx.TransportError as exc:
            if isinstance(exc, OrthancError):
                raise
            raise error_for_transport(exc, self._request, reading=True) from exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
                self._check_deadline()
        except httpx.TransportError as exc:
            if isinstance(exc, OrthancError):
                raise
            raise error_for_transport(exc, self._request, reading=True) from exc

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


def deadline_error(request: httpx.Request, call: CallTimeout, *, reading: bool = False) -> RequestTimeoutError:
    """The call's overall deadline (``timeout`` in seconds) passed."""
    during = "the answer was still arriving" if reading else "no answer yet"
    return RequestTimeoutError(
        f"the call's deadline of {call.seconds:g} s passed ({during}): {request.method} {request.url}",
        request=request,
    )
