"""``orthanc_client.compat.simple_orthanc`` against real Orthanc servers: each promise of simple-orthanc's
README, and each fix of what 0.9.9.6 broke (see issue 18).

Data: ``simple_orthanc_data.py`` (a 20-slice CT uploaded shuffled, an MR series in the same study, another
patient with a 3-slice CT). The comparison with the genuine 0.9.9.6 is in test_simple_orthanc_reference.py.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest

from orthanc_client import InvalidInputError, UnauthorizedError
from orthanc_client.compat import simple_orthanc
from orthanc_client.compat.simple_orthanc import ASCENDING, DESCENDING, Orthanc
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import SyntheticSeries, make_series, to_bytes, write

from .simple_orthanc_data import CT_SLICES, populate

EVERYTHING = [2, 2, 3, CT_SLICES + 7]


@pytest.fixture
def data(clean_orthanc: OrthancServer) -> tuple[OrthancServer, SyntheticSeries]:
    return clean_orthanc, populate(clean_orthanc)


@pytest.fixture
def orthanc(data: tuple[OrthancServer, SyntheticSeries]) -> Iterator[Orthanc]:
    server, _ = data
    with Orthanc("127.0.0.1", server.http_port, server.username, server.password) as connection:
        yield connection


def counts(orthanc: Orthanc) -> list[int]:
    return [orthanc.patient_count, orthanc.study_count, orthanc.series_count, orthanc.instance_count]


def server_get(server: OrthancServer, path: str) -> list[str]:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        return list(http.get(path).raise_for_status().json())


def test_connect_counts_and_dicom_keywords_as_attributes(orthanc: Orthanc) -> None:
    assert counts(orthanc) == EVERYTHING and len(orthanc) == 3
    assert sorted(orthanc.PatientID) == ["CT0001", "CT0002"]
    assert sorted(orthanc.PatientName) == ["Doe^Jane", "Roe^Richard"]
    assert sorted(orthanc.SeriesDescription) == ["Head 5.0", "T1 tra", "Thorax 2.0 B31f"]
    assert "PatientName" in dir(orthanc) and "SeriesDescription" in dir(orthanc)
    with pytest.raises(AttributeError, match="NoSuchKeyword"):
        orthanc.NoSuchKeyword  # noqa: B018
    fast = orthanc.interface.main_dicom_tags
    assert "PatientID" in fast.Patients and "StudyInstanceUID" in fast.Studies and "Modality" in fast.Series
    assert "SOPInstanceUID" in fast.Instances and "PatientID" in fast.tolist()
    assert (simple_orthanc.ASCENDING, simple_orthanc.DESCENDING) == ("ascending", "descending")


def test_connecting_with_a_wrong_password_fails_at_once_without_showing_it(data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    with pytest.raises(UnauthorizedError) as caught:
        Orthanc("127.0.0.1", server.http_port, server.username, "wrong-secret-value")
    assert "wrong-secret-value" not in str(caught.value)
    with Orthanc("127.0.0.1", server.http_port, server.username, server.password) as orthanc:
        assert server.password not in repr(orthanc)


def test_select_narrows_step_by_step_and_warns_when_nothing_matches(orthanc: Orthanc) -> None:
    assert orthanc.select(PatientID="CT0001") is orthanc
    assert counts(orthanc) == [1, 1, 2, CT_SLICES + 4] and sorted(orthanc.Modality) == ["CT", "MR"]
    orthanc.select(Modality="CT")
    assert orthanc.selection == {"PatientID": "CT0001", "Modality": "CT"}
    assert counts(orthanc) == [1, 1, 1, CT_SLICES] and orthanc.SeriesDescription == ["Thorax 2.0 B31f"]
    assert orthanc.PixelSpacing == [[0.7, 0.7]] and orthanc.SliceThickness == [2.0]  # typed by VR
    with pytest.warns(UserWarning, match="No instances found"):
        orthanc.select(SeriesDescription="no such series")
    assert counts(orthanc) == [0, 0, 0, 0] and orthanc.PatientID == []
    with pytest.raises(InvalidInputError, match="NoSuchTag"):
        orthanc.select(NoSuchTag="x")
    assert orthanc.selection == {"PatientID": "CT0001", "Modality": "CT", "SeriesDescription": "no such series"}


def test_reset_one_tag_or_everything(orthanc: Orthanc) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orthanc.select(PatientID="CT0001", Modality="CT", SeriesDescription="nothing")
    orthanc.reset("SeriesDescription")
    assert orthanc.selection == {"PatientID": "CT0001", "Modality": "CT"} and orthanc.instance_count == CT_SLICES
    orthanc.reset("NotSelected")
    assert orthanc.instance_count == CT_SLICES
    assert orthanc.reset() is orthanc and orthanc.selection == {} and counts(orthanc) == EVERYTHING


def test_selection_in_the_constructor_and_the_setter_are_applied(data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    with Orthanc("127.0.0.1", server.http_port, server.username, server.password, selection={"Modality": "MR"}) as o:
        assert o.selection == {"Modality": "MR"} and counts(o) == [1, 1, 1, 4]
        o.selection = {"PatientID": "CT0002"}  # replaces, not merges
        assert o.selection == {"PatientID": "CT0002"} and counts(o) == [1, 1, 1, 3]
        o.selection = None
        assert counts(o) == EVERYTHING


def test_refresh_keeps_the_selection_and_sees_new_data(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    orthanc.select(PatientID="CT0002").sort_by("InstanceNumber", DESCENDING)
    assert orthanc.instance_count == 3
    more = make_series(2, patient_id="CT0002", rows=8, columns=8, seed=9, series_number=7)
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for ds in more.datasets:
            http.post("/instances", content=to_bytes(ds)).raise_for_status()
    assert orthanc.instance_count == 3  # the index is cached until refresh()
    assert orthanc.refresh() is orthanc
    assert orthanc.selection == {"PatientID": "CT0002"} and orthanc.instance_count == 5 and orthanc.series_count == 2
    numbers = orthanc.get_dicom_tag("InstanceNumber", unique=False)
    assert numbers == sorted(numbers, reverse=True)  # the sort order survived too


def test_instance_lists_keep_the_servers_order(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    orthanc.select(PatientID="CT0001", Modality="CT")
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        found = http.post(
            "/tools/find", json={"Level": "Instance", "Query": {"PatientID": "CT0001", "Modality": "CT"}}
        ).json()
    assert orthanc.interface.selected.Instances == found
    uids = orthanc.get_dicom_tag("SOPInstanceUID", unique=False)
    assert uids == [h.SOPInstanceUID for h in orthanc.get_headers()]
    assert [os.path.basename(f)[:-4] for f in orthanc.download()] == found


def test_sort_by_orders_headers_tags_and_array(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    _, ct = data
    orthanc.select(PatientID="CT0001", Modality="CT")
    assert orthanc.sort_by("SliceLocation", DESCENDING) is orthanc
    locations = orthanc.get_dicom_tag("SliceLocation", unique=False)
    assert locations == sorted(locations, reverse=True) and locations[0] == -2.0 and len(locations) == CT_SLICES
    assert orthanc.SliceLocation == locations  # the attribute follows the order too
    assert [float(h.SliceLocation) for h in orthanc.get_headers()] == locations
    np.testing.assert_array_equal(orthanc.get_array()[..., 0], ct.volume[::-1].astype(np.float32) - 1024)
    orthanc.sort_by("InstanceNumber", "descendig")  # 0.9.9.6's own spelling of DESCENDING
    assert orthanc.get_dicom_tag("InstanceNumber", unique=False) == list(range(CT_SLICES, 0, -1))
    orthanc.sort_by("InstanceNumber", ASCENDING)
    assert orthanc.get_dicom_tag("InstanceNumber", unique=False) == list(range(1, CT_SLICES + 1))
    with pytest.raises(InvalidInputError, match="order must be"):
        orthanc.sort_by("InstanceNumber", "sideways")


def test_headers_one_by_index_or_all(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    _, ct = data
    orthanc.select(PatientID="CT0001", Modality="CT").sort_by("InstanceNumber")
    third = orthanc.get_headers(index=2)
    assert isinstance(third, pydicom.Dataset) and third.SOPInstanceUID == ct.datasets[2].SOPInstanceUID
    headers = orthanc.get_headers()
    assert isinstance(headers, list) and len(headers) == CT_SLICES
    assert all(isinstance(h, pydicom.Dataset) and "PixelData" not in h for h in headers)
    assert orthanc.get_header(index=2).SOPInstanceUID == third.SOPInstanceUID
    with pytest.raises(IndexError, match="20 instances selected"):
        orthanc.get_header()
    orthanc.select(InstanceNumber="7")
    assert orthanc.get_header().SOPInstanceUID == ct.datasets[6].SOPInstanceUID


def test_get_array_of_exactly_one_series(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    _, ct = data
    with pytest.raises(IndexError):
        orthanc.get_array()
    volume = orthanc.select(PatientID="CT0001", Modality="CT").get_array()
    assert volume.shape == (CT_SLICES, 64, 64, 1) and volume.dtype == np.float32
    np.testing.assert_array_equal(volume[..., 0], ct.volume.astype(np.float32) - 1024)  # Hounsfield units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orthanc.select(Modality="PT")
    with pytest.raises(IndexError):
        orthanc.get_array()


def test_download_to_a_folder_or_a_temporary_one(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries], tmp_path: Path) -> None:
    server, _ = data
    orthanc.select(Modality="MR")
    files = orthanc.download(tmp_path / "mr")
    assert len(files) == 4 and all(os.path.isabs(f) and f.endswith(".dcm") for f in files)
    assert [Path(f).parent for f in files] == [(tmp_path / "mr").absolute()] * 4
    assert sorted(Path(f).stem for f in files) == sorted(orthanc.interface.selected.Instances)
    temporary = orthanc.download()
    assert [Path(f).name for f in temporary] == [Path(f).name for f in files]
    assert Path(temporary[0]).read_bytes() == Path(files[0]).read_bytes()


def test_uploads_never_touch_the_users_files(orthanc: Orthanc, tmp_path: Path) -> None:
    series = make_series(4, patient_id="UP0001", rows=8, columns=8, seed=11)
    paths = []
    for k, ds in enumerate(series.datasets):
        paths.append(tmp_path / f"slice{k}.dcm")
        write(ds, paths[-1])
    (tmp_path / "notes.txt").write_text("not DICOM")
    (tmp_path / "sub").mkdir()
    write(make_series(1, patient_id="UP0002", rows=8, columns=8, seed=12).datasets[0], tmp_path / "sub" / "deep.dcm")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}

    with pytest.warns(UserWarning, match="No instances found"):
        orthanc.select(PatientID="UP*")
    orthanc.upload_file(str(paths[0]))
    assert orthanc.instance_count == 1 and orthanc.selection == {"PatientID": "UP*"}  # refreshed, selection kept
    orthanc.upload_file([str(paths[1]), paths[2]])
    assert orthanc.instance_count == 3
    with pytest.raises(InvalidInputError, match="notes.txt"):
        orthanc.upload_file([paths[3], tmp_path / "notes.txt"])
    assert orthanc.refresh().instance_count == 3  # nothing of that list was sent
    with pytest.warns(UserWarning, match="notes.txt"):
        orthanc.upload_folder(tmp_path)
    assert orthanc.instance_count == 4 and orthanc.patient_count == 1  # not recursive by default
    with pytest.warns(UserWarning):
        orthanc.upload_folder(str(tmp_path), recursive=True)
    assert orthanc.patient_count == 2 and orthanc.instance_count == 5

    read = pydicom.dcmread(paths[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orthanc.select(PatientID="UP0001")
    orthanc.delete_selected_patient()
    assert orthanc.instance_count == 0
    orthanc.upload_pydicom_dataset(read)
    orthanc.upload_pydicom_dataset([pydicom.dcmread(p) for p in paths[1:]])
    assert orthanc.instance_count == 4
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # 0.9.9.6 deleted the file a dataset had been read from
    with pytest.raises(TypeError):
        orthanc.upload_pydicom_dataset("slice0.dcm")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no such file"):
        orthanc.upload_file(tmp_path / "missing.dcm")


def test_deletes_refuse_unless_exactly_one_is_selected(orthanc: Orthanc, data: tuple[OrthancServer, SyntheticSeries]) -> None:
    server, _ = data
    with pytest.raises(IndexError, match="2 patients selected"):
        orthanc.delete_selected_patient()
    with pytest.raises(IndexError, match="2 studies selected"):
        orthanc.delete_selected_study()
    orthanc.select(PatientID="CT0001")
    with pytest.raises(IndexError, match="2 series selected"):
        orthanc.delete_selected_series()
    assert len(server_get(server, "/instances")) == CT_SLICES + 7  # nothing deleted

    orthanc.select(Modality="MR")
    orthanc.delete_selected_series()
    assert orthanc.selection == {"PatientID": "CT0001", "Modality": "MR"} and orthanc.instance_count == 0
    assert len(server_get(server, "/series")) == 2 and len(server_get(server, "/instances")) == CT_SLICES + 3
    orthanc.selection = {"PatientID": "CT0002"}
    orthanc.delete_selected_study()
    assert len(server_get(server, "/studies")) == 1 and len(server_get(server, "/patients")) == 1
    orthanc.selection = {"PatientID": "CT0001"}
    orthanc.delete_selected_serie()  # 0.9.9.6's spelling
    assert server_get(server, "/instances") == []
    orthanc.reset()
    with pytest.raises(IndexError, match="0 patients selected"):
        orthanc.delete_selected_patient()


def test_all_dicom_tags_are_keyword_strings(orthanc: Orthanc) -> None:
    orthanc.select(PatientID="CT0001", Modality="CT")
    tags = orthanc.get_all_dicom_tags()
    assert {"PatientName", "SliceLocation", "PixelSpacing", "PixelData"} <= set(tags)
    location = tags[tags.index("SliceLocation")]
    assert str(location) == "SliceLocation" and location.vr == "DS" and location.orthanc_tag == "0020-1041"
    assert orthanc.get_dicom_tag(location) == orthanc.get_dicom_tag("SliceLocation")
