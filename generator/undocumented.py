"""Routes that Orthanc serves but whose ``--openapi`` output does not document.

Debian's Orthanc builds leave out the documentation of many read routes (``GET /system``, ``GET /patients``,
``GET /studies/{id}/series``, ...). ``tools/dump-openapi.sh`` records the binary's own list of them
(``openapi/orthanc-<version>.undocumented.txt``); this module describes them, as OpenAPI operation objects,
from the Orthanc Book's REST reference, so that they get typed methods like every other route.
"""

from __future__ import annotations

import re
from typing import Any

_LEVELS = "(patients|studies|series|instances)"


def _bool(name: str, description: str) -> dict[str, Any]:
    return {"in": "query", "name": name, "description": description, "required": False, "schema": {"type": "boolean"}}


def _number(name: str, description: str) -> dict[str, Any]:
    return {"in": "query", "name": name, "description": description, "required": False, "schema": {"type": "number"}}


def _string(name: str, description: str) -> dict[str, Any]:
    return {"in": "query", "name": name, "description": description, "required": False, "schema": {"type": "string"}}


EXPAND = _string("expand", "If present, retrieve detailed information about the resources, not only their identifiers")
FULL = _bool("full", "If present, report the DICOM tags in full format (indexed by hexadecimal tag, with names)")
SHORT = _bool("short", "If present, report the DICOM tags in hexadecimal format")
SIMPLIFY = _bool("simplify", "If present, report the DICOM tags in human-readable format (keyword -> value)")
SINCE = _number("since", "Show only the resources since the provided index")
LIMIT = _number("limit", "Limit the number of results")
REQUESTED_TAGS = _string(
    "requested-tags",
    "Semicolon-separated DICOM tags to report in `RequestedTags`, e.g. `0010,0010;PatientBirthDate` "
    "(new in Orthanc 1.11.0)",
)
TAG_FORMAT = [FULL, SHORT, SIMPLIFY]

# (method, regex on the path, summary, query parameters, answer content type, request body content type)
RULES: list[tuple[str, str, str, list[dict[str, Any]], str, str | None]] = [
    ("GET", r"/system", "Get system information (version, name, AET, ...)", [], "application/json", None),
    ("GET", r"/statistics", "Get database statistics (counts and disk size)", [], "application/json", None),
    ("GET", r"/plugins", "List the installed plugins", [], "application/json", None),
    ("GET", r"/plugins/{id}", "Get information about one plugin", [], "application/json", None),
    ("GET", r"/tools/now", "Get the server's current UTC time (DICOM format)", [], "text/plain", None),
    ("GET", r"/tools/now-local", "Get the server's current local time (DICOM format)", [], "text/plain", None),
    ("GET", r"/tools/metrics-prometheus", "Get the metrics in Prometheus text format", [], "text/plain", None),
    ("GET", r"/changes", "List the changes log", [SINCE, LIMIT, _bool("last", "Only the last change")],
     "application/json", None),
    ("GET", r"/jobs", "List the jobs", [EXPAND], "application/json", None),
    ("GET", rf"/{_LEVELS}", "List the resources of this level",
     [EXPAND, SINCE, LIMIT, FULL, SHORT, REQUESTED_TAGS], "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}", "Get information about the resource", [FULL, SHORT, REQUESTED_TAGS],
     "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/(patient|study|series|studies|instances)",
     "Get the parent or child resources of the resource", [EXPAND, FULL, SHORT, REQUESTED_TAGS],
     "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/(tags|simplified-tags|header|shared-tags|instances-tags|module|module-patient)",
     "Get DICOM tags of the resource", TAG_FORMAT, "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/statistics", "Get statistics about the resource (counts, disk size)", [],
     "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/metadata", "List the metadata of the resource",
     [EXPAND, _bool("numeric", "Report metadata by numeric index")], "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/labels", "List the labels of the resource", [], "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/attachments", "List the attachments of the resource",
     [FULL, _bool("numeric", "Report attachments by numeric index")], "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/attachments/{{name}}", "List the operations on one attachment", [],
     "application/json", None),
    ("GET", rf"/{_LEVELS}/{{id}}/attachments/{{name}}/info", "Get information about one attachment", [],
     "application/json", None),
    ("GET", r"/instances/{id}/frames", "List the frames of the instance", [], "application/json", None),
    ("GET", r"/series/{id}/ordered-slices", "Order the slices of the series (deprecated by Orthanc)", [],
     "application/json", None),
    ("GET", r"/instances/{id}/content", "List the first-level tags of the instance", [], "application/json", None),
    ("POST", r"/instances/{id}/export", "Write the DICOM file to the server's file system", [], "application/json",
     "text/plain"),
]


def describe(method: str, path: str) -> dict[str, Any]:
    """An OpenAPI operation object for an undocumented route (a bare one where no rule matches)."""
    matching = [rule for rule in RULES if rule[0] == method and re.fullmatch(rule[1], path)]
    _, _, summary, query, answer, body = (
        matching[0] if matching else (method, path, f"{method} {path}", [], "application/json", None)
    )
    path_params = [
        {"in": "path", "name": name, "required": True, "description": "", "schema": {"type": "string"}}
        for name in re.findall(r"{([^}]+)}", path)
    ]
    operation: dict[str, Any] = {
        "summary": summary,
        "description": "Served by Orthanc but left out of its --openapi output; arguments from the Orthanc Book.",
        "parameters": path_params + query,
        "responses": {"200": {"description": "", "content": {answer: {"schema": {"description": ""}}}}},
        "tags": ["Undocumented"],
    }
    if body:
        operation["requestBody"] = {"content": {body: {"schema": {"description": "Request body"}}}}
    return operation
