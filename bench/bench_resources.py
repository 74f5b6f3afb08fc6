"""Benchmarks for resources/find/numpy/anonymize against pyorthanc 1.23.0 on the same server and data.

``run(server_url, username, password)`` returns rows ``{name, ours_s, peer_s, ratio, ours_requests,
peer_requests, note}``; ``python bench/bench_resources.py`` starts its own Orthanc and prints them.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from typing import Any

import httpx

from bench.common import RequestCounter, best_of, row, timed
from orthanc_client import Orthanc, Series, Study, find_studies
from orthanc_client.testing.dicom import make_patient_tree, make_series, make_study, to_bytes


def _upload(http: httpx.Client, datasets: Any) -> list[dict[str, Any]]:
    return [http.post("/instances", content=to_bytes(ds)).raise_for_status().json() for ds in datasets]


def run(server_url: str, username: str, password: str) -> list[dict[str, Any]]:
    import numpy as np
    import pyorthanc

    rows = []
    with httpx.Client(base_url=server_url, auth=(username, password), timeout=600) as http:
        # (a) 300 studies: find + 3 main tags each
        _upload(http, make_patient_tree(300, 1, 1, 1, rows=4, columns=4, patient_id_prefix="BENCH"))
        ours_http = httpx.Client()
        ours_count = RequestCounter()
        ours_count.install(ours_http)
        # one client for every case: closing it would close the shared transport
        client = Orthanc(server_url, username, password, http_client=ours_http)
        peer = pyorthanc.Orthanc(server_url, username, password)
        peer_count = RequestCounter()
        peer_count.install(peer)

        def ours_tags() -> list[Any]:
            return [(s.date, s.description, s.accession_number) for s in find_studies(client, {"PatientID": "BENCH*"})]

        def peer_tags() -> list[Any]:
            studies = pyorthanc.find_studies(peer, query={"PatientID": "BENCH*"})
            return [(s.date, s.description, s.accession_number) for s in studies]

        assert len(ours_tags()) == len(peer_tags()) == 300
        ours_count.reset()
        peer_count.reset()
        ours_tags()
        peer_tags()
        ours_requests, peer_requests = ours_count.count, peer_count.count
        # a read-only case: the best of 3 keeps one slow server answer from deciding the ratio
        rows.append(row("find 300 studies + 3 tags", best_of(3, ours_tags), best_of(3, peer_tags),
                        ours_requests=ours_requests, peer_requests=peer_requests,
                        note="target <=2 requests, <=0.15x; best of 3"))

        # (b) 100 x 512 x 512 series to numpy: the default, Series.to_numpy() (Orthanc's /series/{id}/numpy
        # streamed into the volume), and the files route it uses when rescaling (8 in flight), each timed on
        # its first call for a freshly uploaded series
        from orthanc_client._sync import numpy_io

        timings: dict[str, tuple[float, int, float]] = {}
        volume = None
        for strategy in ("auto", "files"):
            synthetic = make_series(100, rows=512, columns=512, patient_id=f"BENCHVOL{strategy}")
            series_id = _upload(http, synthetic.datasets)[0]["ParentSeries"]
            del synthetic
            ours_count.reset()
            if strategy == "auto":
                ours_s, volume = timed(lambda sid=series_id: Series(sid, client).to_numpy())
            else:
                ours_s, volume = timed(lambda sid=series_id, how=strategy: numpy_io.series_to_numpy(
                    Series(sid, client), rescale=False, concurrency=8, strategy=how))
            requests = ours_count.count
            del volume
            tracemalloc.start()  # a second run: tracemalloc slows allocation-heavy code, so time the first
            volume = numpy_io.series_to_numpy(Series(series_id, client), rescale=False, concurrency=8,
                                              strategy=strategy)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            timings[strategy] = (ours_s, requests, peak / volume.nbytes)
        assert volume is not None
        peer_count.reset()

        def peer_volume() -> Any:
            instances = pyorthanc.Series(series_id, peer).instances
            return np.stack([instance.get_pydicom().pixel_array for instance in instances])

        peer_s, peer_array = timed(peer_volume)
        assert peer_array.shape == volume.shape
        for strategy, (ours_s, requests, peak_ratio) in timings.items():
            route = "Series.to_numpy() (server route)" if strategy == "auto" else "files route (used with rescale)"
            rows.append(row(f"100x512x512 series to numpy, {route}", ours_s, peer_s,
                            ours_requests=requests, peer_requests=peer_count.count,
                            note=f"target <=0.06x; peak memory {peak_ratio:.2f}x the volume (target <=1.3x)"))
        del volume, peer_array

        # (d) anonymize a 200-instance study as a job and wait
        study_id = _upload(http, make_study(2, 100, patient_id="BENCHANON", rows=64, columns=64))[0]["ParentStudy"]
        ours_count.reset()
        started = time.perf_counter()
        job = Study(study_id, client).anonymize_as_job()
        job.wait()
        ours_s = time.perf_counter() - started
        server_s = (job.completion_time - job.creation_time).total_seconds()  # type: ignore[operator]
        rows.append(row("anonymize 200-instance study (job)", ours_s, server_s, ours_requests=ours_count.count,
                        note="peer = the server job's own time (CompletionTime - CreationTime); target <=1.1x"))
        client.close()
    return rows


def main() -> int:
    from orthanc_client.testing import OrthancServer

    with OrthancServer(sys.argv[1] if len(sys.argv) > 1 else None) as server:
        for result in run(server.url, server.username, server.password):
            print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
