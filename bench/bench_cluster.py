"""Cluster benchmarks: upload throughput over 1, 2 and 3 Orthanc nodes sharing a PostgreSQL index, the cost of
the multi-node client against a single-URL client on one node, and the CPU each side spends per request.

``run()`` starts its own clusters (the host's Orthanc and PostgreSQL); ``python bench/bench_cluster.py`` prints
the rows. On a 2-core machine more nodes cannot add throughput (client, nodes and PostgreSQL share the same two
cores): the ratio to one node is expected near 1.0. The CPU seconds per request measured here feed the scaling
estimate in ``docs/cluster.md``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orthanc_client import Orthanc, upload
from orthanc_client.testing.cluster import OrthancCluster
from orthanc_client.testing.dicom import make_study, write

try:
    from .common import row
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import row  # type: ignore[no-redef]

UPLOAD_COUNT = 600
GET_COUNT = 400
REPEAT = 5
_TICKS = os.sysconf("SC_CLK_TCK")


def _process_group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of process ``pgid``, the live processes of its group and its children (a
    node; PostgreSQL with its backends, which start sessions of their own), from ``/proc``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pgid in (int(fields[1]), int(fields[2])):  # after "(comm)": state, ppid, pgrp, ..., utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _server_cpu(cluster: OrthancCluster) -> tuple[float, float]:
    """(Orthanc nodes, PostgreSQL) CPU seconds so far."""
    nodes = sum(_process_group_cpu(node.pid) for node in cluster.nodes if node.pid is not None)
    postgres = cluster.postgres._process
    return nodes, (_process_group_cpu(postgres.pid) if postgres is not None else 0.0)


def _in_turns(
    contenders: dict[str, Callable[[], Any]], before: Callable[[], Any] = lambda: None
) -> tuple[dict[str, float], dict[str, float]]:
    """Each contender's best wall time and best client CPU time over ``REPEAT`` runs, taking turns."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for _ in range(REPEAT):
        for name, fn in contenders.items():
            before()
            started, started_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall.get(name, float("inf")), time.perf_counter() - started)
            cpu[name] = min(cpu.get(name, float("inf")), time.process_time() - started_cpu)
    return wall, cpu


def _files(folder: Path) -> Path:
    for study in range(UPLOAD_COUNT // 100):
        for index, dataset in enumerate(make_study(1, 100, patient_id=f"B{study}", seed=study, rows=32, columns=32)):
            write(dataset, folder / f"{study}-{index:03d}.dcm")
    return folder


def run() -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = _files(Path(tmp))
        size_kb = sum(p.stat().st_size for p in folder.iterdir()) / len(list(folder.iterdir())) / 1024
        per_nodes: dict[int, float] = {}
        cpu: dict[str, float] = {}
        for nodes in (1, 2, 3):
            with OrthancCluster(nodes=nodes, name="bench-node") as cluster, Orthanc(
                cluster.urls if nodes > 1 else cluster.urls[0], *cluster.auth
            ) as client:
                def one_upload(client: Orthanc = client) -> None:
                    result = upload(client, folder, concurrency=8)
                    assert len(result.stored) == UPLOAD_COUNT, result

                times = []
                for _ in range(REPEAT):
                    cluster.clear()
                    client_cpu, (nodes_cpu, pg_cpu) = time.process_time(), _server_cpu(cluster)
                    started = time.perf_counter()
                    one_upload()
                    times.append(time.perf_counter() - started)
                    if nodes == 1:  # the per-request CPU of each side, for the scaling estimate
                        after_nodes, after_pg = _server_cpu(cluster)
                        cpu = {
                            "client": (time.process_time() - client_cpu) / UPLOAD_COUNT * 1000,
                            "orthanc": (after_nodes - nodes_cpu) / UPLOAD_COUNT * 1000,
                            "postgres": (after_pg - pg_cpu) / UPLOAD_COUNT * 1000,
                        }
                per_nodes[nodes] = min(times)
        one = per_nodes[1]
        for nodes, seconds in per_nodes.items():
            rows.append(row(
                f"cluster upload {UPLOAD_COUNT} x {size_kb:.0f} KB, {nodes} node(s) vs 1", seconds, one,
                note=f"{UPLOAD_COUNT / seconds:.0f} inst/s, throughput x{one / seconds:.2f} of 1 node",
            ))
        rows.append(row(
            "cluster CPU per uploaded instance (1 node)", sum(cpu.values()) / 1000, None,
            note=f"client {cpu['client']:.2f} ms, Orthanc {cpu['orthanc']:.2f} ms, PostgreSQL {cpu['postgres']:.2f} ms",
        ))

        # The multi-node client's own cost: a pool of two entries naming the same node, against one URL. The
        # client's CPU time is reported too: on a loaded machine it varies far less than the wall time.
        with OrthancCluster(nodes=1, name="bench-node") as cluster, Orthanc(cluster.urls[0], *cluster.auth) as single, \
                Orthanc([cluster.urls[0], cluster.urls[0] + "/"], *cluster.auth) as multi:
            contenders = {"single": single, "multi": multi}
            wall, cpu_s = _in_turns({n: (lambda c=c: upload(c, folder, concurrency=8)) for n, c in contenders.items()},
                                    before=cluster.clear)
            rows.append(row(f"multi-node client overhead, upload {UPLOAD_COUNT}", wall["multi"], wall["single"],
                            note=f"same node twice vs one URL (target <= 1.05); client CPU x{cpu_s['multi'] / cpu_s['single']:.2f}"))
            upload(single, folder, concurrency=8)
            instance = single.get_instances()[0]
            wall, cpu_s = _in_turns({n: (lambda c=c: [c.get_instances_id(instance) for _ in range(GET_COUNT)])
                                     for n, c in contenders.items()})
            rows.append(row(f"multi-node client overhead, {GET_COUNT} GETs", wall["multi"], wall["single"],
                            ours_requests=GET_COUNT, peer_requests=GET_COUNT,
                            note=f"same node twice vs one URL (target <= 1.05); client CPU x{cpu_s['multi'] / cpu_s['single']:.2f}"))
    return rows


if __name__ == "__main__":
    for line in run():
        print(line)
