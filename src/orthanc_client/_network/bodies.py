"""DICOM networking without I/O: query levels, C-FIND answers, request bodies for Orthanc's modality routes.

Shared by the sync and async ``Modality``/``Peer``/``transfer`` (so that ``FindAnswer`` is one class in both
APIs, as ``JobState`` is). The HTTP calls live in ``_async/modality.py``, ``_async/peer.py`` and
``_async/transfer.py``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, runtime_checkable

from .._core.errors import DicomNetworkError, HTTPError, InvalidInputError, OrthancError
from .._dicom.query import dicom_query
from .._dicom.values import parse_int

LEVELS = ("Patient", "Study", "Series", "Instance")

# The tags that identify a resource at each level, from the top: C-MOVE/C-GET need those of the level (and
# a strict PACS the ones above, for a study-root move).
IDENTIFYING_TAGS: dict[str, tuple[str, ...]] = {
    "Patient": ("PatientID",),
    "Study": ("PatientID", "StudyInstanceUID"),
    "Series": ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"),
    "Instance": ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}
UID_TAG = {
    "Patient": "PatientID",
    "Study": "StudyInstanceUID",
    "Series": "SeriesInstanceUID",
    "Instance": "SOPInstanceUID",
}
COUNT_TAG = {
    "Patient": "NumberOfPatientRelatedInstances",
    "Study": "NumberOfStudyRelatedInstances",
    "Series": "NumberOfSeriesRelatedInstances",
}

# Asked by default (as empty return keys) so that answers are useful without the caller listing tags: a
# C-FIND SCP only returns what the query names. The instance counts are what ``transfer`` verifies against.
DEFAULT_RETURN_TAGS: dict[str, tuple[str, ...]] = {
    "Patient": (
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedInstances",
    ),
    "Study": (
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "AccessionNumber",
        "StudyDate",
        "StudyTime",
        "StudyDescription",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    "Series": (
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "NumberOfSeriesRelatedInstances",
    ),
    "Instance": (
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
    ),
}


def normalize_level(level: str) -> str:
    """``"study"``, ``"STUDY"``, ``"Study"`` -> ``"Study"``; ``"image"`` is DICOM's name for ``"Instance"``."""
    if not isinstance(level, str):
        raise InvalidInputError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    wanted = "instance" if level.strip().lower() == "image" else level.strip().lower()
    for name in LEVELS:
        if name.lower() == wanted:
            return name
    raise InvalidInputError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")


@runtime_checkable
class HasOrthancId(Protocol):
    """Anything with an Orthanc ``id`` (``Patient``, ``Study``, ``Series``, ``Instance``)."""

    @property
    def id(self) -> str: ...


ResourceRef = str | HasOrthancId


def orthanc_ids(resources: ResourceRef | Iterable[ResourceRef]) -> list[str]:
    """Orthanc identifiers from ids or resource objects; one resource or many."""
    if isinstance(resources, (str, HasOrthancId)):
        resources = [resources]
    ids = [item if isinstance(item, str) else item.id for item in resources]
    if not ids:
        raise InvalidInputError("no resources given")
    return ids


@dataclass(frozen=True, eq=False)
class FindAnswer(Mapping[str, Any]):
    """One C-FIND answer: its tags by keyword (simplified: ``{"PatientID": "P1", ...}``), read like a dict.

    Pass a list of them straight to ``Modality.move()``/``get()``.

    Example::

        for answer in pacs.find("Study", {"StudyDate": (date(2024, 1, 1), None)}):
            print(answer.study_instance_uid, answer.accession_number, answer.number_of_instances)
    """

    level: str
    tags: Mapping[str, Any] = field(repr=False)
    modality: str = ""
    query_id: str | None = None
    """The stored query in Orthanc (``/queries/{id}``) when ``find(..., keep_query=True)``; else ``None``."""

    def __getitem__(self, key: str) -> Any:
        return self.tags[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tags)

    def __len__(self) -> int:
        return len(self.tags)

    def _text(self, tag: str) -> str | None:
        value = self.tags.get(tag)
        return str(value) if value not in (None, "") else None

    @property
    def patient_id(self) -> str | None:
        return self._text("PatientID")

    @property
    def patient_name(self) -> str | None:
        return self._text("PatientName")

    @property
    def study_instance_uid(self) -> str | None:
        return self._text("StudyInstanceUID")

    @property
    def series_instance_uid(self) -> str | None:
        return self._text("SeriesInstanceUID")

    @property
    def sop_instance_uid(self) -> str | None:
        return self._text("SOPInstanceUID")

    @property
    def accession_number(self) -> str | None:
        return self._text("AccessionNumber")

    @property
    def study_date(self) -> dt.date | None:
        text = self._text("StudyDate")
        try:
            return dt.datetime.strptime(text[:8], "%Y%m%d").date() if text else None
        except ValueError:
            return None

    @property
    def uid(self) -> str | None:
        """The identifier of this answer's level: PatientID, StudyInstanceUID, SeriesInstanceUID or SOP UID."""
        return self._text(UID_TAG[self.level])

    @property
    def number_of_instances(self) -> int | None:
        """``Number{Patient,Study,Series}RelatedInstances`` (``None`` if the SCP did not send it)."""
        tag = COUNT_TAG.get(self.level)
        return parse_int(self.tags.get(tag)) if tag else (1 if self.level == "Instance" else None)

    def identifier(self) -> dict[str, str]:
        """The tags that name this resource in a C-MOVE/C-GET (its level's UID and those above, if known)."""
        return {tag: str(self.tags[tag]) for tag in IDENTIFYING_TAGS[self.level] if self.tags.get(tag)}

    def __repr__(self) -> str:
        return f"FindAnswer(level={self.level!r}, {UID_TAG[self.level]}={self.uid!r}, modality={self.modality!r})"


