"""Routing rules: the YAML form of ``orthanc route``, checked before anything runs, and ``where`` matching.

No I/O besides reading the rules file. The form::

    routes:
      - name: research              # optional; default "route <n>"
        on: StableStudy             # one change type or a list
        where: {PatientID: "RT-*", StudyDate: "20240101-"}
        do:
          - anonymize: {pseudonyms: true, keep: [StudyDescription]}
          - modify: {replace: {InstitutionName: "Research"}}
          - label: routed
          - send: {peer: B}         # or {modality: PACS}, or {dicomweb: SERVER}
          - delete: true            # the source, only after every earlier action succeeded

``where`` uses the syntax of ``find_*``: ``*``/``?`` wildcards, ``A\\B`` lists, ``A-B`` date ranges (open on
one side: ``2024-``...), Python dates, numbers and lists in a Python dict; names (``...Name``) match
without regard to case, as Orthanc's find does by default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._core.errors import InvalidInputError
from .._dicom.query import dicom_value
from .._resources.modify import anonymize_body, modify_body

ROUTE_CHANGE_TYPES = frozenset({
    "NewInstance", "NewSeries", "NewStudy", "NewPatient", "StableSeries", "StableStudy", "StablePatient",
    "StableInstance",
})
SEND_TARGETS = ("peer", "modality", "dicomweb")
ACTIONS = ("send", "anonymize", "modify", "label", "delete")
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")
_SEND_OPTIONS = frozenset({*SEND_TARGETS, "timeout", "compress"})
_ANONYMIZE_OPTIONS = frozenset({"pseudonyms", "replace", "remove", "keep", "keep_private_tags", "dicom_version"})
_MODIFY_OPTIONS = frozenset({"replace", "remove", "keep", "remove_private_tags", "force"})


@dataclass(frozen=True)
class Action:
    """One step of a route: ``kind`` (``send``, ``anonymize``, ``modify``, ``label``, ``delete``) and its options."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "send":
            target = next(t for t in SEND_TARGETS if t in self.options)
            return f"send to {target} {self.options[target]}"
        if self.kind == "label":
            return f"label {', '.join(self.options['labels'])}"
        return self.kind


@dataclass(frozen=True)
class Route:
    """A rule: on these change types, for resources whose main tags match ``where``, run ``actions``."""

    index: int
    name: str
    on: frozenset[str]
    where: Mapping[str, str]
    actions: tuple[Action, ...]

    @property
    def needs_pseudonyms(self) -> bool:
        return any(a.kind == "anonymize" and a.options.get("pseudonyms") for a in self.actions)


