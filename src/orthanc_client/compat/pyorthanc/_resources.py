"""pyorthanc's resource classes: ``Patient``, ``Study``, ``Series``, ``Instance``.

Thin objects over the native client: every call goes through ``native_of(client)`` (typed errors, identity
encoding for DICOM files and archives, retries). Behaviour follows pyorthanc 1.23.0: main DICOM tags are read
once and cached, everything else is read afresh, children are listed on each access unless locked. Finders
prime the tag cache from their expanded answer, so reading tags of found resources costs no request.
"""

from __future__ import annotations

import importlib
import os
import warnings
from datetime import datetime
from typing import Any, BinaryIO, Union

import httpx

from ..._exceptions import RequestTimeoutError
from . import errors
from ._native import native_of
from .jobs import Job
from .util import ensure_non_raw_response, get_pydicom, make_datetime_from_dicom_date

__all__ = ["Instance", "Patient", "Resource", "Series", "Study"]

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


def _format_params(simplify: bool = False, short: bool = False) -> dict[str, bool]:
    if simplify and short:
        raise ValueError("simplify and short can't be both True.")
    if simplify:
        return {"simplify": True}
    if short:
        return {"short": True}
    return {}


def _iso_datetime(value: str) -> datetime | None:
    date, _, time = value.partition("T")
    return make_datetime_from_dicom_date(date, time)


class Resource:
    """Base of the four levels: an Orthanc identifier and the client to reach it."""

    _route = ""  # "patients", "studies", "series" or "instances"
    _viewer = ""
    _uid_tag = ""

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
    def identifier(self) -> str:
        """The Orthanc identifier (same as ``id_``)."""
        return self.id_

    def get_main_information(self) -> dict[str, Any]:
        """``GET /{level}/{id}``: the resource's main information, read afresh."""
        info: dict[str, Any] = self._api.request("GET", f"/{self._route}/{self.id_}")
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

    def _make_response_format_params(self, simplify: bool = False, short: bool = False) -> dict[str, bool]:
        return _format_params(simplify, short)

    @property
    def legacy_viewer_url(self) -> str:
        """The resource in Orthanc Explorer (the legacy web interface)."""
        return f"{self.client.url}/app/explorer.html#{self._viewer}?uuid={self.id_}"

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
        self._api.request("PUT", f"/{self._route}/{self.id_}/labels/{label}")

    def remove_label(self, label: str) -> None:
        """Removes a label (Orthanc >= 1.12)."""
        self._api.request("DELETE", f"/{self._route}/{self.id_}/labels/{label}")

    def _download_file(self, path: str, filepath: PathOrFile, with_progress: bool = False,
                       params: Any = None) -> None:
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
        with self._api.stream("GET", path, params=params) as answer:
            if progress_bar is None:
                answer.write_to(target)
                return
            with progress_bar(unit="B", unit_scale=True, desc=repr(self), total=answer.content_length) as bar:
                handle = open(target, "wb") if isinstance(target, str) else target  # noqa: SIM115
                try:
                    for chunk in answer.iter_bytes():
                        handle.write(chunk)
                        bar.update(len(chunk))
                finally:
                    if handle is not target:
                        handle.close()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and self.id_ == other.id_

    def __hash__(self) -> int:
        return hash(self.id_)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id_})"


