"""Requests built from an ``Operation`` and the caller's arguments, without I/O.

``prepare_request`` checks each path value by its kind (``_core.paths``), encodes query arguments and JSON or
raw bodies, and hands ``Orthanc``/``AsyncOrthanc`` a ``PreparedRequest`` they only have to send.
"""

from __future__ import annotations

import functools
import io
import json as jsonlib
import logging
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .errors import (
    InvalidInputError,
)
from .operation import Operation
from .paths import SegmentKind, checked_raw_path, placeholder_kinds, validated_segment
from .settings import CHUNK_SIZE
from .types import QueryParams, RawContent

logger = logging.getLogger("orthanc_client")

HttpBody = Union[bytes, Iterator[bytes], AsyncIterator[bytes], None]


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

    Each value is checked for what its placeholder holds (``orthanc_client._core.paths``: an Orthanc ID, a label,
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
