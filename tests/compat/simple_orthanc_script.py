"""One simple-orthanc script, run by the genuine simple-orthanc 0.9.9.6 and by our compat layer.

    python simple_orthanc_script.py genuine|compat PORT USERNAME PASSWORD WORKDIR

Prints one JSON object: step name -> what the step saw. Only steps where the genuine 0.9.9.6 works are here
(its broken features are tested against what its README promises, in test_simple_orthanc.py). Lists whose
order simple-orthanc left arbitrary (unique values, headers, downloads) are sorted before printing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from typing import Any


def load_module(kind: str) -> Any:
    if kind == "genuine":
        import simple_orthanc

        return simple_orthanc
    from orthanc_client.compat import simple_orthanc

    return simple_orthanc


def plain(value: Any) -> Any:
    """JSON-able, with numbers as numbers and DICOM strings as strings."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return str(value)


def counts(orthanc: Any) -> list[int]:
    return [orthanc.patient_count, orthanc.study_count, orthanc.series_count, orthanc.instance_count, len(orthanc)]


def main(kind: str, port: str, username: str, password: str, workdir: str) -> dict[str, Any]:
    so = load_module(kind)
    out: dict[str, Any] = {}
    orthanc = so.Orthanc(host="127.0.0.1", port=int(port), username=username, password=password)
    out["constants"] = [so.ASCENDING]
    out["everything: counts"] = counts(orthanc)
    out["everything: PatientID"] = sorted(plain(orthanc.PatientID))
    out["everything: Modality"] = sorted(plain(orthanc.Modality))
    out["everything: SeriesDescription"] = sorted(plain(orthanc.SeriesDescription))
    out["main tags: patient level"] = sorted(str(t) for t in orthanc.interface.main_dicom_tags.Patients)

    orthanc.select(PatientID="CT0001")
    out["patient: selection"] = dict(orthanc.selection)  # 0.9.9.6 hands out its live dict
    out["patient: counts"] = counts(orthanc)
    out["patient: Modality"] = sorted(plain(orthanc.Modality))
    out["patient: StudyDescription"] = plain(orthanc.StudyDescription)

    orthanc.select(Modality="CT")
    out["ct: selection"] = dict(orthanc.selection)
    out["ct: counts"] = counts(orthanc)
    out["ct: SeriesDescription"] = plain(orthanc.SeriesDescription)
    out["ct: PixelSpacing"] = plain(orthanc.PixelSpacing)
    out["ct: SliceThickness"] = plain(orthanc.get_dicom_tag("SliceThickness"))
    out["ct: InstanceNumber per instance"] = sorted(plain(orthanc.get_dicom_tag("InstanceNumber", unique=False)))
    out["ct: SliceLocation per instance"] = sorted(plain(orthanc.get_dicom_tag("SliceLocation", unique=False)))
    out["ct: all tags"] = sorted(str(t) for t in orthanc.get_all_dicom_tags())

    array = orthanc.get_array()
    out["ct: array"] = [list(array.shape), str(array.dtype), hashlib.sha256(array.tobytes()).hexdigest()]

    headers = orthanc.get_headers()
    out["ct: headers"] = sorted(
        (int(h.InstanceNumber), str(h.PatientName), float(h.SliceLocation), str(h.SOPInstanceUID),
         [float(v) for v in h.ImagePositionPatient])
        for h in headers
    )
    files = orthanc.download(os.path.join(workdir, kind))
    out["ct: download"] = sorted(os.path.basename(f) for f in files)
    out["ct: download is absolute"] = all(os.path.isabs(f) for f in files)

    orthanc.reset("Modality")
    out["reset Modality: counts"] = counts(orthanc)
    out["reset Modality: selection"] = dict(orthanc.selection)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        orthanc.select(SeriesDescription="no such series")
    out["nothing: warning"] = [w.category.__name__ for w in caught if issubclass(w.category, UserWarning)]
    out["nothing: counts"] = counts(orthanc)
    try:
        orthanc.get_array()
        out["nothing: get_array"] = "no error"
    except IndexError:
        out["nothing: get_array"] = "IndexError"

    orthanc.reset()
    out["reset: counts"] = counts(orthanc)
    try:
        orthanc.NoSuchKeyword  # noqa: B018 - the attribute access is the test
        out["unknown attribute"] = "no error"
    except AttributeError:
        out["unknown attribute"] = "AttributeError"
    try:
        orthanc.get_array()
        out["several series: get_array"] = "no error"
    except IndexError:
        out["several series: get_array"] = "IndexError"
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6]), sort_keys=True))