class _Archivable(Resource):
    """Patients, studies and series: archives, shared tags, stability, anonymize/modify jobs."""

    _label = ""  # "Patient", "Study", "Series" (for messages)

    def get_zip(self) -> bytes:
        """The resource as a zip archive, in memory (``download()`` streams it instead)."""
        content: bytes = self._api.request("GET", f"/{self._route}/{self.id_}/archive", binary=True)
        return content

    def download(self, filepath: PathOrFile, with_progres: bool = False) -> None:
        """Streams the zip archive to a path or a binary file object (``with_progres`` needs tqdm)."""
        self._download_file(f"/{self._route}/{self.id_}/archive", filepath, with_progres)

    def get_shared_tags(self, simplify: bool = False, short: bool = False) -> dict[str, Any]:
        """The tags shared by every instance of the resource."""
        answer = self._api.request(
            "GET", f"/{self._route}/{self.id_}/shared-tags", params=_format_params(simplify, short)
        )
        return dict(answer)

    @property
    def shared_tags(self) -> dict[str, Any]:
        return self.get_shared_tags(simplify=True)

    @property
    def is_stable(self) -> bool:
        return bool(self.get_main_information()["IsStable"])

    @property
    def last_update(self) -> datetime | None:
        return _iso_datetime(self.get_main_information()["LastUpdate"])

    def _post(self, action: str, data: dict[str, Any], what: str) -> Any:
        try:
            return self._api.request("POST", f"/{self._route}/{self.id_}/{action}", json=data)
        except RequestTimeoutError as exc:
            raise httpx.ReadTimeout(
                f"{self._label} {what} is too long to process. "
                f"Use `.{action}_as_job` or increase client.timeout.", request=exc.request
            ) from exc

    def _anonymize_body(self, asynchronous: bool, remove: list[Any] | None, replace: dict[str, Any] | None,
                        keep: list[Any] | None, force: bool, keep_private_tags: bool, keep_source: bool,
                        priority: int, permissive: bool, private_creator: str | None,
                        dicom_version: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "Asynchronous": asynchronous, "Remove": remove or [], "Replace": replace or {}, "Keep": keep or [],
            "Force": force, "KeepPrivateTags": keep_private_tags, "KeepSource": keep_source,
            "Priority": priority, "Permissive": permissive,
        }
        if private_creator is not None:
            data["PrivateCreator"] = private_creator
        if dicom_version is not None:
            data["DicomVersion"] = dicom_version
        return data

    def _modify_body(self, asynchronous: bool, remove: list[Any] | None, replace: dict[str, Any] | None,
                     keep: list[Any] | None, force: bool, remove_private_tags: bool, keep_source: bool,
                     priority: int, permissive: bool, private_creator: str | None, verb: str) -> dict[str, Any]:
        replace = replace or {}
        identifier = self._identifier_tag
        if identifier in replace and not force:
            raise errors.ModificationError(f"If {identifier} is {verb}, `force` must be `True`")
        data: dict[str, Any] = {
            "Asynchronous": asynchronous, "Remove": remove or [], "Replace": replace, "Keep": keep or [],
            "Force": force, "RemovePrivateTags": remove_private_tags, "KeepSource": keep_source,
            "Priority": priority, "Permissive": permissive,
        }
        if private_creator is not None:
            data["PrivateCreator"] = private_creator
        return data

    _identifier_tag = ""

    def anonymize(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
                  keep: list[Any] | None = None, force: bool = False, keep_private_tags: bool = False,
                  keep_source: bool = True, priority: int = 0, permissive: bool = False,
                  private_creator: str | None = None, dicom_version: str | None = None) -> Any:
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
        data = self._anonymize_body(True, remove, replace, keep, force, keep_private_tags, keep_source,
                                    priority, permissive, private_creator, dicom_version)
        answer = self._api.request("POST", f"/{self._route}/{self.id_}/anonymize", json=data)
        return Job(answer["ID"], self.client)

    def modify(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
               keep: list[Any] | None = None, force: bool = False, remove_private_tags: bool = False,
               keep_source: bool = True, priority: int = 0, permissive: bool = False,
               private_creator: str | None = None) -> Any:
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
        answer = self._api.request("POST", f"/{self._route}/{self.id_}/modify", json=data)
        self._main_dicom_tags = None
        return Job(answer["ID"], self.client)

    def _children(self, key: str, cls: type[Resource]) -> list[Any]:
        if self._lock_children:
            if self._child_resources is None:
                ids = self.get_main_information()[key]
                self._child_resources = [cls(i, self.client, self._lock_children) for i in ids]
            return self._child_resources
        return [cls(i, self.client) for i in self.get_main_information()[key]]


