"""Benchmarks for resources/find/numpy/anonymize against pyorthanc 1.23.0 on the same server and data.

``run(server_url, username, password)`` returns rows ``{name, ours_s, peer_s, ratio, ours_requests,
peer_requests, note}``; ``python bench/bench_resources.py`` starts its own Orthanc and prints them.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx

from orthanc_client import Orthanc, Series, Study, find_studies
from orthanc_client.testing.dicom import make_patient_tree, make_series, make_study, to_bytes


def _counter(client: httpx.Client) -> list[int]:
    count = [0]
    client.event_hooks = {"request": [lambda request: count.__setitem__(0, count[0] + 1)], "response": []}
    return count


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _upload(http: httpx.Client, datasets: Any) -> list[dict[str, Any]]:
    return [http.post("/instances", content=to_bytes(ds)).raise_for_status().json() for ds in datasets]


def _row(name: str, ours: float, peer: float, ours_requests: int, peer_requests: int, note: str) -> dict[str, Any]:
    return {"name": name, "ours_s": round(ours, 4), "peer_s": round(peer, 4), "ratio": round(ours / peer, 4),
            "ours_requests": ours_requests, "peer_requests": peer_requests, "note": note}


def run(server_url: str, username: str, password: str) -> list[dict[str, Any]]:
    import numpy as np
    import pyorthanc

    rows = []
    with httpx.Client(base_url=server_url, auth=(username, password), timeout=600) as http:
        # (a) 300 studies: find + 3 main tags each
        _upload(http, make_patient_tree(300, 1, 1, 1, rows=4, columns=4, patient_id_prefix="BENCH"))
        ours_http = httpx.Client()
        ours_count = _counter(ours_http)
        client = Orthanc(server_url, username, password, http_client=ours_http)
        if True:  # one client for every case: closing it would close the shared transport
            ours_s, values = _timed(lambda: [(s.date, s.description, s.accession_number)
                                             for s in find_studies(client, {"PatientID": "BENCH*"})])
        peer = pyorthanc.Orthanc(server_url, username, password)
        peer_count = _counter(peer)
        peer_s, peer_values = _timed(lambda: [(s.date, s.description, s.accession_number)
                                              for s in pyorthanc.find_studies(peer, query={"PatientID": "BENCH*"})])
        assert len(values) == len(peer_values) == 300
        rows.append(_row("find 300 studies + 3 tags", ours_s, peer_s, ours_count[0], peer_count[0],
                         "target <=2 requests, <=0.15x"))

        # (b) 100 x 512 x 512 series to numpy: the default (instance files streamed into the volume, 8 in
        # flight) and Orthanc's /series/{id}/numpy, each timed on its first call for a freshly uploaded series
        from orthanc_client._sync import numpy_io

        timings: dict[str, tuple[float, int, float]] = {}
        volume = None
        for strategy in ("server", numpy_io.DEFAULT_STRATEGY):
            synthetic = make_series(100, rows=512, columns=512, patient_id=f"BENCHVOL{strategy}")
            series_id = _upload(http, synthetic.datasets)[0]["ParentSeries"]
            del synthetic
            ours_count[0] = 0
            if strategy == numpy_io.DEFAULT_STRATEGY:
                ours_s, volume = _timed(lambda sid=series_id: Series(sid, client).to_numpy())
            else:
                ours_s, volume = _timed(lambda sid=series_id, how=strategy: numpy_io.series_to_numpy(
                    Series(sid, client), rescale=False, concurrency=8, strategy=how))
            requests = ours_count[0]
            del volume
            tracemalloc.start()  # a second run: tracemalloc slows allocation-heavy code, so time the first
            volume = numpy_io.series_to_numpy(Series(series_id, client), rescale=False, concurrency=8,
                                              strategy=strategy)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            timings[strategy] = (ours_s, requests, peak / volume.nbytes)
        assert volume is not None
        peer_count[0] = 0

        def peer_volume() -> Any:
            instances = pyorthanc.Series(series_id, peer).instances
            return np.stack([instance.get_pydicom().pixel_array for instance in instances])

        peer_s, peer_array = _timed(peer_volume)
        assert peer_array.shape == volume.shape
        for strategy, (ours_s, requests, peak_ratio) in timings.items():
            default = " (default)" if strategy == numpy_io.DEFAULT_STRATEGY else ""
            rows.append(_row(f"100x512x512 series to numpy, {strategy}{default}", ours_s, peer_s, requests,
                             peer_count[0], f"target <=0.06x; peak memory {peak_ratio:.2f}x the volume "
                             "(target <=1.3x)"))
        del volume, peer_array

        # (d) anonymize a 200-instance study as a job and wait
        study_id = _upload(http, make_study(2, 100, patient_id="BENCHANON", rows=64, columns=64))[0]["ParentStudy"]
        ours_count[0] = 0
        if True:
            study = Study(study_id, client)
            started = time.perf_counter()
            job = study.anonymize_as_job()
            job.wait()
            ours_s = time.perf_counter() - started
            server_s = (job.completion_time - job.creation_time).total_seconds()  # type: ignore[operator]
        rows.append(_row("anonymize 200-instance study (job)", ours_s, server_s, ours_count[0], 0,
                         "peer = the server job's own time (CompletionTime - CreationTime); target <=1.1x"))
        client.close()
    return rows


def main() -> int:
    from orthanc_client.testing import OrthancServer

    with OrthancServer(sys.argv[1] if len(sys.argv) > 1 else None) as server:
        for row in run(server.url, server.username, server.password):
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
