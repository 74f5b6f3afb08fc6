"""pyorthanc's resource classes: ``Patient``, ``Study``, ``Series``, ``Instance``.

Thin objects over the native client: every call goes through ``native_of(client)`` (typed errors, identity
encoding for DICOM files and archives, retries). Behaviour follows pyorthanc 1.23.0: main DICOM tags are read
once and cached, everything else is read afresh, children are listed on each access unless locked. Finders
prime the tag cache from their expanded answer, so reading tags of found resources costs no request.

The native resources (``orthanc_client.Study``...) are not used as the base: pyorthanc scripts expect
``TagDoesNotExistError`` for an absent tag (native: ``None``), ``datetime`` dates (native: ``date``), fresh
reads of Orthanc's bookkeeping (native: cached) and synchronous modify/anonymize answers (native: jobs).
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO, Generic, TypeVar, Union, overload

import httpx
from typing_extensions import Self

from ..._core.errors import RequestTimeoutError
from ..._core.paths import resource_path, validated_segment
from . import errors
from ._native import native_of
from .jobs import Job, _iso_to_datetime
from .util import ensure_non_raw_response, get_pydicom, make_datetime_from_dicom_date

__all__ = ["Instance", "Patient", "Resource", "Series", "Study"]

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]
T = TypeVar("T")


def _format_params(simplify: bool = False, short: bool = False) -> dict[str, bool]:
    if simplify and short:
        raise ValueError("simplify and short can't be both True.")
    if simplify:
        return {"simplify": True}
    if short:
        return {"short": True}
    return {}


class _Field(property, Generic[T]):
    """A read-only property typed for IDEs; a ``property`` still, as pyorthanc's are (for introspection)."""

    @overload
    def __get__(self, instance: None, owner: type | None = None, /) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None, /) -> T: ...
    def __get__(self, instance: object, owner: type | None = None, /) -> Any:
        return super().__get__(instance, owner)


def _tag(keyword: str, convert: Callable[[Any], T]) -> _Field[T]:
    """A cached main DICOM tag converted as pyorthanc does; ``TagDoesNotExistError`` when absent."""
    return _Field(
        lambda resource: convert(resource._get_main_dicom_tag_value(keyword)),
        doc=f"``{keyword}`` (main DICOM tag); ``TagDoesNotExistError`` if the resource has none.",
    )


def _information(key: str, convert: Callable[[Any], T]) -> _Field[T]:
    """A field of ``GET /{level}/{id}``, read afresh on each access as in pyorthanc."""
    return _Field(
        lambda resource: convert(resource.get_main_information()[key]),
        doc=f"``{key}`` from the resource's main information (read afresh).",
    )


def _floats(value: str) -> list[float]:
    return [float(v) for v in value.split("\\")]


def _values(value: str) -> list[str]:
    return value.split("\\")