class Instance(Resource):
    """A DICOM instance stored in Orthanc."""

    _route = "instances"
    _viewer = "instance"
    _uid_tag = "SOPInstanceUID"

    def get_dicom_file_content(self) -> bytes:
        """The DICOM file's bytes."""
        content: bytes = self._api.get_instances_id_file(self.id_)
        return content

    def download(self, filepath: PathOrFile, with_progres: bool = False) -> None:
        """Streams the DICOM file to a path or a binary file object."""
        self._download_file(f"/instances/{self.id_}/file", filepath, with_progres)

    @property
    def file_size(self) -> int:
        return int(self.get_main_information()["FileSize"])

    @property
    def creation_date(self) -> datetime | None:
        date = self._get_main_dicom_tag_value("InstanceCreationDate")
        time = self._get_main_dicom_tag_value("InstanceCreationTime")
        return make_datetime_from_dicom_date(date, time)

    @property
    def series_identifier(self) -> str:
        return str(self.get_main_information()["ParentSeries"])

    @property
    def parent_series(self) -> Series:
        return Series(self.series_identifier, self.client)

    @property
    def parent_study(self) -> Study:
        return self.parent_series.parent_study

    @property
    def parent_patient(self) -> Patient:
        return self.parent_study.parent_patient

    @property
    def acquisition_number(self) -> int:
        return int(self._get_main_dicom_tag_value("AcquisitionNumber"))

    @property
    def image_index(self) -> int:
        return int(self._get_main_dicom_tag_value("ImageIndex"))

    @property
    def image_orientation_patient(self) -> list[float]:
        return [float(v) for v in self._get_main_dicom_tag_value("ImageOrientationPatient").split("\\")]

    @property
    def image_position_patient(self) -> list[float]:
        return [float(v) for v in self._get_main_dicom_tag_value("ImagePositionPatient").split("\\")]

    @property
    def image_comments(self) -> str:
        return str(self._get_main_dicom_tag_value("ImageComments"))

    @property
    def instance_number(self) -> int:
        return int(self._get_main_dicom_tag_value("InstanceNumber"))

    @property
    def number_of_frames(self) -> int:
        return int(self._get_main_dicom_tag_value("NumberOfFrames"))

    @property
    def temporal_position_identifier(self) -> str:
        return str(self._get_main_dicom_tag_value("TemporalPositionIdentifier"))

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
        # Through request(): the generated method is marked 1.12.7+, though older Orthanc serves the route.
        result = self._api.request("GET", f"/instances/{self.id_}/content/{tag.strip('/')}", binary=True)
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
        data: dict[str, Any] = {
            "Remove": remove or [], "Replace": replace or {}, "Keep": keep or [], "Force": force,
            "KeepPrivateTags": keep_private_tags, "KeepSource": keep_source,
        }
        if private_creator is not None:
            data["PrivateCreator"] = private_creator
        if dicom_version is not None:
            data["DicomVersion"] = dicom_version
        content: bytes = self._api.post_instances_id_anonymize(self.id_, data)
        return content

    def modify(self, remove: list[Any] | None = None, replace: dict[str, Any] | None = None,
               keep: list[Any] | None = None, remove_private_tags: bool = False, keep_source: bool = True,
               private_creator: str | None = None, force: bool = False) -> bytes:
        """The modified DICOM file's bytes (``ModificationError`` if SOPInstanceUID changes without force)."""
        replace = replace or {}
        if "SOPInstanceUID" in replace and not force:
            raise errors.ModificationError("If SOPInstanceUID is replaced, `force` must be `True`")
        data: dict[str, Any] = {
            "Remove": remove or [], "Replace": replace, "Keep": keep or [], "Force": force,
            "RemovePrivateTags": remove_private_tags, "KeepSource": keep_source,
        }
        if private_creator is not None:
            data["PrivateCreator"] = private_creator
        content: bytes = self._api.post_instances_id_modify(self.id_, data)
        return content

    def get_pydicom(self) -> Any:
        """The instance as a ``pydicom.FileDataset``."""
        return get_pydicom(self.client, self.id_)


class Series(_Archivable):
    """A series stored in Orthanc."""

    _route = "series"
    _viewer = "series"
    _uid_tag = "SeriesInstanceUID"
    _label = "Series"
    _identifier_tag = "SeriesInstanceUID"

    @property
    def instances(self) -> list[Instance]:
        return self._children("Instances", Instance)

    @property
    def manufacturer(self) -> str:
        return str(self._get_main_dicom_tag_value("Manufacturer"))

    @property
    def study_identifier(self) -> str:
        return str(self.get_main_information()["ParentStudy"])

    @property
    def parent_study(self) -> Study:
        return Study(self.study_identifier, self.client)

    @property
    def parent_patient(self) -> Patient:
        return self.parent_study.parent_patient

    @property
    def date(self) -> datetime | None:
        date = self._get_main_dicom_tag_value("SeriesDate")
        try:
            time = self._get_main_dicom_tag_value("SeriesTime")
        except errors.TagDoesNotExistError:
            time = None
        return make_datetime_from_dicom_date(date, time)

    @property
    def modality(self) -> str:
        return str(self._get_main_dicom_tag_value("Modality"))

    @property
    def series_number(self) -> int:
        return int(self._get_main_dicom_tag_value("SeriesNumber"))

    @property
    def performed_procedure_step_description(self) -> str:
        return str(self._get_main_dicom_tag_value("PerformedProcedureStepDescription"))

    @property
    def protocol_name(self) -> str:
        return str(self._get_main_dicom_tag_value("ProtocolName"))

    @property
    def station_name(self) -> str:
        return str(self._get_main_dicom_tag_value("StationName"))

    @property
    def description(self) -> str:
        return str(self._get_main_dicom_tag_value("SeriesDescription"))

    @property
    def body_part_examined(self) -> str:
        return str(self._get_main_dicom_tag_value("BodyPartExamined"))

    @property
    def sequence_name(self) -> str:
        return str(self._get_main_dicom_tag_value("SequenceName"))

    @property
    def cardiac_number_of_images(self) -> int:
        return int(self._get_main_dicom_tag_value("CardiacNumberOfImages"))

    @property
    def images_in_acquisition(self) -> int:
        return int(self._get_main_dicom_tag_value("ImagesInAcquisition"))

    @property
    def number_of_temporal_positions(self) -> int:
        return int(self._get_main_dicom_tag_value("NumberOfTemporalPositions"))

    @property
    def number_of_slices(self) -> int:
        return int(self._get_main_dicom_tag_value("NumberOfSlices"))

    @property
    def number_of_time_slices(self) -> int:
        return int(self._get_main_dicom_tag_value("NumberOfTimeSlices"))

    @property
    def image_orientation_patient(self) -> list[float]:
        return [float(v) for v in self._get_main_dicom_tag_value("ImageOrientationPatient").split("\\")]

    @property
    def series_type(self) -> str:
        return str(self._get_main_dicom_tag_value("SeriesType"))

    @property
    def operators_name(self) -> str:
        return str(self._get_main_dicom_tag_value("OperatorsName"))

    @property
    def acquisition_device_processing_description(self) -> str:
        return str(self._get_main_dicom_tag_value("AcquisitionDeviceProcessingDescription"))

    @property
    def contrast_bolus_agent(self) -> str:
        return str(self._get_main_dicom_tag_value("ContrastBolusAgent"))

    def remove_empty_instances(self) -> None:
        """Drops the instances a filter rejected (``None`` entries) from the locked children."""
        if self._child_resources is not None:
            self._child_resources = [i for i in self._child_resources if i is not None]


