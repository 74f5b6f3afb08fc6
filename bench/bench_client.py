"""Low-level client: calls per second for GET /system and POST /tools/find (expand, 300 studies), and import time.

Ours vs pyorthanc 1.23.0 vs plain httpx, same server, same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from bench.common import Row, best_in_turns, row
from orthanc_client import Orthanc
from orthanc_client.testing.dicom import make_instance, make_uid, to_bytes

CALLS = 300
FIND = {"Level": "Study", "Query": {}, "Expand": True}


def load_studies(client: Orthanc, count: int = 300) -> None:
    for index in range(count):
        ds = make_instance(
            patient_id=f"BENCH{index // 3:04d}",
            patient_name="BENCH^CLIENT",
            study_uid=make_uid("bench-client", index),
            series_uid=make_uid("bench-client-series", index),
            rows=8,
            columns=8,
        )
        client.post_instances(to_bytes(ds))


def compile_package() -> None:
    """Writes the .pyc files a wheel install would (pip compiles on install; an editable checkout, and any
    environment with PYTHONDONTWRITEBYTECODE, would otherwise recompile 1 MB of generated code on each import)."""
    import compileall

    import orthanc_client

    compileall.compile_dir(str(Path(orthanc_client.__file__).parent), quiet=1)


def import_time(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code]))
            for _ in range(5)]
    return min(runs)


def run(server_url: str, username: str, password: str) -> list[Row]:
    import pyorthanc

    rows: list[Row] = []
    with Orthanc(server_url, username, password) as ours, \
            pyorthanc.Orthanc(server_url, username, password) as peer, \
            httpx.Client(base_url=server_url, auth=(username, password)) as plain:
        load_studies(ours)

        def many(fn: object) -> None:
            for _ in range(CALLS):
                fn()  # type: ignore[operator]

        # contenders take turns, so that a busy moment of the machine disturbs them alike
        best = best_in_turns(5, {
            "ours": lambda: many(ours.get_system),
            "peer": lambda: many(peer.get_system),
            "plain": lambda: many(lambda: plain.get("/system").json()),
        })
        ours_s, peer_s, plain_s = best["ours"], best["peer"], best["plain"]
        rows.append(row(f"GET /system x{CALLS} (calls/s: ours {CALLS / ours_s:.0f})", ours_s, peer_s,
                        note=f"plain httpx {plain_s:.3f} s ({CALLS / plain_s:.0f}/s), ours/plain {ours_s / plain_s:.2f}"))

        assert len(ours.post_tools_find(FIND)) == 300
        best = best_in_turns(9, {
            "ours": lambda: ours.post_tools_find(FIND),
            "peer": lambda: peer.post_tools_find(FIND),
            "plain": lambda: plain.post("/tools/find", json=FIND).json(),
        })
        ours_s, peer_s, plain_s = best["ours"], best["peer"], best["plain"]
        rows.append(row("POST /tools/find expand, 300 studies", ours_s, peer_s, ours_requests=1, peer_requests=1,
                        note=f"plain httpx {plain_s:.3f} s, ours/plain {ours_s / plain_s:.2f}"))

    compile_package()
    ours_import = import_time("orthanc_client")
    peer_import = import_time("pyorthanc")
    rows.append(row("import (cold process, best of 5)", ours_import, peer_import,
                    note="import orthanc_client vs import pyorthanc"))
    return rows


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(["client"]))