class Resource:
    """Base of the four levels: an Orthanc identifier and the client to reach it."""

    _level = ""  # "Patient", "Study", "Series" or "Instance"
    _route = ""  # "patients", "studies", "series" or "instances"
    _uid_tag = ""  # the tag that identifies the resource in DICOM (and in Orthanc's identifier)

    def __init__(self, id_: str, client: Any, _lock_children: bool = False) -> None:
        self.id_ = id_
        self.client = ensure_non_raw_response(client)
        self._lock_children = _lock_children
        self._main_dicom_tags: dict[str, Any] | None = None
        self._child_resources: list[Any] | None = None

    @property
    def _api(self) -> Any:
        return native_of(self.client)

    @property
    def _path(self) -> str:
        # the ID is checked before it goes into a path: "../studies/<id>" must not address another resource
        return resource_path(self._route, self.id_)

    @property
    def identifier(self) -> str:
        """The Orthanc identifier (same as ``id_``)."""
        return self.id_

    def get_main_information(self) -> dict[str, Any]:
        """``GET /{level}/{id}``: the resource's main information, read afresh."""
        info: dict[str, Any] = self._api.request("GET", self._path)
        return info

    @property
    def main_dicom_tags(self) -> dict[str, Any]:
        """The main DICOM tags, read once and cached."""
        if self._main_dicom_tags is None:
            self._main_dicom_tags = dict(self.get_main_information()["MainDicomTags"])
        return self._main_dicom_tags

    def _prime(self, info: dict[str, Any]) -> None:
        """Caches the main DICOM tags from an answer already at hand (a finder's expanded result)."""
        if "MainDicomTags" in info:
            self._main_dicom_tags = dict(info["MainDicomTags"])

    def _get_main_dicom_tag_value(self, tag: str) -> Any:
        try:
            return self.main_dicom_tags[tag]
        except KeyError:
            raise errors.TagDoesNotExistError(f"{self} has no {tag} tag.") from None

    def _get_date_and_time(self, date_tag: str, time_tag: str, time_required: bool = False) -> datetime | None:
        """pyorthanc's dates: the date tag with its time tag (midnight without it, unless ``time_required``)."""
        date = self._get_main_dicom_tag_value(date_tag)
        try:
            time = self._get_main_dicom_tag_value(time_tag)
        except errors.TagDoesNotExistError:
            if time_required:
                raise
            time = None
        return make_datetime_from_dicom_date(date, time)

    def _make_response_format_params(self, simplify: bool = False, short: bool = False) -> dict[str, bool]:
        return _format_params(simplify, short)

    def _check_identifier_kept(self, replace: dict[str, Any], force: bool, verb: str) -> None:
        # pyorthanc's check, not orthanc_client._resources.modify's: pyorthanc refuses (ModificationError) only replacing
        # the resource's own identifier, and lets Orthanc judge removals and other levels' identifiers, which
        # the native check refuses with InvalidInputError.
        if self._uid_tag in replace and not force:
            raise errors.ModificationError(f"If {self._uid_tag} is {verb}, `force` must be `True`")

    @property
    def legacy_viewer_url(self) -> str:
        """The resource in Orthanc Explorer (the legacy web interface)."""
        return f"{self.client.url}/app/explorer.html#{self._level.lower()}?uuid={self.id_}"

    @property
    def uid(self) -> str:
        """The DICOM UID of the resource."""
        return str(self._get_main_dicom_tag_value(self._uid_tag))

    @property
    def labels(self) -> list[str]:
        """The resource's labels (Orthanc >= 1.12)."""
        return list(self.get_main_information()["Labels"])

    def add_label(self, label: str) -> None:
        """Adds a label (Orthanc >= 1.12)."""
        self._api.request("PUT", f"{self._path}/labels/{_label(label)}")

    def remove_label(self, label: str) -> None:
        """Removes a label (Orthanc >= 1.12)."""
        self._api.request("DELETE", f"{self._path}/labels/{_label(label)}")

    def _download_file(self, path: str, filepath: PathOrFile, with_progress: bool = False) -> None:
        """Streams a binary route into a path or a file object; an error answer raises and writes nothing."""
        if isinstance(filepath, (str, os.PathLike)):
            target: Any = os.fspath(filepath)
        elif hasattr(filepath, "write") and hasattr(filepath, "seek"):
            target = filepath
        else:
            raise TypeError(f'"path" must be a file-like object or a file path, got "{type(filepath).__name__}".')
        progress_bar: Any = None
        if with_progress:
            try:
                tqdm = importlib.import_module("tqdm").tqdm
            except ModuleNotFoundError:
                raise ModuleNotFoundError(
                    "Optional dependency tqdm have to be installed for the progress indicator. "
                    "Install it with `pip install tqdm`."
                ) from None
            progress_bar = tqdm
        with self._api.stream("GET", path) as answer:
            if progress_bar is None:
                answer.write_to(target)
                return
            with progress_bar(unit="B", unit_scale=True, desc=repr(self), total=answer.content_length) as bar:
                answer.write_to(target, on_chunk=bar.update)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and self.id_ == other.id_

    def __hash__(self) -> int:
        return hash(self.id_)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id_})"


