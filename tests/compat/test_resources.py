"""Resources, finders, jobs, anonymize/modify: the same scenario through real pyorthanc and the facade."""

from __future__ import annotations

import inspect
import io
import os
import sys
import types
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pydicom
import pytest

from orthanc_client import NotFoundError

from .conftest import Pair, facade, real_pyorthanc

LEVELS = ["Patient", "Study", "Series", "Instance"]
# Properties that change by themselves (timestamps) or differ on purpose.
VOLATILE = {"last_update", "first_level_tags"}


def _outcome(obj: Any, name: str) -> Any:
    """A property's value, or the name of the exception it raised (module-independent)."""
    try:
        value = getattr(obj, name)
    except Exception as exc:  # noqa: BLE001 - the exception type is the outcome under test
        return ("raised", type(exc).__name__)
    if isinstance(value, list) and value and hasattr(value[0], "id_"):
        return sorted(v.id_ for v in value)
    if hasattr(value, "id_"):
        return (type(value).__name__, value.id_)
    return value


def _properties(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_") and isinstance(inspect.getattr_static(cls, n), property))


def _ids(resources: list[Any]) -> set[str]:
    return {r.id_ for r in resources}


@pytest.mark.parametrize("level", LEVELS)
def test_every_property_matches_pyorthanc(pair: Pair, level: str) -> None:
    ref_resources = real_pyorthanc.query_orthanc(pair.ref, level)
    our_resources = facade.query_orthanc(pair.ours, level)
    assert _ids(ref_resources) == _ids(our_resources)
    ours_by_id = {r.id_: r for r in our_resources}
    names = [n for n in _properties(getattr(real_pyorthanc, level)) if n not in VOLATILE]
    checked = 0
    for ref in ref_resources:
        ours = ours_by_id[ref.id_]
        for name in names:
            assert _outcome(ours, name) == _outcome(ref, name), f"{level}.{name}"
            checked += 1
        assert str(ours) == str(ref) == f"{level}({ref.id_})"
        assert ours.get_main_information() == ref.get_main_information()
        if level != "Instance":
            assert ours.last_update == ref.last_update
    assert checked > 20


def test_tag_values_and_missing_tags(pair: Pair) -> None:
    (patient,) = facade.find_patients(pair.ours, query={"PatientID": "PAT0001"})
    assert patient.patient_id == "PAT0001"
    assert patient.name == "Test^Patient1"
    assert patient.sex in ("M", "F", "O")
    assert patient.birth_date == real_pyorthanc.Patient(patient.id_, pair.ref).birth_date
    assert patient.birth_date is not None
    assert patient.protected is False
    with pytest.raises(facade.errors.TagDoesNotExistError):
        _ = patient.other_patient_ids
    studies = sorted(patient.studies, key=lambda s: s.date)
    assert [s.date.day for s in studies] == [2, 3]
    assert studies[0].parent_patient == patient
    assert studies[0].patient_information["PatientID"] == "PAT0001"
    series = studies[0].series[0]
    assert series.modality == "CT" and series.manufacturer == "ACME" and series.station_name == "ST1"
    assert series.image_orientation_patient == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert series.parent_study == studies[0]
    instance = sorted(series.instances, key=lambda i: i.instance_number)[1]
    assert instance.instance_number == 2
    assert instance.file_size == len(instance.get_dicom_file_content())
    assert len(instance.image_position_patient) == 3
    assert instance.tags["0010,0020"]["Value"] == "PAT0001"
    assert instance.simplified_tags["PatientID"] == "PAT0001"
    assert instance.get_content_by_tag("PatientID") == "PAT0001"
    assert instance.get_content_by_tag("0010-0020") == "PAT0001"
    ds = instance.get_pydicom()
    assert isinstance(ds, pydicom.FileDataset) and ds.SOPInstanceUID == instance.uid
    assert instance.parent_series == series and instance.parent_patient == patient
    with pytest.raises(facade.errors.TagDoesNotExistError):
        _ = instance.number_of_frames


def test_protected_setter(pair: Pair) -> None:
    patient = facade.find_patients(pair.ours)[0]
    patient.protected = True
    assert patient.protected is True
    assert real_pyorthanc.Patient(patient.id_, pair.ref).protected is True
    patient.protected = False
    assert patient.protected is False


def test_finders_exact_ids(pair: Pair) -> None:
    ours, ref = pair.ours, pair.ref
    cases = [
        (facade.find_patients, real_pyorthanc.find_patients, {"PatientID": "PAT0002"}),
        (facade.find_studies, real_pyorthanc.find_studies, {"StudyDate": "20240102"}),
        (facade.find_series, real_pyorthanc.find_series, {"Modality": "CT", "PatientID": "PAT0001"}),
        (facade.find_instances, real_pyorthanc.find_instances, {"InstanceNumber": "1"}),
        (facade.find_studies, real_pyorthanc.find_studies, {}),
    ]
    for mine, theirs, query in cases:
        got = mine(ours, query=query)
        assert _ids(got) == _ids(theirs(ref, query=query)), (mine.__name__, query)
        assert got
    assert len(facade.find_studies(ours, query={"StudyDate": "20240102"})) == 2
    assert len(facade.find_instances(ours)) == 16
    # Paging: limit/since, all pages or one.
    assert len(facade.query_orthanc(ours, "Instance", limit=5)) == 16
    assert len(facade.query_orthanc(ours, "Instance", limit=5, retrieve_all_resources=False)) == 5
    assert _ids(facade.query_orthanc(ours, "Instance", limit=5, since=10, retrieve_all_resources=False)) == _ids(
        real_pyorthanc.query_orthanc(ref, "Instance", limit=5, since=10, retrieve_all_resources=False))


def test_finder_takes_python_query_values(pair: Pair) -> None:
    """Query values go through the native conversion: dates, ranges and lists as well as DICOM strings."""
    ours = pair.ours
    by_string = _ids(facade.find_studies(ours, query={"StudyDate": "20240102"}))
    assert len(by_string) == 2
    assert _ids(facade.find_studies(ours, query={"StudyDate": date(2024, 1, 2)})) == by_string
    assert _ids(facade.find_studies(ours, query={"StudyDate": (None, date(2024, 1, 2))})) == by_string
    assert len(facade.find_patients(ours, query={"PatientID": ["PAT0001", "PAT0002"]})) == 2
    with pytest.raises(ValueError):
        facade.find_studies(ours, query={"StudyDate": (None, None)})


def test_finder_validation(pair: Pair) -> None:
    with pytest.raises(ValueError, match="level should be one of"):
        facade.query_orthanc(pair.ours, "Image")
    with pytest.raises(ValueError, match="labels_constraint should be one of"):
        facade.find_studies(pair.ours, labels=["x"], labels_constraint="Some")


def test_finder_is_one_request(pair: Pair) -> None:
    sent: list[str] = []
    pair.ours.event_hooks["request"] = [lambda request: sent.append(request.url.path)]
    studies = facade.find_studies(pair.ours)
    _ = [(s.uid, s.date, s.description) for s in studies]
    assert sent == ["/tools/find"]


@pytest.mark.orthanc_min("1.12")
def test_labels(pair: Pair) -> None:
    ours, ref = pair.ours, pair.ref
    study = facade.find_studies(ours, query={"PatientID": "PAT0001"})[0]
    study.add_label("reviewed")
    assert study.labels == ["reviewed"]
    series = study.series[0]
    series.add_label("keep")
    for labels, constraint in [(["reviewed"], "All"), ("reviewed", "Any"), (["reviewed"], "None")]:
        got = facade.find_studies(ours, labels=labels, labels_constraint=constraint)
        assert _ids(got) == _ids(real_pyorthanc.find_studies(ref, labels=labels, labels_constraint=constraint))
    assert _ids(facade.find_studies(ours, labels="reviewed")) == {study.id_}
    assert _ids(facade.find_series(ours, labels=["keep"])) == {series.id_}
    study.remove_label("reviewed")
    assert study.labels == []
    instance = series.instances[0]
    instance.add_label("one")
    assert real_pyorthanc.Instance(instance.id_, ref).labels == ["one"]
    instance.remove_label("one")
    assert instance.labels == []


def test_tree_find_matches_pyorthanc(pair: Pair) -> None:
    def shape(patients: list[Any]) -> dict[str, Any]:
        return {
            p.id_: {s.id_: {se.id_: sorted(i.id_ for i in se.instances) for se in s.series} for s in p.studies}
            for p in patients
        }

    filters = [
        {},
        {"patient_filter": lambda p: p.patient_id == "PAT0002"},
        {"study_filter": lambda s: s.date.day == 3},
        {"series_filter": lambda s: s.series_number == 1},
        {"instance_filter": lambda i: i.instance_number == 2},
        {"study_filter": lambda s: s.date.day == 3, "instance_filter": lambda i: False},
    ]
    for kwargs in filters:
        expected = shape(real_pyorthanc.find(pair.ref, **kwargs))
        got = facade.find(pair.ours, **kwargs)
        assert shape(got) == expected, kwargs
        assert [p.id_ for p in got] == [p.id_ for p in real_pyorthanc.find(pair.ref, **kwargs)]
        assert facade.trim_patients(got) == got


def test_anonymize_and_modify(pair: Pair) -> None:
    ours = pair.ours
    study = facade.find_studies(ours, query={"PatientID": "PAT0001", "StudyDate": "20240102"})[0]
    anonymous = study.anonymize(keep=["StudyDescription"], replace={"InstitutionName": "Anon"})
    assert isinstance(anonymous, facade.Study) and anonymous.id_ != study.id_
    assert anonymous.institution_name == "Anon"
    assert anonymous.description == study.description
    with pytest.raises(facade.errors.ModificationError):
        study.modify(replace={"StudyInstanceUID": "1.2.3"})
    with pytest.raises(facade.errors.ModificationError):
        study.modify_as_job(replace={"StudyInstanceUID": "1.2.3"})
    patient = study.parent_patient
    with pytest.raises(facade.errors.ModificationError):
        patient.modify(replace={"PatientID": "X"})
    moved = patient.modify(replace={"PatientID": "PATX", "PatientName": "Changed^Name"}, force=True)
    assert moved != patient and moved.patient_id == "PATX" and moved.name == "Changed^Name"
    series = study.series[0]
    modified = series.modify(replace={"SeriesDescription": "new"})
    assert modified.description == "new"
    instance = series.instances[0]
    with pytest.raises(facade.errors.ModificationError):
        instance.modify(replace={"SOPInstanceUID": "1.2.3"})
    anon_bytes = instance.anonymize()
    assert pydicom.dcmread(io.BytesIO(anon_bytes)).PatientID != "PAT0001"
    mod_bytes = instance.modify(replace={"PatientName": "Other"})
    assert str(pydicom.dcmread(io.BytesIO(mod_bytes)).PatientName) == "Other"


def test_jobs(pair: Pair) -> None:
    study = facade.find_studies(pair.ours, query={"PatientID": "PAT0002", "StudyDate": "20240103"})[0]
    job = study.anonymize_as_job(replace={"StudyDescription": "Anonymous"})
    assert isinstance(job, facade.Job)
    job.wait_until_completion()
    assert job.state == facade.jobs.State.success
    assert job.type == "ResourceModification"
    assert job.progress == 100
    assert job.error == facade.jobs.ErrorCode.SUCCESS
    assert job.error_details in (None, "")
    assert job.completion_time is not None and job.creation_time is not None and job.timestamp is not None
    assert job.completion_time >= job.creation_time
    assert isinstance(job.effective_runtime, float) and isinstance(job.priority, int)
    new_study = facade.Study(job.content["ID"], pair.ours)
    assert new_study.description == "Anonymous"
    ref_job = real_pyorthanc.Job(job.id_, pair.ref)
    for name in ("state", "type", "progress", "priority", "content", "creation_time", "completion_time"):
        assert getattr(job, name).__repr__() .split(".")[-1] == getattr(ref_job, name).__repr__().split(".")[-1]
    patient = study.parent_patient
    job = patient.modify_as_job(replace={"PatientID": "NEWID"}, force=True)
    job.wait_until_completion()
    assert facade.Patient(job.content["ID"], pair.ours).patient_id == "NEWID"


def test_downloads(pair: Pair, tmp_path: Path) -> None:
    study = facade.find_studies(pair.ours, query={"PatientID": "PAT0001"})[0]
    ref_study = real_pyorthanc.Study(study.id_, pair.ref)
    target = tmp_path / "study.zip"
    study.download(str(target))
    with zipfile.ZipFile(target) as archive:
        assert len([n for n in archive.namelist() if not n.endswith("/")]) == 4
    buffer = io.BytesIO()
    study.download(buffer)
    assert zipfile.ZipFile(buffer).namelist() == zipfile.ZipFile(io.BytesIO(ref_study.get_zip())).namelist()
    assert zipfile.ZipFile(io.BytesIO(study.get_zip())).namelist() == zipfile.ZipFile(target).namelist()
    instance = study.series[0].instances[0]
    instance.download(str(tmp_path / "one.dcm"))
    assert (tmp_path / "one.dcm").read_bytes() == instance.get_dicom_file_content()
    series = study.series[0]
    buffer = io.BytesIO()
    series.download(buffer)
    assert len(zipfile.ZipFile(buffer).namelist()) >= 2
    patient = study.parent_patient
    patient.download(str(tmp_path / "p.zip"))
    assert zipfile.is_zipfile(tmp_path / "p.zip")


def test_failed_download_raises_and_writes_nothing(pair: Pair, tmp_path: Path) -> None:
    gone = facade.Study("0" * 8 + "-00000000-00000000-00000000-00000000", pair.ours)
    target = tmp_path / "gone.zip"
    with pytest.raises(NotFoundError):
        gone.download(str(target))
    assert not target.exists()
    # pyorthanc writes Orthanc's error body into the file without a word.
    ref_target = tmp_path / "ref.zip"
    real_pyorthanc.Study(gone.id_, pair.ref).download(str(ref_target))
    assert not zipfile.is_zipfile(ref_target)
    with pytest.raises(TypeError):
        gone.download(12345)  # type: ignore[arg-type]


def test_retrieve_and_write(pair: Pair, tmp_path: Path) -> None:
    ours_dir, ref_dir = tmp_path / "ours", tmp_path / "ref"
    facade.retrieve_and_write_patients(facade.find_patients(pair.ours), ours_dir)
    real_pyorthanc.retrieve_and_write_patients(real_pyorthanc.find_patients(pair.ref), ref_dir)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.dcm")}

    mine = files(ours_dir)
    assert len(mine) == 16
    assert mine == files(ref_dir)
    assert all(path.startswith("PAT000") for path in mine)
    assert os.path.isdir(ours_dir / "PAT0001")


def test_download_with_progress_counts_every_byte_and_leaves_no_partial_file(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates: list[int] = []

    class FakeBar:  # stands in for tqdm, which the test environment does not install
        def __init__(self, **options: Any) -> None:
            self.total = options.get("total")

        def __enter__(self) -> FakeBar:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: int) -> None:
            updates.append(n)

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    study = facade.find_studies(pair.ours, query={"PatientID": "PAT0001"})[0]
    target = tmp_path / "progress.zip"
    study.download(str(target), with_progres=True)
    assert zipfile.is_zipfile(target) and sum(updates) == target.stat().st_size
    assert not (tmp_path / "progress.zip.part").exists()
    gone = facade.Study("0" * 8 + "-00000000-00000000-00000000-00000000", pair.ours)
    with pytest.raises(NotFoundError):
        gone.download(str(tmp_path / "gone.zip"), with_progres=True)
    assert list(tmp_path.glob("gone.zip*")) == []
