"""Every error orthanc-client raises: the tree below, rooted at ``OrthancError``.

::

    OrthancError
    ├── HTTPError                 Orthanc answered with an error status (also an httpx.HTTPStatusError)
    │   ├── RedirectError         3xx: the answer points elsewhere (a proxy, a login page); never taken as a result
    │   ├── BadRequestError       400: Orthanc refused the request (bad body, bad tag, ...)
    │   ├── UnauthorizedError     401: wrong or missing credentials
    │   ├── ForbiddenError        403
    │   ├── NotFoundError         404: unknown resource or route
    │   ├── ConflictError         409: revision conflict or concurrent store (never retried blindly)
    │   └── ServerError           5xx
    ├── TransportError            no answer at all (also an httpx.TransportError)
    │   ├── ConnectError          could not connect, or the connection dropped
    │   ├── RequestTimeoutError   connect/read/write/pool timeout, or the call's overall deadline
    │   └── ProtocolError         an answer that is not valid HTTP (the bulk fast path)
    ├── UnexpectedAnswerError     an answer that is not what the route gives: HTML for JSON, not DICOM, not a
    │                             zip, JSON that does not parse, a body that does not decode (also an
    │                             httpx.DecodingError)
    ├── UnsupportedByServerError  the route or an argument is newer than the connected Orthanc
    │   └── UnknownRouteError     Orthanc answered 404 "Unknown resource" for a route no spec vouches for
    │                             (also a NotFoundError)
    ├── JobFailedError            an Orthanc job ended in Failure (carries ErrorCode/ErrorDescription/ErrorDetails)
    ├── DicomNetworkError         a C-ECHO/C-FIND/C-MOVE/C-GET/C-STORE or peer call failed at the remote end
    ├── NotLoadedError            async only: a property needs data not loaded yet (await .load() / get_...())
    ├── JobTimeoutError           waiting for an Orthanc job took longer than asked (also a TimeoutError)
    ├── InvalidInputError         refused before sending: the argument is wrong (also a ValueError)
    │   └── SelectionError        a selection that cannot answer (also an IndexError)       [_selection.data]
    ├── BulkError             an upload or download in which some files failed           [_bulk.results]
    └── DicomWebError             a DICOMweb request failed                                  [_dicomweb.query]
        ├── DicomWebNotEnabledError  the server has no DICOMweb plugin
        └── MultipartError        a multipart answer that does not parse

The classes marked with a package (and their subclasses) live beside the feature that raises them (their data, such as a
``BulkResult``, belongs there and the core must not import features); every other class lives here.

``HTTPError`` carries Orthanc's own error description (``OrthancStatus``, ``OrthancError``, ``Message``,
``Details``) when the server sends one. Messages name the method and URL, never credentials.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from .redact import redact, redact_location, redact_url


class OrthancError(Exception):
    """Root of every error raised by orthanc-client.

    Every subclass survives ``pickle`` (errors cross process pools): the attributes are restored as they
    were, whatever the subclass's ``__init__`` takes.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(cls: type[OrthancError], args: tuple[Any, ...], state: dict[str, Any]) -> OrthancError:
    # Not cls(*args): most subclasses take other arguments than their message (a response, a result...).
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidInputError(OrthancError, ValueError):
    """An argument was refused before anything was sent to Orthanc; the message says which and why."""


class UnsupportedByServerError(OrthancError):
    """The connected Orthanc lacks the route, or a query argument or body field given to it.

    Raised before sending when Orthanc's published specs prove the server's release lacks it. Attributes:
    ``route`` (what was refused, e.g. ``"POST /tools/find with the body field 'Labels'"``),
    ``required_version`` (the release that brought it, ``None`` when unknown), ``server_version``.
    """

    def __init__(self, route: str, required_version: str | None, server_version: str) -> None:
        self.route = route
        self.required_version = required_version
        self.server_version = server_version
        super().__init__(
            f"{route} needs Orthanc {required_version} or newer; the server runs Orthanc {server_version}"
        )


