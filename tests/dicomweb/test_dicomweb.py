"""``client.dicomweb`` against the real DICOMweb plugin on both Orthanc releases, sync and async, compared
with dicomweb-client (the reference implementation) on the same server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset, dcmread

from orthanc_client import InvalidInputError, NotFoundError
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, make_study, to_bytes, write

from .conftest import Api, upload


def reference(server: OrthancServer) -> DICOMwebClient:
    session = requests.Session()
    session.auth = server.auth
    return DICOMwebClient(url=f"{server.url}/dicom-web", session=session)


def uids(datasets: list[Any], keyword: str = "StudyInstanceUID") -> list[str]:
    return sorted(str(getattr(ds, keyword)) for ds in datasets)


@pytest.fixture
def tree(clean_dicomweb: OrthancServer) -> list[Dataset]:
    """3 patients x 2 studies x 2 series x 2 instances, study j of each patient dated 2024-01-02 + j."""
    datasets = make_patient_tree(3, 2, 2, 2)
    upload(clean_dicomweb, datasets)
    return datasets


# ---------------------------------------------------------------- QIDO-RS


async def test_search_for_studies_matches_dicomweb_client(
    api: Api, tree: list[Dataset], clean_dicomweb: OrthancServer
) -> None:
    ours = await api.call("search_for_studies")
    theirs = reference(clean_dicomweb).search_for_studies()
    assert len(ours) == 6
    assert uids(ours) == sorted(Dataset.from_json(item).StudyInstanceUID for item in theirs)
    # exact match: both agree
    patient = str(tree[0].PatientID)
    ours = await api.call("search_for_studies", search_filters={"PatientID": patient})
    theirs = reference(clean_dicomweb).search_for_studies(search_filters={"PatientID": patient})
    assert len(ours) == 2
    assert uids(ours) == sorted(Dataset.from_json(item).StudyInstanceUID for item in theirs)
    assert all(ds.PatientID == patient for ds in ours)


async def test_wildcards_are_sent_so_that_orthanc_matches_them(
    api: Api, tree: list[Dataset], clean_dicomweb: OrthancServer
) -> None:
    ours = await api.call("search_for_studies", search_filters={"PatientName": "Test^Patient1*"})
    assert {ds.PatientID for ds in ours} == {str(tree[0].PatientID)}
    # dicomweb-client sends '*' as %2A, which the plugin does not decode: it finds nothing
    theirs = reference(clean_dicomweb).search_for_studies(search_filters={"PatientName": "Test^Patient1*"})
    assert len(ours) == 2 and len(theirs) in (0, 2)


async def test_search_values_dates_ranges_lists_fields(api: Api, tree: list[Dataset]) -> None:
    dates = sorted({str(ds.StudyDate) for ds in tree})
    first = dt.datetime.strptime(dates[0], "%Y%m%d").date()
    on_first = await api.call("search_for_studies", search_filters={"StudyDate": first})
    assert {ds.StudyDate for ds in on_first} == {dates[0]} and len(on_first) == 3
    from_second = await api.call("search_for_studies", search_filters={"StudyDate": (first + dt.timedelta(1), None)})
    assert {ds.StudyDate for ds in from_second} == set(dates[1:])
    patients = [str(tree[0].PatientID), str(tree[-1].PatientID)]
    both = await api.call("search_for_studies", search_filters={"PatientID": patients})
    assert {ds.PatientID for ds in both} == set(patients)
    with_fields = await api.call("search_for_studies", fields=["StudyDescription"], limit=1)
    assert len(with_fields) == 1 and "StudyDescription" in with_fields[0]


async def test_series_and_instances_searches(api: Api, tree: list[Dataset], clean_dicomweb: OrthancServer) -> None:
    study = str(tree[0].StudyInstanceUID)
    series = await api.call("search_for_series", study)
    assert len(series) == 2
    assert uids(series, "SeriesInstanceUID") == sorted(
        Dataset.from_json(item).SeriesInstanceUID for item in reference(clean_dicomweb).search_for_series(study)
    )
    instances = await api.call("search_for_instances", study, str(series[0].SeriesInstanceUID))
    assert len(instances) == 2
    every = await api.call("search_for_instances")
    assert len(every) == len(tree)
    ct = await api.call("search_for_series", search_filters={"Modality": "CT"})
    assert len(ct) == 12


async def test_paging_iterators_and_get_remaining(api: Api, tree: list[Dataset]) -> None:
    paged = await api.collect("iter_search_for_instances", page_size=5)
    assert uids(paged, "SOPInstanceUID") == uids(tree, "SOPInstanceUID")
    assert len(await api.call("search_for_instances", limit=5)) == 5
    remaining = await api.call("search_for_instances", limit=5, get_remaining=True)
    assert uids(remaining, "SOPInstanceUID") == uids(tree, "SOPInstanceUID")
    studies = await api.collect("iter_search_for_studies", {"PatientID": str(tree[0].PatientID)}, page_size=1)
    assert len(studies) == 2


async def test_search_cache_serves_repeated_searches_within_the_ttl(
    tree: list[Dataset], clean_dicomweb: OrthancServer
) -> None:
    from orthanc_client import DicomWeb, Orthanc, SearchCache, find_studies

    with Orthanc(clean_dicomweb.url, *clean_dicomweb.auth) as client:
        cached = DicomWeb(client, cache_ttl=60)
        assert len(cached.search_for_studies()) == 6
        shared = SearchCache(ttl=60)
        assert len(find_studies(client, {}, cache=shared)) == 6
        client.delete_patients_id(client.get_patients()[0])
        assert len(cached.search_for_studies()) == 6  # served from memory
        assert len(find_studies(client, {}, cache=shared)) == 6
        assert shared.hits == 1 and cached.cache is not None and cached.cache.hits == 1
        assert len(client.dicomweb.search_for_studies()) == 4  # an uncached client sees the deletion
        assert len(find_studies(client, {})) == 4
        cached.clear_cache()
        shared.clear()
        assert len(cached.search_for_studies()) == 4
        assert len(find_studies(client, {}, cache=shared)) == 4
    expiring = SearchCache(ttl=0.05)
    expiring.put("k", [1])
    assert expiring.get("k") == [1]
    __import__("time").sleep(0.1)
    assert expiring.get("k") is None


# ---------------------------------------------------------------- WADO-RS


async def test_retrieve_study_pixels_identical_to_what_was_stored(
    api: Api, clean_dicomweb: OrthancServer
) -> None:
    sent = make_study(2, 3, rows=64, columns=64)
    upload(clean_dicomweb, sent)
    study = str(sent[0].StudyInstanceUID)
    ours = await api.call("retrieve_study", study)
    theirs = reference(clean_dicomweb).retrieve_study(study)
    by_uid = {str(ds.SOPInstanceUID): ds for ds in sent}
    assert uids(ours, "SOPInstanceUID") == sorted(by_uid) == uids(theirs, "SOPInstanceUID")
    for dataset in ours:
        assert dataset.PixelData == by_uid[str(dataset.SOPInstanceUID)].PixelData
    theirs_by_uid = {str(ds.SOPInstanceUID): ds for ds in theirs}
    for dataset in ours:
        assert dataset == theirs_by_uid[str(dataset.SOPInstanceUID)]


async def test_iter_and_retrieve_series_and_instance(api: Api, clean_dicomweb: OrthancServer) -> None:
    sent = make_study(2, 3)
    upload(clean_dicomweb, sent)
    study, series, sop = (str(sent[0].StudyInstanceUID), str(sent[0].SeriesInstanceUID), str(sent[0].SOPInstanceUID))
    streamed = await api.collect("iter_series", study, series)
    assert uids(streamed, "SOPInstanceUID") == sorted(str(ds.SOPInstanceUID) for ds in sent[:3])
    assert uids(await api.call("retrieve_series", study, series), "SOPInstanceUID") == uids(streamed, "SOPInstanceUID")
    assert len(await api.collect("iter_study", study)) == 6
    one = await api.call("retrieve_instance", study, series, sop)
    assert one.SOPInstanceUID == sop and one.PixelData == sent[0].PixelData


# dicomweb-client's metadata is plain JSON: pydicom warns when the test reads it without a bulk data handler
@pytest.mark.filterwarnings("ignore:No bulk data URI handler provided:UserWarning")
async def test_metadata_matches_dicomweb_client_and_keeps_bulk_data_uris(
    api: Api, clean_dicomweb: OrthancServer
) -> None:
    sent = make_study(1, 2)
    upload(clean_dicomweb, sent)
    study, series, sop = (str(sent[0].StudyInstanceUID), str(sent[0].SeriesInstanceUID), str(sent[0].SOPInstanceUID))
    ours = await api.call("retrieve_study_metadata", study)
    theirs = reference(clean_dicomweb).retrieve_study_metadata(study)
    assert uids(ours, "SOPInstanceUID") == sorted(Dataset.from_json(item).SOPInstanceUID for item in theirs)
    assert len(await api.call("retrieve_series_metadata", study, series)) == 2
    one = await api.call("retrieve_instance_metadata", study, series, sop)
    assert one.Rows == sent[0].Rows and one.PatientID == sent[0].PatientID
    assert "PixelData" not in one or not one.PixelData
    uri = one.bulk_data_uris["7FE00010"]
    assert uri.startswith(clean_dicomweb.url)
    (pixels,) = await api.call("retrieve_bulkdata", uri)
    assert pixels == sent[0].PixelData
    with pytest.raises(InvalidInputError, match="not a bulk data URI"):
        await api.call("retrieve_bulkdata", "http://elsewhere.example/dicom-web/studies/1/bulk/7fe00010")


async def test_frames_rendered_and_wado_uri(api: Api, clean_dicomweb: OrthancServer) -> None:
    sent = make_study(1, 1, rows=32, columns=32)
    upload(clean_dicomweb, sent)
    study, series, sop = (str(sent[0].StudyInstanceUID), str(sent[0].SeriesInstanceUID), str(sent[0].SOPInstanceUID))
    (frame,) = await api.call("retrieve_instance_frames", study, series, sop, [1])
    assert frame == sent[0].PixelData
    jpeg = await api.call("retrieve_instance_rendered", study, series, sop, media_types=["image/jpeg"])
    assert jpeg[:3] == b"\xff\xd8\xff"
    data = await api.call("retrieve_instance_wado_uri", study, series, sop)
    assert data[128:132] == b"DICM"
    assert dcmread(__import__("io").BytesIO(data)).PixelData == sent[0].PixelData
    image = await api.call("retrieve_instance_wado_uri", study, series, sop, content_type="image/jpeg")
    assert image[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize("layout", ["nested", "flat", "callable"])
async def test_save_study_layouts_write_every_instance(
    api: Api, clean_dicomweb: OrthancServer, tmp_path: Path, layout: str
) -> None:
    sent = make_study(2, 3)
    upload(clean_dicomweb, sent)
    study = str(sent[0].StudyInstanceUID)
    chosen: Any = layout if layout != "callable" else (lambda info: f"{info.tags['SeriesNumber']}/{info.id}.dcm")
    result = await api.call("save_study", study, tmp_path, layout=chosen)
    assert result.ok and len(result.stored) == 6
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 6 and not list(tmp_path.rglob("*.part"))
    pixels = {str(ds.SOPInstanceUID): ds.PixelData for ds in sent}
    for path in files:
        dataset = dcmread(path)
        assert dataset.PixelData == pixels[str(dataset.SOPInstanceUID)]
    relative = {p.relative_to(tmp_path).as_posix() for p in files}
    if layout == "flat":
        assert relative == {f"{uid}.dcm" for uid in pixels}
    elif layout == "nested":
        assert all(r.startswith(f"{sent[0].PatientID}/{study}/") for r in relative)
    else:
        assert {r.split("/")[0] for r in relative} == {"1", "2"}
    assert result.bytes == sum(p.stat().st_size for p in files)


async def test_save_series(api: Api, clean_dicomweb: OrthancServer, tmp_path: Path) -> None:
    sent = make_study(2, 2)
    upload(clean_dicomweb, sent)
    result = await api.call("save_series", str(sent[0].StudyInstanceUID), str(sent[0].SeriesInstanceUID), tmp_path)
    assert len(result.stored) == 2
    assert {dcmread(item.path).SOPInstanceUID for item in result.stored} == {ds.SOPInstanceUID for ds in sent[:2]}


# ---------------------------------------------------------------- STOW-RS


async def test_store_instances_from_paths_reports_each_file(
    api: Api, clean_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    sent = make_study(1, 5)
    paths = []
    for index, dataset in enumerate(sent):
        path = tmp_path / f"{index}.dcm"
        write(dataset, path)
        paths.append(path)
    (tmp_path / "notes.txt").write_text("not DICOM")
    result = await api.call("store_instances", [*paths[:2], tmp_path / "notes.txt", *paths[2:]], batch_size=2)
    assert len(result.stored) == 5 and not result.failed
    assert [item.path for item in result.skipped] == [tmp_path / "notes.txt"]
    assert "not a DICOM" in (result.skipped[0].reason or "")
    found = reference(clean_dicomweb).search_for_instances(str(sent[0].StudyInstanceUID))
    assert len(found) == 5
    # stored bytes are the files' bytes
    stored = await api.call("retrieve_instance", str(sent[0].StudyInstanceUID), str(sent[0].SeriesInstanceUID),
                            str(sent[0].SOPInstanceUID))
    assert stored.PixelData == sent[0].PixelData


async def test_store_instances_datasets_folder_and_bytes(api: Api, clean_dicomweb: OrthancServer, tmp_path: Path) -> None:
    sent = make_patient_tree(1, 3, 1, 2)
    folder = tmp_path / "folder"
    folder.mkdir()
    for index, dataset in enumerate(sent[2:4]):
        write(dataset, folder / f"{index}.dcm")
    result = await api.call("store_instances", [*sent[:2], folder, to_bytes(sent[4]), to_bytes(sent[5])])
    assert len(result.stored) == 6 and result.ok
    assert len(await api.call("search_for_instances")) == 6


async def test_store_into_another_study_fails_per_instance(api: Api, clean_dicomweb: OrthancServer) -> None:
    first, second = make_study(1, 1, study_uid="1.2.3.4.1"), make_study(1, 1, study_uid="1.2.3.4.2")
    result = await api.call("store_instances", [first[0], second[0]], study_instance_uid="1.2.3.4.1")
    assert [item.name for item in result.stored] == [f"<dataset {first[0].SOPInstanceUID}>"]
    assert [item.name for item in result.failed] == [f"<dataset {second[0].SOPInstanceUID}>"]
    assert result.failed[0].reason


# ---------------------------------------------------------------- bad input and faults


async def test_unknown_study_is_not_found_with_the_servers_message(api: Api) -> None:
    with pytest.raises(NotFoundError) as caught:
        await api.call("retrieve_study", "1.2.3.999")
    assert "1.2.3.999" in str(caught.value) and "inexistent" in str(caught.value)
    with pytest.raises(NotFoundError):
        await api.call("retrieve_study_metadata", "1.2.3.999")


@pytest.mark.parametrize("bad", ["..", "1.2/3", "1..2", "", "1.2.", "a.b", "1" * 65, "1.2?x=1"])
async def test_invalid_uids_never_reach_a_url(api: Api, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        await api.call("retrieve_study", bad)
    with pytest.raises(InvalidInputError):
        await api.call("search_for_series", bad)
    with pytest.raises(InvalidInputError):
        await api.call("retrieve_instance", "1.2", "1.3", bad)


async def test_bad_search_arguments_are_refused(api: Api) -> None:
    with pytest.raises(InvalidInputError, match="limit"):
        await api.call("search_for_studies", limit=-1)
    with pytest.raises(InvalidInputError, match="own argument"):
        await api.call("search_for_studies", search_filters={"limit": 3})
    with pytest.raises(InvalidInputError, match="StudyDate"):
        await api.call("search_for_studies", search_filters={"StudyDate": object()})
    with pytest.raises(InvalidInputError):
        await api.call("store_instances", [42])
    with pytest.raises(InvalidInputError, match="study_instance_uid"):
        await api.call("search_for_instances", series_instance_uid="1.2")



async def test_transfer_syntax_negotiation(api: Api, clean_dicomweb: OrthancServer) -> None:
    sent = make_study(1, 1)
    upload(clean_dicomweb, sent)
    study, series, sop = (str(sent[0].StudyInstanceUID), str(sent[0].SeriesInstanceUID), str(sent[0].SOPInstanceUID))
    stored_syntax = str(sent[0].file_meta.TransferSyntaxUID)
    as_stored = await api.call("retrieve_instance", study, series, sop)
    assert str(as_stored.file_meta.TransferSyntaxUID) == stored_syntax
    implicit = "1.2.840.10008.1.2"
    transcoded = await api.call("retrieve_instance", study, series, sop, transfer_syntax=implicit)
    assert str(transcoded.file_meta.TransferSyntaxUID) == implicit
    assert transcoded.PixelData == sent[0].PixelData
    with pytest.raises(InvalidInputError, match="transfer_syntax"):
        await api.call("retrieve_study", study, transfer_syntax="1.2/../x")


def test_json_to_dataset_equals_pydicoms_from_json(tree: list[Dataset], clean_dicomweb: OrthancServer) -> None:
    import httpx

    from orthanc_client._dicomweb.dicom_json import dataset_from_json

    study = str(tree[0].StudyInstanceUID)
    with httpx.Client(base_url=clean_dicomweb.url, auth=clean_dicomweb.auth) as http:
        answers = [
            *http.get("/dicom-web/studies", params={"includefield": "all"}).json(),
            *http.get("/dicom-web/instances").json(),
            *http.get(f"/dicom-web/studies/{study}/metadata").json(),
        ]
    answers.append({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]},
                    "00280010": {"vr": "US", "Value": [512]}, "00200032": {"vr": "DS", "Value": [1.5, -2, 3.25]}})
    for answer in answers:
        ours = dataset_from_json(answer)
        reference_dataset = Dataset.from_json(answer, bulk_data_uri_handler=lambda tag, vr, uri: None)
        assert len(ours) == len(reference_dataset)
        for element in reference_dataset:
            if element.VR == "SQ" or element.tag == 0x7FE00010:
                continue
            assert ours[element.tag].VR == element.VR
            assert ours[element.tag].value == element.value, element