def _edit_body(remove: list[Any] | None, replace: dict[str, Any] | None, keep: list[Any] | None, force: bool,
               private_creator: str | None, dicom_version: str | None = None, **fields: Any) -> dict[str, Any]:
    """pyorthanc's body for ``/modify`` and ``/anonymize`` (``fields``: the options that differ between them).

    Not ``orthanc_client._resources.modify``'s builders: those check identifiers the native way (see
    ``Resource._check_identifier_kept``) and refuse a lone string as a tag list, which pyorthanc sends as is.
    """
    body: dict[str, Any] = {"Remove": remove or [], "Replace": replace or {}, "Keep": keep or [], "Force": force,
                            **fields}
    if private_creator is not None:
        body["PrivateCreator"] = private_creator
    if dicom_version is not None:
        body["DicomVersion"] = dicom_version
    return body


class _Archivable(Resource):
    """Patients, studies and series: archives, shared tags, stability, anonymize/modify jobs."""

    def get_zip(self) -> bytes:
        """The resource as a zip archive, in memory (``download()`` streams it instead)."""
        content: bytes = self._api.request("GET", f"{self._path}/archive", binary=True)
        return content

    def download(self, filepath: PathOrFile, with_progres: bool = False) -> None:
        """Streams the zip archive to a path or a binary file object (``with_progres`` needs tqdm)."""
        self._download_file(f"{self._path}/archive", filepath, with_progres)

    def get_shared_tags(self, simplify: bool = False, short: bool = False) -> dict[str, Any]:
        """The tags shared by every instance of the resource."""
        answer = self._api.request(
            "GET", f"{self._path}/shared-tags", params=_format_params(simplify, short)
        )
        return dict(answer)

    @property
    def shared_tags(self) -> dict[str, Any]:
        return self.get_shared_tags(simplify=True)

    is_stable = _information("IsStable", bool)
    last_update = _information("LastUpdate", _iso_to_datetime)

    def _post(self, action: str, data: dict[str, Any], what: str) -> Any:
        try:
            return self._api.request("POST", f"{self._path}/{action}", json=data)
        except RequestTimeoutError as exc:
            raise httpx.ReadTimeout(
                f"{self._level} {what} is too long to process. "
                f"Use `.{action}_as_job` or increase client.timeout.", request=exc.request
            ) from exc

    def _start_job(self, action: str, data: dict[str, Any]) -> Job:
        answer = self._api.request("POST", f"{self._path}/{action}", json=data)
        return Job(answer["ID"], self.client)

    def _anonymize_body(self, asynchronous: bool, remove: list[Any] | None, replace: dict[str, Any] | None,
                        keep: list[Any] | None, force: bool, keep_private_tags: bool, keep_source: bool,
                        priority: int, permissive: bool, private_creator: str | None,
                        dicom_version: str | None) -> dict[str, Any]:
        return _edit_body(remove, replace, keep, force, private_creator, dicom_version, Asynchronous=asynchronous,
                          KeepPrivateTags=keep_private_tags, KeepSource=keep_source, Priority=priority,
                          Permissive=permissive)

    def _modify_body(self, asynchronous: bool, remove: list[Any] | None, replace: dict[str, Any] | None,
                     keep: list[Any] | None, force: bool, remove_private_tags: bool, keep_source: bool,
                     priority: int, permissive: bool, private_creator: str | None, verb: str) -> dict[str, Any]:
        self._check_identifier_kept(replace or {}, force, verb)
        return _edit_body(remove, replace, keep, force, private_creator, Asynchronous=asynchronous,
                          RemovePrivateTags=remove_private_tags, KeepSource=keep_source, Priority=priority,
                          Permissive=permissive)

    def anonymize(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
                  keep: list[Any] | None = None, force: bool = False, keep_private_tags: bool = False,
                  keep_source: bool = True, priority: int = 0, permissive: bool = False,
                  private_creator: str | None = None, dicom_version: str | None = None) -> Self:
        """Anonymizes synchronously; returns the new anonymous resource (same class)."""
        data = self._anonymize_body(False, remove, replace, keep, force, keep_private_tags, keep_source,
                                    priority, permissive, private_creator, dicom_version)
        answer = self._post("anonymize", data, "anonymization")
        return type(self)(answer["ID"], self.client)

    def anonymize_as_job(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
                         keep: list[Any] | None = None, force: bool = False, keep_private_tags: bool = False,
                         keep_source: bool = True, priority: int = 0, permissive: bool = False,
                         private_creator: str | None = None, dicom_version: str | None = None) -> Job:
        """Starts an anonymization job; the new resource is ``job.content['ID']`` once it succeeded."""
        return self._start_job("anonymize", self._anonymize_body(
            True, remove, replace, keep, force, keep_private_tags, keep_source, priority, permissive,
            private_creator, dicom_version))

    def modify(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
               keep: list[Any] | None = None, force: bool = False, remove_private_tags: bool = False,
               keep_source: bool = True, priority: int = 0, permissive: bool = False,
               private_creator: str | None = None) -> Self:
        """Modifies synchronously; returns the modified resource (itself unless its identifier changed).

        Raises ``ModificationError`` when the identifying tag is replaced without ``force=True``.
        """
        data = self._modify_body(False, remove, replace, keep, force, remove_private_tags, keep_source,
                                 priority, permissive, private_creator, "replaced")
        answer = self._post("modify", data, "modification")
        self._main_dicom_tags = None
        return type(self)(answer["ID"], self.client)

    def modify_as_job(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
                      keep: list[Any] | None = None, force: bool = False, remove_private_tags: bool = False,
                      keep_source: bool = True, priority: int = 0, permissive: bool = False,
                      private_creator: str | None = None) -> Job:
        """Starts a modification job (``ModificationError`` if the identifier changes without ``force``)."""
        data = self._modify_body(True, remove, replace, keep, force, remove_private_tags, keep_source,
                                 priority, permissive, private_creator, "affected")
        job = self._start_job("modify", data)
        self._main_dicom_tags = None
        return job

    def _children(self, key: str, cls: type[Resource]) -> list[Any]:
        if self._lock_children:
            if self._child_resources is None:
                ids = self.get_main_information()[key]
                self._child_resources = [cls(i, self.client, self._lock_children) for i in ids]
            return self._child_resources
        return [cls(i, self.client) for i in self.get_main_information()[key]]


