"""Is this answer what the route gives? Checks on a status, headers and the first bytes of a body, with no I/O.

A proxy in front of Orthanc can answer in Orthanc's place: a redirect to a login page, the login page itself
with a 200, an error page. Such an answer must never be taken for a result (a ``.dcm`` file holding HTML, a
``None`` taken for "stored"). The httpx path (``AsyncOrthanc._send`` and the streamed answers) and the callers
of the bulk fast path (upload, download, numpy) call the functions here, so that both paths judge alike.

Each check returns ``None`` when the answer is acceptable, or the problem in words.

Example::

    kind = expected_kind("GET", "/instances/{id}/file", "binary")      # "dicom"
    print(problem_with_head(kind, b"<html>please log in</html>", complete=True))   # why it is not DICOM
    assert problem_with_head(kind, instance.get_file(), complete=True) is None
"""

from __future__ import annotations

import json as jsonlib
import re
from typing import Any, Literal

import httpx

from .errors import UnexpectedAnswerError
from .operation import Operation

AnswerKind = Literal["json", "dicom", "zip", "binary", "text", "none"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DICM_OFFSET = 128
DICOM_HEAD = DICM_OFFSET + 4
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; the end record of an empty archive
ZIP_HEAD = 4

EXPECTED_NAMES: dict[str, str] = {
    "json": "JSON",
    "dicom": "DICOM",
    "zip": "a zip archive",
    "binary": "binary data",
    "text": "text",
    "none": "an empty or JSON answer",
}

_DICOM_ROUTES = frozenset({"/instances/{id}/file", "/instances/{id}/modify"})
_ZIP_ROUTE = re.compile(r"/(archive|media|create-archive|create-media|create-media-extended)$")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def expected_kind(method: str, path: str, response: str) -> AnswerKind:
    """What a route answers, from its method, its path template and the spec's answer kind (``Operation``)."""
    if path in _DICOM_ROUTES:
        return "dicom"
    if response in ("binary", "mixed") and _ZIP_ROUTE.search(path):
        return "zip"
    if response in ("json", "text", "none"):
        return response  # type: ignore[return-value]  # checked just above
    return "binary"


def media_type(content_type: str | None) -> str:
    """``"application/json; charset=utf-8"`` -> ``"application/json"``."""
    return (content_type or "").split(";")[0].strip().lower()


def is_json_type(content_type: str | None) -> bool:
    media = media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def is_html_type(content_type: str | None) -> bool:
    return media_type(content_type) in _HTML_TYPES


def is_redirect(status_code: int) -> bool:
    return status_code in REDIRECT_STATUSES


def problem_with_headers(kind: AnswerKind, content_type: str | None, *, documented: bool = True) -> str | None:
    """Judges an answer by its ``Content-Type`` before any byte of its body is used.

    HTML is never an answer of Orthanc's REST API (it is a login or error page from something in front of it).
    A documented JSON route must say JSON (an empty body with no type is accepted, see ``problem_with_body``);
    a route that may answer a job instead of a file (``POST .../archive``) says JSON then, which is fine.
    ``documented=False`` (``client.request`` on a route the spec does not know) only refuses HTML.
    """
    if is_html_type(content_type):
        return "an HTML page (a login or error page from a proxy?)"
    if kind == "json" and documented and content_type and not is_json_type(content_type):
        return f"a {media_type(content_type)} body"
    return None


def problem_with_body(kind: AnswerKind, content_type: str | None, body: bytes, *, documented: bool = True) -> str | None:
    """Judges a whole (non-streamed) answer: its headers, then its first bytes."""
    problem = problem_with_headers(kind, content_type, documented=documented)
    if problem is not None:
        return problem
    if kind == "json" and documented and body.strip() and not is_json_type(content_type):
        return "a body without a JSON Content-Type"
    return problem_with_head(kind, body, complete=True, content_type=content_type)


def head_size(kind: AnswerKind) -> int:
    """How many first bytes ``problem_with_head`` needs to judge a ``kind`` answer (0: it needs none)."""
    return DICOM_HEAD if kind == "dicom" else ZIP_HEAD if kind == "zip" else 0


def problem_with_head(
    kind: AnswerKind, head: bytes, *, complete: bool, content_type: str | None = None
) -> str | None:
    """Judges the first bytes of a DICOM or zip answer; ``complete``: ``head`` is the whole body.

    DICOM: ``DICM`` at offset 128 (Orthanc stores and serves Part 10 files, preamble included). Zip: a local
    file header or, for an empty archive, the end record. A ``"mixed"`` archive route that answered JSON (a
    job) is not judged here. With fewer bytes than ``head_size(kind)`` and more to come, nothing is decided.
    """
    needed = head_size(kind)
    if not needed or (kind == "zip" and is_json_type(content_type)):
        return None
    if len(head) < needed:
        if not complete:
            return None
        return f"a body of {len(head)} bytes, too short to be {EXPECTED_NAMES[kind]}"
    if kind == "dicom" and head[DICM_OFFSET:DICOM_HEAD] != b"DICM":
        return f"no 'DICM' at offset {DICM_OFFSET} (starts with {_preview(head)})"
    if kind == "zip" and head[:ZIP_HEAD] not in ZIP_MAGICS:
        return f"no zip signature (starts with {_preview(head)})"
    return None


def _preview(head: bytes) -> str:
    return repr(head[:24])


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Same scheme, host and port (the default port of the scheme when none is written)."""
    return (a.scheme, a.host, _port(a)) == (b.scheme, b.host, _port(b))


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


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
