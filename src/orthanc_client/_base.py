"""Everything about a request that does no I/O, shared by ``Orthanc`` and ``AsyncOrthanc``.

Settings (URL, credentials, timeouts) are resolved here, requests are built here from an ``Operation`` and the
caller's arguments, and answers are decoded here. The two clients only send and receive.
"""

from __future__ import annotations

import functools
import io
import json as jsonlib
import logging
import math
import os
import re
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

import httpx

from ._answers import (
    EXPECTED_NAMES,
    AnswerKind,
    expected_kind,
    media_type,
    problem_with_body,
    problem_with_headers,
)
from ._exceptions import (
    InvalidInputError,
    OrthancError,
    RequestTimeoutError,
    UnexpectedAnswerError,
    error_for_transport,
)
from ._operation import Operation
from ._paths import SegmentKind, checked_raw_path, placeholder_kinds, validated_segment
from ._redact import redact, redact_url, secret_parts
from ._retry import RetryPolicy, as_policy
from ._types import NotGiven, QueryParams, RawContent, TimeoutTypes

logger = logging.getLogger("orthanc_client")

DEFAULT_URL = "http://localhost:8042"
# Orthanc answers most calls in milliseconds, but archives, anonymizations and C-MOVEs can legitimately take
# minutes: a short connect timeout finds a dead server fast, a long read timeout lets slow answers arrive.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=600.0)
DEFAULT_MAX_CONNECTIONS = 32
CHUNK_SIZE = 1 << 20

HttpBody = Union[bytes, Iterator[bytes], AsyncIterator[bytes], None]


@dataclass(frozen=True)
class ClientSettings:
    """The resolved connection settings of one client. ``repr`` never shows credentials."""

    base_url: httpx.URL
    auth: httpx.BasicAuth | None
    headers: dict[str, str]
    timeout: httpx.Timeout
    retry: RetryPolicy
    deadline: float | None = None
    """Seconds for a whole call (every attempt, and the whole answer), when ``timeout`` was given in seconds."""

    @property
    def url(self) -> str:
        return str(self.base_url).rstrip("/")

    def __repr__(self) -> str:
        return f"ClientSettings(url={self.url!r}, auth={'basic' if self.auth else None})"


def resolve_settings(
    url: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    headers: Mapping[str, str] | None,
    timeout: TimeoutTypes,
    retries: int | RetryPolicy | None,
) -> ClientSettings:
    """Arguments first, then ``ORTHANC_URL``/``ORTHANC_USERNAME``/``ORTHANC_PASSWORD``/``ORTHANC_TOKEN``."""
    raw_url = url or os.environ.get("ORTHANC_URL") or DEFAULT_URL
    try:
        parsed = httpx.URL(raw_url)
    except Exception as exc:  # noqa: BLE001 - httpx raises several kinds
        # httpx quotes pieces of what it could not parse: with a '/', '#' or '?' in a password, a piece of it
        hint = "; characters such as / @ # ? in credentials must be percent-encoded, or pass username= and password="
        reason = redact(str(exc), secret_parts(raw_url))
        raise InvalidInputError(
            f"not a valid Orthanc URL: {redact_url(raw_url)!r} ({reason}){hint if secret_parts(raw_url) else ''}"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInputError(f"the Orthanc URL must be http(s)://host[:port][/prefix], got {redact_url(raw_url)!r}")
    # Credentials written into the URL move to the Authorization header, so the URL can be shown in messages.
    if parsed.username and username is None:
        username, password = parsed.username, parsed.password
    parsed = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    path = parsed.path if parsed.path.endswith("/") else parsed.path + "/"
    base_url = parsed.copy_with(path=path)

    if username is None:
        username = os.environ.get("ORTHANC_USERNAME")
    if password is None:
        password = os.environ.get("ORTHANC_PASSWORD")
    if token is None:
        token = os.environ.get("ORTHANC_TOKEN")
    all_headers = dict(headers or {})
    auth = None
    if token:
        all_headers.setdefault("Authorization", f"Bearer {token}")
    elif username is not None:
        auth = httpx.BasicAuth(username, password or "")
    return ClientSettings(
        base_url, auth, all_headers, as_timeout(timeout), checked_retries(retries), call_deadline(timeout)
    )


def checked_retries(retries: Any) -> RetryPolicy:
    """``retries`` as a ``RetryPolicy``; a negative, fractional or non-numeric count is refused."""
    if isinstance(retries, RetryPolicy) or retries is None:
        policy = as_policy(retries)
    elif isinstance(retries, bool) or not isinstance(retries, int):
        raise InvalidInputError(f"retries must be a whole number of retries or a RetryPolicy, got {retries!r}")
    elif retries < 0:
        raise InvalidInputError(f"retries must be 0 or more, got {retries!r}")
    else:
        policy = as_policy(retries)
    for name in ("backoff", "max_backoff"):
        value = getattr(policy, name)
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"RetryPolicy.{name} must be a finite number of seconds >= 0, got {value!r}")
    if policy.max_retries < 0:
        raise InvalidInputError(f"RetryPolicy.max_retries must be 0 or more, got {policy.max_retries!r}")
    return policy