class Instance(Resource):
    """A DICOM instance stored in Orthanc."""

    _level = "Instance"
    _route = "instances"
    _uid_tag = "SOPInstanceUID"

    def get_dicom_file_content(self) -> bytes:
        """The DICOM file's bytes."""
        content: bytes = self._api.get_instances_id_file(self.id_)
        return content

    def download(self, filepath: PathOrFile, with_progres: bool = False) -> None:
        """Streams the DICOM file to a path or a binary file object."""
        self._download_file(f"{self._path}/file", filepath, with_progres)

    file_size = _information("FileSize", int)
    series_identifier = _information("ParentSeries", str)

    @property
    def creation_date(self) -> datetime | None:
        """``InstanceCreationDate`` and ``InstanceCreationTime`` (both needed, as in pyorthanc)."""
        return self._get_date_and_time("InstanceCreationDate", "InstanceCreationTime", time_required=True)

    @property
    def parent_series(self) -> Series:
        return Series(self.series_identifier, self.client)

    @property
    def parent_study(self) -> Study:
        return self.parent_series.parent_study

    @property
    def parent_patient(self) -> Patient:
        return self.parent_study.parent_patient

    acquisition_number = _tag("AcquisitionNumber", int)
    image_index = _tag("ImageIndex", int)
    image_orientation_patient = _tag("ImageOrientationPatient", _floats)
    image_position_patient = _tag("ImagePositionPatient", _floats)
    image_comments = _tag("ImageComments", str)
    instance_number = _tag("InstanceNumber", int)
    number_of_frames = _tag("NumberOfFrames", int)
    temporal_position_identifier = _tag("TemporalPositionIdentifier", str)

    @property
    def first_level_tags(self) -> Any:
        """Deprecated in pyorthanc: use ``tags``."""
        warnings.warn("`Instance.first_level_tags` is deprecated. Use `Instance.tags` instead.", stacklevel=2)
        return self.tags

    @property
    def tags(self) -> dict[str, Any]:
        """Every tag (``GET /instances/{id}/tags``)."""
        return dict(self._api.get_instances_id_tags(self.id_))

    @property
    def simplified_tags(self) -> dict[str, Any]:
        return dict(self._api.get_instances_id_tags(self.id_, simplify=True))

    def get_content_by_tag(self, tag: str) -> Any:
        """A tag's raw content by name or path (``'0008-1090'``, ``'0008-1110/0/0008-1150'``).

        Values come back as stripped text, sequences as the list Orthanc answers.
        """
        result = self._api.get_instances_id_content_path(self.id_, tag.strip("/"))
        if isinstance(result, bytes):
            try:
                return result.decode("utf-8").strip().replace("\x00", "")
            except UnicodeDecodeError:
                return result
        if isinstance(result, str):
            return result.strip().replace("\x00", "")
        return result

    def anonymize(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
                  keep: list[Any] | None = None, keep_private_tags: bool = False, keep_source: bool = True,
                  private_creator: str | None = None, force: bool = False,
                  dicom_version: str | None = None) -> bytes:
        """The anonymized DICOM file's bytes (nothing is stored in Orthanc)."""
        data = _edit_body(remove, replace, keep, force, private_creator, dicom_version,
                          KeepPrivateTags=keep_private_tags, KeepSource=keep_source)
        content: bytes = self._api.post_instances_id_anonymize(self.id_, data)
        return content

    def modify(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
               keep: list[Any] | None = None, remove_private_tags: bool = False, keep_source: bool = True,
               private_creator: str | None = None, force: bool = False) -> bytes:
        """The modified DICOM file's bytes (``ModificationError`` if SOPInstanceUID changes without force)."""
        self._check_identifier_kept(replace or {}, force, "replaced")
        data = _edit_body(remove, replace, keep, force, private_creator,
                          RemovePrivateTags=remove_private_tags, KeepSource=keep_source)
        content: bytes = self._api.post_instances_id_modify(self.id_, data)
        return content

    def get_pydicom(self) -> Any:
        """The instance as a ``pydicom.FileDataset``."""
        return get_pydicom(self.client, self.id_)


