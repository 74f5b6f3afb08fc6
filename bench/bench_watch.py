"""The change watcher and the router: changes handled per second, and the delay from "stable" to "arrived".

1. A log of 10,000 changes (``UpdatedMetadata``: the cheapest change to make), read by ``ChangeWatcher``
   from the start with a no-op handler, sync and async, committing the cursor to a SQLite state file after
   every change as in production (target: >= 2,000 changes/s).
2. ``Router`` with ``on: StableStudy -> send: {peer: B}`` on a server with ``StableAge`` 1: for each of 5
   studies, the time from the StableStudy change appearing in the log (polled every 10 ms from here) to
   the whole study being on the peer, next to the time a plain ``Peer.store`` of the same study takes
   (target: delay < 2 s + transfer).

``run()`` starts its own servers; ``python bench/bench_watch.py`` prints the rows.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from orthanc_client import ChangeWatcher, Orthanc, Peer, aio
from orthanc_client._routing._sync.route import Router
from orthanc_client._routing.rules import parse_routes
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, make_uid, to_bytes

try:
    from .common import row
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import row  # type: ignore[no-redef]

N_CHANGES = 10_000
N_STUDIES, N_INSTANCES = 5, 20


def _make_changes(server: OrthancServer, count: int) -> int:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        instance = http.post("/instances", content=to_bytes(make_study(1, 1)[0])).raise_for_status().json()["ID"]

        def put(i: int) -> None:
            http.put(f"/instances/{instance}/metadata/1024", content=str(i)).raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(put, range(count)))
        return int(http.get("/changes", params={"last": ""}).json()["Last"])


def _changes_per_second(server: OrthancServer, last: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with Orthanc(server.url, *server.auth) as client:
            watcher = ChangeWatcher(client, state=Path(tmp) / "sync.sqlite", since=0)
            started = time.perf_counter()
            watcher.run(lambda change: None, until_idle=True, handle_signals=False)
            elapsed = time.perf_counter() - started
        assert watcher.handled == last, (watcher.handled, last)
        rows.append(row(f"watch {last:,} changes, no-op handler (sync)", elapsed, None,
                        note=f"{last / elapsed:,.0f} changes/s (target >= 2,000)"))

        async def run_async() -> float:
            async with aio.AsyncOrthanc(server.url, *server.auth) as aclient:
                awatcher = aio.ChangeWatcher(aclient, state=Path(tmp) / "async.sqlite", since=0)
                begun = time.perf_counter()
                await awatcher.run(lambda change: None, until_idle=True, handle_signals=False)
                assert awatcher.handled == last
                return time.perf_counter() - begun

        elapsed = asyncio.run(run_async())
        rows.append(row(f"watch {last:,} changes, no-op handler (async)", elapsed, None,
                        note=f"{last / elapsed:,.0f} changes/s (target >= 2,000)"))
    return rows


def _stable_to_arrival(a: OrthancServer, b: OrthancServer) -> list[dict[str, Any]]:
    routes = parse_routes({"routes": [{"on": "StableStudy", "do": [{"send": {"peer": "B"}}]}]})
    delays, transfers = [], []
    with tempfile.TemporaryDirectory() as tmp, Orthanc(a.url, *a.auth) as client, \
            httpx.Client(base_url=a.url, auth=a.auth, timeout=60) as http_a, \
            httpx.Client(base_url=b.url, auth=b.auth, timeout=60) as http_b:
        router = Router(client, routes, state=Path(tmp) / "route.sqlite", poll_interval=0.1)
        thread = threading.Thread(target=router.run, kwargs={"handle_signals": False})
        thread.start()
        try:
            for k in range(N_STUDIES):
                cursor = int(http_a.get("/changes", params={"last": ""}).json()["Last"])
                uid = make_uid("bench-watch", k)
                datasets = make_study(1, N_INSTANCES, patient_id=f"BW{k}", study_uid=uid)
                for ds in datasets:
                    http_a.post("/instances", content=to_bytes(ds)).raise_for_status()
                stable_at = _wait_for_stable(http_a, cursor)
                arrived_at = _wait_for_arrival(http_b, uid, N_INSTANCES)
                delays.append(arrived_at - stable_at)
            # the transfer alone, for comparison: the same kind of study, sent by hand
            with Orthanc(a.url, *a.auth) as plain:
                for k in range(N_STUDIES):
                    for patient in http_b.get("/patients").json():
                        http_b.delete(f"/patients/{patient}")
                    study = http_a.post("/tools/lookup", content=make_uid("bench-watch", k)).json()[0]["ID"]
                    started = time.perf_counter()
                    Peer(plain, "B").store(study)
                    transfers.append(time.perf_counter() - started)
        finally:
            router.stop()
            thread.join(30)
    delay, transfer = statistics.median(delays), statistics.median(transfers)
    return [row(f"stable -> arrived at peer ({N_INSTANCES}-instance study, median of {N_STUDIES})", delay, None,
                note=f"plain Peer.store alone {transfer:.3f} s; delay - transfer {delay - transfer:.3f} s "
                     "(target < 2 s)")]


def _wait_for_stable(http: httpx.Client, since: int) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = http.get("/changes", params={"since": since, "limit": 1000}).json()
        if any(c["ChangeType"] == "StableStudy" for c in page["Changes"]):
            return time.perf_counter()
        time.sleep(0.01)
    raise RuntimeError("no StableStudy within 60 s")


def _wait_for_arrival(http: httpx.Client, uid: str, count: int) -> float:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = http.post("/tools/find", json={"Level": "Instance", "Query": {"StudyInstanceUID": uid}}).json()
        if len(found) >= count:
            return time.perf_counter()
        time.sleep(0.01)
    raise RuntimeError(f"study {uid} did not arrive within 120 s")


def run(version: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with OrthancServer(version, name="bench-watch") as server:
        last = _make_changes(server, N_CHANGES)
        rows += _changes_per_second(server, last)
    b = OrthancServer(version, name="bench-watch-b", extra_config={"StableAge": 1})
    a = OrthancServer(version, name="bench-watch-a")
    a.extra_config = {"StableAge": 1, "OrthancPeers": {"B": {"Url": b.url, "Username": b.username,
                                                              "Password": b.password}}}
    with a, b:
        rows += _stable_to_arrival(a, b)
    return rows


if __name__ == "__main__":
    for line in run(sys.argv[1] if len(sys.argv) > 1 else None):
        print(line)