def checked_max_connections(max_connections: Any) -> int:
    """A pool of at least one connection (``0`` would make every request wait for a slot forever)."""
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise InvalidInputError(f"max_connections must be a whole number >= 1, got {max_connections!r}")
    return max_connections


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_seconds(name: str, value: Any) -> float:
    if not _is_number(value):
        raise InvalidInputError(f"{name} must be a number of seconds, an httpx.Timeout or None, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"{name} must be a finite number of seconds > 0 (or None: no limit), got {value!r}")
    return seconds


def ssl_context(verify: Any) -> Any:
    """What to give httpx as ``verify``: with the default (``True``), one context per process.

    Building it loads the CA bundle, 30-45 ms, which httpx does again for every client it makes, even for an
    ``http://`` server; scripts, the command line and the bulk helpers make clients often. ``SSL_CERT_FILE``
    and ``SSL_CERT_DIR`` (which httpx honours) are part of the cache key. Anything else is passed on as is.
    """
    if verify is not True:
        return verify
    return _default_ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _default_ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()


@dataclass
class PreparedRequest:
    """A request ready to send; ``body()`` makes a fresh body for each attempt (retries replay it)."""

    method: str
    url: str
    params: list[tuple[str, str | int | float | bool | None]]
    headers: dict[str, str]
    body: Callable[[], HttpBody]
    idempotent: bool
    replayable: bool
    operation: Operation
    # top-level fields of a JSON object body, for the version gate (fields newer than the server are refused)
    body_fields: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.method} /{self.url}"


def format_path(operation: Operation, path_args: tuple[object, ...]) -> str:
    """The route with its placeholders filled, relative to the base URL (so a path prefix is kept).

    Each value is checked for what its placeholder holds (``orthanc_client._paths``: an Orthanc ID, a label,
    a tag path...) and escaped, so that it can only address its own route; ``InvalidInputError`` otherwise.
    """
    literals, kinds = _route_template(operation.path)
    if len(kinds) != len(path_args):
        raise InvalidInputError(f"{operation.name} takes {len(kinds)} path arguments, got {len(path_args)}")
    out = [literals[0]]
    for (name, kind), value, literal in zip(kinds, path_args, literals[1:], strict=True):
        out.append(validated_segment(kind, value, parameter=name, route=f"{operation.method} {operation.path}"))
        out.append(literal)
    return "".join(out).lstrip("/")


@functools.lru_cache(maxsize=1024)
def _route_template(route: str) -> tuple[tuple[str, ...], tuple[tuple[str, SegmentKind], ...]]:
    """The route's text between placeholders, and each placeholder's name and kind (parsed once per route)."""
    return tuple(re.split(r"\{\w+\}", route)), placeholder_kinds(route)


def encode_query(
    query: Mapping[str, Any] | None, params: QueryParams | None
) -> list[tuple[str, str | int | float | bool | None]]:
    """Typed arguments then the caller's extra ``params``; ``None`` leaves an argument out."""
    items: list[tuple[str, str | int | float | bool | None]] = []
    for source in (query, params):
        if not source:
            continue
        for key, value in source.items():
            if value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            items.extend((key, _query_text(v)) for v in values if v is not None)
    return items


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_value(value: Any) -> Any:
    """The JSON value a body argument stands for (a request model as Orthanc spells it)."""
    if hasattr(value, "to_orthanc"):
        return value.to_orthanc()
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return value


def _json_body(value: Any) -> bytes:
    value = _json_value(value)
    try:
        return jsonlib.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except TypeError as exc:
        raise InvalidInputError(f"the JSON body cannot be serialised: {exc}") from None


