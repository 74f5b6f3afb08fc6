"""upload(): every file accounted for, skip-existing, retries across a server restart; sync and async."""

from __future__ import annotations

import gzip
import io
import threading
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orthanc_client import Orthanc, aio as orthanc_aio, orthanc_instance_id
from orthanc_client._bulk import dicom_files as _dicomfiles
from orthanc_client._bulk.dicom_files import (
    LocalSource,
    inspect_source,
    looks_like_preambleless_dicom,
    read_identifiers,
)
from orthanc_client._core.fastpath import posts as _bulk_post
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes, write


class Transfer:
    """One test body for both APIs: ``await t.upload(...)`` runs the sync or the async function, and
    ``t.requests`` lists every ``(method, path)`` sent, whichever way it went: through the client, or through
    the upload's direct pool (``_bulk_post.DirectPoster``). Recording changes neither."""

    def __init__(self, kind: str, server: OrthancServer, monkeypatch: pytest.MonkeyPatch, **options: Any) -> None:
        self.kind = kind
        self.server = server
        self.requests: list[tuple[str, str]] = []
        self.direct_posts = 0
        self.before_post: Any = None
        if kind == "sync":
            self.client: Any = Orthanc(server.url, *server.auth, **options)
        else:
            self.client = orthanc_aio.AsyncOrthanc(server.url, *server.auth, **options)
        client_send = type(self.client)._send
        direct_post = _bulk_post.DirectPoster.post
        transfer = self

        def recording_send(client: Any, prepared: Any, *args: Any, **kwargs: Any) -> Any:
            transfer.requests.append((prepared.method, "/" + prepared.url))
            return client_send(client, prepared, *args, **kwargs)

        def recording_post(poster: Any, path: str, *args: Any) -> Any:
            transfer.requests.append(("POST", "/" + path))
            transfer.direct_posts += 1
            if transfer.before_post is not None:
                transfer.before_post()
            return direct_post(poster, path, *args)

        monkeypatch.setattr(type(self.client), "_send", recording_send)
        monkeypatch.setattr(_bulk_post.DirectPoster, "post", recording_post)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == path)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        import orthanc_client

        if self.kind == "sync":
            return getattr(orthanc_client, name)(self.client, *args, **kwargs)
        return await getattr(orthanc_aio, name)(self.client, *args, **kwargs)

    async def upload(self, *args: Any, **kwargs: Any) -> Any:
        return await self.call("upload", *args, **kwargs)

    async def close(self) -> None:
        if self.kind == "sync":
            self.client.close()
        else:
            await self.client.aclose()


@pytest.fixture(params=["sync", "async"])
async def transfer(
    request: pytest.FixtureRequest, clean_orthanc: OrthancServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Transfer]:
    helper = Transfer(request.param, clean_orthanc, monkeypatch)
    yield helper
    await helper.close()


def make_mixed_folder(root: Path) -> dict[str, set[str]]:
    """A folder tree of DICOM in every disguise plus things that are not DICOM; returns the expected
    outcome of each file name (relative to ``root``)."""
    datasets = make_study(2, 4, patient_id="MIXED")
    (root / "a" / "b").mkdir(parents=True)
    expected: dict[str, set[str]] = {"stored": set(), "skipped": set(), "failed": set()}
    names = ["a/IM0001", "a/b/IM0002.DCM", "a/b/c.dcm", "x.dicom", "a/noext", "IM6", "a/b/img7.dcm"]
    for name, ds in zip(names, datasets[:7], strict=True):
        write(ds, root / name)
        expected["stored"].add(name)
    gz_data = to_bytes(datasets[7])
    (root / "a" / "gzipped.dcm.gz").write_bytes(gzip.compress(gz_data))
    expected["stored"].add("a/gzipped.dcm.gz")
    raw = to_bytes(make_study(1, 1, patient_id="RAWDATASET")[0])
    (root / "preambleless").write_bytes(raw[132:])  # no preamble, no DICM
    expected["stored"].add("preambleless")
    (root / "notes.txt").write_text("not DICOM\n")
    (root / "a" / "image.dcm").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 300)  # a .dcm that is not DICOM
    (root / "empty").write_bytes(b"")
    expected["skipped"] |= {"notes.txt", "a/image.dcm", "empty"}
    truncated = to_bytes(make_study(1, 1, patient_id="TRUNCATED")[0])[:200]
    (root / "a" / "b" / "truncated.dcm").write_bytes(truncated)
    expected["failed"].add("a/b/truncated.dcm")
    return expected


def relative_names(items: list[Any], root: Path) -> set[str]:
    return {Path(item.name).relative_to(root).as_posix() for item in items}