class JobFailedError(OrthancError):
    """An Orthanc job ended in ``Failure``.

    Attributes:
        job_id: the job's identifier; job_type: e.g. ``"ResourceModification"``.
        error_code: Orthanc's numeric ``ErrorCode``; error_description: its ``ErrorDescription``;
        error_details: its ``ErrorDetails`` (Orthanc >= 1.11; often the most useful part), else ``None``.
        info: the whole last ``GET /jobs/{id}`` answer.
        hint: what to check, where the caller knows more than Orthanc's message says (else ``None``).
    """

    def __init__(self, job_id: str, info: dict[str, Any], hint: str | None = None) -> None:
        self.job_id = job_id
        self.info = info
        self.hint = hint
        self.job_type: str | None = info.get("Type")
        self.error_code: int | None = info.get("ErrorCode")
        self.error_description: str | None = info.get("ErrorDescription")
        self.error_details: str | None = info.get("ErrorDetails") or None
        text = f"Orthanc job {job_id} ({self.job_type or 'unknown type'}) failed"
        if self.error_description:
            text += f": {self.error_description}"
        if self.error_code is not None:
            text += f" (ErrorCode {self.error_code})"
        if self.error_details:
            text += f"; details: {self.error_details}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class NotLoadedError(OrthancError, RuntimeError):
    """Async API only: a property was read before the data it shows was loaded.

    The sync API loads on first access; async code cannot do I/O in a property, so the message names the
    ``await`` call to make first (``await study.load()``, ``await study.get_series()``...).
    """