class Series(_Archivable):
    """A series stored in Orthanc."""

    _level = "Series"
    _route = "series"
    _uid_tag = "SeriesInstanceUID"

    @property
    def instances(self) -> list[Instance]:
        return self._children("Instances", Instance)

    study_identifier = _information("ParentStudy", str)

    @property
    def parent_study(self) -> Study:
        return Study(self.study_identifier, self.client)

    @property
    def parent_patient(self) -> Patient:
        return self.parent_study.parent_patient

    @property
    def date(self) -> datetime | None:
        """``SeriesDate`` with ``SeriesTime`` (midnight without it)."""
        return self._get_date_and_time("SeriesDate", "SeriesTime")

    manufacturer = _tag("Manufacturer", str)
    modality = _tag("Modality", str)
    series_number = _tag("SeriesNumber", int)
    performed_procedure_step_description = _tag("PerformedProcedureStepDescription", str)
    protocol_name = _tag("ProtocolName", str)
    station_name = _tag("StationName", str)
    description = _tag("SeriesDescription", str)
    body_part_examined = _tag("BodyPartExamined", str)
    sequence_name = _tag("SequenceName", str)
    cardiac_number_of_images = _tag("CardiacNumberOfImages", int)
    images_in_acquisition = _tag("ImagesInAcquisition", int)
    number_of_temporal_positions = _tag("NumberOfTemporalPositions", int)
    number_of_slices = _tag("NumberOfSlices", int)
    number_of_time_slices = _tag("NumberOfTimeSlices", int)
    image_orientation_patient = _tag("ImageOrientationPatient", _floats)
    series_type = _tag("SeriesType", str)
    operators_name = _tag("OperatorsName", str)
    acquisition_device_processing_description = _tag("AcquisitionDeviceProcessingDescription", str)
    contrast_bolus_agent = _tag("ContrastBolusAgent", str)

    def remove_empty_instances(self) -> None:
        """Drops the instances a filter rejected (``None`` entries) from the locked children."""
        if self._child_resources is not None:
            self._child_resources = [i for i in self._child_resources if i is not None]


