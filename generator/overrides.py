"""Corrections to what Orthanc's own OpenAPI output says, kept here instead of in hand-edited output.

Each entry names the route and the reason. Keys are ``(METHOD, path)``; a ``"*"`` method matches every verb.
"""

from __future__ import annotations

# Routes whose answer is binary although the spec documents ``text/plain`` or nothing. Binary answers are
# requested with ``Accept-Encoding: identity`` (Orthanc would deflate them on the fly, 20-45x slower) and can
# be streamed.
BINARY_RESPONSES: frozenset[tuple[str, str]] = frozenset(
    {
        # documented as text/plain, but the answer is a .npy/.npz file
        ("GET", "/instances/{id}/numpy"),
        ("GET", "/instances/{id}/frames/{frame}/numpy"),
        ("GET", "/series/{id}/numpy"),
        # 1.12.x documents no answer at all; it is a ZIP archive
        ("GET", "/tools/create-archive"),
        ("GET", "/tools/create-media"),
        ("GET", "/tools/create-media-extended"),
    }
)

# Path parameters whose value may itself contain ``/`` (e.g. ``0010-0010/0/0008-1150`` for a tag path).
SLASH_PATH_PARAMETERS: frozenset[str] = frozenset({"path"})

# Read-only POST routes: safe to retry after a dropped connection, unlike other POSTs.
SAFE_POSTS: frozenset[str] = frozenset({"/tools/find", "/tools/lookup", "/tools/count-resources"})

# Query arguments the spec calls "number" that Orthanc parses as integers ("1.0" would be refused).
INTEGER_QUERY_PARAMETERS: frozenset[str] = frozenset({"limit", "since", "quality", "lossy-quality", "width", "height"})

# Query arguments documented as strings that Orthanc only checks for presence ("If present, ..."): the methods
# take ``True`` for them, and ``False`` leaves them out.
PRESENCE_FLAGS: frozenset[str] = frozenset({"expand", "extended"})

# Routes that older releases serve although only a newer spec documents them: Orthanc's --openapi output
# leaves out wildcard routes, and a probe of Orthanc 1.10.1 answered this one (the other 22 routes first
# documented in 1.12.7 answer 404/405 there).
SERVED_SINCE: dict[tuple[str, str], str] = {
    ("GET", "/instances/{id}/content/{path}"): "1.10.1",
}

# Query arguments and body fields that releases took before their spec documented them, as
# ``(METHOD, path, name)``: never refused, whatever the server's version. Each was checked on a real Orthanc
# 1.10.1 (arguments it ignores, such as ``requested-tags`` or ``expand`` on child lists, are not here).
ARGUMENTS_SERVED_SINCE: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("GET", "/changes", "last"),  # documented in 1.12.5; 1.10.1 answers only the last change
        # documented in 1.12.4; 1.10.1 stores both and reports them in GET /modalities/{id}/configuration
        ("PUT", "/modalities/{id}", "LocalAet"),
        ("PUT", "/modalities/{id}", "Timeout"),
        # C-GET came in 1.12.6 and cannot work without its level; the 1.12.6 spec forgot to document it
        ("POST", "/modalities/{id}/get", "Level"),
    }
)

# Query arguments that older releases act on as if given with this value: sending exactly that value is
# honoured by every release, so it is not refused (any other value would be silently ignored, and is refused).
# Before 1.12.2 the child lists were always expanded; ``expand=false`` came with the argument (checked on 1.10.1).
ARGUMENTS_AS_BEFORE: dict[tuple[str, str, str], str] = {
    ("GET", f"/{level}/{{id}}/{children}", "expand"): "true"
    for level, children in (
        ("patients", "studies"),
        ("patients", "series"),
        ("patients", "instances"),
        ("studies", "series"),
        ("studies", "instances"),
        ("series", "instances"),
    )
}
