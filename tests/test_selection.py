"""The native ``Selection`` (``client.select(...)``), sync and async, against real Orthanc servers.

Data: ``tests/compat/simple_orthanc_data.py`` (a 20-slice CT uploaded shuffled, an MR series in the same
study, another patient with a 3-slice CT).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from orthanc_client import InvalidInputError, Orthanc, SelectionCounts, SelectionError
from orthanc_client.aio import AsyncOrthanc
from orthanc_client.testing import OrthancServer, version_tuple
from orthanc_client.testing.dicom import SyntheticSeries, make_instance, to_bytes

from .compat.simple_orthanc_data import CT_SLICES, populate


async def run(value: Any) -> Any:
    """The value of a sync call, or the awaited value of an async one: one test body for both APIs."""
    return await value if inspect.isawaitable(value) else value


@pytest.fixture
def data(clean_orthanc: OrthancServer) -> tuple[OrthancServer, SyntheticSeries]:
    return clean_orthanc, populate(clean_orthanc)


@pytest.fixture(params=["sync", "async"])
async def client(request: pytest.FixtureRequest, data: tuple[OrthancServer, SyntheticSeries]) -> AsyncIterator[Any]:
    server, _ = data
    if request.param == "sync":
        sync = Orthanc(server.url, server.username, server.password)
        yield sync
        sync.close()
    else:
        async_client = AsyncOrthanc(server.url, server.username, server.password)
        yield async_client
        await async_client.aclose()


@pytest.fixture
def ct(data: tuple[OrthancServer, SyntheticSeries]) -> SyntheticSeries:
    return data[1]


def server_find(server: OrthancServer, query: dict[str, str]) -> list[str]:
    """Instance IDs in the order Orthanc's own /tools/find answers (plain httpx)."""
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        body = {"Level": "Instance", "Query": query}
        return list(http.post("/tools/find", json=body).raise_for_status().json())


async def test_counts_values_and_immutable_narrowing(client: Any) -> None:
    everything = client.select()
    assert await run(everything.counts()) == SelectionCounts(2, 2, 3, CT_SLICES + 4 + 3)
    patient = everything.select(PatientID="CT0001")
    ct = patient.select(Modality="CT")
    assert await run(patient.counts()) == (1, 1, 2, CT_SLICES + 4)
    assert await run(ct.counts()) == (1, 1, 1, CT_SLICES)
    assert ct.criteria == {"PatientID": "CT0001", "Modality": "CT"} and patient.criteria == {"PatientID": "CT0001"}
    assert await run(everything.counts()) == (2, 2, 3, CT_SLICES + 7)  # narrowing left it as it was
    assert await run(ct.without("Modality").counts()) == (1, 1, 2, CT_SLICES + 4)
    assert sorted(await run(everything.values("PatientID"))) == ["CT0001", "CT0002"]
    assert await run(patient.values("StudyDescription")) == ["CT Thorax"]
    assert sorted(await run(patient.values("Modality"))) == ["CT", "MR"]
    assert await run(ct.values("PixelSpacing")) == ["0.7\\0.7"]
    assert await run(ct.values("PixelSpacing", parse=True)) == [[0.7, 0.7]]
    assert sorted(await run(ct.values("InstanceNumber", unique=False, parse=True))) == list(range(1, CT_SLICES + 1))
    assert await run(ct.values("BodyPartExamined")) == ["CHEST"]  # not a main tag: read after the find
    none = everything.select(SeriesDescription="no such series")
    assert await run(none.counts()) == (0, 0, 0, 0) and await run(none.values("PatientID")) == []


