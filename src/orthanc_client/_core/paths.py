"""What may go into a URL path: every value a caller gives is checked for what it is, then escaped.

httpx collapses ``..`` segments and Orthanc decodes ``%2F`` before routing, so an unchecked name or ID can
address another route: ``remove_label("..")`` would send ``DELETE /studies/<id>``. Every path the client
builds, from a generated route or by hand, goes through this module before a request is made.

Each placeholder of a route has a *kind*, found from the route template and the placeholder's name in
:data:`ROUTE_KINDS` (``/studies/{id}`` holds an Orthanc ID, ``/jobs/{id}`` a UUID, ``.../labels/{label}`` a
label...). A value that does not match its kind raises ``InvalidInputError`` naming the parameter, the route
and the value, before anything is sent; a value that matches is percent-escaped, so it can only ever be one
segment of its own route (``{path}``, a DICOM tag path, is the one placeholder that spans segments).

Example::

    assert validated_segment("label", "reviewed") == "reviewed"
    try:
        validated_segment("label", "..", parameter="label", route="/studies/{id}/labels/{label}")
    except InvalidInputError as error:
        print(error)   # the path argument 'label' of /studies/{id}/labels/{label} is not a label (...): got '..'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .errors import InvalidInputError

_SHOWN_CHARACTERS = 60  # how much of a refused value a message repeats


@dataclass(frozen=True)
class SegmentKind:
    """What one path value may be: a full-match pattern and the words that tell the caller what was expected."""

    name: str
    pattern: re.Pattern[str]
    expected: str
    spans_segments: bool = False  # only tag paths: "/"-separated, each segment checked on its own
    # Most patterns admit only letters, digits, '_', '.' and '-', which quote() leaves alone: those values are
    # used as they are (this runs for every request). The kinds that admit more say so.
    escaped: bool = False




def _kind(name: str, pattern: str, expected: str, *, spans_segments: bool = False, escaped: bool = False) -> SegmentKind:
    return SegmentKind(name, re.compile(pattern), expected, spans_segments, escaped)


_TAG_SEGMENT = r"(?:[0-9A-Fa-f]{4}[,-]?[0-9A-Fa-f]{4}|[A-Za-z][A-Za-z0-9]{0,63}|[0-9]{1,9})"

KINDS: dict[str, SegmentKind] = {
    kind.name: kind
    for kind in (
        # Orthanc's own identifiers: a SHA-1 written as 5 groups of 8 lowercase hex digits.
        _kind("orthanc_id", r"[0-9a-f]{8}(?:-[0-9a-f]{8}){4}", "an Orthanc identifier (5 groups of 8 hex digits)"),
        # Jobs and query/retrieve handles are Toolbox::GenerateUuid() values.
        _kind("uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "a lowercase UUID"),
        # ServerToolbox::IsValidLabel (Orthanc 1.12): alphanumeric, '_' and '-', 1 to 64 characters.
        _kind("label", r"[A-Za-z0-9_-]{1,64}", "a label ([A-Za-z0-9_-], 1 to 64 characters)"),
        # Orthanc's configuration refuses other characters in the names of modalities and peers.
        _kind("symbolic_name", r"[A-Za-z0-9_-]{1,256}", "a modality or peer name ([A-Za-z0-9_-])"),
        # Metadata and attachments: a number, a built-in name or a name declared in UserMetadata/UserContentType.
        _kind(
            "metadata_name",
            r"(?!\.+\Z)[A-Za-z0-9_.-]{1,256}",
            "a metadata name or number ([A-Za-z0-9_.-], not only dots)",
        ),
        _kind(
            "attachment_name",
            r"(?!\.+\Z)[A-Za-z0-9_.-]{1,256}",
            "an attachment name or number ([A-Za-z0-9_.-], not only dots)",
        ),
        # Plugin names, job output keys, storage commitment transaction UIDs.
        _kind("name", r"(?!\.+\Z)[A-Za-z0-9_.-]{1,256}", "a name ([A-Za-z0-9_.-], not only dots)"),
        _kind("index", r"[0-9]{1,9}", "a number (0 or more)"),
        _kind(
            "tag_path",
            rf"{_TAG_SEGMENT}(?:/{_TAG_SEGMENT})*",
            "a DICOM tag path: tags (0010,0010 / 0010-0010 / 00100010 / a keyword) and item indexes joined "
            "by '/'",
            spans_segments=True,
            escaped=True,
        ),
        # Any other placeholder (a route of a newer Orthanc): one segment that cannot leave its route.
        _kind(
            "segment",
            r"(?!\.+\Z)[^/\\?#%\x00-\x1f\x7f]{1,1024}",
            "one path segment (no '/', '\\', '?', '#', '%', control characters, not only dots)",
            escaped=True,
        ),
    )
}

ROUTE_KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        # matched (in full) against the route template up to and including the placeholder
        (r"/(?:patients|studies|series|instances)/\{id\}", "orthanc_id"),
        (r"/(?:jobs|queries)/\{id\}", "uuid"),
        (r"/jobs/\{id\}/\{key\}", "name"),
        (r"/(?:modalities|peers)/\{id\}", "symbolic_name"),
        (r"/(?:plugins|storage-commitment)/\{id\}", "name"),
        (r"/.+/metadata/\{name\}", "metadata_name"),
        (r"/.+/attachments/\{name\}", "attachment_name"),
        (r"/.+/labels/\{label\}", "label"),
        (r"/instances/\{id\}/frames/\{frame\}", "index"),
        (r"/queries/\{id\}/answers/\{index\}", "index"),
        (r"/instances/\{id\}/content/\{path\}", "tag_path"),
    )
)

LEVEL_ROUTES = frozenset({"patients", "studies", "series", "instances"})


def shown(value: object) -> str:
    """A refused value as a message repeats it: its ``repr``, cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."


