"""Transfer benchmarks: upload a folder and download to a folder or a zip, against pyorthanc and plain httpx.

``run(server_url, username, password)`` returns rows for the bench runner; ``python bench/bench_transfer_files.py``
starts its own Orthanc and prints them. Every contender works on the same server, which is emptied between
runs. Requests are counted with httpx event hooks where the contender uses our client or httpx.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from orthanc_client import Orthanc, download, download_zip, upload
from orthanc_client import aio as orthanc_aio
from orthanc_client.testing.dicom import make_series, write

UPLOAD_COUNT = 500
STUDY_COUNT = 200


def _write_folder(folder: Path, count: int, size: int, patient: str) -> None:
    series = make_series(
        count,
        patient_id=patient,
        patient_name="Bench^Mark",
        study_uid=f"1.2.826.0.1.{size}.1",
        series_uid=f"1.2.826.0.1.{size}.1.1",
        rows=size,
        columns=size,
    )
    for i, ds in enumerate(series.datasets):
        write(ds, folder / f"IM{i:05d}.dcm")  # pyorthanc only picks up *.dcm files


def _empty(http: httpx.Client) -> None:
    for patient in http.get("/patients").json():
        http.delete(f"/patients/{patient}")


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: httpx.Request) -> None:
        self.count += 1

    async def hook(self, request: httpx.Request) -> None:
        self.count += 1


def _row(
    name: str,
    ours: float,
    peer: float | None,
    ours_requests: int | None,
    peer_requests: int | None,
    note: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "ours_s": round(ours, 3),
        "peer_s": round(peer, 3) if peer is not None else None,
        "ratio": round(ours / peer, 3) if peer else None,
        "ours_requests": ours_requests,
        "peer_requests": peer_requests,
        "note": note,
    }


def run(server_url: str, username: str, password: str) -> list[dict[str, Any]]:
    """Benchmark rows: upload (sync, async) vs pyorthanc and plain httpx; downloads vs pyorthanc."""
    import pyorthanc

    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    http = httpx.Client(base_url=server_url, auth=(username, password), timeout=600)
    try:
        folder = work / "upload"
        folder.mkdir()
        _write_folder(folder, UPLOAD_COUNT, 224, "BENCHUP")
        files = sorted(folder.iterdir())
        _empty(http)

        def httpx_upload(threads: int) -> None:
            with httpx.Client(
                base_url=server_url,
                auth=(username, password),
                timeout=600,
                limits=httpx.Limits(max_connections=threads),
            ) as plain:

                def send(path: Path) -> None:
                    with open(path, "rb") as file:
                        plain.post("/instances", content=file.read()).raise_for_status()

                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(send, files))

        timings: dict[str, float] = {}
        requests: dict[str, int | None] = {}
        for name, action in [
            ("httpx-1", lambda: httpx_upload(1)),
            ("httpx-8", lambda: httpx_upload(8)),
            (
                "pyorthanc",
                lambda: pyorthanc.upload(pyorthanc.Orthanc(server_url, username, password), str(folder)),
            ),
        ]:
            _empty(http)
            timings[name] = _timed(action)
            requests[name] = UPLOAD_COUNT
            stored = http.get("/statistics").json()["CountInstances"]
            assert stored == UPLOAD_COUNT, f"{name} stored {stored} instances, not {UPLOAD_COUNT}"
        for kind in ("sync", "async"):
            _empty(http)
            counter = _Counter()
            if kind == "sync":
                with Orthanc(server_url, username, password) as client:
                    client.http_client.event_hooks = {"request": [counter]}
                    timings[kind] = _timed(lambda: upload(client, folder, progress=False))
            else:

                async def go(counter: _Counter = counter) -> None:
                    async with orthanc_aio.AsyncOrthanc(server_url, username, password) as client:
                        client.http_client.event_hooks = {"request": [counter.hook]}
                        await orthanc_aio.upload(client, folder, progress=False)

                timings[kind] = _timed(lambda: asyncio.run(go()))
            requests[kind] = counter.count
        for kind in ("sync", "async"):
            rows.append(
                _row(
                    f"upload {UPLOAD_COUNT} x 100 KB ({kind}) vs pyorthanc.upload",
                    timings[kind],
                    timings["pyorthanc"],
                    requests[kind],
                    requests["pyorthanc"],
                    "target ratio <= 0.55",
                )
            )
            rows.append(
                _row(
                    f"upload {UPLOAD_COUNT} x 100 KB ({kind}) vs httpx 8 threads",
                    timings[kind],
                    timings["httpx-8"],
                    requests[kind],
                    requests["httpx-8"],
                    f"target ratio <= 1.05; httpx 1 thread: {timings['httpx-1']:.2f} s",
                )
            )

        # Download the same 500 to a folder.
        with Orthanc(server_url, username, password) as client:
            counter = _Counter()
            client.http_client.event_hooks = {"request": [counter]}
            studies = http.get("/studies").json()
            out = work / "down"
            ours = _timed(lambda: download(client, studies, out, level="study", progress=False))
            py_client = pyorthanc.Orthanc(server_url, username, password)
            py_out = work / "down-py"
            py_out.mkdir()

            def pyorthanc_download() -> None:
                for study_id in studies:
                    for series in pyorthanc.Study(study_id, py_client).series:
                        for instance in series.instances:
                            instance.download(str(py_out / f"{instance.id_}.dcm"))

            peer = _timed(pyorthanc_download)
            rows.append(
                _row(
                    f"download {UPLOAD_COUNT} x 100 KB to a folder vs pyorthanc",
                    ours,
                    peer,
                    counter.count,
                    None,
                    "pyorthanc: Study.series, Series.instances, Instance.download (sequential)",
                )
            )

        # A 200-instance 512x512 study (~105 MB) to disk, as a folder and as a zip, with peak memory.
        _empty(http)
        big = work / "big"
        big.mkdir()
        _write_folder(big, STUDY_COUNT, 512, "BENCHBIG")
        with Orthanc(server_url, username, password) as client:
            upload(client, big, progress=False)
            (study_id,) = http.get("/studies").json()
            py_client = pyorthanc.Orthanc(server_url, username, password)
            py_study = pyorthanc.Study(study_id, py_client)
            tracemalloc.start()
            ours = _timed(
                lambda: download_zip(client, [("study", study_id)], work / "study.zip", progress=False)
            )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            peer = _timed(lambda: py_study.download(str(work / "study-py.zip")))
            rows.append(
                _row(
                    f"study of {STUDY_COUNT} x 512 KB to a zip vs pyorthanc Study.download",
                    ours,
                    peer,
                    None,
                    1,
                    f"target ratio <= 0.2; peak traced memory {peak / 1e6:.1f} MB (< 32)",
                )
            )
            tracemalloc.start()
            ours = _timed(
                lambda: download(client, [("study", study_id)], work / "study-folder", progress=False)
            )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows.append(
                _row(
                    f"study of {STUDY_COUNT} x 512 KB to a folder vs pyorthanc Study.download",
                    ours,
                    peer,
                    None,
                    1,
                    f"peak traced memory {peak / 1e6:.1f} MB",
                )
            )
    finally:
        http.close()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    from orthanc_client.testing import OrthancServer

    version = sys.argv[1] if len(sys.argv) > 1 else None
    with OrthancServer(version, name="bench-transfer") as server:
        for row in run(server.url, server.username, server.password):
            print(row)


if __name__ == "__main__":
    main()
