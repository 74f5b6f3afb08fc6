"""The folder watcher against a real Orthanc: slow writers, non-DICOM files, a server that goes away."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import orthanc_client.aio as aio
from orthanc_client import FolderWatcher, InvalidInputError, Orthanc
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, make_uid, to_bytes


def instance_count(server: OrthancServer) -> int:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as http:
        return len(http.get("/instances").raise_for_status().json())


def wait_until(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_file_written_in_two_halves_and_a_non_dicom_file(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    incoming, done = tmp_path / "in", tmp_path / "done"
    (incoming / "sub").mkdir(parents=True)
    data = to_bytes(make_study(1, 1, patient_id="FW1", study_uid=make_uid("fw1"))[0])
    with Orthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
        watcher = FolderWatcher(client, incoming, recursive=True, done_dir=done, settle=1.5, poll_interval=0.1)
        thread = threading.Thread(target=watcher.run)
        thread.start()
        try:
            target = incoming / "sub" / "IM0001"
            with open(target, "wb") as file:
                file.write(data[: len(data) // 2])
                file.flush()
                time.sleep(1.0)  # a slow scanner: the half-file must not be sent
                file.write(data[len(data) // 2:])
            (incoming / "notes.txt").write_text("not an image")
            (incoming / ".partial").write_bytes(data)  # hidden: left alone
            wait_until(lambda: (done / "sub" / "IM0001").exists() and (incoming / "failed" / "notes.txt").exists())
        finally:
            watcher.stop()
            thread.join(10)
    assert not thread.is_alive()
    assert (done / "sub" / "IM0001").read_bytes() == data and not target.exists()
    assert sorted(p.name for p in (incoming / "failed").iterdir()) == ["notes.txt"]  # the half never failed
    assert (incoming / ".partial").exists()
    assert instance_count(clean_orthanc) == 1
    assert watcher.report.stored == [os.path.join("sub", "IM0001")]
    assert watcher.report.failed == {"notes.txt": "not a DICOM file"}


async def test_server_down_files_wait_then_go(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    incoming, done, failed = tmp_path / "in", tmp_path / "done", tmp_path / "failed"
    incoming.mkdir()
    datasets = make_study(1, 3, patient_id="FW2", study_uid=make_uid("fw2"))
    async with aio.AsyncOrthanc(clean_orthanc.url, *clean_orthanc.auth, retries=0) as client:
        watcher = aio.FolderWatcher(client, incoming, done_dir=done, failed_dir=failed, settle=0.2,
                                    poll_interval=0.1, max_backoff=0.5)
        await asyncio.to_thread(clean_orthanc.stop)
        task = asyncio.create_task(watcher.run())
        try:
            for i, ds in enumerate(datasets):
                (incoming / f"IM{i}").write_bytes(to_bytes(ds))
            await asyncio.sleep(2.0)  # server down: every file stays, none is failed
            assert sorted(p.name for p in incoming.iterdir()) == ["IM0", "IM1", "IM2"]
            assert not any(failed.iterdir())
            await asyncio.to_thread(clean_orthanc.start)
            for _ in range(300):
                if len(list(done.iterdir())) == 3:
                    break
                await asyncio.sleep(0.1)
        finally:
            watcher.stop()
            report = await asyncio.wait_for(task, 10)
    assert sorted(p.name for p in done.iterdir()) == ["IM0", "IM1", "IM2"] and not list(incoming.iterdir())
    assert sorted(report.stored) == ["IM0", "IM1", "IM2"] and report.failed == {}
    assert instance_count(clean_orthanc) == 3


def test_cli_delete_until_idle_and_refused_file(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    data = to_bytes(make_study(1, 1, patient_id="FW3", study_uid=make_uid("fw3"))[0])
    (incoming / "good.dcm").write_bytes(data)
    (incoming / "broken.dcm").write_bytes(data[:300])  # a DICOM header, then nothing: Orthanc refuses it
    env = {**os.environ, "ORTHANC_URL": clean_orthanc.url, "ORTHANC_USERNAME": clean_orthanc.username,
           "ORTHANC_PASSWORD": clean_orthanc.password}
    result = subprocess.run(
        [sys.executable, "-m", "orthanc_client.cli", "watch-folder", str(incoming), "--delete", "--settle", "0.2",
         "--until-idle", "--json"], env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stored"] == ["good.dcm"] and list(report["failed"]) == ["broken.dcm"]
    assert "refused by Orthanc" in report["failed"]["broken.dcm"] and "broken.dcm" in result.stderr
    assert sorted(p.name for p in incoming.iterdir()) == ["failed"]
    assert [p.name for p in (incoming / "failed").iterdir()] == ["broken.dcm"]
    assert instance_count(clean_orthanc) == 1
    usage = subprocess.run([sys.executable, "-m", "orthanc_client.cli", "watch-folder", str(incoming)],
                           env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "--done-dir" in usage.stderr


def test_bad_arguments(tmp_path: Path) -> None:
    with Orthanc("http://127.0.0.1:9") as client:
        with pytest.raises(InvalidInputError, match="not a directory"):
            FolderWatcher(client, tmp_path / "missing", delete=True)
        with pytest.raises(InvalidInputError, match="done_dir"):
            FolderWatcher(client, tmp_path, done_dir=tmp_path / "d", delete=True)