def kind_of(kind: str | SegmentKind) -> SegmentKind:
    if isinstance(kind, SegmentKind):
        return kind
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown path segment kind {kind!r}; known: {', '.join(KINDS)}") from None


@functools.lru_cache(maxsize=1024)
def placeholder_kinds(route: str) -> tuple[tuple[str, SegmentKind], ...]:
    """``(placeholder name, kind)`` for each placeholder of a route template, in order (cached per route)."""
    kinds = []
    for match in re.finditer(r"\{(\w+)\}", route):
        prefix = route[: match.end()]
        kind = next((name for pattern, name in ROUTE_KINDS if pattern.fullmatch(prefix)), "segment")
        kinds.append((match.group(1), KINDS[kind]))
    return tuple(kinds)


def validated_segment(
    kind: str | SegmentKind, value: object, *, parameter: str | None = None, route: str | None = None
) -> str:
    """``value`` checked against ``kind`` and percent-escaped, ready to be one segment of a path (or, for a
    tag path, the segments it names). Refused with ``InvalidInputError`` when it is anything else.

    Integers are accepted where digits are (frame numbers, metadata numbers); booleans never are.

    Example::

        path = f"/studies/{validated_segment('orthanc_id', study_id)}/labels/{validated_segment('label', 'reviewed')}"
    """
    segment_kind = kind_of(kind)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _refused(segment_kind, value, parameter, route, f"must be a string, not a {type(value).__name__}")
    if segment_kind.spans_segments and text.startswith("/"):
        text = text[1:]  # Orthanc's docs write tag paths with a leading '/': "/0008-1140/1/0008-1150"
    if not segment_kind.pattern.fullmatch(text):
        raise _refused(segment_kind, value, parameter, route, f"is not {segment_kind.expected}")
    if not segment_kind.escaped:
        return text
    return quote(text, safe="/" if segment_kind.spans_segments else "")


def _refused(
    kind: SegmentKind, value: object, parameter: str | None, route: str | None, why: str
) -> InvalidInputError:
    what = f"the path argument {parameter!r}" if parameter else f"the {kind.name.replace('_', ' ')}"
    where = f" of {route}" if route else ""
    return InvalidInputError(f"{what}{where} {why}: got {shown(value)}")


def resource_path(level_route: str, resource_id: object, *rest: str) -> str:
    """``/studies/<id>[/rest...]`` with the ID checked; ``rest`` are fixed route words of our own code.

    Example::

        resource_path("studies", study_id, "shared-tags")   # '/studies/<id>/shared-tags'
    """
    if level_route not in LEVEL_ROUTES:
        raise ValueError(f"not a resource level route: {level_route!r}")
    segment = validated_segment("orthanc_id", resource_id, parameter="id", route=f"/{level_route}/{{id}}")
    return "/".join((f"/{level_route}", segment, *rest))


def checked_raw_path(path: str) -> str:
    """A caller's own path for ``client.request()``/``stream()``: each segment must stay a segment.

    Refused: ``.``/``..`` segments (also percent-encoded: httpx and Orthanc would resolve them), empty
    segments, ``?`` and ``#`` (pass ``params=``), backslashes, control characters, and an encoded ``/``
    (``%2F``, which Orthanc decodes before routing). Percent-escapes of other characters are kept as given.
    """
    if not isinstance(path, str):
        raise InvalidInputError(f"the path must be a string, not a {type(path).__name__}: {shown(path)}")
    body = path[1:] if path.startswith("/") else path
    if not body:
        raise InvalidInputError(f"the path is empty: {shown(path)}")
    for character, why in (("?", "pass query arguments as params="), ("#", "a fragment is never sent")):
        if character in body:
            raise InvalidInputError(f"the path {shown(path)} holds {character!r}: {why}")
    _check_segments(body, path)
    return "/" + body


def checked_route(route: str) -> str:
    """A full URL or a path as the pyorthanc facade's ``_get``/``_post``/``_put``/``_delete`` take it: its path
    must not hold ``.``/``..``, empty or encoded-slash segments (the query, if any, is the caller's). Returns
    ``route`` unchanged."""
    if not isinstance(route, str):
        raise InvalidInputError(f"the route must be a string, not a {type(route).__name__}: {shown(route)}")
    path = re.split(r"[?#]", route, maxsplit=1)[0]
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*", path)
    if scheme:
        path = path[scheme.end() :]
    body = path[1:] if path.startswith("/") else path
    if body:  # the server's root itself is a route; a trailing '/' is the caller's habit, not a segment
        _check_segments(body[:-1] if body.endswith("/") else body, route)
    return route


def _check_segments(body: str, shown_path: str) -> None:
    for segment in body.split("/"):
        decoded = unquote(segment)
        if not segment:
            problem = "an empty segment"
        elif decoded.strip(".") == "":
            problem = f"a {segment!r} segment (it would address another route)"
        elif "/" in decoded or "\\" in decoded:
            problem = f"an encoded or back slash in {segment!r}"
        elif re.search(r"[\x00-\x1f\x7f]", decoded):
            problem = f"a control character in {segment!r}"
        else:
            continue
        raise InvalidInputError(f"the path {shown(shown_path)} holds {problem}")