@pytest.mark.parametrize("pack", [True, False])
async def test_mixed_folder_every_file_accounted_for(transfer: Transfer, tmp_path: Path, pack: bool) -> None:
    expected = make_mixed_folder(tmp_path)
    result = await transfer.upload(tmp_path, progress=False, pack=pack)

    assert relative_names(result.stored, tmp_path) == expected["stored"]
    assert relative_names(result.skipped, tmp_path) == expected["skipped"]
    assert relative_names(result.failed, tmp_path) == expected["failed"]
    assert result.already_stored == []
    assert result.total == sum(len(names) for names in expected.values())
    # Non-DICOM files are never sent; the truncated one is, and Orthanc's reason comes back. Packed, the
    # truncated file (which Orthanc skips inside a ZIP without a word) is sent again alone for that reason.
    posts = transfer.count("POST", "/instances")
    if pack:
        assert posts < len(expected["stored"]) + len(expected["failed"])
    else:
        assert posts == len(expected["stored"]) + len(expected["failed"])
    (failure,) = result.failed
    assert failure.details and "invalid DICOM" in failure.details
    assert result.bytes == sum(item.size for item in result.stored) > 0
    assert result.instances_per_second > 0 and not result.ok
    # The ID computed offline from the header is the one Orthanc gave.
    for item in result.stored:
        if not item.name.endswith(".gz"):
            with open(item.name, "rb") as file:
                assert read_identifiers(file).instance_id == item.instance_id


async def test_upload_again_reports_already_stored_or_sends_nothing_with_skip_existing(
    transfer: Transfer, tmp_path: Path
) -> None:
    for i, ds in enumerate(make_study(1, 6, patient_id="AGAIN")):
        write(ds, tmp_path / f"{i}.dcm")
    (tmp_path / "readme.md").write_text("hi")
    first = await transfer.upload(tmp_path, progress=False)
    assert len(first.stored) == 6 and len(first.skipped) == 1

    again = await transfer.upload(tmp_path, progress=False)
    assert (len(again.stored), len(again.already_stored), len(again.skipped)) == (0, 6, 1)

    transfer.requests.clear()
    skipped = await transfer.upload(tmp_path, skip_existing=True, progress=False)
    assert (len(skipped.stored), len(skipped.already_stored), len(skipped.skipped)) == (0, 6, 1)
    assert transfer.count("POST", "/instances") == 0
    assert transfer.requests == [("POST", "/tools/find")]  # one bulk existence check
    assert sorted(skipped.instance_ids) == sorted(first.instance_ids)


async def test_skip_existing_sends_only_what_is_missing(transfer: Transfer, tmp_path: Path) -> None:
    datasets = make_study(1, 5, patient_id="PARTIAL")
    for i, ds in enumerate(datasets):
        write(ds, tmp_path / f"{i}.dcm")
    await transfer.upload(tmp_path / "0.dcm", progress=False)
    transfer.requests.clear()
    result = await transfer.upload(tmp_path, skip_existing=True, progress=False)
    assert (len(result.stored), len(result.already_stored)) == (4, 1)
    assert transfer.count("POST", "/instances") == 1  # the 4 missing ones, in one ZIP
    for item in result.stored:
        assert item.attempts == 1 and item.instance_id == read_identifiers(open(item.path, "rb")).instance_id  # noqa: SIM115


async def test_datasets_bytes_zip_and_iterators(transfer: Transfer, tmp_path: Path) -> None:
    datasets = make_study(1, 6, patient_id="SOURCES")
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("one/IM1", to_bytes(datasets[2]))
        zf.writestr("two/IM2.dcm", to_bytes(datasets[3]))
        zf.writestr("README", "not dicom")
    sources = iter([datasets[0], to_bytes(datasets[1]), archive, io.BytesIO(to_bytes(datasets[4]))])
    result = await transfer.upload(sources, progress=False)
    assert len(result.stored) == 5, result
    assert [item.name for item in result.skipped] == [f"{archive}/README"]
    single = await transfer.upload(datasets[5], progress=False)
    assert len(single.stored) == 1


async def test_stop_on_error_stops_sending(transfer: Transfer, tmp_path: Path) -> None:
    bad = to_bytes(make_study(1, 1, patient_id="BAD")[0])[:200]
    good = [to_bytes(ds) for ds in make_study(1, 20, patient_id="GOOD")]
    for pack in (True, False):
        result = await transfer.upload([bad, *good], stop_on_error=True, concurrency=1, progress=False, pack=pack)
        assert len(result.failed) == 1 and result.stopped_early
        assert len(result.stored) < 20


async def test_missing_path_is_refused(transfer: Transfer, tmp_path: Path) -> None:
    from orthanc_client import InvalidInputError

    with pytest.raises(InvalidInputError, match="no such file"):
        await transfer.upload(tmp_path / "nope", progress=False)


def test_instance_id_scheme_and_preamble_detection() -> None:
    assert orthanc_instance_id("P ", "1.2", "1.2.3", "1.2.3.4\x00") == orthanc_instance_id(
        "P", "1.2", "1.2.3", "1.2.3.4"
    )
    identifier = orthanc_instance_id("P", "1.2", "1.2.3", "1.2.3.4")
    assert [len(group) for group in identifier.split("-")] == [8] * 5
    raw = to_bytes(make_study(1, 1)[0])
    assert looks_like_preambleless_dicom(raw[132:])
    assert not looks_like_preambleless_dicom(b"hello world, not dicom")