def load_routes(path: str | os.PathLike[str]) -> list[Route]:
    """Reads and checks a rules file (YAML; needs PyYAML: ``pip install 'orthanc-client[cli]'``)."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("routing rules are YAML: pip install 'orthanc-client[cli]' (PyYAML)") from exc
    with open(path, encoding="utf-8") as file:
        try:
            data = yaml.safe_load(file)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{os.fspath(path)}: not valid YAML ({exc})") from None
    return parse_routes(data, source=os.fspath(path))


def parse_routes(data: Any, *, source: str = "rules") -> list[Route]:
    """The routes of the parsed YAML (or an equal Python structure), every mistake named with its place.

    >>> [r.name for r in parse_routes({"routes": [{"on": "StableStudy", "do": [{"send": {"peer": "B"}}]}]})]
    ['route 1']
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("routes"), list) or not data["routes"]:
        raise InvalidInputError(f"{source}: expected a mapping with a non-empty list under 'routes'")
    unknown = sorted(str(k) for k in data if k != "routes")
    if unknown:
        raise InvalidInputError(f"{source}: unknown top-level key(s) {', '.join(unknown)}")
    routes = [_parse_route(item, i, f"{source}: route {i + 1}") for i, item in enumerate(data["routes"])]
    names = [r.name for r in routes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInputError(f"{source}: route names must be unique ({', '.join(duplicates)})")
    return routes


def _parse_route(item: Any, index: int, where_am_i: str) -> Route:
    if not isinstance(item, Mapping):
        raise InvalidInputError(f"{where_am_i}: expected a mapping with 'on' and 'do'")
    # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean True.
    item = {("on" if key is True else key): value for key, value in item.items()}
    unknown = sorted(str(k) for k in item if k not in ("name", "on", "where", "do"))
    if unknown:
        raise InvalidInputError(f"{where_am_i}: unknown key(s) {', '.join(unknown)} (known: name, on, where, do)")
    name = str(item.get("name") or f"route {index + 1}")
    on = item.get("on")
    on_list = [on] if isinstance(on, str) else on
    if not isinstance(on_list, list) or not on_list:
        raise InvalidInputError(f"{where_am_i}: 'on' takes a change type or a list of them")
    bad = sorted(str(v) for v in on_list if v not in ROUTE_CHANGE_TYPES)
    if bad:
        raise InvalidInputError(
            f"{where_am_i}: unknown change type(s) {', '.join(bad)} in 'on' (known: {', '.join(sorted(ROUTE_CHANGE_TYPES))})"
        )
    where = item.get("where") or {}
    if not isinstance(where, Mapping):
        raise InvalidInputError(f"{where_am_i}: 'where' takes a mapping of DICOM keyword -> value")
    where_strings = {str(tag): dicom_value(value, tag=f"{where_am_i}: where {tag}") for tag, value in where.items()}
    steps = item.get("do")
    if not isinstance(steps, list) or not steps:
        raise InvalidInputError(f"{where_am_i}: 'do' takes a non-empty list of actions")
    actions = tuple(_parse_action(step, f"{where_am_i}, action {n + 1}") for n, step in enumerate(steps))
    if any(a.kind == "delete" for a in actions[:-1]):
        raise InvalidInputError(f"{where_am_i}: 'delete' must be the last action (it removes the source)")
    return Route(index, name, frozenset(on_list), where_strings, actions)


def _parse_action(step: Any, where_am_i: str) -> Action:
    if not isinstance(step, Mapping) or len(step) != 1:
        raise InvalidInputError(f"{where_am_i}: an action is a mapping with one key out of {', '.join(ACTIONS)}")
    ((kind, value),) = step.items()
    if kind not in ACTIONS:
        raise InvalidInputError(f"{where_am_i}: unknown action {kind!r} (known: {', '.join(ACTIONS)})")
    if kind == "label":
        labels = [value] if isinstance(value, str) else value
        if not isinstance(labels, list) or not labels or not all(isinstance(v, str) and _LABEL.match(v) for v in labels):
            raise InvalidInputError(f"{where_am_i}: label takes a label or a list of labels ([A-Za-z0-9_-]+)")
        return Action("label", {"labels": tuple(labels)})
    if kind == "delete":
        if value not in (True, None, {}):
            raise InvalidInputError(f"{where_am_i}: write 'delete: true' (it deletes the source resource)")
        return Action("delete", {})
    options = {} if value in (True, None) else value
    if not isinstance(options, Mapping):
        raise InvalidInputError(f"{where_am_i}: {kind} takes a mapping of options")
    options = dict(options)
    known = {"send": _SEND_OPTIONS, "anonymize": _ANONYMIZE_OPTIONS, "modify": _MODIFY_OPTIONS}[kind]
    unknown = sorted(str(k) for k in options if k not in known)
    if unknown:
        raise InvalidInputError(f"{where_am_i}: {kind} does not take {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if kind == "send":
        targets = [t for t in SEND_TARGETS if t in options]
        if len(targets) != 1 or not isinstance(options[targets[0]], str) or not options[targets[0]]:
            raise InvalidInputError(f"{where_am_i}: send takes exactly one of peer:, modality:, dicomweb: with a name")
    elif kind == "anonymize":
        checked = {k: v for k, v in options.items() if k != "pseudonyms"}
        anonymize_body(**checked, force=True)  # the same checks as Study.anonymize (a string for a list...)
    else:
        modify_body(**options)
    return Action(kind, options)


def main_tags_match(where: Mapping[str, str], tags: Mapping[str, Any]) -> bool:
    """Whether ``tags`` (``{keyword: value}``) match every condition of ``where`` (DICOM matching strings).

    >>> main_tags_match({"PatientID": "RT-*", "StudyDate": "20240101-"}, {"PatientID": "RT-7", "StudyDate": "20240102"})
    True
    >>> main_tags_match({"PatientID": "RT-*"}, {"PatientID": "XRT-7"})
    False
    >>> main_tags_match({"ModalitiesInStudy": "MR"}, {"ModalitiesInStudy": "CT\\\\MR"})
    True
    """
    return all(_matches(keyword, pattern, tags.get(keyword)) for keyword, pattern in where.items())


def _matches(keyword: str, pattern: str, value: Any) -> bool:
    if pattern in ("", "*"):
        return True  # DICOM universal matching
    if not isinstance(value, str):
        return False
    if "\\" in pattern:
        return any(_matches(keyword, alternative, value) for alternative in pattern.split("\\"))
    if "\\" in value:  # a multi-valued tag (ModalitiesInStudy "CT\\MR"): one of its values must match
        return any(_matches(keyword, pattern, item) for item in value.split("\\"))
    if keyword.endswith(("Date", "Time", "DateTime")) and "-" in pattern:
        start, _, end = pattern.partition("-")
        value = value.strip()
        return (not start or value >= start) and (not end or value[: len(end)] <= end)
    ignore_case = keyword.endswith("Name")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value.strip(), flags=re.IGNORECASE if ignore_case else 0) is not None
