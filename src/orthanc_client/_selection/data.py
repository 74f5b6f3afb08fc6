"""What a ``Selection`` knows about the server, sans I/O: criteria checks, the snapshot of one find, sort keys.

The I/O lives in ``_async/selection.py`` (and its sync twin); this module only shapes data, so that both
APIs share it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._bulk.dicom_files import orthanc_hash
from .._core.errors import InvalidInputError
from .._dicom.query import dicom_query
from .._dicom.tags import dictionary_vr_vm, find_tag, hex_for_keyword, parse_tag, tag_hex

# Orthanc's default main DICOM tags above the instance level (the same in 1.10 and 1.12): asked for as
# ``RequestedTags`` with an instance-level find, so that one request tells the whole hierarchy. The three
# identifiers come first: the parents' Orthanc IDs are hashes of them.
UPPER_LEVEL_TAGS: tuple[str, ...] = (
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    # patient
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDs",
    # study
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "RequestingPhysician",
    "RequestedProcedureDescription",
    # series
    "SeriesDate",
    "SeriesTime",
    "Modality",
    "Manufacturer",
    "StationName",
    "SeriesDescription",
    "BodyPartExamined",
    "SequenceName",
    "ProtocolName",
    "SeriesNumber",
    "CardiacNumberOfImages",
    "ImagesInAcquisition",
    "NumberOfTemporalPositions",
    "NumberOfSlices",
    "NumberOfTimeSlices",
    "ImageOrientationPatient",
    "SeriesType",
    "OperatorsName",
    "PerformedProcedureStepDescription",
    "AcquisitionDeviceProcessingDescription",
    "ContrastBolusAgent",
)


class SelectionCounts(NamedTuple):
    """How many patients, studies, series and instances a selection holds.

    Example::

        counts = client.select(PatientID="DEMOCT01").counts()
        print(counts.studies, counts.instances)   # 1 20
    """

    patients: int
    studies: int
    series: int
    instances: int


class SelectionError(InvalidInputError, IndexError):
    """The selection does not hold what the operation needs (e.g. ``array()`` of zero or several series, a
    delete with more than one resource selected). It is also an ``IndexError``, as simple-orthanc raised."""


def check_criteria(criteria: Mapping[str, Any]) -> dict[str, Any]:
    """The criteria, refused before any request when a key is not a DICOM keyword or ``gggg,eeee`` tag, names
    a sequence, or a value cannot be a DICOM query value (``InvalidInputError`` names which)."""
    dicom_query(criteria)  # types of keys and values
    for key in criteria:
        check_keyword(key)
        vr, _ = dictionary_vr_vm(key)
        if vr == "SQ":
            raise InvalidInputError(f"{key} is a sequence: a selection matches plain DICOM values only")
    return dict(criteria)


def check_keyword(key: str) -> None:
    """``InvalidInputError`` for a name that is neither a DICOM keyword nor a ``gggg,eeee`` tag (checked with
    pydicom's dictionary when pydicom is installed; without it any name is sent as given)."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"DICOM tags are named by keyword or 'gggg,eeee', got {key!r}")
    if tag_hex(key) is not None:
        return
    try:
        import pydicom  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return
    if hex_for_keyword(key) is None:
        raise InvalidInputError(f"{key!r} is not a DICOM keyword (e.g. PatientID, SeriesDescription)")


def _clean(value: Any) -> str:
    # Orthanc strips spaces and the NUL padding of UIDs before hashing identifiers (as _bulk.dicom_files does).
    return str(value if value is not None else "").strip(" \x00\t\r\n")


def parent_ids(tags: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Orthanc IDs of the patient and study of an instance whose tags hold PatientID and
    StudyInstanceUID, or ``None`` when the study UID is missing."""
    patient, study = tags.get("PatientID"), tags.get("StudyInstanceUID")
    if not study:
        return None
    return orthanc_hash(_clean(patient)), orthanc_hash(f"{_clean(patient)}|{_clean(study)}")


@dataclass
class Snapshot:
    """One read of the server for one selection: the instances in the server's order, each instance's parents
    and its tags (its own main tags merged with those of its series, study and patient)."""

    instance_ids: list[str] = field(default_factory=list)
    instance_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    series_of: dict[str, str] = field(default_factory=dict)
    study_of: dict[str, str] = field(default_factory=dict)
    patient_of: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    more_tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Tag keyword -> instance ID -> value, for tags read after the find (not main tags)."""

    def add_instance(self, data: Mapping[str, Any]) -> None:
        instance_id = str(data["ID"])
        if instance_id in self.instance_data:
            return
        self.instance_ids.append(instance_id)
        self.instance_data[instance_id] = dict(data)
        self.series_of[instance_id] = str(data.get("ParentSeries", ""))
        tags = dict(data.get("RequestedTags") or {})
        tags.update(data.get("MainDicomTags") or {})
        self.tags[instance_id] = tags
        parents = parent_ids(tags) if data.get("RequestedTags") else None
        if parents is not None:
            self.patient_of[instance_id], self.study_of[instance_id] = parents

    def add_series(self, series: Mapping[str, Any]) -> None:
        """A series' JSON (servers without ``RequestedTags``): its tags and its study for its instances."""
        series_id = str(series["ID"])
        for instance_id in self.instance_ids:
            if self.series_of[instance_id] == series_id:
                self.study_of[instance_id] = str(series.get("ParentStudy", ""))
                self._add_tags(instance_id, series.get("MainDicomTags"))

    def add_study(self, study: Mapping[str, Any]) -> None:
        study_id = str(study["ID"])
        for instance_id in self.instance_ids:
            if self.study_of.get(instance_id) == study_id:
                self.patient_of[instance_id] = str(study.get("ParentPatient", ""))
                self._add_tags(instance_id, study.get("MainDicomTags"))
                self._add_tags(instance_id, study.get("PatientMainDicomTags"))

    def _add_tags(self, instance_id: str, tags: Mapping[str, Any] | None) -> None:
        mine = self.tags[instance_id]
        for key, value in (tags or {}).items():
            mine.setdefault(key, value)

    def distinct(self, ids: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(ids))

    def counts(self) -> SelectionCounts:
        ids = self.instance_ids
        return SelectionCounts(
            len(self.distinct(self.patient_of[i] for i in ids if i in self.patient_of)),
            len(self.distinct(self.study_of[i] for i in ids if i in self.study_of)),
            len(self.distinct(self.series_of[i] for i in ids)),
            len(ids),
        )

    def known_tag(self, keyword: str) -> bool:
        """Whether the find answered this tag (a main tag), so that its values cost no request."""
        if keyword in self.more_tags:
            return True
        return any(find_tag(tags, keyword)[0] for tags in self.tags.values())

    def value(self, instance_id: str, keyword: str) -> Any:
        if keyword in self.more_tags:
            return self.more_tags[keyword].get(instance_id)
        return find_tag(self.tags[instance_id], keyword)[1]


def is_absent(value: Any) -> bool:
    """No value: the tag is missing or empty (sorted last, left out of distinct values)."""
    return value is None or value == ""


def sort_key(value: Any) -> tuple[int, Any]:
    """Orders parsed tag values: numbers by value, then strings as text, then lists item by item; absent
    values last. Each kind sorts in its own group, so mixed values never compare a number with text."""
    if is_absent(value):
        return (3, 0)
    if isinstance(value, (list, tuple)):
        return (2, tuple(sort_key(item) for item in value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))


def parsed(keyword: str, value: Any) -> Any:
    """A tag value typed by its VR (``parse_tag``): used for sorting, so that "10" sorts after "9"."""
    return parse_tag(keyword, value) if isinstance(value, str) else value
