"""``AsyncOrthanc``: the asynchronous client (``Orthanc``, the synchronous one, is generated from this file)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from .. import _async_backend
from .._base import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    ClientSettings,
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
from .._exceptions import InvalidInputError, UnsupportedByServerError, error_for_response, error_for_transport
from .._generated.async_api import AsyncOrthancAPI
from .._generated.operations import OLDEST_SPEC_VERSION
from .._nodes import Node, NodePool, node_failed, pinned
from .._nodes_post import NodesPoster
from .._operation import Operation, parse_version
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, NotGiven, QueryParams, RawContent, TimeoutTypes
from .streaming import AsyncStreamContext

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
        url: the server, e.g. ``https://pacs.example.org/orthanc`` (a path prefix is kept); or a list of the
            nodes of one Orthanc cluster (same credentials on each): requests are spread over the healthy
            nodes, a job's requests go to the node that created it (see ``docs/cluster.md``).
        username, password: HTTP basic credentials. token: a bearer token instead.
        headers: headers sent with every request.
        timeout: seconds, or an ``httpx.Timeout``; the default waits up to 10 s to connect and 10 minutes
            for an answer (archives and anonymizations are slow). ``None`` waits forever.
        verify: TLS verification (``False``, a CA bundle path or an ``ssl.SSLContext``).
        retries: how many times to retry what is safe to retry, or a ``RetryPolicy``.
        max_connections: size of the connection pool.
        http_client: an ``httpx.AsyncClient`` to use instead of making one (for custom transports); the URL,
            credentials, headers and timeout above are applied to it.
        balanced_nodes: how many Orthanc nodes a load balancer at ``url`` spreads requests over. Jobs and
            queries live on one node, so a call about one that answers 404 is sent again (up to
            ``2 * balanced_nodes - 1`` times in all), for the balancer to reach the other nodes. Better still,
            give the nodes' own URLs: the client then sends such calls to the right node at once.
    """

    def __init__(
        self,
        url: str | Sequence[str] | None = None,
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
        balanced_nodes: int = 1,
    ) -> None:
        urls: list[str | None]
        if url is None or isinstance(url, str):
            urls = [url]  # None: from ORTHANC_URL, or the default
        else:
            urls = list(url)
            if not urls or not all(isinstance(u, str) for u in urls):
                raise InvalidInputError(f"url must be a URL or a non-empty list of URLs, got {url!r}")
        if len(urls) > 1 and http_client is not None:
            raise InvalidInputError("http_client= serves one URL; pass one URL, or several URLs without http_client=")
        if not isinstance(balanced_nodes, int) or balanced_nodes < 1:
            raise InvalidInputError(f"balanced_nodes must be a whole number >= 1, got {balanced_nodes!r}")
        self._balanced_nodes = balanced_nodes
        self._settings = resolve_settings(urls[0], username, password, token, headers, timeout, retries)
        self._retry = self._settings.retry
        self._owns_transport = http_client is None
        # Several nodes: one httpx client per node (its own pool and base URL, so the bulk paths' direct
        # connections work per node too); None for one URL, so a single-server client pays nothing.
        self._nodes: NodePool | None = None
        self._node_http: list[httpx.AsyncClient] = []
        if len(urls) > 1:
            node_settings = [self._settings] + [
                resolve_settings(u, username, password, token, headers, timeout, retries) for u in urls[1:]
            ]
            self._nodes = NodePool([s.url for s in node_settings])
            self._node_http = [self._new_http_client(s, verify, max_connections) for s in node_settings]
            http_client = self._node_http[0]
        elif http_client is None:
            http_client = self._new_http_client(self._settings, verify, max_connections)
        else:
            # The given client keeps its transport and pool; everything else is ours to set.
            http_client.base_url = self._settings.base_url
            http_client.timeout = self._settings.timeout
            if self._settings.auth is not None:
                http_client.auth = self._settings.auth
            http_client.headers.update(self._settings.headers)
        self._http = http_client
        self._system: dict[str, Any] | None = None

    @staticmethod
    def _new_http_client(settings: ClientSettings, verify: Any, max_connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=settings.base_url,
            auth=settings.auth,
            headers=settings.headers,
            timeout=settings.timeout,
            verify=ssl_context(verify),
            # Orthanc closes idle connections after 1 s ("Keep-Alive: timeout=1"): forget them sooner, so a
            # POST (never retried) is not sent on a connection the server is closing.
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=0.5,
            ),
        )

    @property
    def url(self) -> str:
        """The server's base URL, without credentials."""
        return self._settings.url

    @property
    def nodes(self) -> list[str]:
        """The base URLs of the nodes this client spreads its requests over (one for a single-URL client).

        Example::

            client = AsyncOrthanc(["http://node-a:8042", "http://node-b:8042"], "orthanc", "orthanc")
            assert len(client.nodes) == 2
        """
        return [self.url] if self._nodes is None else [node.url for node in self._nodes.nodes]

    @property
    def healthy_nodes(self) -> list[str]:
        """The nodes not currently taken out after failing to answer (all of them for a single-URL client)."""
        return self.nodes if self._nodes is None else [node.url for node in self._nodes.healthy()]

    def on_node(self, url: str) -> pinned:
        """Within ``with client.on_node(url):``, every request of this client (in this thread or task) goes to
        that node: for node-local state such as ``/jobs`` lists or a modality's ``/queries``.

        Example::

            for node in client.nodes:
                with client.on_node(node):
                    print(node, len(await client.get_jobs()))
        """
        if self._nodes is None:
            if url.rstrip("/") != self.url:
                raise InvalidInputError(f"{url!r} is not a node of this client (its node is {self.url!r})")
            return pinned(None)
        try:
            return pinned(self._nodes.by_url(url))
        except KeyError:
            raise InvalidInputError(f"{url!r} is not a node of this client (nodes: {self.nodes})") from None

    def node_of(self, kind: str, id: str) -> str | None:
        """The node that created job or query ``id`` (``kind``: ``"jobs"`` or ``"queries"``), if this client
        saw it created or found it; ``None`` for a single-URL client."""
        if self._nodes is None:
            return None
        node = self._nodes.owner(f"{kind}/{id}")
        return None if node is None else node.url

    def _remember_job(self, id: str, url: str) -> None:
        if self._nodes is not None:
            self._nodes.remember("jobs", id, self._nodes.by_url(url))

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The underlying ``httpx.AsyncClient`` (shares this client's pool, auth and headers)."""
        return self._http

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
        """Closes the connection pool (every node's)."""
        await self._http.aclose()
        for http in self._node_http[1:]:
            await http.aclose()

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
        if self._nodes is not None:  # one bulk call, one node: the next call goes to the next node
            return direct_origin(self._node_http[self._nodes.choose().index], owns_transport=True)
        return direct_origin(self._http, owns_transport=self._owns_transport)

    def _direct_poster(self) -> DirectPoster | NodesPoster | None:
        """Like ``_direct_origin()``, for many blocking POSTs (the bulk upload); ``None`` when there is none."""
        if self._nodes is not None:
            return NodesPoster.for_nodes(self._nodes, self._node_http)
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
        http = self._http
        node: Node | None = None
        tried: list[Node] = []
        lookups = 0
        while True:
            attempt += 1
            if self._nodes is not None:
                node = self._nodes.route(prepared.url, avoid=tried)
                http = self._node_http[node.index]
            request = http.build_request(
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
                response = await http.send(request, stream=stream)
            except httpx.TransportError as exc:
                failover = node is not None and node_failed(self._nodes, node, exc, tried)
                if self._retry.should_retry(
                    attempt=attempt, idempotent=prepared.idempotent, replayable=prepared.replayable, exception=exc
                ):
                    if not failover:  # another node can take it at once; the same node needs a pause
                        await self._wait_before_retry(prepared, attempt, type(exc).__name__)
                    continue
                raise error_for_transport(exc, request) from None
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s -> %d (%.1f ms)", prepared.describe(), response.status_code, elapsed_ms)
            if node is not None:
                assert self._nodes is not None
                self._nodes.succeeded(node)
                if tried and not response.is_error:
                    self._nodes.found(prepared.url, node)
                if not response.is_error and not stream and prepared.method == "POST":
                    self._nodes.note_answer(node, response.content)
            if not response.is_error:
                return response
            await response.aread()
            await response.aclose()
            if response.status_code == 404 and self._look_elsewhere(prepared.url, node, tried, lookups):
                lookups += 1
                attempt -= 1  # looking for the node that owns a job is not a retry
                continue
            if self._retry.should_retry(
                attempt=attempt,
                idempotent=prepared.idempotent,
                replayable=prepared.replayable,
                status_code=response.status_code,
            ):
                await self._wait_before_retry(prepared, attempt, str(response.status_code))
                continue
            raise error_for_response(response)

    def _look_elsewhere(self, path: str, node: Node | None, tried: list[Node], lookups: int) -> bool:
        """After a 404 for ``path``: whether to ask again, because it names a job or query that may live on
        another node (one of ours, or one behind a load balancer)."""
        if self._nodes is not None:
            return node is not None and self._nodes.look_elsewhere(path, node, tried)
        return 1 + lookups < 2 * self._balanced_nodes - 1 and NodePool.has_affinity(path)

    async def _wait_before_retry(self, prepared: PreparedRequest, attempt: int, reason: str) -> None:
        delay = self._retry.delay(attempt)
        logger.info("%s failed (%s); retry %d in %.2f s", prepared.describe(), reason, attempt, delay)
        await _async_backend.sleep(delay)
