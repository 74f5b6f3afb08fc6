"""Time to give up: how long a call or a batch takes to report that the server is gone or too slow.

Run with whichever ``orthanc_client`` is importable (``PYTHONPATH=<other checkout>/src`` measures another
version; the proxy is loaded from this checkout's file, it needs only the standard library)::

    python bench/bench_give_up.py [--cap SECONDS] [--orthanc-version 1.10]

Cases (defaults of the client and of ``upload``/``download``, as the CLI runs them):

- upload of 24 and of 1000 files to a server that refuses connections (down from the start);
- a folder download of 200 instances whose server dies after about 20 (a proxy that stops answering);
- ``get_system(timeout=2)`` on an answer that drips one byte every 0.25 s (124 bytes: 31 s of dripping).

A case still running after ``--cap`` seconds is reported as ``> cap`` (it runs in a thread left behind).
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orthanc_client
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes, write

_PROXY_FILE = Path(__file__).resolve().parent.parent / "src" / "orthanc_client" / "testing" / "faulty_proxy.py"


def _load_proxy() -> Any:
    spec = importlib.util.spec_from_file_location("give_up_proxy", _PROXY_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["give_up_proxy"] = module
    spec.loader.exec_module(module)
    return module


proxy_module = _load_proxy()


def closed_port_url() -> str:
    """A URL on which nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def capped(cap: float, fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)``; ``(inf, None)`` when ``fn`` is still running after ``cap`` seconds."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - a failure is a result here
            box["result"] = exc

    started = time.perf_counter()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(cap)
    if thread.is_alive():
        return float("inf"), None
    return time.perf_counter() - started, box.get("result")


def describe(result: Any) -> str:
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {str(result)[:90]}"
    if hasattr(result, "failed"):
        return f"{len(result.stored)} stored, {len(result.failed)} failed"
    return repr(result)[:90]


def upload_to_dead_server(count: int, cap: float) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        data = to_bytes(make_study(1, 1, patient_id="DEAD")[0])
        for i in range(count):
            Path(folder, f"{i:05d}.dcm").write_bytes(data)
        client = orthanc_client.Orthanc(closed_port_url(), "user", "pw")
        seconds, result = capped(cap, lambda: orthanc_client.upload(client, folder, progress=False))
        return seconds, describe(result)


def download_when_server_dies(server: OrthancServer, cap: float) -> tuple[float, str]:
    with orthanc_client.Orthanc(server.url, *server.auth) as client:
        for instance in client.get_instances():
            client.delete_instances_id(instance)
        datasets = make_study(4, 50, patient_id="DIES")
        with tempfile.TemporaryDirectory() as source:
            for i, ds in enumerate(datasets):
                write(ds, Path(source, f"{i}.dcm"))
            orthanc_client.upload(client, source, progress=False)
        study = client.get_studies()[0]
    with proxy_module.FaultyProxy(server.url) as proxy, tempfile.TemporaryDirectory() as target:
        died = threading.Event()

        def kill_after_some() -> None:
            while sum(1 for m, p in proxy.requests if p.endswith("/file")) < 20:
                time.sleep(0.005)
            proxy.dead()
            died.set()

        threading.Thread(target=kill_after_some, daemon=True).start()
        client = orthanc_client.Orthanc(proxy.url, *server.auth)
        seconds, result = capped(cap, lambda: orthanc_client.download(client, [("study", study)], target, progress=False))
        return seconds, describe(result)


def dripping_answer(server: OrthancServer, cap: float) -> tuple[float, str]:
    rules = [(r"^/system$", proxy_module.Drip(size=124, interval=0.25))]
    with proxy_module.FaultyProxy(server.url, rules) as proxy:
        client = orthanc_client.Orthanc(proxy.url, *server.auth, timeout=2)
        seconds, result = capped(cap, client.get_system)
        return seconds, describe(result)


def measure(cap: float, version: str | None = None, only: str | None = None) -> list[tuple[str, float, str]]:
    """``(case, seconds, outcome)`` for each case (module doc); ``inf`` seconds for a case cut at ``cap``."""
    rows: list[tuple[str, float, str]] = []
    cases: list[tuple[str, Callable[[OrthancServer], tuple[float, str]]]] = [
        ("upload 24 files, server down", lambda server: upload_to_dead_server(24, cap)),
        ("upload 1000 files, server down", lambda server: upload_to_dead_server(1000, cap)),
        ("download 200, server dies after ~20", lambda server: download_when_server_dies(server, cap)),
        ("get_system(timeout=2), answer drips 4 B/s", lambda server: dripping_answer(server, cap)),
    ]
    with OrthancServer(version, name="give-up-bench") as server:
        for name, case in cases:
            if only and only not in name:
                continue
            seconds, outcome = case(server)
            rows.append((name, seconds, outcome))
    return rows


def run() -> list[dict[str, Any]]:
    """For ``python -m bench``: the time to give up in each case (no peer to compare with)."""
    from bench.common import row

    return [row(f"give up: {name}", seconds, None, note=outcome) for name, seconds, outcome in measure(cap=60.0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cap", type=float, default=240.0)
    parser.add_argument("--orthanc-version", default=None)
    parser.add_argument("--only", default=None, help="run the cases whose name holds this word")
    args = parser.parse_args()
    for name, seconds, outcome in measure(args.cap, args.orthanc_version, args.only):
        shown = f"> {args.cap:.0f}" if seconds == float("inf") else f"{seconds:.1f}"
        print(f"| {name} | {shown} s | {outcome} |", flush=True)


if __name__ == "__main__":
    main()
