"""The data the simple-orthanc tests select from: a real-looking CT series and its neighbours.

Patient CT0001 has one study with a CT series of 20 axial 64x64 slices (SliceLocation, 0.7 mm pixels, 2 mm
slices, uploaded in shuffled order) and an MR series of 4 slices without SliceLocation; patient CT0002 one study with a 3-slice CT.
"""

from __future__ import annotations

import random

import httpx
from pydicom.dataset import Dataset

from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import SyntheticSeries, make_series, make_uid, to_bytes

CT_SLICES = 20


def ct_series() -> SyntheticSeries:
    series = make_series(
        CT_SLICES, patient_id="CT0001", patient_name="Doe^Jane", rows=64, columns=64, origin=(-16.0, -16.0, -40.0),
        pixel_spacing=(0.7, 0.7), slice_thickness=2.0, dtype="int16", seed=1, modality="CT",
        rescale_intercept=-1024.0, series_description="Thorax 2.0 B31f", study_description="CT Thorax",
        series_number=2, BodyPartExamined="CHEST",
    )
    for ds in series.datasets:
        ds.SliceLocation = float(ds.ImagePositionPatient[2])
    return series


def mr_series(study_uid: str) -> SyntheticSeries:
    """Without SliceLocation (as many MR series are), for sorting with absent values."""
    series = make_series(
        4, patient_id="CT0001", patient_name="Doe^Jane", study_uid=study_uid,
        series_uid=make_uid(study_uid, "mr"), rows=32, columns=32, seed=2, modality="MR",
        series_description="T1 tra", study_description="CT Thorax", series_number=3,
    )
    for ds in series.datasets:
        if "SliceLocation" in ds:
            del ds.SliceLocation
    return series


def other_patient() -> SyntheticSeries:
    return make_series(
        3, patient_id="CT0002", patient_name="Roe^Richard", rows=16, columns=16, seed=3, modality="CT",
        series_description="Head 5.0", study_description="CT Head", series_number=1,
    )


def all_datasets() -> tuple[SyntheticSeries, list[Dataset]]:
    ct = ct_series()
    shuffled = list(ct.datasets)
    random.Random(7).shuffle(shuffled)
    others = mr_series(str(ct.datasets[0].StudyInstanceUID)).datasets + other_patient().datasets
    return ct, shuffled + others


def populate(server: OrthancServer) -> SyntheticSeries:
    """Uploads everything to ``server`` (emptied by ``clean_orthanc``); returns the CT series."""
    ct, datasets = all_datasets()
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for ds in datasets:
            http.post("/instances", content=to_bytes(ds)).raise_for_status()
    return ct
