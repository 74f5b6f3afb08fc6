"""find_*/iter_* against real Orthanc servers: filters, Python query values, paging, request counts."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

import orthanc_client.aio as aio
from orthanc_client import (
    InvalidInputError,
    Orthanc,
    Study,
    UnsupportedByServerError,
    find_instances,
    find_patients,
    find_series,
    find_studies,
    iter_studies,
)
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree

from .test_resources_support import async_client, sync_client, upload


@pytest.fixture
def tree(clean_orthanc: OrthancServer) -> OrthancServer:
    """3 patients x 3 studies (dated 2024-01-02, -03, -04) x 1 series x 2 instances."""
    upload(clean_orthanc, make_patient_tree(3, 3, 1, 2, rows=8, columns=8))
    return clean_orthanc


def test_find_each_level_with_python_values(tree: OrthancServer) -> None:
    with sync_client(tree) as client:
        assert {p.patient_id for p in find_patients(client)} == {"PAT0001", "PAT0002", "PAT0003"}
        studies = find_studies(client, {"PatientID": "PAT0002"})
        assert sorted(s.date for s in studies) == [dt.date(2024, 1, d) for d in (2, 3, 4)]  # type: ignore[type-var]
        ranged = find_studies(client, {"StudyDate": (dt.date(2024, 1, 3), None)})
        assert len(ranged) == 6 and all(s.date and s.date >= dt.date(2024, 1, 3) for s in ranged)
        either = find_studies(client, {"AccessionNumber": ["ACC000101", "ACC000302"]})
        assert sorted(s.accession_number or "" for s in either) == ["ACC000101", "ACC000302"]
        assert len(find_series(client, {"Modality": "CT"})) == 9
        assert len(find_instances(client, {"InstanceNumber": "1"})) == 9
        assert find_studies(client, {"PatientName": "nobody*"}) == []
        wildcard = find_studies(client, {"StudyDescription": "study 1"}, case_sensitive=False)
        assert len(wildcard) == 3
        assert find_studies(client, {"StudyDescription": "study 1"}, case_sensitive=True) == []


def test_paging_limit_and_since_are_exact_on_every_version(tree: OrthancServer) -> None:
    with sync_client(tree) as client:
        everything = [s.id for s in find_studies(client, page_size=1000)]
        assert len(everything) == 9 and len(set(everything)) == 9
        paged = [s.id for s in iter_studies(client, page_size=2)]
        assert sorted(paged) == sorted(everything) and len(paged) == 9
        assert [s.id for s in find_studies(client, limit=5, page_size=2)] == paged[:5]
        assert [s.id for s in find_studies(client, since=4, page_size=3)] == paged[4:]
        filtered = [s.id for s in find_studies(client, {"PatientID": "PAT000*"}, limit=4, since=3, page_size=2)]
        assert filtered == paged[3:7]


def test_find_and_read_tags_costs_one_request_per_page(tree: OrthancServer) -> None:
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with Orthanc(tree.url, tree.username, tree.password, http_client=http) as client:
        studies = find_studies(client, page_size=4)
        values = [(s.uid, s.date, s.description, s.accession_number, s.patient_main_tags["PatientID"])
                  for s in studies]
    assert len(values) == 9 and all(v[0] and v[1] and v[3] for v in values)
    assert sent == ["/tools/find"] * 3  # pages of 4, 4, 1: nothing per study


async def test_async_find_and_iter(tree: OrthancServer) -> None:
    async with async_client(tree) as client:
        studies = await aio.find_studies(client, {"PatientID": "PAT0001"})
        assert len(studies) == 3 and all(isinstance(s, aio.Study) for s in studies)
        streamed = [s async for s in aio.iter_studies(client, page_size=2, limit=7)]
        assert len(streamed) == 7
        assert (await aio.find_patients(client, {"PatientName": "Test^Patient2"}))[0].sex == "F"


@pytest.mark.orthanc_min("1.12.5")
def test_labels_requested_tags_and_order_by(tree: OrthancServer) -> None:
    with sync_client(tree) as client:
        target = find_studies(client, {"AccessionNumber": "ACC000203"})[0]
        target.add_label("reviewed")
        assert [s.id for s in find_studies(client, labels=["reviewed"])] == [target.id]
        assert len(find_studies(client, labels=["reviewed"], labels_constraint="None")) == 8
        with_tags = find_studies(client, {"PatientID": "PAT0001"}, requested_tags=["ModalitiesInStudy"])
        assert all(s.main_dicom_tags.get("ModalitiesInStudy") == "CT" for s in with_tags)
        ordered = find_studies(client, order_by=[("DicomTag", "StudyDate", "DESC")])
        dates = [s.date for s in ordered]
        assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]


@pytest.mark.orthanc_min("1.10")
def test_options_too_new_for_the_server_are_refused_before_sending(tree: OrthancServer) -> None:
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with Orthanc(tree.url, tree.username, tree.password, http_client=http) as client:
        if tree.version.startswith("1.10"):
            with pytest.raises(UnsupportedByServerError, match="labels"):
                find_studies(client, labels=["x"])
            with pytest.raises(UnsupportedByServerError, match=r"requested_tags=.*1\.11"):
                find_studies(client, requested_tags=["ModalitiesInStudy"])
            with pytest.raises(UnsupportedByServerError, match=r"order_by=.*1\.12\.5"):
                find_studies(client, order_by=[("DicomTag", "StudyDate", "ASC")])
            with pytest.raises(UnsupportedByServerError, match=r"metadata_query=.*1\.12\.5"):
                find_studies(client, metadata_query={"1024": "x"})
            assert sent == ["/system"]  # the version, asked once; no /tools/find
        with pytest.raises(InvalidInputError):
            find_studies(client, labels="x")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            find_studies(client, page_size=0)
        assert isinstance(find_studies(client, limit=1)[0], Study)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("2024", "20240101-20241231"),
        ("202402", "20240201-20240229"),
        ("2023-02", "20230201-20230228"),
        ("2023-2024", "20230101-20241231"),
        ("202311-202402", "20231101-20240229"),
        ("2024-", "20240101-"),
        ("-2023", "-20231231"),
        ("20240102", "20240102"),
        ("20240102-20240103", "20240102-20240103"),
        ("2024*", "2024*"),
    ],
)
def test_years_and_months_are_whole_date_ranges(typed: str, sent: str) -> None:
    from orthanc_client._dicom.query import dicom_query

    assert dicom_query({"StudyDate": typed, "PatientBirthDate": typed}) == {
        "StudyDate": sent,
        "PatientBirthDate": sent,
    }
    assert dicom_query({"AccessionNumber": typed}) == {"AccessionNumber": typed}  # not a date: as typed


@pytest.mark.parametrize("typed", ["2024-13", "202400", "202413-"])
def test_an_impossible_month_is_refused(typed: str) -> None:
    from orthanc_client._dicom.query import dicom_query

    with pytest.raises(InvalidInputError, match="StudyDate"):
        dicom_query({"StudyDate": typed})


def test_a_year_or_month_finds_the_studies_of_that_period(tree: OrthancServer) -> None:
    with sync_client(tree) as client:
        assert len(find_studies(client, {"StudyDate": "2024"})) == 9
        assert len(find_studies(client, {"StudyDate": "2024-01"})) == 9
        assert find_studies(client, {"StudyDate": "2023"}) == []
        assert len(find_studies(client, {"StudyDate": "2023-202401"})) == 9
