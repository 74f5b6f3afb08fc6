"""Bulk C-FIND + C-MOVE of 50 studies between two real Orthancs: ``transfer()`` vs pyorthanc 1.23.0's
``Modality`` in the simplest loop (find each accession, retrieve its query, one after the other).

``run()`` starts its own pair of servers (``local`` pulls from ``remote``) and returns rows ``{name, ours_s,
peer_s, ratio, ours_requests, peer_requests, note}``; ``python bench/bench_networking.py`` prints them.
Ours also verifies every study's instance count at the destination and keeps a resumable manifest; the
pyorthanc loop does neither, so its request count is the floor of what a plain loop costs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from orthanc_client import Modality, Orthanc, transfer
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, to_bytes

try:
    from .common import RequestCounter, row
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import RequestCounter, row  # type: ignore[no-redef]

N_PATIENTS, N_STUDIES, N_SERIES, N_INSTANCES = 10, 5, 2, 3  # 50 studies, 300 instances
_DICOM = {"DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomCheckModalityHost": False}


def _servers(version: str | None) -> tuple[OrthancServer, OrthancServer]:
    local = OrthancServer(version, name="bench-local", aet="LOCAL")
    remote = OrthancServer(version, name="bench-remote", aet="REMOTE")
    local.extra_config = {**_DICOM, "DicomModalities": {"remote": ["REMOTE", "127.0.0.1", remote.dicom_port]}}
    remote.extra_config = {**_DICOM, "DicomModalities": {"local": ["LOCAL", "127.0.0.1", local.dicom_port]}}
    return local, remote


def _empty(server: OrthancServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=120) as http:
        for patient in http.get("/patients").json():
            http.delete(f"/patients/{patient}").raise_for_status()


def _instances(server: OrthancServer) -> int:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        return int(http.get("/statistics").json()["CountInstances"])


def run(version: str | None = None) -> list[dict[str, Any]]:
    import pyorthanc  # the extra 'bench'

    local, remote = _servers(version)
    with local, remote:
        datasets = make_patient_tree(N_PATIENTS, N_STUDIES, N_SERIES, N_INSTANCES)
        with httpx.Client(base_url=remote.url, auth=remote.auth, timeout=120) as http:
            for ds in datasets:
                http.post("/instances", content=to_bytes(ds)).raise_for_status()
        accessions = sorted({str(ds.AccessionNumber) for ds in datasets})
        total = len(datasets)

        # Ours: the transfer helper, 10 studies per C-MOVE job, 4 jobs in flight, verified, with a manifest.
        with Orthanc(local.url, *local.auth) as client, tempfile.TemporaryDirectory() as tmp:
            counter = RequestCounter()
            counter.install(client.http_client)
            started = time.perf_counter()
            report = transfer(
                Modality(client, "remote"), accession_numbers=accessions, manifest=Path(tmp) / "m.sqlite",
                batch_size=10, concurrency=4, progress=False,
            )
            ours_s = time.perf_counter() - started
            ours_requests = counter.count
        assert report.ok and _instances(local) == total, str(report)
        _empty(local)

        # pyorthanc 1.23.0: the simplest loop its Modality offers (C-FIND by accession, retrieve the query).
        peer_client = pyorthanc.Orthanc(local.url, *local.auth, timeout=600)
        peer_counter = RequestCounter()
        peer_counter.install(peer_client)
        modality = pyorthanc.Modality(peer_client, "remote")
        started = time.perf_counter()
        for accession in accessions:
            found = modality.find({"Level": "Study", "Query": {"AccessionNumber": accession}})
            modality.move(found["ID"], {"TargetAet": "LOCAL", "Synchronous": True})
        peer_s = time.perf_counter() - started
        peer_client.close()
        assert _instances(local) == total

    note = (f"{len(accessions)} studies/{total} instances, Orthanc {local.version}; ours: batches of 10, 4 in "
            "flight, counts verified, SQLite manifest; pyorthanc: sequential find+retrieve, no verification")
    return [row("C-FIND+C-MOVE 50 studies", ours_s, peer_s, ours_requests=ours_requests,
                peer_requests=peer_counter.count, note=note)]


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
