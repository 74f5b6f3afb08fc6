"""Every input is in exactly one list: what a folder walk finds and cannot upload (an unreadable sub-folder, a
FIFO, a socket, a device, a broken link) is reported as failed with its path and why, never skipped silently,
never opened blocking; against a real Orthanc, sync and async, and through the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import orthanc_client
from orthanc_client import Orthanc, aio as orthanc_aio
from orthanc_client._bulk.dicom_files import iter_local_sources
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, write


class Uploader:
    def __init__(self, kind: str, server: OrthancServer) -> None:
        self.kind = kind
        self.client: Any = (
            Orthanc(server.url, *server.auth) if kind == "sync" else orthanc_aio.AsyncOrthanc(server.url, *server.auth)
        )

    async def upload(self, *args: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return orthanc_client.upload(self.client, *args, **kwargs)
        return await orthanc_aio.upload(self.client, *args, **kwargs)

    async def close(self) -> None:
        if self.kind == "sync":
            self.client.close()
        else:
            await self.client.aclose()


@pytest.fixture(params=["sync", "async"])
async def uploader(request: pytest.FixtureRequest, clean_orthanc: OrthancServer) -> AsyncIterator[Uploader]:
    helper = Uploader(request.param, clean_orthanc)
    yield helper
    await helper.close()


@pytest.fixture
def awkward_folder(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Two good DICOM files, plus a FIFO, a Unix socket, a broken symlink and a link to a device; returns the
    folder and, for each entry that must fail, a word its reason must hold."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    datasets = make_study(1, 2, patient_id="AWKWARD")
    write(datasets[0], root / "good1.dcm")
    write(datasets[1], root / "sub" / "good2.dcm")
    os.mkfifo(root / "pipe.dcm")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(root / "sub" / "sock.dcm"))
    (root / "dangling.dcm").symlink_to(root / "missing-target.dcm")
    (root / "null.dcm").symlink_to("/dev/null")
    expected = {
        "pipe.dcm": "FIFO",
        "sub/sock.dcm": "socket",
        "dangling.dcm": "broken symbolic link",
        "null.dcm": "character device",
    }
    try:
        yield root, expected
    finally:
        listener.close()


def _relative(result: Any, root: Path) -> dict[str, str]:
    return {str(Path(item.name).relative_to(root)): item.reason for item in result.failed}


@pytest.mark.timeout(60)
async def test_special_files_and_broken_links_are_failed_not_skipped_and_never_hang(
    uploader: Uploader, awkward_folder: tuple[Path, dict[str, str]]
) -> None:
    root, expected = awkward_folder
    result = await uploader.upload(root)
    failed = _relative(result, root)
    assert set(failed) == set(expected)
    for name, word in expected.items():
        assert word in failed[name], failed[name]
    assert len(result.stored) == 2 and result.total == 6 and not result.ok
    # each entry is in exactly one list
    names = [item.name for kind in ("stored", "already_stored", "skipped", "failed") for item in getattr(result, kind)]
    assert len(names) == len(set(names)) == 6


@pytest.mark.timeout(60)
async def test_an_unreadable_sub_folder_is_failed_with_its_path(
    uploader: Uploader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "in"
    (root / "locked").mkdir(parents=True)
    datasets = make_study(1, 2, patient_id="LOCKED")
    write(datasets[0], root / "open.dcm")
    write(datasets[1], root / "locked" / "hidden.dcm")  # root can read it: the walk is told it cannot
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = await uploader.upload(root)
    assert len(result.stored) == 1 and len(result.failed) == 1
    (item,) = result.failed
    assert item.name == str(root / "locked") and "Permission denied" in (item.reason or "")
    assert "cannot read this folder" in (item.reason or "")


async def test_an_unreadable_file_is_failed(uploader: Uploader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "in"
    root.mkdir()
    write(make_study(1, 1, patient_id="NOREAD")[0], root / "secret.dcm")
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith("secret.dcm"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    result = await uploader.upload(root)
    assert [item.name for item in result.failed] == [str(root / "secret.dcm")]
    assert "Permission denied" in (result.failed[0].reason or "")


def test_a_fifo_swapped_in_after_the_walk_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "later.dcm"
    path.write_bytes(b"x")
    (source,) = iter_local_sources(path)
    path.unlink()
    os.mkfifo(path)  # no writer: a blocking open would wait forever
    with pytest.raises(OSError, match="FIFO"):
        source.open()


def test_folder_links_are_followed_once_and_a_loop_ends(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.dcm").write_bytes(b"a")
    (root / "link").symlink_to(root / "real")
    (root / "real" / "loop").symlink_to(root)
    names = [source.name for source in iter_local_sources(root)]
    assert len(names) == 1 and names[0].endswith("a.dcm")


def test_a_special_file_named_explicitly_is_failed(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (source,) = iter_local_sources(tmp_path / "pipe")
    assert source.problem is not None and "FIFO" in source.problem


@pytest.mark.timeout(120)
def test_cli_upload_reports_them_and_exits_non_zero(
    clean_orthanc: OrthancServer, awkward_folder: tuple[Path, dict[str, str]]
) -> None:
    root, expected = awkward_folder
    environment = {
        **os.environ,
        "ORTHANC_URL": clean_orthanc.url,
        "ORTHANC_USERNAME": clean_orthanc.username,
        "ORTHANC_PASSWORD": clean_orthanc.password,
    }
    done = subprocess.run(
        [sys.executable, "-m", "orthanc_client.cli", "upload", str(root)],
        env=environment, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 stored" in done.stdout and f"{len(expected)} failed" in done.stdout
    for name in expected:
        assert f"FAILED   {root / name}" in done.stdout