async def test_parents_are_the_servers_own_ids(client: Any, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    patient = client.select(PatientID="CT0001")
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        patients = http.post("/tools/find", json={"Level": "Patient", "Query": {"PatientID": "CT0001"}}).json()
        studies = http.post("/tools/find", json={"Level": "Study", "Query": {"PatientID": "CT0001"}}).json()
        series = http.post("/tools/find", json={"Level": "Series", "Query": {"PatientID": "CT0001"}}).json()
    assert await run(patient.patient_ids()) == patients
    assert await run(patient.study_ids()) == studies
    assert sorted(await run(patient.series_ids())) == sorted(series)


async def test_one_find_per_narrowing_then_cached_until_refresh(
    client: Any, data: tuple[OrthancServer, SyntheticSeries]
) -> None:
    server, _ = data
    await run(client.system())  # the version is read once per client; not part of what is measured
    sent: list[str] = []

    async def async_hook(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    def hook(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    client.http_client.event_hooks["request"].append(async_hook if isinstance(client, AsyncOrthanc) else hook)
    ct = client.select(PatientID="CT0001").select(Modality="CT")
    assert sent == []  # building selections sends nothing
    await run(ct.counts())
    old = version_tuple(server.version) < (1, 11)
    # Orthanc 1.10 has no RequestedTags: one more request for the series and one for its study
    assert sent == ["POST /tools/find"] + (["GET /series/" + (await run(ct.series_ids()))[0]] if old else []) + (
        ["GET /studies/" + (await run(ct.study_ids()))[0]] if old else []
    )
    sent.clear()
    await run(ct.values("SeriesDescription"))
    await run(ct.instance_ids())
    assert sent == []  # main tags and IDs: from the cached find
    await run(ct.values("SliceLocation"))
    assert len(sent) == (CT_SLICES if old else 1)  # a tag that is not a main tag: once per selection
    sent.clear()
    await run(ct.values("SliceLocation", unique=False))
    assert sent == []
    await run(ct.refresh())
    assert sent[0] == "POST /tools/find"


async def test_instances_keep_the_servers_order(client: Any, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    query = {"PatientID": "CT0001", "Modality": "CT"}
    ct = client.select(**query)
    assert await run(ct.instance_ids()) == server_find(server, query)
    instances = await run(ct.instances())
    assert [i.id for i in instances] == server_find(server, query)
    assert all(i.is_loaded for i in instances)


async def test_sorted_by_orders_ids_values_headers_and_array(client: Any, ct: SyntheticSeries) -> None:
    series = client.select(PatientID="CT0001", Modality="CT")
    down = series.sorted_by("SliceLocation", descending=True)
    locations = await run(down.values("SliceLocation", unique=False, parse=True))
    assert locations == sorted(locations, reverse=True) and len(locations) == CT_SLICES
    numbers = await run(series.sorted_by("InstanceNumber").values("InstanceNumber", unique=False, parse=True))
    assert numbers == list(range(1, CT_SLICES + 1))  # by value: 10 after 9, not after 1
    headers = await run(down.headers())
    assert [float(h.SliceLocation) for h in headers] == locations
    assert [h.SOPInstanceUID for h in headers][0] == ct.datasets[-1].SOPInstanceUID
    np.testing.assert_array_equal(await run(down.array()), ct.volume[::-1])
    np.testing.assert_array_equal(await run(series.array()), ct.volume)  # unsorted: along the slice normal
    assert await run(down.sorted_by(None).instance_ids()) == await run(series.instance_ids())


async def test_array_of_one_series_with_the_fast_path(client: Any, ct: SyntheticSeries) -> None:
    series = client.select(SeriesInstanceUID=str(ct.datasets[0].SeriesInstanceUID))
    volume = await run(series.array())
    assert volume.dtype == np.int16 and volume.shape == (CT_SLICES, 64, 64)
    np.testing.assert_array_equal(volume, ct.volume)
    hounsfield = await run(series.array(rescale=True))
    assert hounsfield.dtype == np.float32
    np.testing.assert_array_equal(hounsfield, ct.volume.astype(np.float32) - 1024)
    one = await run(series.select(InstanceNumber="5").array())  # only the selected instances
    np.testing.assert_array_equal(one, ct.volume[4:5])
    for wrong in (client.select(PatientID="CT0001"), client.select(PatientID="nobody")):
        with pytest.raises(SelectionError, match="exactly one series") as caught:
            await run(wrong.array())
        assert isinstance(caught.value, IndexError) and isinstance(caught.value, InvalidInputError)


async def test_headers_are_pydicom_without_pixels(client: Any, ct: SyntheticSeries) -> None:
    series = client.select(PatientID="CT0001", Modality="CT").sorted_by("InstanceNumber")
    headers = await run(series.headers())
    assert len(headers) == CT_SLICES and all("PixelData" not in h for h in headers)
    assert [h.SOPInstanceUID for h in headers] == [ds.SOPInstanceUID for ds in ct.datasets]
    last = await run(series.header(-1))
    assert last.SOPInstanceUID == ct.datasets[-1].SOPInstanceUID and last.PatientName == "Doe^Jane"
    with pytest.raises(SelectionError, match="index 99"):
        await run(series.header(99))


async def test_download_writes_one_file_per_instance(
    client: Any, data: tuple[OrthancServer, SyntheticSeries], tmp_path: Path
) -> None:
    server, _ = data
    mr = client.select(Modality="MR").sorted_by("InstanceNumber")
    files = await run(mr.download(tmp_path / "new" / "folder"))
    ids = await run(mr.instance_ids())
    assert files == [(tmp_path / "new" / "folder" / f"{i}.dcm").absolute() for i in ids]
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for path, instance_id in zip(files, ids, strict=True):
            assert path.read_bytes() == http.get(f"/instances/{instance_id}/file").content


async def test_deletes_refuse_unless_exactly_one(client: Any, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    everything = client.select()
    for delete in (everything.delete_patient, everything.delete_study, client.select(PatientID="CT0001").delete_series):
        with pytest.raises(SelectionError, match="exactly one"):
            await run(delete())
    await run(everything.refresh())
    assert await run(everything.counts()) == (2, 2, 3, CT_SLICES + 7)  # nothing was deleted
    mr = client.select(Modality="MR")
    mr_series = server_series(server, "MR")
    assert await run(mr.delete_series()) == mr_series[0] and server_series(server, "MR") == []
    assert await run(mr.counts()) == (0, 0, 0, 0)
    assert await run(client.select(PatientID="CT0001").counts()) == (1, 1, 1, CT_SLICES)  # the CT stayed
    await run(client.select(PatientID="CT0002").delete_study())
    assert await run(client.select().counts()) == (1, 1, 1, CT_SLICES)
    await run(client.select(PatientID="CT0001").delete_patient())
    assert await run(client.select().counts()) == (0, 0, 0, 0)


def server_series(server: OrthancServer, modality: str) -> list[str]:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        return list(http.post("/tools/find", json={"Level": "Series", "Query": {"Modality": modality}}).json())


async def test_refresh_sees_new_instances(client: Any, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, ct = data
    other = client.select(PatientID="CT0002")
    assert (await run(other.counts())).instances == 3
    first = ct.datasets[0]
    extra = make_instance(
        patient_id="CT0002", patient_name="Roe^Richard", study_uid="1.2.3.4", series_uid="1.2.3.4.5", rows=8, columns=8
    )
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        http.post("/instances", content=to_bytes(extra)).raise_for_status()
    assert (await run(other.counts())).instances == 3  # cached
    await run(other.refresh())
    assert await run(other.counts()) == (1, 2, 2, 4)
    assert other.criteria == {"PatientID": "CT0002"} and first.PatientID == "CT0001"


async def test_bad_input_is_refused_before_sending(client: Any) -> None:
    with pytest.raises(InvalidInputError, match="'NoSuchTag' is not a DICOM keyword"):
        client.select(NoSuchTag="x")
    with pytest.raises(InvalidInputError, match="ReferencedImageSequence is a sequence"):
        client.select(ReferencedImageSequence="x")
    with pytest.raises(InvalidInputError, match="PatientID"):
        client.select(PatientID=object())
    with pytest.raises(InvalidInputError, match="'Bogus' is not a DICOM keyword"):
        client.select().sorted_by("Bogus")
    with pytest.raises(InvalidInputError, match="'Nope' is not a DICOM keyword"):
        await run(client.select().values("Nope"))


async def test_available_tags_lists_keywords(client: Any) -> None:
    tags = await run(client.select(Modality="CT", PatientID="CT0001").available_tags())
    assert {"PatientName", "SliceLocation", "PixelData", "BodyPartExamined"} <= set(tags)
    assert all(tag and " " not in tag for tag in tags)


async def test_instances_without_the_sort_tag_come_last_in_both_directions(client: Any) -> None:
    patient = client.select(PatientID="CT0001")  # the MR slices have no SliceLocation
    for descending in (False, True):
        ordered = patient.sorted_by("SliceLocation", descending=descending)
        locations = await run(ordered.values("SliceLocation", unique=False, parse=True))
        assert locations[CT_SLICES:] == [None] * 4
        assert locations[:CT_SLICES] == sorted(locations[:CT_SLICES], reverse=descending)
        modalities = await run(ordered.values("Modality", unique=False))
        assert modalities == ["CT"] * CT_SLICES + ["MR"] * 4
