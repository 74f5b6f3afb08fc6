"""Transfer benchmarks: upload a folder and download to a folder or a zip, against pyorthanc and plain httpx.

``run(server_url, username, password)`` returns rows for the bench runner; ``python bench/bench_transfer_files.py``
starts its own Orthanc and prints them. Every contender works on the same server, which is emptied between
upload runs. Each time is the best of ``REPEAT`` runs, the contenders taking turns, so that a busy machine
disturbs them alike. Peak memory is measured in a separate run: ``tracemalloc`` slows every allocation (it
doubled the zip's time), so it is never on while timing. Requests are counted with httpx event hooks where
the contender uses our client or httpx.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from orthanc_client import Orthanc, aio as orthanc_aio, download, download_zip, upload
from orthanc_client.testing.dicom import make_series, write

try:
    from .common import LoggedRequestCounter, RequestCounter, best_in_turns, row
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import LoggedRequestCounter, RequestCounter, best_in_turns, row  # type: ignore[no-redef]

UPLOAD_COUNT = 500
STUDY_COUNT = 200
REPEAT = 3


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


def _peak_memory(action: Callable[[], Any]) -> float:
    """Peak traced memory of one run of ``action``, in MB."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


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

        def sync_upload() -> None:
            with Orthanc(server_url, username, password) as client:
                upload(client, folder, progress=False)

        async def async_upload() -> None:
            async with orthanc_aio.AsyncOrthanc(server_url, username, password) as client:
                await orthanc_aio.upload(client, folder, progress=False)

        def check_stored(name: str) -> None:
            stored = http.get("/statistics").json()["CountInstances"]
            assert stored == UPLOAD_COUNT, f"{name} stored {stored} instances, not {UPLOAD_COUNT}"

        timings = best_in_turns(
            REPEAT,
            {
                "httpx-1": lambda: httpx_upload(1),
                "httpx-8": lambda: httpx_upload(8),
                "pyorthanc": lambda: pyorthanc.upload(
                    pyorthanc.Orthanc(server_url, username, password), str(folder)
                ),
                "sync": sync_upload,
                "async": lambda: asyncio.run(async_upload()),
            },
            before=lambda: _empty(http),
            after=check_stored,
        )
        # Requests are counted in one more, untimed run of each: the timed runs carry no instrumentation.
        requests: dict[str, int] = {}
        for kind, action in (("sync", sync_upload), ("async", lambda: asyncio.run(async_upload()))):
            _empty(http)
            with LoggedRequestCounter() as logged:
                action()
            check_stored(kind)
            requests[kind] = logged.count
        for kind in ("sync", "async"):
            rows.append(
                row(
                    f"upload {UPLOAD_COUNT} x 100 KB ({kind}) vs pyorthanc.upload",
                    timings[kind],
                    timings["pyorthanc"],
                    ours_requests=requests[kind],
                    peer_requests=UPLOAD_COUNT,
                    note="target ratio <= 0.55",
                )
            )
            rows.append(
                row(
                    f"upload {UPLOAD_COUNT} x 100 KB ({kind}) vs httpx 8 threads",
                    timings[kind],
                    timings["httpx-8"],
                    ours_requests=requests[kind],
                    peer_requests=UPLOAD_COUNT,
                    note=f"target ratio <= 1.05; httpx 1 thread: {timings['httpx-1']:.2f} s",
                )
            )

        # Download the same 500 to a folder.
        with Orthanc(server_url, username, password) as client:
            counter = RequestCounter()
            counter.install(client.http_client)
            studies = http.get("/studies").json()
            out = work / "down"
            py_client = pyorthanc.Orthanc(server_url, username, password)
            py_out = work / "down-py"

            def ours_download() -> None:
                counter.reset()
                download(client, studies, out, level="study", progress=False)

            def pyorthanc_download() -> None:
                py_out.mkdir()
                for study_id in studies:
                    for series in pyorthanc.Study(study_id, py_client).series:
                        for instance in series.instances:
                            instance.download(str(py_out / f"{instance.id_}.dcm"))

            def clear_outputs() -> None:
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(py_out, ignore_errors=True)

            timings = best_in_turns(REPEAT, {"ours": ours_download, "pyorthanc": pyorthanc_download}, clear_outputs)
            rows.append(
                row(
                    f"download {UPLOAD_COUNT} x 100 KB to a folder vs pyorthanc",
                    timings["ours"],
                    timings["pyorthanc"],
                    ours_requests=counter.count,
                    note="pyorthanc: Study.series, Series.instances, Instance.download (sequential)",
                )
            )

        # A 200-instance 512x512 study (~105 MB) to disk, as a folder and as a zip; peak memory apart.
        _empty(http)
        big = work / "big"
        big.mkdir()
        _write_folder(big, STUDY_COUNT, 512, "BENCHBIG")
        with Orthanc(server_url, username, password) as client:
            upload(client, big, progress=False)
            (study_id,) = http.get("/studies").json()
            py_study = pyorthanc.Study(study_id, pyorthanc.Orthanc(server_url, username, password))
            study_folder = work / "study-folder"

            def zip_download() -> None:
                download_zip(client, [("study", study_id)], work / "study.zip", progress=False)

            def folder_download() -> None:
                download(client, [("study", study_id)], study_folder, progress=False)

            timings = best_in_turns(
                REPEAT,
                {
                    "zip": zip_download,
                    "folder": folder_download,
                    "pyorthanc": lambda: py_study.download(str(work / "study-py.zip")),
                },
                before=lambda: shutil.rmtree(study_folder, ignore_errors=True),
            )
            zip_peak = _peak_memory(zip_download)
            shutil.rmtree(study_folder, ignore_errors=True)
            folder_peak = _peak_memory(folder_download)
            rows.append(
                row(
                    f"study of {STUDY_COUNT} x 512 KB to a zip vs pyorthanc Study.download",
                    timings["zip"],
                    timings["pyorthanc"],
                    peer_requests=1,
                    note=f"target ratio <= 0.2; peak traced memory {zip_peak:.1f} MB (< 32)",
                )
            )
            rows.append(
                row(
                    f"study of {STUDY_COUNT} x 512 KB to a folder vs pyorthanc Study.download",
                    timings["folder"],
                    timings["pyorthanc"],
                    peer_requests=1,
                    note=f"peak traced memory {folder_peak:.1f} MB",
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