def _file_size(stream: Any) -> int | None:
    try:
        return int(os.fstat(stream.fileno()).st_size - stream.tell())
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    try:
        here = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(here)
        return int(end - here)
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _raw_body(content: RawContent, is_async: bool) -> tuple[Callable[[], HttpBody], bool, int | None]:
    """(body factory, replayable, length) for bytes, files and iterators; files and iterators are streamed."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
        return (lambda: data), True, len(data)
    if hasattr(content, "read"):
        stream: Any = content
        size = _file_size(stream)
        try:
            start: int | None = stream.tell() if stream.seekable() else None
        except (AttributeError, OSError):
            start = None

        def chunks() -> Iterator[bytes]:
            if start is not None:
                stream.seek(start)
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk

        def file_body() -> HttpBody:
            return _as_async(chunks()) if is_async else chunks()

        return file_body, start is not None, size
    if isinstance(content, AsyncIterable):
        if not is_async:
            raise InvalidInputError("an async iterator body needs AsyncOrthanc; pass bytes, a file or an iterator")
        async_iterator = aiter(content)
        return (lambda: async_iterator), False, None
    if isinstance(content, Iterable):
        iterator = iter(content)
        return (lambda: _as_async(iterator) if is_async else iterator), False, None
    raise InvalidInputError(f"cannot send a {type(content).__name__} as a request body; pass bytes, a file or an iterator")


async def _as_async(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in iterator:
        yield chunk


def prepare_request(
    operation: Operation,
    path_args: tuple[object, ...],
    *,
    is_async: bool,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str | None] | None = None,
    params: QueryParams | None = None,
    extra_headers: Mapping[str, str] | None = None,
    json: Any = None,
    data: str | bytes | None = None,
    content: RawContent | None = None,
) -> PreparedRequest:
    all_headers: dict[str, str] = {}
    if operation.binary_response:
        # Orthanc deflates answers on the fly when the client accepts gzip: 20-45x slower for DICOM and numpy.
        all_headers["Accept-Encoding"] = "identity"
    all_headers.update({k: v for k, v in (headers or {}).items() if v is not None})
    all_headers.update(extra_headers or {})

    given = [name for name, value in (("json", json), ("data", data), ("content", content)) if value is not None]
    if len(given) > 1:
        raise InvalidInputError(f"{operation.name}: pass one body, not {' and '.join(given)}")
    body: Callable[[], HttpBody] = lambda: None  # noqa: E731
    replayable = True
    body_fields: tuple[str, ...] = ()
    if json is not None:
        json = _json_value(json)
        if isinstance(json, Mapping):
            body_fields = tuple(str(key) for key in json)
        encoded = _json_body(json)
        body = lambda: encoded  # noqa: E731
        all_headers.setdefault("Content-Type", "application/json")
    elif data is not None or content is not None:
        raw = data if data is not None else content
        assert raw is not None
        body, replayable, size = _raw_body(raw, is_async)
        if size is not None:
            all_headers.setdefault("Content-Length", str(size))
        if operation.body == "text" or isinstance(raw, str):
            all_headers.setdefault("Content-Type", "text/plain")
    elif operation.body_is_object:
        # Orthanc refuses an empty body where it expects a JSON object; {} means "all defaults".
        body = lambda: b"{}"  # noqa: E731
        all_headers.setdefault("Content-Type", "application/json")

    return PreparedRequest(
        method=operation.method,
        url=format_path(operation, path_args),
        params=encode_query(query, params),
        headers=all_headers,
        body=body,
        idempotent=operation.idempotent,
        replayable=replayable,
        operation=operation,
        body_fields=body_fields,
    )


def custom_operation(method: str, path: str, *, binary: bool = False) -> Operation:
    """An ``Operation`` for a route the spec does not document (``client.request("GET", "/tools/now")``)."""
    method = method.upper()
    if "{" in path or "}" in path:
        raise InvalidInputError(f"the path must be concrete, without placeholders: {path!r}")
    path = checked_raw_path(path)
    return Operation(
        name=f"{method} {path}",
        method=method,
        path=path,
        since="",  # no spec tells: never refused before sending
        response="binary" if binary else "json",
        idempotent=method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS"),
        documented=False,
    )


def answer_kind(operation: Operation) -> AnswerKind:
    return expected_kind(operation.method, operation.path, operation.response)


def unexpected_answer(operation: Operation, response: httpx.Response, problem: str) -> UnexpectedAnswerError:
    request = response.request
    return UnexpectedAnswerError(
        problem,
        method=request.method,
        url=str(request.url),
        expected=EXPECTED_NAMES[answer_kind(operation)],
        content_type=response.headers.get("content-type"),
        status_code=response.status_code,
        request=request,
    )


def check_answer_headers(operation: Operation, response: httpx.Response) -> None:
    """Raises ``UnexpectedAnswerError`` when the answer's ``Content-Type`` says it is not what the route gives
    (checked before any byte of the body is used)."""
    problem = problem_with_headers(
        answer_kind(operation), response.headers.get("content-type"), documented=operation.documented
    )
    if problem is not None:
        raise unexpected_answer(operation, response, problem)


def decode_response(operation: Operation, response: httpx.Response) -> Any:
    """JSON decoded, text as ``str``, anything else as ``bytes`` (by the answer's content type).

    An answer that is not what the route gives (HTML, no DICOM or zip signature, JSON or text that does not
    decode) raises ``UnexpectedAnswerError``.
    """
    raw_type = response.headers.get("content-type")
    content_type = media_type(raw_type)
    body = response.content
    problem = problem_with_body(answer_kind(operation), raw_type, body, documented=operation.documented)
    if problem is not None:
        raise unexpected_answer(operation, response, problem)
    try:
        if content_type == "application/json" or content_type.endswith("+json"):
            return jsonlib.loads(body) if body.strip() else None
        if content_type.startswith("text/"):
            return response.text
    except (ValueError, LookupError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise unexpected_answer(operation, response, f"{type(exc).__name__}: {exc}"[:300]) from None
    if not body:
        return "" if operation.response == "text" else b"" if operation.response == "binary" else None
    return body


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
