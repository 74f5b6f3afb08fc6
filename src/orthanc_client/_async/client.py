"""``AsyncOrthanc``: the asynchronous client (``Orthanc``, the synchronous one, is generated from this file)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .. import _async_backend
from .._base import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    PreparedRequest,
    custom_operation,
    decode_response,
    prepare_request,
    resolve_settings,
    ssl_context,
    timeout_for,
)
from .._bulk_post import DirectPoster, direct_poster
from .._direct_http import DirectOrigin, direct_origin
from .._exceptions import UnsupportedByServerError, error_for_response, error_for_transport
from .._generated.async_api import AsyncOrthancAPI
from .._generated.operations import OLDEST_SPEC_VERSION
from .._operation import Operation, parse_version
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, NotGiven, QueryParams, RawContent, TimeoutTypes
from .streaming import AsyncStreamContext

if TYPE_CHECKING:
    from .dicomweb import AsyncDicomWeb

logger = logging.getLogger("orthanc_client")
_OLDEST = parse_version(OLDEST_SPEC_VERSION)


class AsyncOrthanc(AsyncOrthancAPI):
    """A connection to one Orthanc server, with every REST route as an ``async`` method.

    With no arguments it reads ``ORTHANC_URL``, ``ORTHANC_USERNAME`` and ``ORTHANC_PASSWORD`` (or
    ``ORTHANC_TOKEN``), falling back to ``http://localhost:8042``. It owns one connection pool: use it as a
    context manager, or call ``aclose()``.

    Example::

        async with AsyncOrthanc("http://localhost:8042", "orthanc", "orthanc") as client:
            system = await client.get_system()
            studies = await client.post_tools_find({"Level": "Study", "Query": {}, "Expand": True})

    Args:
        url: the server, e.g. ``https://pacs.example.org/orthanc`` (a path prefix is kept).
        username, password: HTTP basic credentials. token: a bearer token instead.
        headers: headers sent with every request.
        timeout: seconds, or an ``httpx.Timeout``; the default waits up to 10 s to connect and 10 minutes
            for an answer (archives and anonymizations are slow). ``None`` waits forever.
        verify: TLS verification (``False``, a CA bundle path or an ``ssl.SSLContext``).
        retries: how many times to retry what is safe to retry, or a ``RetryPolicy``.
        max_connections: size of the connection pool.
        http_client: an ``httpx.AsyncClient`` to use instead of making one (for custom transports); the URL,
            credentials, headers and timeout above are applied to it.
    """

    def __init__(
        self,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        verify: Any = True,
        retries: int | RetryPolicy = 3,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = resolve_settings(url, username, password, token, headers, timeout, retries)
        self._retry = self._settings.retry
        self._owns_transport = http_client is None
        if http_client is None:
            http_client = httpx.AsyncClient(
                base_url=self._settings.base_url,
                auth=self._settings.auth,
                headers=self._settings.headers,
                timeout=self._settings.timeout,
                verify=ssl_context(verify),
                # Orthanc closes idle connections after 1 s ("Keep-Alive: timeout=1"): forget them sooner, so a
                # POST (never retried) is not sent on a connection the server is closing.
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                    keepalive_expiry=0.5,
                ),
            )
        else:
            # The given client keeps its transport and pool; everything else is ours to set.
            http_client.base_url = self._settings.base_url
            http_client.timeout = self._settings.timeout
            if self._settings.auth is not None:
                http_client.auth = self._settings.auth
            http_client.headers.update(self._settings.headers)
        self._http = http_client
        self._system: dict[str, Any] | None = None
        self._dicomweb: AsyncDicomWeb | None = None

    @property
    def url(self) -> str:
        """The server's base URL, without credentials."""
        return self._settings.url

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The underlying ``httpx.AsyncClient`` (shares this client's pool, auth and headers)."""
        return self._http

    @property
    def dicomweb(self) -> AsyncDicomWeb:
        """DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) at ``/dicom-web/`` through this client's pool and
        credentials; ``AsyncDicomWeb(client, root=...)`` for another root. ``await client.dicomweb.search_for_studies()``"""
        if self._dicomweb is None:
            from .dicomweb import AsyncDicomWeb  # imported on use: pydicom is optional

            self._dicomweb = AsyncDicomWeb(self)
        return self._dicomweb

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    async def __aenter__(self) -> AsyncOrthanc:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def system(self) -> dict[str, Any]:
        """The server's ``GET /system`` answer (version, name, DICOM AET and port...), read once and remembered:
        these describe the server process, which does not change under a client."""
        if self._system is None:
            self._system = dict(await self.get_system())
        return self._system

    async def server_version(self) -> str:
        """The connected Orthanc's version, e.g. ``"1.12.7"`` (from ``system()``, so read once)."""
        return str((await self.system()).get("Version", "0"))

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        content: RawContent | None = None,
        headers: Mapping[str, str] | None = None,
        binary: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> Any:
        """Calls a route that has no generated method (e.g. a plugin's), with the same errors and retries.

        Example::

            now = await client.request("GET", "/tools/now")
        """
        operation = custom_operation(method, path, binary=binary)
        return await self._request(
            operation, (), params=params, json=json, content=content, extra_headers=headers, timeout=timeout
        )

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> AsyncStreamContext:
        """Streams the answer of any route (identity encoding): ``async with client.stream("GET", p) as a:``."""
        operation = custom_operation(method, path, binary=True)
        return self._stream(operation, (), params=params, json=json, extra_headers=headers, timeout=timeout)

    def _direct_origin(self) -> DirectOrigin | None:
        """Plain connections to the server for the bulk paths (blocking, from worker threads), when they can
        send what this client would; ``None`` otherwise (see ``orthanc_client._direct_http``)."""
        return direct_origin(self._http, owns_transport=self._owns_transport)

    def _direct_poster(self) -> DirectPoster | None:
        """Like ``_direct_origin()``, for many blocking POSTs (the bulk upload); ``None`` when there is none."""
        return direct_poster(self._http, owns_transport=self._owns_transport)

    async def _request(self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any) -> Any:
        timeout = timeout_for(kwargs.pop("timeout", NOT_GIVEN))
        prepared = prepare_request(operation, path_args, is_async=True, **kwargs)
        response = await self._send(prepared, timeout, stream=False)
        return decode_response(operation, response)

    def _stream(self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any) -> AsyncStreamContext:
        timeout = timeout_for(kwargs.pop("timeout", NOT_GIVEN))
        prepared = prepare_request(operation, path_args, is_async=True, **kwargs)
        return AsyncStreamContext(self, prepared, timeout)

    async def _check_supported(self, operation: Operation) -> None:
        if operation.since_tuple <= _OLDEST:
            return
        version = await self.server_version()
        if parse_version(version) < operation.since_tuple:
            raise UnsupportedByServerError(f"{operation.method} {operation.path}", operation.since, version)

    async def _send(self, prepared: PreparedRequest, timeout: Any, *, stream: bool) -> httpx.Response:
        """Sends with retries; returns a successful answer or raises the typed error."""
        await self._check_supported(prepared.operation)
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(
                prepared.method,
                prepared.url,
                # an empty list would still make httpx re-parse the URL to merge "no parameters"
                params=prepared.params or None,
                headers=prepared.headers,
                content=prepared.body(),
                timeout=timeout,
            )
            started = time.perf_counter()
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if self._retry.should_retry(
                    attempt=attempt, idempotent=prepared.idempotent, replayable=prepared.replayable, exception=exc
                ):
                    await self._wait_before_retry(prepared, attempt, type(exc).__name__)
                    continue
                raise error_for_transport(exc, request) from None
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s -> %d (%.1f ms)", prepared.describe(), response.status_code, elapsed_ms)
            if not response.is_error:
                return response
            await response.aread()
            await response.aclose()
            if self._retry.should_retry(
                attempt=attempt,
                idempotent=prepared.idempotent,
                replayable=prepared.replayable,
                status_code=response.status_code,
            ):
                await self._wait_before_retry(prepared, attempt, str(response.status_code))
                continue
            raise error_for_response(response)

    async def _wait_before_retry(self, prepared: PreparedRequest, attempt: int, reason: str) -> None:
        delay = self._retry.delay(attempt)
        logger.info("%s failed (%s); retry %d in %.2f s", prepared.describe(), reason, attempt, delay)
        await _async_backend.sleep(delay)
