"""Time to give up does not grow with the work: a batch shares one retry window (a circuit breaker), and the
CLI reports a dead server in seconds. Real Orthanc behind a proxy that dies, and a port nobody listens on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import orthanc_client
from orthanc_client import ConnectError, aio as orthanc_aio
from orthanc_client._core.breaker import BatchBreaker
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes, write
from orthanc_client.testing.faulty_proxy import FaultyProxy

kinds = pytest.mark.parametrize("kind", ["sync", "async"])


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def run(kind: str, name: str, url: str, auth: tuple[str, str], *args: Any, **kwargs: Any) -> Any:
    if kind == "sync":
        with orthanc_client.Orthanc(url, *auth) as client:
            return getattr(orthanc_client, name)(client, *args, **kwargs)
    async with orthanc_aio.AsyncOrthanc(url, *auth) as async_client:
        return await getattr(orthanc_aio, name)(async_client, *args, **kwargs)


def write_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, ds in enumerate(make_study(1, count, patient_id="GIVEUP")):
        write(ds, folder / f"{i:04d}.dcm")


def kill_after(proxy: FaultyProxy, method: str, path_end: str, count: int) -> None:
    """Makes the proxy's server die once ``count`` requests matching ``method`` and ``path_end`` went through."""

    def watch() -> None:
        while sum(1 for m, path in proxy.requests if m == method and path.endswith(path_end)) < count:
            time.sleep(0.002)
        proxy.dead()

    threading.Thread(target=watch, daemon=True).start()


def one_study_of_120(server: OrthancServer, patient_id: str) -> str:
    """Stores a study of 2 series x 60 instances; returns its Orthanc ID."""
    with orthanc_client.Orthanc(server.url, *server.auth) as client:
        for ds in make_study(2, 60, patient_id=patient_id):
            client.post_instances(to_bytes(ds))
        (study,) = client.get_studies()
    return str(study)


@kinds
@pytest.mark.timeout(60)
async def test_upload_to_a_server_down_from_the_start_fails_every_file_in_seconds(kind: str, tmp_path: Path) -> None:
    write_files(tmp_path / "in", 40)
    started = time.monotonic()
    result = await run(kind, "upload", closed_port_url(), ("u", "p"), tmp_path / "in", progress=False)
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed  # was 187 s for 24 files
    assert len(result.failed) == 40 and not result.stored
    assert all(isinstance(item.error, ConnectError) for item in result.failed)
    assert len({str(item.error) for item in result.failed}) == 1  # one cause, the same for every file
    assert any("not attempted" in (item.reason or "") for item in result.failed)


