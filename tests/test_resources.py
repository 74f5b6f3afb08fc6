"""Patient/Study/Series/Instance against real Orthanc servers, sync and async."""

from __future__ import annotations

import datetime as dt
import io

import httpx
import pydicom
import pytest

import orthanc_client.aio as aio
from orthanc_client import (
    Instance,
    InvalidInputError,
    NotFoundError,
    NotLoadedError,
    Orthanc,
    Patient,
    Series,
    Study,
    UnsupportedByServerError,
)
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_instance, make_study

from .test_resources_support import async_client, sync_client, upload

MISSING_ID = "0" * 8 + "-00000000" * 4  # well formed, on no server


@pytest.fixture
def study_id(clean_orthanc: OrthancServer) -> str:
    """One study: 2 series x 3 instances, BodyPartExamined on every instance."""
    answers = upload(clean_orthanc, make_study(2, 3, patient_id="RES1", rows=8, columns=8, BodyPartExamined="HEAD"))
    return answers[0]["ParentStudy"]


def test_typed_attributes_and_lazy_single_load(clean_orthanc: OrthancServer, study_id: str) -> None:
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password, http_client=http) as client:
        study = Study(study_id, client)
        assert sent == [] and not study.is_loaded
        assert study.date == dt.date(2024, 1, 2) and study.time == dt.time(12, 0)
        assert study.datetime == dt.datetime(2024, 1, 2, 12, 0)
        assert study.description == "Synthetic study" and study.accession_number == "ACC0001"
        assert study.uid and study.institution_name is None  # absent tag: None, no crash
        assert sent == [f"/studies/{study_id}"]  # one request for all of the above
        assert isinstance(study.last_update, dt.datetime) and study.is_stable in (True, False)
        patient = study.patient
        assert patient.name == "Test^Patient" and patient.patient_id == "RES1"
        assert patient.birth_date == dt.date(1970, 1, 1) and patient.sex == "O"
        series = study.series
        assert sorted(s.series_number or 0 for s in series) == [1, 2]
        assert {s.modality for s in series} == {"CT"} and all(s.study is study for s in series)
        first = min(series, key=lambda s: s.series_number or 0)
        assert first.description == "Series 1" and first.image_orientation_patient == [1, 0, 0, 0, 1, 0]
        instances = first.instances
        assert sorted(i.instance_number or 0 for i in instances) == [1, 2, 3]
        instance = instances[0]
        assert instance.series is first and instance.study.id == study_id and instance.patient == patient
        assert instance.image_position_patient is not None and len(instance.image_position_patient) == 3
        assert isinstance(instance.file_size, int) and instance.file_size > 0
        assert len(study.instances) == 6 and patient.studies == [study]
        assert study == Study(study_id, client) and len({study, Study(study_id, client)}) == 1
        assert study != Series(study_id, client) and repr(study) == f"Study({study_id!r})"


def test_children_know_their_ancestors_without_requests(clean_orthanc: OrthancServer, study_id: str) -> None:
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password, http_client=http) as client:
        study = Study.get(client, study_id)
        patient = study.patient
        instance = study.instances[0]
        assert instance.study is study and instance.patient is patient
        series = study.series[0]
        assert series.study is study and series.patient is patient
        child = series.instances[0]
        assert child.series is series and child.study is study and child.patient is patient
        patient_study = Patient(patient.id, client).studies[0]
        assert patient_study.series[0].instances[0].patient is patient_study.patient
        assert sent == [f"/studies/{study_id}", f"/studies/{study_id}/patient", f"/studies/{study_id}/instances",
                        f"/studies/{study_id}/series", f"/series/{series.id}/instances",
                        f"/patients/{patient.id}/studies", f"/studies/{study_id}/series",
                        f"/series/{patient_study.series[0].id}/instances"]
        listed = study.series
        listed.clear()  # a copy: the cache is unchanged
        assert len(study.series) == 2 and len(sent) == 8