class JobTimeoutError(OrthancError, TimeoutError):
    """Waiting for an Orthanc job took longer than the caller's ``timeout``; the job itself goes on.

    Attributes: job_id, timeout (seconds), state (the job's last known state, e.g. ``"Running"``),
    progress (percent).
    """

    def __init__(self, job_id: str, timeout: float, state: str | None, progress: int | None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.state = state
        self.progress = progress
        super().__init__(
            f"Orthanc job {job_id} still {state or 'unfinished'} ({progress if progress is not None else '?'}%)"
            f" after {timeout:g} s; it keeps running on the server (cancel() stops it)"
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
        self.url = redact_url(request.url)
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
        hint = self._hint()
        if hint:
            text += f". {hint}"
        return text

    def _hint(self) -> str | None:
        """What a person can do about it, where the status alone does not say (subclasses)."""
        return None

    def __str__(self) -> str:
        return str(self.args[0])


class RedirectError(HTTPError):
    """3xx: the server pointed elsewhere (``location``, credentials removed) instead of answering.

    A redirect is never taken as a result: behind a proxy it is often a login page. ``Orthanc(...,
    follow_redirects=True)`` follows redirects to the same scheme, host and port only, so that credentials
    are never sent to another server.
    """

    def __init__(self, response: httpx.Response, reason: str | None = None) -> None:
        location = response.headers.get("location")
        self.location: str | None = redact_location(response.url.join(location)) if location else None
        self.reason = reason
        super().__init__(response)

    def _describe(self, reason: str) -> str:
        text = f"{self.status_code} {reason}: {self.method} {self.url} redirects to {self.location or '(no Location)'}"
        return text + (f" ({self.reason})" if self.reason else " (pass follow_redirects=True to follow it)")


class BadRequestError(HTTPError):
    """400: Orthanc refused the request."""


class UnauthorizedError(HTTPError):
    """401: wrong or missing credentials."""

    def _hint(self) -> str | None:
        return (
            "The server refused the credentials: give them as Orthanc(url, username, password) (or token=...), "
            "or set ORTHANC_USERNAME and ORTHANC_PASSWORD (or ORTHANC_TOKEN); on the command line, "
            "--username and --password"
        )


class ForbiddenError(HTTPError):
    """403: the credentials are not allowed this call."""


class NotFoundError(HTTPError):
    """404: the resource (or route) does not exist."""

    def _hint(self) -> str | None:
        found = _RESOURCE_IN_PATH.findall(httpx.URL(self.url).path)
        if not found:
            return None
        plural, resource_id = found[-1]
        return f"No {_SINGULAR[plural]} with the ID {resource_id} on this server"


_RESOURCE_IN_PATH = re.compile(r"/(patients|studies|series|instances)/([^/]+)")
_SINGULAR = {"patients": "patient", "studies": "study", "series": "series", "instances": "instance"}


class UnknownRouteError(UnsupportedByServerError, NotFoundError):
    """Orthanc answered 404 "Unknown resource" for a route that no published spec vouches for on this server
    (a plugin route whose plugin is not loaded, an undocumented route, a newer release's route).

    It is also a ``NotFoundError``: Orthanc gives the same answer for a few unknown resources under such
    routes, so code that handles a missing resource keeps working.
    """

    def __init__(self, response: httpx.Response, server_version: str) -> None:
        HTTPError.__init__(self, response)
        self.route = f"{self.method} {response.request.url.path}"
        self.required_version = None
        self.server_version = server_version
        self.args = (
            f"{self.route}: Orthanc {server_version} answered 404 Unknown resource: it does not serve this route "
            f"(a plugin that is not loaded, or a newer Orthanc's route), or the resource is unknown",
        )


def is_unknown_route_answer(error: HTTPError) -> bool:
    """Orthanc's answer to a URI that no route matches: 404 with ``OrthancStatus`` 17 and the ``Uri`` (checked on
    1.10.1 and 1.12.7; a missing resource under a known route answers 404 with an empty body)."""
    return (
        error.status_code == 404
        and error.orthanc_status == 17
        and isinstance(error.body, dict)
        and "Uri" in error.body
    )


class ConflictError(HTTPError):
    """409: a revision conflict (``If-Match``) or a concurrent store of the same instance."""


class ServerError(HTTPError):
    """5xx: Orthanc failed (or a proxy in front of it did)."""


class DicomNetworkError(OrthancError):
    """Orthanc could not complete a DICOM network operation (C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE) or reach
    a peer: the remote refused the association, is down, or answered with an error.

    Attributes:
        remote: the modality or peer name; operation: e.g. ``"C-ECHO"``.
        details: Orthanc's ``Details`` (e.g. ``DicomAssociation - connecting to AET "PACS": ... refused``).
        orthanc_status: Orthanc's error code, when it sent one.
    """

    def __init__(
        self, remote: str, operation: str, details: str | None, orthanc_status: int | None = None
    ) -> None:
        self.remote = remote
        self.operation = operation
        self.details = details
        self.orthanc_status = orthanc_status
        super().__init__(f"{operation} with {remote!r} failed: {details or 'no details from Orthanc'}")

    @classmethod
    def from_http_error(cls, remote: str, operation: str, error: HTTPError) -> DicomNetworkError:
        return cls(remote, operation, error.details or error.message or str(error), error.orthanc_status)


class TransportError(OrthancError, httpx.TransportError):
    """No answer from the server. ``url`` names what was asked."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        self.url = redact_url(request.url) if request is not None else None
        self.method = request.method if request is not None else None
        super().__init__(message, request=request)


class ConnectError(TransportError):
    """Could not connect to Orthanc, or the connection dropped before an answer came."""


class RequestTimeoutError(TransportError):
    """A connect, read, write or pool timeout expired."""


class ProtocolError(TransportError):
    """The server's answer could not be taken for an HTTP answer (e.g. two ``Content-Length`` that disagree,
    a body shorter than announced), seen by the bulk fast path. Not retried blindly: asking again usually gets
    the same answer."""


class UnexpectedAnswerError(OrthancError, httpx.DecodingError):
    """The server answered, but not with what the route gives: an HTML page where JSON was due (a login page
    behind a proxy), a body that is not DICOM on a DICOM route, no zip on an archive route, JSON that does not
    parse, a body that does not match its ``Content-Encoding``. Such an answer is never used or stored.

    Attributes: method, url (no credentials), status_code, content_type (as sent, may be empty), expected
    (``"JSON"``, ``"DICOM"``, ``"a zip archive"``...), problem (what was wrong, in words).
    """

    def __init__(
        self,
        problem: str,
        *,
        method: str | None,
        url: str | None,
        expected: str,
        content_type: str | None = None,
        status_code: int | None = None,
        request: httpx.Request | None = None,
    ) -> None:
        self.problem = problem
        self.method = method
        self.url = url
        self.expected = expected
        self.content_type = content_type or ""
        self.status_code = status_code
        where = f"{method} {url}" if method else (url or "the request")
        sent = f" (Content-Type {self.content_type!r})" if self.content_type else " (no Content-Type)"
        super().__init__(f"{where} answered something that is not {expected}: {problem}{sent}", request=request)


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


def error_for_transport(
    exc: httpx.TransportError, request: httpx.Request, *, reading: bool = False
) -> TransportError:
    """The typed error for a failure to get an answer; ``reading``: the answer had begun and was cut off."""
    where = f"{request.method} {redact_url(request.url)}"
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__  # ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout
        during = " while reading the answer" if reading else ""
        return RequestTimeoutError(f"{kind}{during} after waiting for Orthanc: {where}", request=request)
    reason = redact(str(exc)) or type(exc).__name__
    if reading:
        return ConnectError(f"the answer was cut off ({reason}): {where}", request=request)
    return ConnectError(f"cannot reach Orthanc ({reason}): {where}", request=request)


def error_for_decoding(exc: Exception, request: httpx.Request, expected: str, content_type: str | None) -> UnexpectedAnswerError:
    """The typed error for a body that does not decode (bad JSON, bad text, a false ``Content-Encoding``)."""
    problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return UnexpectedAnswerError(
        problem[:300], method=request.method, url=str(request.url), expected=expected,
        content_type=content_type, request=request,
    )


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
