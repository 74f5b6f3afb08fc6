"""The five-minute tour: a real local Orthanc, a generated study uploaded, found, read and downloaded.

Run with ``make demo`` (which installs Orthanc first), or ``python examples/demo.py`` once installed.
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path

from orthanc_client import InvalidInputError, NotFoundError, Orthanc, Study, find_studies, upload
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_series, make_study, write


def main() -> None:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as folder,
        OrthancServer(name="orthanc-demo") as server,
        Orthanc(server.url, server.username, server.password) as client,
    ):
        print(f"Orthanc {client.server_version()} running at {client.url}")
        incoming = Path(folder) / "incoming"
        incoming.mkdir()
        for index, ds in enumerate(make_study(3, 10, patient_id="DEMO001", patient_name="DEMO^PATIENT")):
            write(ds, incoming / f"IM{index:04d}")  # no extension: DICOM is recognised by content
        (incoming / "notes.txt").write_text("not DICOM: reported as skipped, never sent")
        ct = make_series(40, rows=128, columns=128, patient_id="DEMO002", patient_name="DEMO^VOLUME")
        for index, ds in enumerate(reversed(ct.datasets)):  # uploaded in reverse order on purpose
            write(ds, incoming / f"CT{index:04d}.dcm")

        result = upload(client, incoming, progress=False)
        print(result.summary())

        for study in find_studies(client, {"PatientID": "DEMO*"}):
            series = study.get_series()
            print(f"study {study.uid} of {study.patient_main_tags.get('PatientName')} on {study.date}: "
                  f"{len(series)} series, {sum(len(s.get_instances()) for s in series)} instances")

        volume_study = find_studies(client, {"PatientID": "DEMO002"})[0]
        volume = volume_study.get_series()[0].to_numpy()
        in_order = bool((volume == ct.volume).all())
        print(f"one series as a numpy volume: shape {volume.shape}, {volume.dtype}, slices in geometric order: {in_order}")

        target = Path(folder) / "study.zip"
        Study(volume_study.id, client).download(target)
        with zipfile.ZipFile(target) as archive:
            members = [name for name in archive.namelist() if not name.endswith("/")]
        print(f"downloaded {target.name}: {target.stat().st_size / 1e6:.1f} MB, {len(members)} DICOM files")

        try:
            Study("-".join(["0" * 8] * 5), client).load()  # well formed, on no server
        except NotFoundError as error:
            print(f"a typed error for a missing study: {error}")
        try:
            Study("..", client).remove_label("x")  # '..' would address another route: refused before sending
        except InvalidInputError as error:
            print(f"refused before sending: {error}")
    print(f"demo finished in {time.perf_counter() - started:.1f} s; the server was stopped and its storage removed")


if __name__ == "__main__":
    main()
