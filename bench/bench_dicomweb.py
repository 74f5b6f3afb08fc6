"""DICOMweb benchmarks: ``client.dicomweb`` against dicomweb-client (and plain httpx) on the same server.

``run()`` starts its own Orthanc with the DICOMweb plugin (the runner's default server has none);
``python bench/bench_dicomweb.py`` prints the rows. Contenders take turns, each time is the best of
``REPEAT`` runs. Peak memory is measured in separate runs with ``tracemalloc`` (never on while timing).

Cases (targets from issue 16):
- retrieve_study into Datasets, 200 x 512x512 (105 MB): at most 0.5x dicomweb-client;
- save_study to disk: at most 1.5x a plain streamed read of the same answer, peak memory under 32 MB;
- STOW-RS of 500 x 100 KB files: at most 0.5x dicomweb-client's store_instances (which needs Datasets: it
  reads the files first, as a user of it has to);
- QIDO-RS of 300 studies: within 1.1x of one plain request (httpx GET and JSON decoding).
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from orthanc_client import Orthanc
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, make_series, to_bytes, write

try:
    from .common import best_in_turns, creating_files_ms, row, spread_folder
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import best_in_turns, creating_files_ms, row, spread_folder  # type: ignore[no-redef]

RETRIEVE_COUNT, RETRIEVE_SIZE = 200, 512
STOW_COUNT, STOW_SIZE = 500, 224  # 224 x 224 x 2 bytes: about 100 KB per file
QIDO_STUDIES = 300
REPEAT = 3
SAVE_REPEAT = 5  # the save's answer takes 0.05 s: more rounds cost little, and steady the ratio
DICOMWEB = {"DicomWeb": {"Enable": True}}


def _peak_mb(action: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


def _post_all(http: httpx.Client, datasets: list[Any]) -> None:
    for dataset in datasets:
        http.post("/instances", content=to_bytes(dataset)).raise_for_status()


def _empty(http: httpx.Client) -> None:
    for patient in http.get("/patients").json():
        http.delete(f"/patients/{patient}")


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with OrthancServer(name="bench-dicomweb", plugins=("dicomweb",), extra_config=DICOMWEB) as server, tempfile.TemporaryDirectory() as tmp:
        print(f"  on Orthanc {server.version} with the DICOMweb plugin", file=sys.stderr, flush=True)
        work = Path(tmp)
        http = httpx.Client(base_url=server.url, auth=server.auth, timeout=600)
        ours = Orthanc(server.url, *server.auth)
        session = requests.Session()
        session.auth = server.auth
        theirs = DICOMwebClient(url=f"{server.url}/dicom-web", session=session)
        try:
            rows += _retrieve(http, ours, theirs, work)
            _empty(http)
            rows += _stow(http, ours, theirs, work)
            _empty(http)
            rows += _qido(http, ours)
        finally:
            http.close()
            ours.close()
            session.close()
    return rows


def _retrieve(http: httpx.Client, ours: Orthanc, theirs: DICOMwebClient, work: Path) -> list[dict[str, Any]]:
    series = make_series(RETRIEVE_COUNT, rows=RETRIEVE_SIZE, columns=RETRIEVE_SIZE, patient_id="BENCH")
    _post_all(http, series.datasets)
    study = str(series.datasets[0].StudyInstanceUID)
    megabytes = sum(len(to_bytes(ds)) for ds in series.datasets[:1]) * RETRIEVE_COUNT / 1e6

    def ours_datasets() -> None:
        assert len(ours.dicomweb.retrieve_study(study)) == RETRIEVE_COUNT

    def theirs_datasets() -> None:
        assert len(theirs.retrieve_study(study)) == RETRIEVE_COUNT

    best = best_in_turns(REPEAT, {"ours": ours_datasets, "theirs": theirs_datasets})
    rows = [row(f"dicomweb retrieve_study {RETRIEVE_COUNT}x{RETRIEVE_SIZE}^2 -> Datasets", best["ours"], best["theirs"],
                note=f"vs dicomweb-client; {megabytes:.0f} MB; target <= 0.5")]

    # Each round saves into a new folder of a spread parent (common.spread_folder says why), and the last
    # round's files are removed first, so that their memory is reused rather than the VM's untouched pages.
    spread = spread_folder(work / "spread")
    # (random names: ext4 picks a spread folder's block group from a hash of its name, the same on every run)
    targets = (work / "spread" / f"saved-{uuid.uuid4().hex}" for _ in itertools.count())
    target = work / "spread" / "unused"
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'

    def plain_read() -> None:
        with http.stream("GET", f"/dicom-web/studies/{study}", headers={"Accept": accept,
                                                                           "Accept-Encoding": "identity"}) as answer:
            for _ in answer.iter_bytes():
                pass

    def ours_save() -> None:
        result = ours.dicomweb.save_study(study, target, layout="flat")
        assert len(result.stored) == RETRIEVE_COUNT

    def next_target() -> None:
        nonlocal target
        shutil.rmtree(target, ignore_errors=True)
        target = next(targets)

    best = best_in_turns(SAVE_REPEAT, {"ours": ours_save, "plain": plain_read}, before=next_target)
    next_target()
    creating = creating_files_ms(work / "spread" / f"probe-{uuid.uuid4().hex}", RETRIEVE_COUNT)
    creating_nearby = creating_files_ms(work / "probe", RETRIEVE_COUNT)
    peak = _peak_mb(ours_save)
    next_target()
    theirs_peak = _peak_mb(theirs_datasets)
    rows.append(row("dicomweb save_study to disk", best["ours"], best["plain"],
                    note=f"vs a plain streamed read (httpx); peak {peak:.1f} MB traced (dicomweb-client "
                         f"retrieve_study: {theirs_peak:.0f} MB); creating {RETRIEVE_COUNT} empty files: "
                         f"{creating:.0f} ms in this {'spread ' if spread else ''}folder, {creating_nearby:.0f} ms "
                         f"in a plain one of {work.parent}; target <= 1.5, < 32 MB"))
    _empty(http)
    return rows


def _stow(http: httpx.Client, ours: Orthanc, theirs: DICOMwebClient, work: Path) -> list[dict[str, Any]]:
    folder = work / "stow"
    folder.mkdir()
    series = make_series(STOW_COUNT, rows=STOW_SIZE, columns=STOW_SIZE, patient_id="STOW")
    for index, dataset in enumerate(series.datasets):
        write(dataset, folder / f"IM{index:05d}.dcm")
    paths = sorted(folder.iterdir())
    size_kb = paths[0].stat().st_size / 1e3

    def ours_store() -> None:
        result = ours.dicomweb.store_instances(paths)
        assert len(result.stored) == STOW_COUNT, result

    def theirs_store() -> None:
        theirs.store_instances([pydicom.dcmread(path) for path in paths])

    def check(name: str) -> None:
        assert len(http.get("/instances").json()) == STOW_COUNT, name

    best = best_in_turns(REPEAT, {"ours": ours_store, "theirs": theirs_store}, before=lambda: _empty(http), after=check)
    return [row(f"dicomweb STOW {STOW_COUNT} x {size_kb:.0f} KB files", best["ours"], best["theirs"],
                note="vs dicomweb-client (reads the files into Datasets); target <= 0.5")]


def _qido(http: httpx.Client, ours: Orthanc) -> list[dict[str, Any]]:
    _post_all(http, make_patient_tree(QIDO_STUDIES, 1, 1, 1))

    def ours_search() -> None:
        assert len(ours.dicomweb.search_for_studies()) == QIDO_STUDIES

    def plain() -> None:
        answer = http.get("/dicom-web/studies", headers={"Accept": "application/dicom+json"})
        assert len(answer.raise_for_status().json()) == QIDO_STUDIES

    best = best_in_turns(REPEAT * 3, {"ours": ours_search, "plain": plain})
    return [row(f"dicomweb QIDO {QIDO_STUDIES} studies", best["ours"], best["plain"],
                note="vs one plain httpx request + JSON; target <= 1.1")]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: ``bench`` importable
    from bench.__main__ import print_table

    print_table(run())


if __name__ == "__main__":
    main()
