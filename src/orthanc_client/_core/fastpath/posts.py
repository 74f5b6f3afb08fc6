"""The bulk upload's HTTP path: many ``POST``s from worker threads over the direct pool (``connections``).

Why not the client's httpx pool: on a 2-core machine that also runs Orthanc, the client's CPU per request
competes with the server's. Measured with 500 x 100 KB files and 8 threads (Orthanc 1.10.1): httpx 0.83-0.92
s, httpcore's pool used directly 0.68-0.71 s, a plain connection per thread (``connections``) 0.58-0.62 s;
with asyncio, 8 connections took 0.84 s (httpcore) to 0.99 s (httpx). So both ``upload`` functions post from
threads, for the asyncio client too (its event loop only coordinates).

A ``DirectPoster`` sends what the client would send (``connections.direct_origin`` says when it can: not
with a caller's own httpx client, event hooks, cookies, an authentication flow other than basic or an
environment proxy). The upload then posts through the client instead. Errors are the client's typed errors.
"""

from __future__ import annotations

import json
import ssl
from typing import IO, Any

import httpx

from ..answers import is_redirect
from ..errors import (
    ProtocolError,
    RedirectError,
    UnexpectedAnswerError,
    error_for_response,
    error_for_transport,
)
from ..redact import redact_url
from .connections import DirectOrigin, DirectProtocolError, DirectReadError, direct_origin, post

IDEMPOTENT_POSTS = frozenset({"instances"})
"""Paths where a duplicate POST is harmless: Orthanc stores the same instance again (``AlreadyStored``)."""


def direct_poster(
    http_client: httpx.Client | httpx.AsyncClient,
    *,
    owns_transport: bool,
    verify: Any = True,
    max_connections: int = 32,
) -> DirectPoster | None:
    """A poster sending exactly what ``http_client`` would, or ``None`` when that is not possible (module doc)."""
    origin = direct_origin(
        http_client, owns_transport=owns_transport, verify=verify, max_connections=max_connections
    )
    return None if origin is None else DirectPoster(origin, str(http_client.base_url))


class DirectPoster:
    """Posts bodies to paths under the server's base URL; safe to share between threads.

    Each post takes an idle connection (or opens one) and gives it back: as many connections as posts ever
    ran at once, whichever threads made them (an upload may run batch after batch on new threads).

    Example::

        poster = direct_poster(client.http_client, owns_transport=True)
        dicom_bytes = instance.get_file()
        answer = poster.post("instances", dicom_bytes, len(dicom_bytes))  # Orthanc's JSON answer, or a typed error
        print(answer["Status"])                                           # AlreadyStored
        poster.close()
    """

    def __init__(self, origin: DirectOrigin, base_url: str) -> None:
        self._origin = origin
        self._base_url = base_url  # for error messages: no credentials in it

    def __repr__(self) -> str:
        return f"DirectPoster(url={self._base_url!r})"  # never the headers: they hold the credentials

    def close(self) -> None:
        """Closes the idle connections (all of them, once no post is running)."""
        self._origin.close()

    def post(self, path: str, body: bytes | IO[bytes], size: int) -> Any:
        """Sends ``body`` (bytes, or a binary file streamed from its current position, ``size`` bytes long)
        and returns the decoded JSON answer. Raises the client's ``HTTPError``/``TransportError`` subclasses:
        any answer but a 2xx is an ``HTTPError`` (a redirect a ``RedirectError``), an answer that is not HTTP a
        ``ProtocolError``, one that is not JSON (a proxy's login page) an ``UnexpectedAnswerError``. Only paths in ``IDEMPOTENT_POSTS`` are ever sent twice (module ``connections``)."""
        url = self._base_url + path
        try:
            status, headers, content = post(self._origin, path, body, size, idempotent=path in IDEMPOTENT_POSTS)
        except DirectProtocolError as exc:
            request = httpx.Request("POST", url)  # for the error only: building one costs 0.1 ms a post
            raise ProtocolError(f"Orthanc's answer is not valid HTTP ({exc}): POST {url}", request=request) from None
        except (OSError, DirectReadError) as exc:
            request = httpx.Request("POST", url)
            failure: httpx.TransportError
            if isinstance(exc, TimeoutError):
                failure = httpx.ReadTimeout(str(exc) or "timed out", request=request)
            elif isinstance(exc, ssl.SSLCertVerificationError):
                failure = httpx.ConnectError(f"TLS certificate verification failed: {exc.verify_message}",
                                             request=request)
            else:
                failure = httpx.NetworkError(str(exc) or type(exc).__name__, request=request)
            raise error_for_transport(failure, request) from None
        if not 200 <= status < 300:
            response = httpx.Response(status, headers=headers, content=content, request=httpx.Request("POST", url))
            # never followed here: a client that follows redirects posts through httpx (see the client)
            raise RedirectError(response) if is_redirect(status) else error_for_response(response)
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError:
            raise UnexpectedAnswerError(
                f"{len(content)} bytes that do not parse as JSON",
                method="POST",
                url=redact_url(url),
                expected="JSON",
                content_type=headers.get("content-type"),
                status_code=status,
                request=httpx.Request("POST", url),
            ) from None
