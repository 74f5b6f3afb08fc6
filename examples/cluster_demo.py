"""A two-node Orthanc cluster on PostgreSQL, and one client spreading work over it, surviving a node's crash.

Run with ``make cluster-demo``, or ``python examples/cluster_demo.py`` once installed (as root, or as a user
allowed to run PostgreSQL and Orthanc).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from orthanc_client import Orthanc, Study, upload
from orthanc_client.testing.cluster import OrthancCluster
from orthanc_client.testing.dicom import make_study, write


def main() -> None:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as folder,
        OrthancCluster(nodes=2, name="demo-node", extra_config={"CheckRevisions": True}) as cluster,
        Orthanc(cluster.urls, *cluster.auth) as client,
    ):
        print(f"Orthanc {cluster.version}: {len(cluster.urls)} nodes sharing PostgreSQL on port {cluster.postgres.port}")
        for study in range(8):
            for index, ds in enumerate(make_study(2, 50, patient_id=f"DEMO{study}", seed=study, rows=16, columns=16)):
                write(ds, Path(folder) / f"{study}-{index:03d}.dcm")

        # Crash node 1 (SIGKILL) half a second into the upload: its files go to node 0, none is lost or doubled.
        crash = threading.Timer(0.5, cluster.kill, (1,))
        crash.start()
        result = upload(client, folder, progress=False)
        crash.join()
        print(result.summary())
        print(f"healthy nodes after the crash: {client.healthy_nodes}")
        print(f"instances in the shared index: {len(client.get_instances())}")

        cluster.nodes[1].start()  # back on the same port; the client tries it again once its backoff is over
        while len(client.healthy_nodes) < 2:
            time.sleep(0.2)
        jobs = [Study(study_id, client).anonymize_as_job() for study_id in client.get_studies()]
        for job in jobs:
            job.wait(timeout=120)
        print(f"{len(jobs)} anonymization jobs, per node: {dict(Counter(job.node for job in jobs))}")

        study_id = client.get_studies()[0]
        with Orthanc(cluster.urls[1], *cluster.auth) as node_b:
            print(f"study {study_id[:8]}... read through node 1: {node_b.get_studies_id(study_id)['MainDicomTags']}")
        writers = [
            threading.Thread(target=lambda: [
                Study(study_id, client).update_metadata("1024", lambda old: str(int(old or 0) + 1), attempts=50)
                for _ in range(10)
            ])
            for _ in range(4)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        print(f"40 concurrent revision-safe increments -> {client.get_studies_id_metadata_name(study_id, '1024')}")
    print(f"done in {time.perf_counter() - started:.1f} s (cluster stopped, database and storage deleted)")


if __name__ == "__main__":
    main()