def c_find_body(
    level: str,
    query: Mapping[str, Any] | None,
    return_tags: Iterable[str] | None,
    dicom_timeout: float | None,
) -> dict[str, Any]:
    """The body of ``POST /modalities/{id}/query``: Python query values in DICOM syntax, plus empty return keys."""
    dicom = dicom_query(query)
    for tag in (*DEFAULT_RETURN_TAGS[level], *(return_tags or ())):
        dicom.setdefault(tag, "")
    return query_body(level, dicom, dicom_timeout)


def query_body(level: str, dicom: dict[str, str], dicom_timeout: float | None) -> dict[str, Any]:
    """``POST /modalities/{id}/query`` for a query already in DICOM syntax, asking for nothing more."""
    body: dict[str, Any] = {"Level": level, "Query": dicom}
    if dicom_timeout is not None:
        body["Timeout"] = dicom_timeout_seconds(dicom_timeout)
    return body


class RemoteNode(Protocol):
    """A ``Modality`` or ``Peer``: a name, and the last failure of the remote end it names."""

    name: str
    last_error: DicomNetworkError | None


def raise_remote_error(node: RemoteNode, operation: str, error: HTTPError) -> NoReturn:
    """Re-raises Orthanc's answer to a call about ``node``: a 5xx is the remote failing (a refused association,
    a peer down: ``DicomNetworkError`` with Orthanc's details, kept in ``node.last_error``); a 4xx is about the
    request itself (unknown name, credentials) and propagates unchanged."""
    if error.status_code < 500:
        raise error
    node.last_error = DicomNetworkError.from_http_error(node.name, operation, error)
    raise node.last_error from error


def dicom_timeout_seconds(seconds: float) -> int:
    """Orthanc's DICOM ``Timeout`` field takes whole seconds (a float is refused with a 400): round up, so a
    timeout is never shorter than asked; anything not positive and finite is refused before sending."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"dicom_timeout must be a positive number of seconds, got {seconds!r}")
    return math.ceil(seconds)


def parse_answers(level: str, modality: str, answers: Any, query_id: str | None = None) -> list[FindAnswer]:
    """``GET /queries/{id}/answers?expand&simplify`` -> typed answers (``QueryRetrieveLevel`` etc. kept)."""
    if not isinstance(answers, list):
        raise OrthancError(f"unexpected answer list from Orthanc: {type(answers).__name__}")
    return [FindAnswer(level, dict(item), modality, query_id) for item in answers if isinstance(item, dict)]


Identifier = str | Mapping[str, str] | FindAnswer


def retrieve_identifiers(level: str | None, items: Iterable[Identifier]) -> tuple[str, list[dict[str, str]]]:
    """``(level, [identifier, ...])`` for a C-MOVE/C-GET from answers, UIDs or identifier dicts.

    Answers carry their level; plain strings are the UIDs of ``level`` (``"Study"`` when not given).
    """
    items = list(items)
    if not items:
        raise InvalidInputError("nothing to retrieve: no answers or identifiers given")
    levels = {item.level for item in items if isinstance(item, FindAnswer)}
    if level is not None:
        levels.add(normalize_level(level))
    if len(levels) > 1:
        raise InvalidInputError(f"one level per retrieve, got {', '.join(sorted(levels))}")
    resolved = levels.pop() if levels else "Study"
    identifiers: list[dict[str, str]] = []
    for item in items:
        if isinstance(item, FindAnswer):
            identifier = item.identifier()
        elif isinstance(item, str):
            identifier = {UID_TAG[resolved]: item}
        elif isinstance(item, Mapping):
            identifier = {str(k): str(v) for k, v in item.items()}
        else:
            raise InvalidInputError(f"cannot retrieve a {type(item).__name__}: give answers, UIDs or dicts")
        if not identifier.get(UID_TAG[resolved]):
            raise InvalidInputError(
                f"{item!r} has no {UID_TAG[resolved]}, needed for a {resolved}-level retrieve"
            )
        identifiers.append(identifier)
    return resolved, identifiers


def uid_list_query(level: str, identifiers: list[dict[str, str]]) -> dict[str, str]:
    """One C-FIND that matches all ``identifiers`` at once (DICOM list matching on the level's UID), for
    servers where only a stored query can be retrieved as a job."""
    tag = UID_TAG[level]
    uids = list(dict.fromkeys(identifier[tag] for identifier in identifiers))
    return {tag: "\\".join(uids)}


def modality_config(
    current: Mapping[str, Any],
    *,
    aet: str | None = None,
    host: str | None = None,
    port: int | None = None,
    manufacturer: str | None = None,
    allow: Mapping[str, bool] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of ``PUT /modalities/{id}``: ``current`` with the given fields changed.

    ``allow`` maps operations to booleans: ``{"echo": True, "find": True, "move": False, "get": True,
    "store": True}`` -> ``AllowEcho``... (any ``Allow*`` name Orthanc knows, e.g. ``"FindWorklist"``).
    """
    body = {k: v for k, v in current.items() if v is not None}
    for key, value in (("AET", aet), ("Host", host), ("Port", port), ("Manufacturer", manufacturer)):
        if value is not None:
            body[key] = value
    for operation, allowed in (allow or {}).items():
        name = operation if operation.startswith("Allow") else "Allow" + operation[:1].upper() + operation[1:]
        body[name] = bool(allowed)
    body.update(extra or {})
    missing = [key for key in ("AET", "Host", "Port") if not body.get(key)]
    if missing:
        raise InvalidInputError(f"a modality needs {', '.join(missing)}")
    return body