class Study(_Archivable):
    """A study stored in Orthanc."""

    _level = "Study"
    _route = "studies"
    _uid_tag = "StudyInstanceUID"

    referring_physician_name = _tag("ReferringPhysicianName", str)
    requesting_physician = _tag("RequestingPhysician", str)

    @property
    def date(self) -> datetime | None:
        """``StudyDate`` with ``StudyTime`` (midnight without it)."""
        return self._get_date_and_time("StudyDate", "StudyTime")

    study_id = _tag("StudyID", str)
    patient_identifier = _information("ParentPatient", str)

    @property
    def parent_patient(self) -> Patient:
        return Patient(self.patient_identifier, self.client)

    patient_information = _information("PatientMainDicomTags", dict)

    @property
    def series(self) -> list[Series]:
        return self._children("Series", Series)

    accession_number = _tag("AccessionNumber", str)
    description = _tag("StudyDescription", str)
    institution_name = _tag("InstitutionName", str)
    requested_procedure_description = _tag("RequestedProcedureDescription", str)

    def remove_empty_series(self) -> None:
        """Drops, from the locked children, the series a filter emptied."""
        if self._child_resources is None:
            return
        for series in self._child_resources:
            series.remove_empty_instances()
        self._child_resources = [s for s in self._child_resources if s._child_resources != []]


class Patient(_Archivable):
    """A patient stored in Orthanc."""

    _level = "Patient"
    _route = "patients"
    _uid_tag = "PatientID"

    patient_id = _tag("PatientID", str)
    name = _tag("PatientName", str)
    birth_date = _tag("PatientBirthDate", make_datetime_from_dicom_date)
    sex = _tag("PatientSex", str)
    other_patient_ids = _tag("OtherPatientIDs", _values)

    def get_patient_module(self, simplify: bool = False, short: bool = False) -> dict[str, Any]:
        """The DICOM patient module (PatientName, PatientID, PatientBirthDate...)."""
        answer = self._api.request("GET", f"{self._path}/module", params=_format_params(simplify, short))
        return dict(answer)

    @property
    def protected(self) -> bool:
        """Protection against recycling (settable)."""
        return str(self._api.get_patients_id_protected(self.id_)).strip() == "1"

    @protected.setter
    def protected(self, value: bool) -> None:
        self._api.put_patients_id_protected(self.id_, data="1" if value else "0")

    def is_protected(self) -> bool:
        """Deprecated in pyorthanc: use ``protected``."""
        return self.protected

    def set_to_protected(self) -> None:
        """Deprecated in pyorthanc: use ``protected = True``."""
        warnings.warn("`patient.set_to_protected()` is deprecated and will be removed in future release. "
                      "Use `patient.protected = True` instead.", DeprecationWarning, stacklevel=2)
        self.protected = True

    def set_to_unprotected(self) -> None:
        """Deprecated in pyorthanc: use ``protected = False``."""
        warnings.warn("`patient.set_to_unprotected()` is deprecated and will be removed in future release. "
                      "Use `patient.protected = False` instead.", DeprecationWarning, stacklevel=2)
        self.protected = False

    @property
    def studies(self) -> list[Study]:
        return self._children("Studies", Study)

    def remove_empty_studies(self) -> None:
        """Drops, from the locked children, the studies a filter emptied."""
        if self._child_resources is None:
            return
        for study in self._child_resources:
            study.remove_empty_series()
        self._child_resources = [s for s in self._child_resources if s._child_resources != []]


def _label(label: str) -> str:
    """A label checked (Orthanc's rules) and escaped: ``".."`` would otherwise address the resource itself."""
    return validated_segment("label", label, parameter="label", route="/{level}/{id}/labels/{label}")
