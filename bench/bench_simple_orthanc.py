"""simple-orthanc's one-liner, ``Orthanc(...).select(...).get_array()`` of a 100-slice 512x512 CT series:
the genuine simple-orthanc 0.9.9.6 against ``orthanc_client.compat.simple_orthanc`` and the native
``client.select(...).array(rescale=True)``, on the same server, which also holds 200 other small instances
(the genuine one reads the whole index when it connects; the target is at most 0.2x its time).

The genuine package needs pydicom < 3: it runs from ``.venv-reference/`` (``tools/install-simple-orthanc-
reference.sh``) or ``SIMPLE_ORTHANC_REFERENCE_PYTHON``. Every contender runs in its own process
(``simple_orthanc_timing.py``), the three taking turns, best run kept. Measured on a shared 2-core box with
Orthanc 1.10.1 (two runs of the benchmark): genuine 46.9-47.8 s, compat 0.14-0.41 s, native 0.11-0.24 s
(ratio under 0.01). The genuine one's time is almost all Orthanc gzipping the 100 MB float32
``/series/{id}/numpy`` answer (requests asks for gzip): the same request with identity encoding took 2.3 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from bench.common import Row, row
from orthanc_client.testing.dicom import make_patient_tree, make_series, to_bytes

ROOT = Path(__file__).resolve().parent.parent
TIMING = Path(__file__).with_name("simple_orthanc_timing.py")
SLICES, SIZE = 100, 512
ROUNDS = 2
# runs per round: the genuine one takes about 45 s a run (Orthanc deflates its 50 MB numpy answer on the fly,
# since requests asks for gzip), ours well under a second
PER_ROUND = {"compat": 3, "native": 3, "genuine": 1}


def reference_python() -> str | None:
    configured = os.environ.get("SIMPLE_ORTHANC_REFERENCE_PYTHON")
    candidate = Path(configured) if configured else ROOT / ".venv-reference" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def load(server_url: str, auth: tuple[str, str]) -> str:
    series = make_series(SLICES, patient_id="BENCHSO", rows=SIZE, columns=SIZE, dtype="int16", seed=5,
                         rescale_intercept=-1024.0)
    with httpx.Client(base_url=server_url, auth=auth, timeout=600) as http:
        for ds in [*series.datasets, *make_patient_tree(10, 2, 1, 10, rows=16, columns=16, patient_id_prefix="BG")]:
            http.post("/instances", content=to_bytes(ds)).raise_for_status()
    return str(series.datasets[0].SeriesInstanceUID)


def measure(python: str, kind: str, port: int, auth: tuple[str, str], uid: str) -> dict[str, Any]:
    answer = subprocess.run(
        [python, str(TIMING), kind, str(port), auth[0], auth[1], uid, str(PER_ROUND[kind])],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{answer.stderr[-3000:]}")
    return dict(json.loads(answer.stdout))


def run(server_url: str, username: str, password: str) -> list[Row]:
    auth = (username, password)
    port = int(httpx.URL(server_url).port or 80)
    uid = load(server_url, auth)
    contenders = {"compat": sys.executable, "native": sys.executable}
    reference = reference_python()
    if reference is not None:
        contenders["genuine"] = reference
    best: dict[str, float] = {}
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(ROUNDS):
        for kind, python in contenders.items():
            result = measure(python, kind, port, auth, uid)
            best[kind] = min([best.get(kind, float("inf")), *result["times"]])
            seen[kind] = result
    shape = f"{SLICES}x{SIZE}x{SIZE}"
    same = reference is not None and seen["compat"]["sum"] == seen["genuine"]["sum"]
    note = "peer: genuine simple-orthanc 0.9.9.6" + (", same array" if same else "")
    if reference is None:
        note = "genuine simple-orthanc not installed (tools/install-simple-orthanc-reference.sh)"
    peer = best.get("genuine")
    return [
        row(f"simple-orthanc: select + get_array {shape} (compat)", best["compat"], peer, note=note),
        row(f"simple-orthanc: select + array {shape} (native)", best["native"], peer, note=note),
    ]


if __name__ == "__main__":
    from bench.__main__ import print_table
    from orthanc_client.testing import OrthancServer

    with OrthancServer(name="bench-simple-orthanc") as server:
        print_table(run(server.url, server.username, server.password))