def test_tags_by_keyword_and_number_fetched_once(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        instance = Study(study_id, client).instances[0]
        assert instance.get_tag("SOPInstanceUID") == instance.uid  # a main tag: no /tags request
        assert instance.get_tag("PatientName") == "Test^Patient"
        assert instance.tag(0x0028, 0x0010) == 8 and instance.get_tag((0x0028, 0x0011)) == 8
        assert instance.get_tag("0028,0030") == [0.5, 0.5] and instance.get_tag("ContentDate") == dt.date(2024, 1, 2)
        assert instance.get_tag("ImageType") == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert instance.get_tag("PatientWeight") is None
        assert instance.get_tag("Rows", parse=False) == "8"
        assert instance.get_tags()["BodyPartExamined"] == "HEAD"
        study = Study(study_id, client)
        assert study.get_tag("BodyPartExamined") == "HEAD"  # shared by all instances
        assert study.get_tag("PatientName") == "Test^Patient"
        assert Series(study.series[0].id, client).get_shared_tags()["Modality"] == "CT"


def test_metadata_statistics_protected_and_delete(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        study = Study.get(client, study_id)
        metadata = study.get_metadata()
        assert isinstance(metadata["LastUpdate"], dt.datetime) and metadata["LastUpdate"].tzinfo is not None
        study.set_metadata("1025", "hello")
        assert study.get_metadata()["1025"] == "hello"
        study.delete_metadata("1025")
        assert "1025" not in study.get_metadata()
        instance_metadata = study.instances[0].get_metadata()
        assert isinstance(instance_metadata["IndexInSeries"], int)
        assert isinstance(instance_metadata["ReceptionDate"], dt.datetime)
        stats = study.get_statistics()
        assert stats.count_instances == 6 and stats.count_series == 2 and stats.disk_size > 0
        patient = study.patient
        assert patient.get_protected() is False
        patient.set_protected(True)
        assert patient.get_protected() is True
        patient.set_protected(False)
        series = study.series[0]
        series.delete()
        with pytest.raises(NotFoundError):
            Series.get(client, series.id)
        assert len(study.refresh().data["Series"]) == 1


@pytest.mark.orthanc112
def test_labels(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        study = Study.get(client, study_id)
        assert study.labels == [] and study.get_labels() == []
        study.add_label("todo")
        study.add_label("research")
        assert study.labels == ["research", "todo"] and sorted(study.get_labels()) == ["research", "todo"]
        study.remove_label("todo")
        assert study.get_labels() == ["research"] and study.refresh().labels == ["research"]


@pytest.mark.orthanc_min("1.10")
def test_labels_on_old_server_raise_before_any_request(clean_orthanc: OrthancServer, study_id: str) -> None:
    if not clean_orthanc.version.startswith("1.10"):
        pytest.skip("checks the 1.10 refusal")
    with sync_client(clean_orthanc) as client, pytest.raises(UnsupportedByServerError, match="1.12"):
        Study(study_id, client).add_label("x")


def test_modify_and_anonymize_return_the_new_resource(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        study = Study(study_id, client)
        modified = study.modify(replace={"StudyDescription": "Reviewed"}, keep_source=True, timeout=60)
        assert isinstance(modified, Study) and modified.id != study_id
        assert modified.description == "Reviewed" and modified.uid != study.uid
        anonymous = study.anonymize(replace={"PatientName": "ANON^X"}, keep=["StudyDescription"], timeout=60)
        assert anonymous.patient_main_tags["PatientName"] == "ANON^X"
        assert anonymous.description == "Synthetic study" and anonymous.patient_main_tags["PatientID"] != "RES1"
        job = study.series[0].anonymize_as_job(priority=3)
        job.wait(timeout=60)
        new_series = Series.get(client, job.content["ID"])
        assert new_series.instances[0].get_tag("PatientName") != "Test^Patient"
        with pytest.raises(InvalidInputError, match="force=True"):
            study.modify(replace={"StudyInstanceUID": "1.2.3"})
        forced = study.modify(replace={"StudyInstanceUID": "1.2.3.4"}, force=True, timeout=60)
        assert forced.uid == "1.2.3.4"
        # Instance level is synchronous in Orthanc: the new file's bytes.
        instance = study.instances[0]
        data = instance.modify(replace={"SeriesDescription": "Changed"})
        assert pydicom.dcmread(io.BytesIO(data)).SeriesDescription == "Changed"
        anonymized = pydicom.dcmread(io.BytesIO(instance.anonymize()))
        assert anonymized.PatientID != "RES1"
        for job_only in ({"keep_source": False}, {"priority": 2}):  # refused, not silently dropped
            with pytest.raises(InvalidInputError, match="only apply to"):
                instance.modify(replace={"SeriesDescription": "x"}, **job_only)
            with pytest.raises(InvalidInputError, match="only apply to"):
                instance.anonymize(**job_only)


def test_pydicom(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        series = Study(study_id, client).series[0]
        datasets = list(series.get_pydicom(concurrency=2))
        assert sorted(int(ds.InstanceNumber) for ds in datasets) == [1, 2, 3]
        one = series.instances[0].get_pydicom()
        assert one.SOPInstanceUID == series.instances[0].uid and one.pixel_array.shape == (8, 8)


async def test_async_api_reads_the_same_and_says_what_to_await(clean_orthanc: OrthancServer, study_id: str) -> None:
    async with async_client(clean_orthanc) as client:
        bare = aio.Study(study_id, client)
        with pytest.raises(NotLoadedError, match=r"await resource.load\(\)"):
            _ = bare.date
        await bare.load()
        assert bare.date == dt.date(2024, 1, 2)
        with pytest.raises(NotLoadedError, match="get_series"):
            _ = bare.series
        series = await bare.get_series()
        assert bare.series == series and len(series) == 2
        instances = await series[0].get_instances()
        assert await instances[0].get_tag("PatientName") == "Test^Patient"
        assert (await instances[0].get_patient()).name == "Test^Patient"
        datasets = [ds async for ds in series[0].get_pydicom()]
        assert len(datasets) == 3
        study = await aio.Study.get(client, study_id)
        copy = await study.modify(replace={"StudyDescription": "Async"}, timeout=60)
        assert isinstance(copy, aio.Study) and copy.description == "Async"
        assert (await study.get_statistics()).count_instances == 6
        patient = await study.get_patient()
        assert isinstance(patient, aio.Patient) and len(await patient.get_studies()) == 2


def test_async_navigation_properties_name_the_call_to_await() -> None:
    relations = {
        aio.Patient: ["studies"],
        aio.Study: ["patient", "series", "instances"],
        aio.Series: ["study", "patient", "instances"],
        aio.Instance: ["series", "study", "patient"],
    }
    for cls, names in relations.items():
        resource = cls(MISSING_ID, None)  # type: ignore[arg-type]  # no I/O: the client is never used
        for name in names:
            with pytest.raises(NotLoadedError, match=rf"{cls.__name__} {MISSING_ID}: .*`await resource\.get_{name}\(\)`"):
                getattr(resource, name)
            assert f"get_{name}()" in (getattr(cls, name).__doc__ or "")


def test_bare_resources_validate_their_id(clean_orthanc: OrthancServer) -> None:
    with sync_client(clean_orthanc) as client:
        with pytest.raises(InvalidInputError):
            Patient("", client)
        with pytest.raises(InvalidInputError, match="not an Orthanc identifier"):
            Instance("does-not-exist", client)
        with pytest.raises(NotFoundError):
            _ = Instance(MISSING_ID, client).uid
        answer = upload(clean_orthanc, [make_instance(patient_id="P", patient_name="N", study_uid="1.2", series_uid="1.2.3")])
        assert Instance(answer[0]["ID"], client).number_of_frames is None
