"""Times ``select(...)`` then ``get_array()`` in one process, for bench_simple_orthanc.py.

    python bench/simple_orthanc_timing.py genuine|compat|native PORT USERNAME PASSWORD SERIES_UID REPEAT

Runs under the genuine simple-orthanc's own virtualenv too, so it imports nothing from this repository
unless asked for ``compat`` or ``native``. Prints ``{"times": [...], "shape": [...], "dtype": ..., "sum": ...}``:
the whole call (connecting included, as a script does) of each run, and what the last run returned.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main(kind: str, port: int, username: str, password: str, series_uid: str, repeat: int) -> dict[str, Any]:
    if kind == "native":
        from orthanc_client import Orthanc as Client

        def once() -> Any:
            with Client(f"http://127.0.0.1:{port}", username, password) as client:
                return client.select(SeriesInstanceUID=series_uid).array(rescale=True)
    else:
        if kind == "genuine":
            import simple_orthanc as so
        else:
            from orthanc_client.compat import simple_orthanc as so  # type: ignore[no-redef]

        def once() -> Any:
            orthanc = so.Orthanc(host="127.0.0.1", port=port, username=username, password=password)
            return orthanc.select(SeriesInstanceUID=series_uid).get_array()

    times = []
    array: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        array = once()
        times.append(time.perf_counter() - started)
    return {"times": times, "shape": list(array.shape), "dtype": str(array.dtype), "sum": float(array.sum())}


if __name__ == "__main__":
    kind, port, username, password, uid, repeat = sys.argv[1:7]
    print(json.dumps(main(kind, int(port), username, password, uid, int(repeat))))
