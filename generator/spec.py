"""Reading Orthanc OpenAPI specs into a list of ``Operation`` records the templates can render.

Several specs are merged: every operation documented by any of them is generated, described by the newest
spec that has it. ``since`` (the first release that has a route, a query argument or a body field) comes
from every published release's spec (``openapi/history/since.json``, see ``history.py``) and from the pinned
binaries' own output; ``absent_through`` is the newest published release whose spec proves the route or
argument absent, so that the client refuses a call only on a server that truly lacks it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import naming, overrides, undocumented
from .history import History

HTTP_METHODS = ("get", "post", "put", "delete")
JSON_TYPES = {"application/json"}
TEXT_TYPES = {"text/plain"}


@dataclass(frozen=True)
class Parameter:
    name: str  # as Orthanc spells it
    python_name: str
    location: str  # "path", "query" or "header"
    annotation: str  # Python type, without "| None"
    description: str
    presence_flag: bool = False  # Orthanc only checks that the argument is present ("If present, ...")


@dataclass(frozen=True)
class Field:
    json_name: str
    python_name: str
    annotation: str
    description: str
    since: str = ""  # set when newer than the route: older servers refuse a body that sets it


@dataclass(frozen=True)
class BodyModel:
    name: str
    description: str
    fields: tuple[Field, ...]


@dataclass
class Operation:
    name: str
    method: str  # upper case
    path: str
    summary: str
    description: str
    tags: tuple[str, ...]
    deprecated: bool
    path_params: tuple[Parameter, ...]
    query_params: tuple[Parameter, ...]
    header_params: tuple[Parameter, ...]
    body_kind: str | None  # "json", "text", "binary" or None
    body_description: str
    body_model: BodyModel | None
    body_is_object: bool  # Orthanc expects a JSON object: send {} when the caller gives no body
    response_kind: str  # "json", "text", "binary", "mixed" or "none"
    response_description: str
    since: str = ""  # first release known to serve it ("" when no spec and no binary tells)
    absent_through: str = ""  # newest published release whose spec proves it absent ("" when none does)
    # (name, since, absent_through) of the arguments newer than the route itself
    query_since: tuple[tuple[str, str, str], ...] = ()
    body_since: tuple[tuple[str, str, str], ...] = ()
    query_as_before: tuple[tuple[str, str], ...] = ()  # (name, value) that older releases act on anyway
    documented_in: list[str] = field(default_factory=list)

    @property
    def streamable(self) -> bool:
        return self.response_kind in ("binary", "mixed")

    @property
    def constant(self) -> str:
        return naming.constant_name(self.name)

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "PUT", "DELETE") or (
            self.method == "POST" and self.path in overrides.SAFE_POSTS
        )


@dataclass(frozen=True)
class Spec:
    path: Path
    version: str
    sha256: str
    document: dict[str, Any]
    undocumented: tuple[tuple[str, str], ...] = ()


def load_spec(path: Path) -> Spec:
    """Reads a spec, and the list of routes its binary serves without documenting them, if it is beside it."""
    raw = path.read_bytes()
    document = json.loads(raw)
    version = str(document.get("info", {}).get("version", "")).strip()
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise ValueError(f"{path}: info.version is {version!r}, expected an Orthanc version like 1.12.7")
    if "paths" not in document:
        raise ValueError(f"{path}: not an OpenAPI document (no 'paths')")
    listing = path.with_name(path.stem + ".undocumented.txt")
    extra: list[tuple[str, str]] = []
    if listing.exists():
        for line in listing.read_text(encoding="utf-8").splitlines():
            method, _, route = line.strip().partition(" ")
            if route:
                extra.append((method.upper(), route))
    return Spec(path, version, hashlib.sha256(raw).hexdigest(), document, tuple(sorted(extra)))


def _spec_operations(spec: Spec) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (method.upper(), path, raw)
        for path, item in spec.document["paths"].items()
        for method, raw in item.items()
        if method in HTTP_METHODS
    ]
    documented = {(method, path) for method, path, _ in found}
    found += [
        (method, path, undocumented.describe(method, path))
        for method, path in spec.undocumented
        if (method, path) not in documented
    ]
    return found


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def merge_operations(specs: list[Spec], history: History | None = None) -> list[Operation]:
    """All operations of all specs, sorted by path then verb; each described by the newest spec that has it.

    Without ``history`` only the pinned specs date the routes (and nothing is proven absent)."""
    ordered = sorted(specs, key=lambda spec: version_key(spec.version))
    merged: dict[tuple[str, str], Operation] = {}
    evidence = _Evidence()
    for spec in ordered:  # oldest first: a newer spec's description replaces an older one
        for method, path, raw_op in _spec_operations(spec):
            key = (method, path)
            op = _operation(method, path, raw_op)
            evidence.record(spec.version, key, raw_op)
            previous = merged.get(key)
            if previous is not None and "Undocumented" in op.tags and "Undocumented" not in previous.tags:
                op = previous  # an older spec documented it: keep that description
            op.documented_in = [*(previous.documented_in if previous else []), spec.version]
            merged[key] = op
    for op in merged.values():
        _date(op, evidence, history)
    operations = sorted(merged.values(), key=lambda op: (op.path, HTTP_METHODS.index(op.method.lower())))
    _check_unique_names(operations)
    return operations


def _earliest(*versions: str | None) -> str:
    known = [v for v in versions if v]
    return min(known, key=version_key) if known else ""


@dataclass
class _Evidence:
    """What the pinned binaries say: the oldest of them documenting (or serving) each route and argument."""

    documented: dict[tuple[str, str], str] = field(default_factory=dict)
    served: dict[tuple[str, str], str] = field(default_factory=dict)
    query: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    body: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def record(self, version: str, key: tuple[str, str], raw_op: dict[str, Any]) -> None:
        # specs come oldest first: setdefault keeps the oldest
        self.served.setdefault(key, version)
        if "Undocumented" in raw_op.get("tags", []):
            return  # described from the Orthanc Book, not by the binary: its arguments prove nothing
        self.documented.setdefault(key, version)
        for parameter in raw_op.get("parameters", []):
            if parameter.get("in") == "query":
                self.query.setdefault(key, {}).setdefault(parameter["name"], version)
        content = (raw_op.get("requestBody") or {}).get("content", {})
        for name in content.get("application/json", {}).get("schema", {}).get("properties", {}):
            self.body.setdefault(key, {}).setdefault(name, version)


def _date(op: Operation, evidence: _Evidence, history: History | None) -> None:
    key = (op.method, op.path)
    route = f"{op.method} {op.path}"
    documented = _earliest(history.routes.get(route) if history else None, evidence.documented.get(key))
    op.since = _earliest(documented, evidence.served.get(key), overrides.SERVED_SINCE.get(key))
    if history is None or not documented or op.since != documented:
        # served before any spec documented it: the specs' silence before then proves nothing
        op.absent_through = ""
        return
    op.absent_through = history.absent_through(op.since)

    def newer(by_history: dict[str, str], by_binaries: dict[str, str]) -> tuple[tuple[str, str, str], ...]:
        """(name, since, absent_through) of the arguments documented after the route itself."""
        found = []
        for name in sorted(set(by_history) | set(by_binaries)):
            if (op.method, op.path, name) in overrides.ARGUMENTS_SERVED_SINCE:
                continue  # taken before it was documented: the specs' silence proves nothing
            since = _earliest(by_history.get(name), by_binaries.get(name))
            if version_key(since) <= version_key(documented):
                continue  # as old as the route: the route's own check covers it
            absent = history.absent_through(since)
            if absent:
                found.append((name, since, absent))
        return tuple(found)

    op.query_since = newer(history.query.get(route, {}), evidence.query.get(key, {}))
    op.body_since = newer(history.body.get(route, {}), evidence.body.get(key, {}))
    if op.body_model and op.body_since:
        newer_fields = {name: since for name, since, _ in op.body_since}
        op.body_model = replace(
            op.body_model,
            fields=tuple(replace(f, since=newer_fields.get(f.json_name, "")) for f in op.body_model.fields),
        )
    op.query_as_before = tuple(
        (name, overrides.ARGUMENTS_AS_BEFORE[(op.method, op.path, name)])
        for name, _, _ in op.query_since
        if (op.method, op.path, name) in overrides.ARGUMENTS_AS_BEFORE
    )


def _check_unique_names(operations: list[Operation]) -> None:
    seen: dict[str, Operation] = {}
    for op in operations:
        other = seen.setdefault(op.name, op)
        if other is not op:
            raise ValueError(
                f"{op.method} {op.path} and {other.method} {other.path} both map to the method name {op.name}"
            )


def _operation(method: str, path: str, raw: dict[str, Any]) -> Operation:
    name = naming.method_name(method, path)
    params = [_parameter(p) for p in raw.get("parameters", [])]
    by_name = {p.name: p for p in params if p.location == "path"}
    placeholders = re.findall(r"{([^}]+)}", path)
    # Positional order is the route's order, whatever order the spec lists them in.
    path_params = tuple(
        by_name.get(ph) or Parameter(ph, naming.python_identifier(ph), "path", "str", "")
        for ph in placeholders
    )
    body_kind, body_description, body_model, body_is_object = _body(name, raw.get("requestBody"))
    response_kind, response_description = _response(method, path, raw.get("responses", {}))
    return Operation(
        name=name,
        method=method,
        path=path,
        summary=_clean(raw.get("summary", "")),
        description=_clean(raw.get("description", "")),
        tags=tuple(raw.get("tags", [])),
        deprecated=bool(raw.get("deprecated", False)),
        path_params=path_params,
        query_params=tuple(sorted((p for p in params if p.location == "query"), key=lambda p: p.name)),
        header_params=tuple(sorted((p for p in params if p.location == "header"), key=lambda p: p.name)),
        body_kind=body_kind,
        body_description=body_description,
        body_model=body_model,
        body_is_object=body_is_object,
        response_kind=response_kind,
        response_description=response_description,
    )


def _parameter(raw: dict[str, Any]) -> Parameter:
    location = raw["in"]
    schema_type = raw.get("schema", {}).get("type", "string")
    description = _clean(raw.get("description", ""))
    annotation = {"boolean": "bool", "number": "float", "integer": "int"}.get(schema_type, "str")
    if schema_type == "number" and (location == "path" or raw["name"] in overrides.INTEGER_QUERY_PARAMETERS):
        annotation = "int"
    presence_flag = location == "query" and raw["name"] in overrides.PRESENCE_FLAGS
    if presence_flag:
        annotation = "bool | str"
    return Parameter(
        name=raw["name"],
        python_name=naming.python_identifier(raw["name"]),
        location=location,
        annotation=annotation,
        description=description,
        presence_flag=presence_flag,
    )


def _body(op_name: str, raw: dict[str, Any] | None) -> tuple[str | None, str, BodyModel | None, bool]:
    if not raw:
        return None, "", None, False
    content: dict[str, Any] = raw.get("content", {})
    types = set(content)
    if types & JSON_TYPES:
        schema = content["application/json"].get("schema", {})
        description = _clean(schema.get("description", ""))
        properties: dict[str, Any] = schema.get("properties", {})
        model = _body_model(op_name, description, properties) if properties else None
        return "json", description, model, bool(properties)
    if types and types <= TEXT_TYPES:
        return "text", _clean(content["text/plain"].get("schema", {}).get("description", "")), None, False
    descriptions = [_clean(v.get("schema", {}).get("description", "")) for v in content.values()]
    return "binary", " / ".join(d for d in descriptions if d), None, False


_FIELD_TYPES = {"boolean": "bool", "string": "str", "number": "int | float", "integer": "int", "object": "dict[str, Any]"}


def _field_annotation(schema: dict[str, Any]) -> str:
    schema_type = schema.get("type")
    if schema_type == "array":
        item = _field_annotation(schema.get("items", {}))
        return f"list[{item}]"
    return _FIELD_TYPES.get(schema_type or "", "Any")


def _body_model(op_name: str, description: str, properties: dict[str, Any]) -> BodyModel:
    fields = []
    seen: set[str] = set()
    for json_name in sorted(properties):
        python_name = naming.field_name(json_name)
        if python_name in seen:
            raise ValueError(f"{op_name}: two body properties map to the field name {python_name}")
        seen.add(python_name)
        prop = properties[json_name]
        fields.append(Field(json_name, python_name, _field_annotation(prop), _clean(prop.get("description", ""))))
    return BodyModel(naming.model_name(op_name), description, tuple(fields))


def _response(method: str, path: str, responses: dict[str, Any]) -> tuple[str, str]:
    if (method, path) in overrides.BINARY_RESPONSES:
        content: dict[str, Any] = responses.get("200", {}).get("content", {})
        return "binary", "; ".join(_clean(v.get("schema", {}).get("description", "")) for v in content.values())
    kinds = set()
    descriptions = []
    for code in sorted(responses):
        for content_type, value in sorted(responses[code].get("content", {}).items()):
            if content_type in JSON_TYPES:
                kinds.add("json")
            elif content_type in TEXT_TYPES:
                kinds.add("text")
            else:
                kinds.add("binary")
            description = _clean(value.get("schema", {}).get("description", ""))
            if description and description not in descriptions:
                descriptions.append(description)
    if not kinds:
        kind = "none"
    elif len(kinds) == 1:
        kind = kinds.pop()
    else:
        kind = "binary" if "binary" in kinds and "json" not in kinds else "mixed" if "binary" in kinds else "json"
    return kind, "; ".join(descriptions)


def _clean(text: str) -> str:
    return " ".join(str(text).split())
