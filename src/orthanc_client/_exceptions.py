"""Every error orthanc-client raises.

::

    OrthancError
    ├── HTTPError                 Orthanc answered with an error status (also an httpx.HTTPStatusError)
    │   ├── BadRequestError       400: Orthanc refused the request (bad body, bad tag, ...)
    │   ├── UnauthorizedError     401: wrong or missing credentials
    │   ├── ForbiddenError        403
    │   ├── NotFoundError         404: unknown resource or route
    │   ├── ConflictError         409: revision conflict or concurrent store (never retried blindly)
    │   └── ServerError           5xx
    ├── TransportError            no answer at all (also an httpx.TransportError)
    │   ├── ConnectError          could not connect, or the connection dropped
    │   └── RequestTimeoutError   connect/read/write/pool timeout
    ├── UnsupportedByServerError  the route is newer than the connected Orthanc
    └── InvalidInputError         refused before sending: the argument is wrong (also a ValueError)

``HTTPError`` carries Orthanc's own error description (``OrthancStatus``, ``OrthancError``, ``Message``,
``Details``) when the server sends one. Messages name the method and URL, never credentials.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


class OrthancError(Exception):
    """Root of every error raised by orthanc-client."""


class InvalidInputError(OrthancError, ValueError):
    """An argument was refused before anything was sent to Orthanc; the message says which and why."""


class UnsupportedByServerError(OrthancError):
    """The connected Orthanc is older than the release that introduced the route."""

    def __init__(self, route: str, required_version: str, server_version: str) -> None:
        self.route = route
        self.required_version = required_version
        self.server_version = server_version
        super().__init__(
            f"{route} needs Orthanc {required_version} or newer; the server runs Orthanc {server_version}"
        )


class HTTPError(OrthancError, httpx.HTTPStatusError):
    """Orthanc answered with an error status.

    Attributes:
        status_code: the HTTP status.
        method, url: the request (the URL never holds credentials).
        orthanc_status: Orthanc's numeric error code (``OrthancStatus``), if it sent one.
        orthanc_error: Orthanc's error name (``OrthancError``), e.g. ``"Unknown resource"``.
        message: Orthanc's ``Message``; details: Orthanc's ``Details`` (often the most useful part).
        body: the whole error answer, decoded JSON if it was JSON, else text.
    """

    def __init__(self, response: httpx.Response) -> None:
        request = response.request
        self.status_code = response.status_code
        self.method = request.method
        self.url = str(request.url)
        self.body = _decode_error_body(response)
        info = self.body if isinstance(self.body, dict) else {}
        self.orthanc_status: int | None = info.get("OrthancStatus")
        self.orthanc_error: str | None = info.get("OrthancError")
        self.message: str | None = info.get("Message")
        self.details: str | None = info.get("Details")
        super().__init__(self._describe(response.reason_phrase), request=request, response=response)

    def _describe(self, reason: str) -> str:
        text = f"{self.status_code} {reason}: {self.method} {self.url}"
        if self.orthanc_error or self.message:
            text += f": {self.message or self.orthanc_error}"
            if self.orthanc_status is not None:
                text += f" (OrthancStatus {self.orthanc_status})"
        elif isinstance(self.body, str) and self.body.strip():
            text += f": {self.body.strip()[:300]}"
        if self.details:
            text += f"; details: {self.details}"
        return text

    def __str__(self) -> str:
        return str(self.args[0])


class BadRequestError(HTTPError):
    """400: Orthanc refused the request."""


class UnauthorizedError(HTTPError):
    """401: wrong or missing credentials."""


class ForbiddenError(HTTPError):
    """403: the credentials are not allowed this call."""


class NotFoundError(HTTPError):
    """404: the resource (or route) does not exist."""


class ConflictError(HTTPError):
    """409: a revision conflict (``If-Match``) or a concurrent store of the same instance."""


class ServerError(HTTPError):
    """5xx: Orthanc failed (or a proxy in front of it did)."""


class TransportError(OrthancError, httpx.TransportError):
    """No answer from the server. ``url`` names what was asked."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        self.url = str(request.url) if request is not None else None
        self.method = request.method if request is not None else None
        super().__init__(message, request=request)


class ConnectError(TransportError):
    """Could not connect to Orthanc, or the connection dropped before an answer came."""


class RequestTimeoutError(TransportError):
    """A connect, read, write or pool timeout expired."""


_STATUS_CLASSES: dict[int, type[HTTPError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
}


def error_for_response(response: httpx.Response) -> HTTPError:
    """The typed error for an error answer (its body must have been read)."""
    cls = _STATUS_CLASSES.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else HTTPError
    return cls(response)


def error_for_transport(exc: httpx.TransportError, request: httpx.Request) -> TransportError:
    where = f"{request.method} {request.url}"
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__  # ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout
        return RequestTimeoutError(f"{kind} after waiting for Orthanc: {where}", request=request)
    reason = str(exc) or type(exc).__name__
    return ConnectError(f"cannot reach Orthanc ({reason}): {where}", request=request)


def _decode_error_body(response: httpx.Response) -> Any:
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - a body we can't decode must not hide the status
        return None
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
