"""The client that owns the connection pool, the retries and the timeouts (this file is the one source of the
client class of both APIs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ..._core import async_backend as _async_backend
from ..._core._async.streaming import AsyncStreamContext
from ..._core.answers import check_answer_headers, decode_response, is_redirect, same_origin
from ..._core.errors import (
    InvalidInputError,
    OrthancError,
    RedirectError,
    UnexpectedAnswerError,
    UnknownRouteError,
    UnsupportedByServerError,
    error_for_decoding,
    error_for_response,
    error_for_transport,
    is_unknown_route_answer,
)
from ..._core.fastpath.connections import DirectOrigin, direct_origin
from ..._core.fastpath.node_posts import NodesPoster
from ..._core.fastpath.posts import DirectPoster, direct_poster
from ..._core.nodes import Node, NodePool, node_failed, pinned
from ..._core.operation import Operation
from ..._core.prepare import PreparedRequest, custom_operation, prepare_request
from ..._core.retry import RetryPolicy
from ..._core.settings import (
    DEFAULT_MAX_CONNECTIONS,
    ClientSettings,
    checked_max_connections,
    resolve_settings,
)
from ..._core.timeouts import DEFAULT_TIMEOUT, CallTimeout, GuardedStream, call_timeout, deadline_error
from ..._core.tls import tls_context
from ..._core.types import NOT_GIVEN, NotGiven, QueryParams, RawContent, TimeoutTypes
from ..._generated.async_api import AsyncOrthancAPI
from ..._generated.operations import GET_SYSTEM, OLDEST_SPEC_VERSION

if TYPE_CHECKING:
    from ..._dicomweb._async.dicomweb import AsyncDicomWeb
    from ..._selection._async.selection import Selection

logger = logging.getLogger("orthanc_client")
MAX_REDIRECTS = 10


class AsyncOrthanc(AsyncOrthancAPI):
    """A connection to one Orthanc server, with every REST route as a method.

    With no arguments it reads ``ORTHANC_URL``, ``ORTHANC_USERNAME`` and ``ORTHANC_PASSWORD`` (or
    ``ORTHANC_TOKEN``), falling back to ``http://localhost:8042``. It owns one connection pool: use it as a
    context manager, or call ``aclose()``.

    Example::

        async with AsyncOrthanc() as client:   # ORTHANC_URL...; or AsyncOrthanc("http://localhost:8042", "orthanc", "orthanc")
            system = await client.get_system()
            studies = await client.post_tools_find({"Level": "Study", "Query": {}, "Expand": True})

    Args:
        url: the server, e.g. ``https://pacs.example.org/orthanc`` (a path prefix is kept); or a list of the
            nodes of one Orthanc cluster (same credentials on each): requests are spread over the healthy
            nodes, a job's requests go to the node that created it (see ``docs/cluster.md``).
        username, password: HTTP basic credentials. token: a bearer token instead.
        headers: headers sent with every request.
        timeout: seconds for the whole of each call (connecting, retries and every byte of the answer, streamed
            or not; connecting alone gives up after 10 s at most), or an ``httpx.Timeout``, which keeps httpx's
            meaning: limits per connect, per read, per write and per wait for a pooled connection, none for the
            whole call. The default, ``httpx.Timeout(connect=10, read=600, ...)``, waits up to 10 s to connect
            and 10 minutes for each read (archives and anonymizations are slow). ``None`` waits forever. A
            call's own ``timeout=`` replaces it for that call. Anything else (``-1``, ``nan``, ``inf``,
            ``"10"``) raises ``InvalidInputError``.
        verify: TLS verification: on by default (the system's CAs), ``False``, a CA bundle path (a file or
            a folder) or an ``ssl.SSLContext``; the bulk paths (upload, numpy) verify alike.
        retries: how many times to retry what is safe to retry, or a ``RetryPolicy``.
        max_connections: size of the connection pool (at least 1).
        follow_redirects: follow a redirect (301/302/303/307/308) to the same scheme, host and port, at most
            10 in a row; a redirect elsewhere still raises ``RedirectError``, so credentials are never sent to
            another server. 307/308 repeat the request as it was; 301/302/303 are followed for GET and HEAD
            only (a POST is never silently turned into a GET). By default every redirect raises
            ``RedirectError``: behind a proxy it is usually a login page, never the answer.
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
        follow_redirects: bool = False,
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
        if isinstance(balanced_nodes, bool) or not isinstance(balanced_nodes, int) or balanced_nodes < 1:
            raise InvalidInputError(f"balanced_nodes must be a whole number >= 1, got {balanced_nodes!r}")
        self._balanced_nodes = balanced_nodes
        self._settings = resolve_settings(urls[0], username, password, token, headers, timeout, retries)
        max_connections = checked_max_connections(max_connections)
        if not isinstance(follow_redirects, bool):
            raise InvalidInputError(f"follow_redirects must be True or False, got {follow_redirects!r}")
        self._follow_redirects = follow_redirects
        self._retry = self._settings.retry
        self._owns_transport = http_client is None
        # One SSLContext for the httpx pool and the bulk paths (``_core.fastpath``): they verify alike.
        self._verify = tls_context(verify)
        self._max_connections = max_connections
        # Several nodes: one httpx client per node (its own pool and base URL, so the bulk paths' direct
        # connections work per node too); None for one URL, so a single-server client pays nothing.
        self._nodes: NodePool | None = None
        self._node_http: list[httpx.AsyncClient] = []
        if len(urls) > 1:
            node_settings = [self._settings] + [
                resolve_settings(u, username, password, token, headers, timeout, retries) for u in urls[1:]
            ]
            self._nodes = NodePool([s.url for s in node_settings])
            self._node_http = [self._new_http_client(s) for s in node_settings]
            http_client = self._node_http[0]
        elif http_client is None:
            http_client = self._new_http_client(self._settings)
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

    def _new_http_client(self, settings: ClientSettings) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=settings.base_url,
            auth=settings.auth,
            headers=settings.headers,
            timeout=settings.timeout,
            verify=self._verify,
            # Orthanc closes idle connections after 1 s ("Keep-Alive: timeout=1"): forget them sooner, so a
            # POST (never retried) is not sent on a connection the server is closing.
            limits=httpx.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
                keepalive_expiry=0.5,
            ),
        )

    @property
    def nodes(self) -> list[str]:
        """The base URLs of the nodes this client spreads its requests over (one for a single-URL client).

        Example::

            async with AsyncOrthanc(["http://node-a:8042", "http://node-b:8042"], "orthanc", "orthanc") as cluster:
                assert len(cluster.nodes) == 2   # nothing is sent before the first request
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
            from ..._dicomweb._async.dicomweb import AsyncDicomWeb

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
        """Closes the connection pool (every node's)."""
        for http in self._node_http[1:]:
            await http.aclose()
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

    def select(self, **criteria: Any) -> Selection:
        """A ``Selection`` of this server's instances matching DICOM ``criteria`` (no request until read).

        Example::

            ct = client.select(PatientID="DEMOCT01", Modality="CT")
            print(await ct.counts(), await ct.values("SeriesDescription"))
            volume = await ct.select(SeriesNumber="1").array()
        """
        from ..._selection._async.selection import Selection

        return Selection(self, criteria)

    def _direct_origin(self) -> DirectOrigin | None:
        """Plain connections to the server for the bulk paths (blocking, from worker threads), when they can
        send what this client would; ``None`` otherwise (see ``orthanc_client._core.fastpath.connections``)."""
        if self._follow_redirects:  # redirects are judged and followed on the httpx path only
            return None
        if self._nodes is not None:  # one bulk call, one node: the next call goes to the next node
            return direct_origin(
                self._node_http[self._nodes.choose().index], owns_transport=True, verify=self._verify,
                max_connections=self._max_connections,
            )
        return direct_origin(
            self._http, owns_transport=self._owns_transport, verify=self._verify, max_connections=self._max_connections
        )

    def _direct_poster(self) -> DirectPoster | NodesPoster | None:
        """Like ``_direct_origin()``, for many blocking POSTs (the bulk upload); ``None`` when there is none."""
        if self._follow_redirects:
            return None
        if self._nodes is not None:
            return NodesPoster.for_nodes(self._nodes, self._node_http, verify=self._verify,
                                         max_connections=self._max_connections)
        return direct_poster(
            self._http, owns_transport=self._owns_transport, verify=self._verify, max_connections=self._max_connections
        )

    async def _request(self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any) -> Any:
        call = call_timeout(kwargs.pop("timeout", NOT_GIVEN), self._settings)
        prepared = prepare_request(operation, path_args, is_async=True, **kwargs)
        response = await self._send(prepared, call, stream=False)
        return decode_response(operation, response)

    async def _request_with_headers(
        self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any
    ) -> tuple[Any, httpx.Headers]:
        """As ``_request``, with the answer's headers: the resource layer reads revisions from ``ETag``."""
        call = call_timeout(kwargs.pop("timeout", NOT_GIVEN), self._settings)
        prepared = prepare_request(operation, path_args, is_async=True, **kwargs)
        response = await self._send(prepared, call, stream=False)
        return decode_response(operation, response), response.headers

    def _stream(self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any) -> AsyncStreamContext:
        call = call_timeout(kwargs.pop("timeout", NOT_GIVEN), self._settings)
        prepared = prepare_request(operation, path_args, is_async=True, **kwargs)
        return AsyncStreamContext(self, prepared, call)

    async def _check_supported(self, prepared: PreparedRequest) -> None:
        """Refuses, before sending, a route or argument that Orthanc's published specs prove the server lacks
        (asks the server's version only when some release could lack it)."""
        operation = prepared.operation
        # Below the oldest release the client is tested with, the version is not asked before every call of a
        # route 1.9.x lacks: such a server's 404 "Unknown resource" raises UnknownRouteError with its version.
        if not operation.may_be_refused(prepared.params, prepared.body_fields, floor=OLDEST_SPEC_VERSION):
            return
        version = await self.server_version()
        missing = operation.missing_on(version, prepared.params, prepared.body_fields)
        if missing is not None:
            raise UnsupportedByServerError(missing[0], missing[1], version)

    async def _unknown_route(self, operation: Operation, response: httpx.Response) -> UnknownRouteError | None:
        """The error for a 404 "Unknown resource" on a route the specs cannot vouch for on this server."""
        if operation is GET_SYSTEM or not is_unknown_route_answer(error_for_response(response)):
            return None
        try:
            version = await self.server_version()
        except OrthancError:
            return None  # the 404 is the caller's answer: a failing /system must not replace it
        return UnknownRouteError(response, version) if operation.unproven_on(version) else None

    async def _send(self, prepared: PreparedRequest, call: CallTimeout, *, stream: bool) -> httpx.Response:
        """Sends with retries; returns a successful answer (its body read unless ``stream``) or raises the typed
        error. The answer's body stream ends at the call's deadline and raises only typed errors."""
        await self._check_supported(prepared)
        attempt = 0
        params = prepared.params or None
        url: str | httpx.URL = prepared.url
        redirects = 0
        http = self._http
        node: Node | None = None
        tried: list[Node] = []
        lookups = 0
        while True:
            attempt += 1
            if self._nodes is not None:
                node = self._nodes.route(prepared.url, avoid=tried, method=prepared.method)
                http = self._node_http[node.index]
            request = http.build_request(
                prepared.method,
                url,
                # an empty list would still make httpx re-parse the URL to merge "no parameters"
                params=params,
                headers=prepared.headers,
                content=prepared.body(),
                timeout=call.for_attempt(),
            )
            if call.expired():
                raise deadline_error(request, call)
            started = time.perf_counter()
            try:
                # Redirects are judged here, never followed by httpx (it would follow them to any host).
                response = await http.send(request, stream=True, follow_redirects=False)
                response.stream = GuardedStream(response.stream, request, call)
                if not stream or not response.is_success:
                    await self._read_body(response)
            except httpx.TransportError as exc:
                # An answer cut off mid-body arrives typed (GuardedStream): decide on what httpx said.
                said = exc.__cause__ if isinstance(exc, OrthancError) else exc
                said_exc = said if isinstance(said, Exception) else exc
                failover = node is not None and node_failed(self._nodes, node, said_exc, tried)
                if not call.expired() and self._retry.should_retry(
                    attempt=attempt,
                    idempotent=prepared.idempotent,
                    replayable=prepared.replayable,
                    exception=said_exc,
                ):
                    if not failover:  # another node can take it at once; the same node needs a pause
                        await self._wait_before_retry(prepared, attempt, type(exc).__name__, call)
                    continue
                if isinstance(exc, OrthancError):
                    raise
                raise error_for_transport(exc, request) from None
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s -> %d (%.1f ms)", prepared.describe(), response.status_code, elapsed_ms)
            if node is not None:
                assert self._nodes is not None
                self._nodes.succeeded(node)
                if tried and not response.is_error:
                    self._nodes.found(prepared.url, node)
                if response.is_success and not stream and prepared.method == "POST":
                    self._nodes.note_answer(node, response.content)
            if is_redirect(response.status_code):
                url = self._redirect_target(response, prepared, redirects)
                params = None  # the Location carries its own query
                redirects += 1
                attempt = 0
                continue
            if response.is_success:  # any other 3xx (300, 304, 305...) is no answer either: an HTTPError
                try:
                    check_answer_headers(prepared.operation, response)
                except UnexpectedAnswerError:
                    await response.aclose()
                    raise
                return response
            await response.aclose()
            if response.status_code == 404 and self._look_elsewhere(prepared.url, node, tried, lookups):
                lookups += 1
                attempt -= 1  # looking for the node that owns a job is not a retry
                continue
            if not call.expired() and self._retry.should_retry(
                attempt=attempt,
                idempotent=prepared.idempotent,
                replayable=prepared.replayable,
                status_code=response.status_code,
            ):
                await self._wait_before_retry(prepared, attempt, str(response.status_code), call)
                continue
            if response.status_code == 404:
                unknown_route = await self._unknown_route(prepared.operation, response)
                if unknown_route is not None:
                    raise unknown_route
            raise error_for_response(response)

    def _look_elsewhere(self, path: str, node: Node | None, tried: list[Node], lookups: int) -> bool:
        """After a 404 for ``path``: whether to ask again, because it names a job or query that may live on
        another node (one of ours, or one behind a load balancer)."""
        if self._nodes is not None:
            return node is not None and self._nodes.look_elsewhere(path, node, tried)
        return 1 + lookups < 2 * self._balanced_nodes - 1 and NodePool.has_affinity(path)

    async def _read_body(self, response: httpx.Response) -> None:
        """Reads the whole body; a body that does not decode (a false ``Content-Encoding``) is a typed error."""
        try:
            await response.aread()
        except httpx.DecodingError as exc:
            await response.aclose()
            raise error_for_decoding(exc, response.request, "a body that decodes", response.headers.get("content-type")) from None
        except BaseException:
            await response.aclose()
            raise

    def _redirect_target(
        self, response: httpx.Response, prepared: PreparedRequest, redirects: int
    ) -> httpx.URL:
        """Where to send the same request next, or ``RedirectError`` when the redirect is not to be followed."""
        location = response.headers.get("location")
        if not self._follow_redirects or not location:
            raise RedirectError(response, None if location else "the answer has no Location header")
        target = response.url.join(location)
        if not same_origin(target, self._settings.base_url):
            raise RedirectError(response, "not followed: another scheme, host or port than the client's server")
        if redirects >= MAX_REDIRECTS:
            raise RedirectError(response, f"not followed: more than {MAX_REDIRECTS} redirects in a row")
        if response.status_code in (307, 308):
            if not prepared.replayable:
                raise RedirectError(response, "not followed: the request body cannot be sent again")
            return target
        if prepared.method not in ("GET", "HEAD"):
            raise RedirectError(response, f"not followed: a {prepared.method} is not turned into a GET")
        return target

    async def _wait_before_retry(self, prepared: PreparedRequest, attempt: int, reason: str, call: CallTimeout) -> None:
        delay = self._retry.delay(attempt)
        remaining = call.remaining()
        if remaining is not None:
            delay = max(0.0, min(delay, remaining))
        logger.info("%s failed (%s); retry %d in %.2f s", prepared.describe(), reason, attempt, delay)
        await _async_backend.sleep(delay)