@kinds
@pytest.mark.timeout(120)
async def test_upload_whose_server_dies_mid_batch_gives_up_after_the_shared_window(
    kind: str, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    write_files(tmp_path / "in", 120)
    with FaultyProxy(clean_orthanc.url) as proxy:
        kill_after(proxy, "POST", "", 20)
        started = time.monotonic()
        result = await run(kind, "upload", proxy.url, clean_orthanc.auth, tmp_path / "in", retry_for=2.0, progress=False)
        elapsed = time.monotonic() - started
    assert elapsed < 12, elapsed  # a window of 2 s for the batch, not 2 s per file
    assert len(result.stored) + len(result.already_stored) >= 20
    assert result.total == 120 and len(result.failed) == 120 - result.instances
    assert all(isinstance(item.error, orthanc_client.TransportError) for item in result.failed)


@kinds
@pytest.mark.timeout(120)
async def test_download_whose_server_dies_fails_the_rest_at_once(
    kind: str, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    study = one_study_of_120(clean_orthanc, "DIES")
    with FaultyProxy(clean_orthanc.url) as proxy:
        kill_after(proxy, "GET", "/file", 15)
        started = time.monotonic()
        result = await run(kind, "download", proxy.url, clean_orthanc.auth, [("study", study)], tmp_path / "out",
                           progress=False)
        elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed
    assert result.total == 120 and result.failed and len(result.stored) >= 10
    given_up = [item for item in result.failed if item.attempts == 0]
    assert given_up and len({str(item.error) for item in given_up}) == 1
    assert all(item.instance_id for item in result.failed)
    stored_files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(stored_files) == len(result.stored) and not [p for p in stored_files if p.suffix == ".part"]


@pytest.mark.timeout(60)
def test_cli_upload_to_a_dead_server_exits_in_seconds(tmp_path: Path) -> None:
    write_files(tmp_path / "in", 24)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "orthanc_client.cli", "upload", str(tmp_path / "in")],
        env={**os.environ, "ORTHANC_URL": closed_port_url()}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "24 failed" in done.stdout, done.stdout + done.stderr
    assert time.monotonic() - started < 15


def test_breaker_window_is_short_until_the_server_was_reached() -> None:
    breaker = BatchBreaker(retry_for=60.0, first_contact=0.05)
    error = ConnectError("refused")
    assert not breaker.failed(error)
    time.sleep(0.06)
    assert breaker.failed(error) and breaker.open_cause() is error
    reached = BatchBreaker(retry_for=0.2, first_contact=0.01)
    reached.succeeded()
    assert not reached.failed(error)
    time.sleep(0.05)
    assert not reached.failed(error)  # the longer window: the server was up, it may be restarting
    reached.succeeded()  # it came back: the count starts again
    assert reached.remaining() == pytest.approx(0.2)
    time.sleep(0.01)
    assert not reached.failed(error)
    time.sleep(0.25)
    assert reached.failed(error) and reached.open_cause() is error


@kinds
@pytest.mark.timeout(60)
async def test_upload_to_a_server_that_never_answers_gives_up_after_one_timeout(
    kind: str, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    from orthanc_client.testing.faulty_proxy import Hang

    write_files(tmp_path / "in", 40)
    with FaultyProxy(clean_orthanc.url, [(r"^/instances$", Hang())]) as proxy:
        started = time.monotonic()
        if kind == "sync":
            with orthanc_client.Orthanc(proxy.url, *clean_orthanc.auth, timeout=1.0) as client:
                result = orthanc_client.upload(client, tmp_path / "in", progress=False)
        else:
            async with orthanc_aio.AsyncOrthanc(proxy.url, *clean_orthanc.auth, timeout=1.0) as async_client:
                result = await orthanc_aio.upload(async_client, tmp_path / "in", progress=False)
        elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed  # one round of timeouts, not one per file (40 x 1 s / 8)
    assert len(result.failed) == 40
    assert all(isinstance(item.error, orthanc_client.RequestTimeoutError) for item in result.failed)


@kinds
@pytest.mark.timeout(60)
async def test_upload_skipping_existing_to_a_dead_server_reports_every_file(kind: str, tmp_path: Path) -> None:
    write_files(tmp_path / "in", 30)
    started = time.monotonic()
    result = await run(kind, "upload", closed_port_url(), ("u", "p"), tmp_path / "in", skip_existing=True,
                       progress=False)
    assert time.monotonic() - started < 10
    assert len(result.failed) == 30 and all(isinstance(i.error, ConnectError) for i in result.failed)


@kinds
@pytest.mark.timeout(120)
async def test_download_zip_whose_server_dies_fails_in_seconds_and_leaves_no_file(
    kind: str, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    study = one_study_of_120(clean_orthanc, "ZIPDIES")
    with FaultyProxy(clean_orthanc.url) as proxy:
        kill_after(proxy, "GET", "/file", 15)
        started = time.monotonic()
        with pytest.raises(orthanc_client.BulkError) as caught:
            await run(kind, "download_zip", proxy.url, clean_orthanc.auth, [("study", study)], tmp_path / "s.zip",
                      progress=False)
        assert time.monotonic() - started < 15
    assert isinstance(caught.value.result.failed[0].error, orthanc_client.TransportError)
    assert list(tmp_path.iterdir()) == []