def test_small_files_are_read_whole_large_ones_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = to_bytes(make_study(1, 1)[0])
    (tmp_path / "a.dcm").write_bytes(data)
    (tmp_path / "a.dcm.gz").write_bytes(gzip.compress(data))
    source, gz_source = (
        LocalSource("a", path=tmp_path / "a.dcm"),
        LocalSource("gz", path=tmp_path / "a.dcm.gz"),
    )

    small = inspect_source(source)
    assert (small.kind, small.body, small.size) == ("dicom", data, len(data))  # the file is closed already
    monkeypatch.setattr(_dicomfiles, "WHOLE_READ_SIZE", 64)
    large = inspect_source(source)
    try:
        assert large.kind == "dicom" and large.size == len(data)
        assert not isinstance(large.body, bytes) and large.body is not None
        assert large.body.tell() == 0 and large.body.read() == data  # streamed from the start
    finally:
        large.close()
    assert inspect_source(gz_source).body == data  # a large .gz is still decompressed whole


async def test_upload_streams_files_over_the_whole_read_size(
    transfer: Transfer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dicomfiles, "WHOLE_READ_SIZE", 64)
    expected = make_mixed_folder(tmp_path)
    result = await transfer.upload(tmp_path, progress=False)
    assert relative_names(result.stored, tmp_path) == expected["stored"]
    assert relative_names(result.skipped, tmp_path) == expected["skipped"]
    assert relative_names(result.failed, tmp_path) == expected["failed"]


@pytest.mark.parametrize(("kind", "pack"), [("sync", False), ("async", False), ("sync", True)])
async def test_server_restart_mid_upload_loses_nothing(
    kind: str, pack: bool, orthanc_version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, ds in enumerate(make_study(4, 50, patient_id="RESTART")):
        write(ds, tmp_path / f"{i:03d}.dcm")
    with OrthancServer(orthanc_version, name="restart-upload") as server:
        helper = Transfer(kind, server, monkeypatch, retries=0)  # the upload's own retry, not the client's
        stopped = threading.Event()
        lock = threading.Lock()

        def restart() -> None:
            server.stop()
            stopped.set()
            server.start()

        posts = 0
        restart_at = 3 if pack else 50  # packed, 200 small files take 7 requests of 32

        def before_post() -> None:
            nonlocal posts
            with lock:
                posts += 1
                number = posts
            if number == restart_at:
                threading.Thread(target=restart).start()
            if number >= restart_at:
                stopped.wait(30)  # these requests go out once the server is down: they must be retried

        helper.before_post = before_post
        try:
            result = await helper.upload(tmp_path, concurrency=4, retry_for=60, progress=False, pack=pack)
        finally:
            await helper.close()
        assert stopped.is_set() and helper.direct_posts > (7 if pack else 200)
        assert result.failed == [], [(item.name, item.reason) for item in result.failed]
        assert len(result.stored) + len(result.already_stored) == 200
        assert any(item.attempts > 1 for item in result.stored + result.already_stored)
        with httpx.Client(base_url=server.url, auth=server.auth) as http:
            assert http.get("/statistics").json()["CountInstances"] == 200
            assert sorted(http.get("/instances").json()) == sorted(set(result.instance_ids))


async def test_cancelling_an_async_upload_stops_it_at_once(clean_orthanc: OrthancServer) -> None:
    import asyncio
    import time

    files = [to_bytes(ds) for ds in make_study(4, 100, patient_id="CANCEL")]
    async with orthanc_aio.AsyncOrthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
        task = asyncio.create_task(orthanc_aio.upload(client, files, progress=False))
        while (await client.get_statistics())["CountInstances"] < 20:
            await asyncio.sleep(0.01)
        task.cancel()
        started = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - started < 1.0
        await asyncio.sleep(0.5)  # what was in flight lands; nothing new is sent
        stored = (await client.get_statistics())["CountInstances"]
        await asyncio.sleep(0.3)
        assert stored == (await client.get_statistics())["CountInstances"] < 400


def test_the_quick_header_scan_gives_what_pydicom_gives() -> None:
    """``skip_existing`` and packing compute Orthanc IDs from a scan of the header's bytes: the same four values
    as pydicom, or nothing (then pydicom, or Orthanc, judges)."""
    from pydicom.uid import ImplicitVRLittleEndian

    from orthanc_client._bulk._async.upload import _scanned_identifiers

    plain, no_patient, padded, implicit, accented = make_study(1, 5, patient_id="SCAN")
    del no_patient.PatientID
    padded.PatientID = " SCAN "
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    accented.SpecificCharacterSet = "ISO_IR 100"
    accented.PatientName = "Müller"
    for dataset in (plain, no_patient, padded, implicit):
        data = to_bytes(dataset)
        scanned = _scanned_identifiers(data)
        assert scanned is not None and scanned == read_identifiers(io.BytesIO(data)), dataset.SOPInstanceUID
    assert _scanned_identifiers(to_bytes(accented)) is None  # its meaning depends on the character set
    assert _scanned_identifiers(to_bytes(plain)[:300]) is None