class Study(_Archivable):
    """A study stored in Orthanc."""

    _route = "studies"
    _viewer = "study"
    _uid_tag = "StudyInstanceUID"
    _label = "Study"
    _identifier_tag = "StudyInstanceUID"

    @property
    def referring_physician_name(self) -> str:
        return str(self._get_main_dicom_tag_value("ReferringPhysicianName"))

    @property
    def requesting_physician(self) -> str:
        return str(self._get_main_dicom_tag_value("RequestingPhysician"))

    @property
    def date(self) -> datetime | None:
        date = self._get_main_dicom_tag_value("StudyDate")
        try:
            time = self._get_main_dicom_tag_value("StudyTime")
        except errors.TagDoesNotExistError:
            time = None
        return make_datetime_from_dicom_date(date, time)

    @property
    def study_id(self) -> str:
        return str(self._get_main_dicom_tag_value("StudyID"))

    @property
    def patient_identifier(self) -> str:
        return str(self.get_main_information()["ParentPatient"])

    @property
    def parent_patient(self) -> Patient:
        return Patient(self.patient_identifier, self.client)

    @property
    def patient_information(self) -> dict[str, Any]:
        return dict(self.get_main_information()["PatientMainDicomTags"])

    @property
    def series(self) -> list[Series]:
        return self._children("Series", Series)

    @property
    def accession_number(self) -> str:
        return str(self._get_main_dicom_tag_value("AccessionNumber"))

    @property
    def description(self) -> str:
        return str(self._get_main_dicom_tag_value("StudyDescription"))

    @property
    def institution_name(self) -> str:
        return str(self._get_main_dicom_tag_value("InstitutionName"))

    @property
    def requested_procedure_description(self) -> str:
        return str(self._get_main_dicom_tag_value("RequestedProcedureDescription"))

    def remove_empty_series(self) -> None:
        """Drops, from the locked children, the series a filter emptied."""
        if self._child_resources is None:
            return
        for series in self._child_resources:
            series.remove_empty_instances()
        self._child_resources = [s for s in self._child_resources if s._child_resources != []]


class Patient(_Archivable):
    """A patient stored in Orthanc."""

    _route = "patients"
    _viewer = "patient"
    _uid_tag = "PatientID"
    _label = "Patient"
    _identifier_tag = "PatientID"

    @property
    def patient_id(self) -> str:
        return str(self._get_main_dicom_tag_value("PatientID"))

    @property
    def name(self) -> str:
        return str(self._get_main_dicom_tag_value("PatientName"))

    @property
    def birth_date(self) -> datetime | None:
        return make_datetime_from_dicom_date(self._get_main_dicom_tag_value("PatientBirthDate"))

    @property
    def sex(self) -> str:
        return str(self._get_main_dicom_tag_value("PatientSex"))

    @property
    def other_patient_ids(self) -> list[str]:
        return list(self._get_main_dicom_tag_value("OtherPatientIDs").split("\\"))

    def get_patient_module(self, simplify: bool = False, short: bool = False) -> dict[str, Any]:
        """The DICOM patient module (PatientName, PatientID, PatientBirthDate...)."""
        answer = self._api.request("GET", f"/patients/{self.id_}/module", params=_format_params(simplify, short))
        return dict(answer)

    @property
    def protected(self) -> bool:
        """Protection against recycling (settable)."""
        return str(self._api.get_patients_id_protected(self.id_)).strip() == "1"

    @protected.setter
    def protected(self, value: bool) -> None:
        self._api.request("PUT", f"/patients/{self.id_}/protected", content=b"1" if value else b"0")

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
