"""The five-minute tour: a real local Orthanc, a generated study uploaded, listed, found and downloaded.

Run with ``make demo`` (which installs Orthanc first), or ``python examples/demo.py`` once installed.
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path

from orthanc_client import NotFoundError, Orthanc
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes


def main() -> None:
    started = time.perf_counter()
    with OrthancServer(name="orthanc-demo") as server, Orthanc(server.url, server.username, server.password) as client:
        print(f"Orthanc {client.server_version()} running at {client.url}")

        files = [to_bytes(ds) for ds in make_study(3, 10, patient_id="DEMO001", patient_name="DEMO^PATIENT", rows=128, columns=128)]
        answers = [client.post_instances(data) for data in files]
        study_id = answers[0]["ParentStudy"]
        print(f"uploaded {len(answers)} instances ({sum(map(len, files)) / 1e6:.1f} MB) into study {study_id}")

        for patient in client.get_patients(expand=True):
            tags = patient["MainDicomTags"]
            print(f"patient {tags['PatientID']} {tags['PatientName']}: {len(patient['Studies'])} study")

        found = client.post_tools_find({"Level": "Series", "Query": {"PatientID": "DEMO*"}, "Expand": True})
        for series in found:
            tags = series["MainDicomTags"]
            print(f"  series {tags.get('SeriesNumber')} {tags.get('Modality')} {tags.get('SeriesDescription')}: "
                  f"{len(series['Instances'])} instances")

        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "study.zip"
            with client.stream_get_studies_id_archive(study_id) as answer:
                size = answer.write_to(target)
            with zipfile.ZipFile(target) as archive:
                members = [name for name in archive.namelist() if not name.endswith("/")]
            print(f"downloaded {target.name}: {size / 1e6:.1f} MB, {len(members)} DICOM files")

        try:
            client.get_studies_id("no-such-study")
        except NotFoundError as error:
            print(f"a typed error for a missing study: {error}")

        stats = client.get_statistics()
        print(f"server holds {stats['CountInstances']} instances, {stats['TotalDiskSizeMB']} MB on disk")
    print(f"demo finished in {time.perf_counter() - started:.1f} s; the server was stopped and its storage removed")


if __name__ == "__main__":
    main()
