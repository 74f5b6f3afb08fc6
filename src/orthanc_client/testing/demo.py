"""Demo data for examples, tutorials and the documentation's own tests.

``load_demo_data(client)`` fills an empty Orthanc with a small, varied data set that every example in the
docs can find something in: two patients with dated studies of several series (modalities CT and MG) and one
CT volume of 20 slices. It needs the ``dicom`` extra (pydicom, numpy).

Example::

    from orthanc_client import Orthanc
    from orthanc_client.testing import OrthancServer
    from orthanc_client.testing.demo import load_demo_data

    with OrthancServer() as server, Orthanc(server.url, *server.auth) as client:
        load_demo_data(client)
"""

from __future__ import annotations

from dataclasses import dataclass

from .._bulk._sync.upload import upload
from .._client._sync.client import Orthanc
from .dicom import make_patient_tree, make_series

__all__ = ["DemoData", "DemoSite", "load_demo_data"]


@dataclass(frozen=True)
class DemoData:
    """What ``load_demo_data`` stored: the patients' IDs and the number of instances."""

    patient_ids: tuple[str, ...]
    instances: int


def load_demo_data(client: Orthanc) -> DemoData:
    """Uploads the demo data set (idempotent: Orthanc keeps one copy of an instance uploaded twice).

    Patients ``DEMO0001`` and ``DEMO0002`` (``Test^Patient1``/``2``) have two studies each (2024-01-02 and
    2024-01-03, modality MG, two series of three instances); ``DEMOCT01`` has one CT series of 20 slices of
    64x64 pixels, dated 2024-03-15.
    """
    datasets = make_patient_tree(2, 2, 2, 3, patient_id_prefix="DEMO", modality="MG")
    volume = make_series(
        20,
        patient_id="DEMOCT01",
        patient_name="Demo^Volume",
        modality="CT",
        study_date="20240315",
        study_description="Chest CT",
        series_description="Axial 1 mm",
    )
    datasets += volume.datasets
    upload(client, datasets, progress=False).raise_for_failures()
    return DemoData(patient_ids=("DEMO0001", "DEMO0002", "DEMOCT01"), instances=len(datasets))


_DICOM_OPEN = {"DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomCheckModalityHost": False}


class DemoSite:
    """Two linked throw-away servers, as a research team has them: ``research`` (the one you script, holding
    the demo data) and ``pacs`` (a clinical archive holding patient ``PACS0001``'s two studies, accession
    numbers ``PACS000101`` and ``PACS000102``).

    ``research`` knows ``pacs`` as the DICOM modality ``"pacs"``, as the Orthanc peer ``"pacs"`` and as the
    DICOMweb server ``"pacs"``; ``pacs`` knows ``research`` as the modality ``"research"`` (so a C-MOVE can
    deliver there). Both run the newest installed Orthanc release with the DICOMweb plugin, authentication on.

    Example::

        from orthanc_client import Modality, Orthanc
        from orthanc_client.testing.demo import DemoSite

        with DemoSite() as site, Orthanc(site.research.url, *site.research.auth) as client:
            print(Modality(client, "pacs").echo())
    """

    def __init__(self, version: str | None = None) -> None:
        from .server import OrthancServer, find_orthanc_binaries, version_tuple

        if version is None:
            installed = find_orthanc_binaries()
            version = max(installed, key=version_tuple) if installed else None
        self.research = OrthancServer(version, name="research", aet="RESEARCH", plugins=("dicomweb",))
        self.pacs = OrthancServer(version, name="pacs", aet="PACS", plugins=("dicomweb",))
        self.research.extra_config = {
            **_DICOM_OPEN,
            "DicomModalities": {"pacs": {"AET": "PACS", "Host": "127.0.0.1", "Port": self.pacs.dicom_port}},
            "OrthancPeers": {
                "pacs": {"Url": self.pacs.url, "Username": self.pacs.username, "Password": self.pacs.password}
            },
            "DicomWeb": {
                "Enable": True,
                "Servers": {
                    "pacs": {
                        "Url": f"{self.pacs.url}/dicom-web/",
                        "Username": self.pacs.username,
                        "Password": self.pacs.password,
                    }
                },
            },
        }
        self.pacs.extra_config = {
            **_DICOM_OPEN,
            "DicomWeb": {"Enable": True},
            "DicomModalities": {
                "research": {"AET": "RESEARCH", "Host": "127.0.0.1", "Port": self.research.dicom_port}
            },
        }

    def start(self) -> None:
        """Starts both servers and loads their data."""
        self.pacs.start()
        self.research.start()
        with Orthanc(self.research.url, *self.research.auth) as client:
            load_demo_data(client)
        with Orthanc(self.pacs.url, *self.pacs.auth) as client:
            archive = make_patient_tree(1, 2, 1, 2, patient_id_prefix="PACS", modality="CT")
            for ds in archive:
                # accession numbers of its own (PACS000101, PACS000102), not the research data's ACC000101...
                ds.AccessionNumber = "PACS" + ds.AccessionNumber[3:]
            upload(client, archive, progress=False).raise_for_failures()

    def close(self) -> None:
        """Stops both servers and deletes their storage."""
        self.research.close()
        self.pacs.close()

    def __enter__(self) -> DemoSite:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
