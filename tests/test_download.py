"""download() / download_zip(): byte-identical round trips, layouts, failures that raise and leave nothing."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orthanc_client import BulkError, InstanceInfo, NotFoundError
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, to_bytes

from .test_upload import Transfer


@pytest.fixture(params=["sync", "async"])
async def api(
    request: pytest.FixtureRequest, clean_orthanc: OrthancServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Transfer]:
    helper = Transfer(request.param, clean_orthanc, monkeypatch)
    yield helper
    await helper.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seed(server: OrthancServer, n_patients: int = 2) -> dict[str, str]:
    """Uploads a small tree with plain httpx; returns SHA-256 by SOPInstanceUID of the files sent."""
    hashes = {}
    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        for ds in make_patient_tree(n_patients, 1, 2, 3):
            data = to_bytes(ds)
            http.post("/instances", content=data).raise_for_status()
            hashes[str(ds.SOPInstanceUID)] = sha256(data)
    return hashes


def studies(server: OrthancServer) -> list[str]:
    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        answer: list[str] = http.get("/studies").json()
        return answer


async def test_folder_round_trip_is_byte_identical(api: Transfer, tmp_path: Path) -> None:
    server_hashes = seed_for(api)
    result = await api.call("download", studies_for(api), tmp_path, level="study", progress=False)
    assert result.ok and len(result.stored) == len(server_hashes) == 12
    files = sorted(tmp_path.rglob("*.dcm"))
    assert len(files) == 12 and not list(tmp_path.rglob("*.part"))
    for file in files:
        relative = file.relative_to(tmp_path)
        assert len(relative.parts) == 4  # patient / study / series / instance
        assert relative.parts[0].startswith("PAT")
        assert sha256(file.read_bytes()) == server_hashes[file.stem]
    assert result.bytes == sum(file.stat().st_size for file in files)


async def test_flat_and_custom_layouts(api: Transfer, tmp_path: Path) -> None:
    seed_for(api, 1)
    targets = [("study", study_id) for study_id in studies_for(api)]
    flat = await api.call("download", targets, tmp_path / "flat", layout="flat", progress=False)
    assert len(flat.stored) == 6
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == sorted(
        Path(i.name).name for i in flat.stored
    )

    def by_series(info: InstanceInfo) -> str:
        return f"{info.tags['SeriesDescription']}/{info.tags['InstanceNumber']}.dcm"

    custom = await api.call("download", targets, tmp_path / "custom", layout=by_series, progress=False)
    assert sorted(item.name for item in custom.stored) == sorted(
        f"Series {s}/{n}.dcm" for s in (1, 2) for n in (1, 2, 3)
    )


async def test_zip_round_trip_client_and_server_modes(api: Transfer, tmp_path: Path) -> None:
    server_hashes = seed_for(api)
    targets = [{"ID": study_id, "Type": "Study"} for study_id in studies_for(api)]
    result = await api.call("download_zip", targets, tmp_path / "all.zip", progress=False)
    assert len(result.stored) == 12
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        names = archive.namelist()
        assert len(names) == 12
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
        for name in names:
            assert sha256(archive.read(name)) == server_hashes[Path(name).stem]
    assert not (tmp_path / "all.zip.part").exists()

    await api.call("download_zip", targets, tmp_path / "server.zip", mode="server")
    with zipfile.ZipFile(tmp_path / "server.zip") as archive:
        contents = {sha256(archive.read(n)) for n in archive.namelist() if not n.endswith("/")}
    assert contents == set(server_hashes.values())

    await api.call("download_zip", targets, tmp_path / "media.zip", mode="media")
    with zipfile.ZipFile(tmp_path / "media.zip") as archive:
        assert "DICOMDIR" in archive.namelist()


async def test_zip_of_instances_larger_than_the_spool(
    api: Transfer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instances over ``SPOOL_SIZE`` wait in a temporary file instead of memory; the zip is the same."""
    from orthanc_client._bulk._async import download as async_download
    from orthanc_client._bulk._sync import download as sync_download

    module = sync_download if api.kind == "sync" else async_download
    monkeypatch.setattr(module, "SPOOL_SIZE", 100)
    spooled = module._Spool()
    for part in (b"a" * 60, b"b" * 60):
        spooled.write(part)
    assert spooled.file is not None and spooled.chunks == [] and spooled.size == 120
    copied = io.BytesIO()
    with spooled:
        spooled.copy_to(copied)
    assert copied.getvalue() == b"a" * 60 + b"b" * 60

    server_hashes = seed_for(api, 1)
    result = await api.call("download_zip", [("study", s) for s in studies_for(api)], tmp_path / "big.zip")
    assert len(result.stored) == 6
    with zipfile.ZipFile(tmp_path / "big.zip") as archive:
        for name in archive.namelist():
            assert sha256(archive.read(name)) == server_hashes[Path(name).stem]


async def test_unknown_resource_raises_and_writes_nothing(api: Transfer, tmp_path: Path) -> None:
    missing = ("study", "00000000-00000000-00000000-00000000-00000000")
    with pytest.raises(NotFoundError):
        await api.call("download", missing, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    for mode in ("client", "server", "media"):
        with pytest.raises(NotFoundError):
            await api.call("download_zip", missing, tmp_path / "x.zip", mode=mode)
        assert list(tmp_path.iterdir()) == []


async def test_instance_vanishing_mid_download_fails_cleanly(api: Transfer, tmp_path: Path) -> None:
    """The layout runs before fetching: deleting an instance there makes its fetch a 404."""
    seed_for(api, 1)
    server: OrthancServer = api.server
    victims: list[str] = []

    def deleting_layout(info: InstanceInfo) -> str:
        if not victims:
            victims.append(info.id)
            httpx.delete(f"{server.url}/instances/{info.id}", auth=server.auth).raise_for_status()
        return f"{info.id}.dcm"

    targets = [("study", s) for s in studies_for(api)]
    result = await api.call("download", targets, tmp_path / "out", layout=deleting_layout, progress=False)
    assert len(result.stored) == 5 and len(result.failed) == 1
    assert isinstance(result.failed[0].error, NotFoundError)
    assert not (tmp_path / "out" / f"{victims[0]}.dcm").exists()
    assert not list((tmp_path / "out").rglob("*.part"))
    with pytest.raises(BulkError):
        result.raise_for_failures()

    victims.clear()
    with pytest.raises(BulkError):
        await api.call("download_zip", targets, tmp_path / "x.zip", layout=deleting_layout)
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "x.zip.part").exists()


async def test_download_files_takes_resource_objects(api: Transfer, tmp_path: Path) -> None:
    from orthanc_client._bulk._async.download import download_files as async_download_files
    from orthanc_client._bulk._sync.download import download_files

    seed_for(api, 1)

    class Study:  # the resource layer's shape: .id and a class name for the level
        def __init__(self, id_: str, client: Any) -> None:
            self.id = id_
            self.client = client

    study = Study(studies_for(api)[0], api.client)
    if api.kind == "sync":
        result = download_files(api.client, [study], tmp_path, layout="flat")
    else:
        result = await async_download_files(api.client, [study], tmp_path, layout="flat")
    assert len(result.stored) == 6


def seed_for(api: Transfer, n_patients: int = 2) -> dict[str, str]:
    return seed(api.server, n_patients)


def studies_for(api: Transfer) -> list[str]:
    return studies(api.server)
