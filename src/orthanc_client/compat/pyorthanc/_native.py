"""The private bridge from the facade to the native client.

Each facade client (an ``httpx.Client`` / ``httpx.AsyncClient``, as pyorthanc's are) owns a native
``orthanc_client.Orthanc`` / ``AsyncOrthanc`` that sends through the facade itself (``http_client=facade``), so
the connection pool, auth, headers and event hooks are shared. The native subclasses (``NativeOrthanc`` in
``client.py``, ``NativeAsyncOrthanc`` in ``async_client.py``, so that one API never loads the other) add one
thing: pyorthanc's ``return_raw_response`` mode, where a route method hands back the ``httpx.Response``
unchecked; this module holds what they share.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx

from ..._core.errors import error_for_response
from ..._core.operation import Operation
from ..._core.prepare import prepare_request
from ..._core.timeouts import timeout_for
from ..._core.types import NOT_GIVEN
from ._signatures import SIGNATURES

# True while a facade call made in ``return_raw_response`` mode runs (a context variable, so that threads and
# tasks sharing one client, and ``copy.copy`` of a client, each keep their own mode).
RAW: ContextVar[bool] = ContextVar("orthanc_client_pyorthanc_raw", default=False)

PYORTHANC_API_VERSION = "1.12.11"  # the Orthanc OpenAPI version pyorthanc 1.23.0 was generated from

# pyorthanc names that differ from the native method for the same route.
RENAMED = {"post_tools_invalid_ate_tags": "post_tools_invalidate_tags"}
BODY_AND_OPTIONS = frozenset({"params", "json", "data", "content", "headers", "files", "cookies"})


@contextmanager
def raw_mode(enabled: bool) -> Iterator[None]:
    token = RAW.set(enabled)
    try:
        yield
    finally:
        RAW.reset(token)


def raw_request(http: httpx.Client | httpx.AsyncClient, operation: Operation, path_args: tuple[object, ...],
                 kwargs: dict[str, Any], *, is_async: bool) -> httpx.Request:
    """The request a route method sends in raw mode: built as the native client builds it, sent as is."""
    timeout = timeout_for(kwargs.pop("timeout", NOT_GIVEN))
    prepared = prepare_request(operation, path_args, is_async=is_async, **kwargs)
    return http.build_request(
        prepared.method, prepared.url, params=prepared.params or None, headers=prepared.headers,
        content=prepared.body(), timeout=timeout,
    )


def call_arguments(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """pyorthanc's positional call turned into keywords for the native method (path params by name)."""
    positional = SIGNATURES[name]
    if len(args) > len(positional):
        raise TypeError(f"{name}() takes {len(positional)} positional arguments but {len(args)} were given")
    merged = dict(kwargs)
    for param, value in zip(positional, args, strict=False):
        if param in merged:
            raise TypeError(f"{name}() got multiple values for argument {param!r}")
        merged[param] = value
    missing = [p for p in positional if p not in BODY_AND_OPTIONS and p not in merged]
    if missing:
        raise TypeError(f"{name}() missing required argument(s): {', '.join(map(repr, missing))}")
    for option in ("files", "cookies"):
        if merged.pop(option, None) is not None:
            raise TypeError(f"{name}(): {option}= is not supported; pass the body as json=, data= or content=")
    data = merged.get("data")
    if isinstance(data, (dict, list)) and merged.get("json") is None:
        # httpx would form-encode a dict; every Orthanc route that takes a structured body wants JSON.
        merged["json"] = merged.pop("data")
    return merged


def signature_for(name: str) -> inspect.Signature:
    """pyorthanc's signature of a route method (for ``inspect`` and IDEs)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for param in SIGNATURES[name]:
        default = None if param in BODY_AND_OPTIONS else inspect.Parameter.empty
        params.append(inspect.Parameter(param, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
    params.append(inspect.Parameter("extra", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def native_name(name: str) -> str:
    return RENAMED.get(name, name)


def decode(response: httpx.Response) -> Any:
    """pyorthanc's decoding of an answer: JSON, text, else bytes."""
    content_type = response.headers.get("content-type", "")
    if "application/json" in content_type:
        return response.json() if response.content.strip() else None
    if "text/plain" in content_type:
        return response.text
    return response.content


def checked(client: Any, response: httpx.Response) -> Any:
    """What pyorthanc's ``_get``/``_post``... return: the response in raw mode, else its decoded answer (a
    typed error for a failure status)."""
    if client.return_raw_response:
        return response
    if response.is_success:
        return decode(response)
    raise error_for_response(response)


def _route_method(name: str, native_cls: type, *, is_async: bool) -> Callable[..., Any]:
    target = native_name(name)

    # Two bodies, because the raw mode must stay set while the native coroutine runs, not just while it is made.
    async def async_method(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = call_arguments(name, args, kwargs)
        with raw_mode(self.return_raw_response):
            return await getattr(self._native, target)(**arguments)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = call_arguments(name, args, kwargs)
        with raw_mode(self.return_raw_response):
            return getattr(self._native, target)(**arguments)

    chosen: Callable[..., Any] = async_method if is_async else method
    chosen.__name__ = name
    chosen.__doc__ = getattr(native_cls, target).__doc__
    chosen.__signature__ = signature_for(name)  # type: ignore[attr-defined]
    return chosen


def install_route_methods(cls: type, native_cls: type, *, is_async: bool) -> None:
    """Gives ``cls`` one method per pyorthanc route (``SIGNATURES``), taking pyorthanc's arguments and calling the
    native method for the same route."""
    for name in SIGNATURES:
        method = _route_method(name, native_cls, is_async=is_async)
        method.__qualname__ = f"{cls.__name__}.{name}"
        setattr(cls, name, method)


def native_of(client: Any) -> Any:
    """The native client behind a facade client; a native client (or anything else) is returned as is."""
    native = getattr(client, "_native", None)
    return native if native is not None else client
