"""The bulk upload's HTTP path: many ``POST``s from worker threads over plain connections (``_direct_http``).

Why not the client's httpx pool: on a 2-core machine that also runs Orthanc, the client's CPU per request
competes with the server's. Measured with 500 x 100 KB files and 8 threads (Orthanc 1.10.1): httpx 0.83-0.92
s, httpcore's pool used directly 0.68-0.71 s, a plain connection per thread (``_direct_http``) 0.58-0.62 s;
with asyncio, 8 connections took 0.84 s (httpcore) to 0.99 s (httpx). So both ``upload`` functions post from
threads, for the asyncio client too (its event loop only coordinates).

A ``DirectPoster`` sends what the client would send (``_direct_http.direct_origin`` says when it can: not
with a caller's own httpx client, event hooks, cookies, an authentication flow other than basic, an
environment proxy or an ``https://`` server). The upload then posts through the client instead. Errors are
the client's typed errors.
"""

from __future__ import annotations

import json
import threading
from typing import IO, Any

import httpx

from ._direct_http import DirectConnection, DirectOrigin, DirectReadError, direct_origin
from ._exceptions import error_for_response, error_for_transport


def direct_poster(http_client: httpx.Client | httpx.AsyncClient, *, owns_transport: bool) -> DirectPoster | None:
    """A poster sending exactly what ``http_client`` would, or ``None`` when that is not possible (module doc)."""
    origin = direct_origin(http_client, owns_transport=owns_transport)
    return None if origin is None else DirectPoster(origin, str(http_client.base_url))


class DirectPoster:
    """Posts bodies to paths under the server's base URL; safe to share between threads.

    Each post takes an idle connection (or opens one) and gives it back: as many connections as posts ever
    ran at once, whichever threads made them (an upload may run batch after batch on new threads).

    Example::

        poster = direct_poster(client.http_client, owns_transport=True)
        answer = poster.post("instances", dicom_bytes, len(dicom_bytes))  # Orthanc's JSON answer, or a typed error
        poster.close()
    """

    def __init__(self, origin: DirectOrigin, base_url: str) -> None:
        self._origin = origin
        self._base_url = base_url  # for error messages: no credentials in it
        self._idle: list[DirectConnection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DirectPoster(url={self._base_url!r})"  # never the headers: they hold the credentials

    def close(self) -> None:
        """Closes the idle connections (all of them, once no post is running)."""
        with self._lock:
            connections, self._idle = self._idle, []
        for connection in connections:
            connection.close()

    def post(self, path: str, body: bytes | IO[bytes], size: int) -> Any:
        """Sends ``body`` (bytes, or a binary file streamed from its current position, ``size`` bytes long)
        and returns the decoded JSON answer. Raises the client's ``HTTPError``/``TransportError`` subclasses."""
        url = self._base_url + path
        with self._lock:
            connection = self._idle.pop() if self._idle else self._origin.connect()
        try:
            status, headers, content = connection.post(path, body, size)
        except (OSError, DirectReadError) as exc:
            request = httpx.Request("POST", url)
            failure: httpx.TransportError
            if isinstance(exc, TimeoutError):
                failure = httpx.ReadTimeout(str(exc) or "timed out", request=request)
            else:
                failure = httpx.NetworkError(str(exc) or type(exc).__name__, request=request)
            raise error_for_transport(failure, request) from None
        finally:
            with self._lock:
                self._idle.append(connection)  # closed after a failure: it reopens on its next use
        if status >= 400:
            response = httpx.Response(status, headers=headers, content=content, request=httpx.Request("POST", url))
            raise error_for_response(response)
        return json.loads(content) if content else None
