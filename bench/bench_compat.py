"""The pyorthanc facade: one pyorthanc-style script, run with real pyorthanc 1.23.0 and through
``orthanc_client.compat.pyorthanc`` (only the import differs), same server, same run.

The script: find the studies of a few patients, read their tags, download one study as a zip, anonymize
it as a job and wait, read one series as pydicom datasets. Rows: time of each step and of the whole script,
with the requests each sent.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from bench.common import RequestCounter, Row, row
from orthanc_client.testing.dicom import make_patient_tree, to_bytes

TREE = (10, 3, 2, 10)  # 10 patients x 3 studies x 2 series x 10 instances = 600 instances, 64x64
REPEAT = 3


def load(server_url: str, auth: tuple[str, str]) -> None:
    with httpx.Client(base_url=server_url, auth=auth, timeout=120) as http:
        for ds in make_patient_tree(*TREE, rows=64, columns=64):
            http.post("/instances", content=to_bytes(ds)).raise_for_status()


def script_steps(pyorthanc: ModuleType, client: Any, workdir: Path) -> dict[str, Callable[[], Any]]:
    """The same pyorthanc-style code for both libraries; state passes between steps through ``shared``."""
    shared: dict[str, Any] = {}

    def find_and_read_tags() -> None:
        studies = pyorthanc.find_studies(client, query={"PatientID": "PAT000*"})
        shared["studies"] = studies
        shared["tags"] = [(s.uid, s.date, s.description, s.accession_number, s.patient_information["PatientID"])
                          for s in studies]

    def download_study() -> None:
        target = workdir / "study.zip"
        shared["studies"][0].download(str(target))
        shared["zip_size"] = target.stat().st_size

    def anonymize_as_job() -> None:
        job = shared["studies"][1].anonymize_as_job(replace={"StudyDescription": "bench"})
        job.wait_until_completion()
        shared["job_state"] = job.state.value

    def series_to_pydicom() -> None:
        series = shared["studies"][2].series[0]
        shared["datasets"] = [i.get_pydicom() for i in series.instances]

    return {
        "find studies + read tags": find_and_read_tags,
        "download study zip": download_study,
        "anonymize as job + wait": anonymize_as_job,
        "series to pydicom": series_to_pydicom,
    }


def run_script(pyorthanc: ModuleType, server_url: str, username: str, password: str) -> dict[str, tuple[float, int]]:
    """{step: (best seconds, requests)} for one library, plus "whole script"."""
    best: dict[str, tuple[float, int]] = {}
    for _ in range(REPEAT):
        client = pyorthanc.Orthanc(server_url, username, password, timeout=120)
        counter = RequestCounter()
        counter.install(client)
        with tempfile.TemporaryDirectory() as tmp:
            total_t, total_n = 0.0, 0
            for name, step in script_steps(pyorthanc, client, Path(tmp)).items():
                counter.reset()
                started = time.perf_counter()
                step()
                elapsed = time.perf_counter() - started
                total_t += elapsed
                total_n += counter.count
                if name not in best or elapsed < best[name][0]:
                    best[name] = (elapsed, counter.count)
            if "whole script" not in best or total_t < best["whole script"][0]:
                best["whole script"] = (total_t, total_n)
        client.close()
    return best


def run(server_url: str, username: str, password: str) -> list[Row]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyorthanc

    from orthanc_client.compat import pyorthanc as facade

    load(server_url, (username, password))
    peer = run_script(pyorthanc, server_url, username, password)
    ours = run_script(facade, server_url, username, password)
    rows = []
    for name in ours:
        rows.append(row(f"compat: {name}", ours[name][0], peer[name][0],
                        ours_requests=ours[name][1], peer_requests=peer[name][1],
                        note="same script, import changed"))
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table
    from orthanc_client.testing import OrthancServer

    with OrthancServer(name="bench-compat") as server:
        print_table(run(server.url, server.username, server.password))
