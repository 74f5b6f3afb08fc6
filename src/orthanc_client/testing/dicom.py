"""Synthetic, deterministic DICOM for tests, built with pydicom and numpy (the ``dicom`` extra).

The images are uncompressed 16-bit CT slices in Explicit VR Little Endian, which every Orthanc release
stores and decodes without extra codecs. UIDs and pixels derive from the arguments and a seed, so a test
can rebuild the exact same data (and the ground-truth volume) to compare with what Orthanc returns.
"""

from __future__ import annotations

import datetime
import io
import os
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pydicom.valuerep import DSfloat

__all__ = [
    "SyntheticSeries",
    "make_instance",
    "make_patient_tree",
    "make_series",
    "make_study",
    "make_uid",
    "to_bytes",
    "write",
]

_PYDICOM3 = int(pydicom.__version__.split(".")[0]) >= 3
_SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage, "PT": PositronEmissionTomographyImageStorage}
Vector = Sequence[float]


class SyntheticSeries(NamedTuple):
    """A series as uploaded (``datasets``, InstanceNumber 1..n) and its stored pixel values as
    ``volume[slice, row, column]`` (before rescale), ``volume[k]`` being the slice with InstanceNumber k+1."""

    datasets: list[Dataset]
    volume: npt.NDArray[np.int16] | npt.NDArray[np.uint16]


def make_uid(*parts: object) -> str:
    """A deterministic UID from ``parts`` (same parts, same UID), under pydicom's UID root."""
    return str(generate_uid(entropy_srcs=[str(part) for part in parts]))


def _ds(values: Vector) -> list[DSfloat]:
    # auto_format keeps each value within the 16 characters DS allows (0.1 * 3 -> "0.3", not 19 chars)
    return [DSfloat(float(v), auto_format=True) for v in values]


def _random_slices(
    shape: tuple[int, ...], dtype: str, seed: int
) -> npt.NDArray[np.int16] | npt.NDArray[np.uint16]:
    rng = np.random.default_rng(seed)
    if dtype == "uint16":
        return rng.integers(0, 4096, size=shape, dtype=np.uint16)
    if dtype == "int16":
        return rng.integers(-1024, 3072, size=shape, dtype=np.int16)
    raise ValueError(f"dtype must be 'uint16' or 'int16', not {dtype!r}")


def make_instance(
    *,
    patient_id: str,
    patient_name: str,
    study_uid: str,
    series_uid: str,
    sop_uid: str | None = None,
    modality: str = "CT",
    rows: int = 64,
    columns: int = 64,
    instance_number: int = 1,
    image_position: Vector | None = None,
    image_orientation: Vector = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing: Vector = (0.5, 0.5),
    slice_thickness: float = 1.0,
    pixel_array: npt.NDArray[np.int16] | npt.NDArray[np.uint16] | None = None,
    rescale_slope: float = 1.0,
    rescale_intercept: float = 0.0,
    study_date: str = "20240102",
    study_time: str = "120000",
    study_description: str = "Synthetic study",
    series_description: str = "Synthetic series",
    series_number: int = 1,
    accession_number: str = "ACC0001",
    birth_date: str = "19700101",
    sex: str = "O",
    seed: int | None = None,
    **tags: Any,
) -> Dataset:
    """One Part-10-ready grayscale image (MONOCHROME2, 16 bits stored, Explicit VR Little Endian).

    :param sop_uid: derived from ``series_uid`` and ``instance_number`` when not given.
    :param image_position: defaults to ``(0, 0, (instance_number - 1) * slice_thickness)``.
    :param pixel_array: 2-D ``uint16`` or ``int16``; its shape overrides ``rows``/``columns``. When not
        given, random values in a 12-bit range from ``seed`` (default: derived from the SOP UID).
    :param tags: more attributes by DICOM keyword (``BodyPartExamined="HEAD"``); unknown keywords raise.
    """
    sop_uid = sop_uid or make_uid(series_uid, "instance", instance_number)
    if image_position is None:
        image_position = (0.0, 0.0, (instance_number - 1) * slice_thickness)
    if pixel_array is None:
        pixel_seed = zlib.crc32(sop_uid.encode()) if seed is None else seed
        pixel_array = _random_slices((rows, columns), "uint16", pixel_seed)
    if pixel_array.ndim != 2 or pixel_array.dtype not in (np.uint16, np.int16):
        raise ValueError(
            f"pixel_array must be 2-D uint16 or int16, not {pixel_array.ndim}-D {pixel_array.dtype}"
        )
    sop_class = _SOP_CLASSES.get(modality, SecondaryCaptureImageStorage)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, so non-ASCII names round-trip
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = study_time
    ds.SeriesTime = study_time
    ds.ContentTime = study_time
    ds.AccessionNumber = accession_number
    ds.Modality = modality
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.SliceThickness = DSfloat(slice_thickness, auto_format=True)
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = _ds(image_position)
    ds.ImageOrientationPatient = _ds(image_orientation)
    ds.FrameOfReferenceUID = make_uid(study_uid, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    normal = np.cross(np.asarray(image_orientation[:3], float), np.asarray(image_orientation[3:], float))
    ds.SliceLocation = DSfloat(float(np.dot(normal, np.asarray(image_position, float))), auto_format=True)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixel_array.shape)
    ds.PixelSpacing = _ds(pixel_spacing)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixel_array.dtype == np.int16 else 0
    low, high = float(pixel_array.min()), float(pixel_array.max())
    ds.WindowCenter = DSfloat((low + high) / 2 * rescale_slope + rescale_intercept, auto_format=True)
    ds.WindowWidth = DSfloat(max(1.0, (high - low) * rescale_slope), auto_format=True)
    ds.RescaleIntercept = DSfloat(rescale_intercept, auto_format=True)
    ds.RescaleSlope = DSfloat(rescale_slope, auto_format=True)
    ds.RescaleType = "HU" if modality == "CT" else "US"
    ds.PixelData = np.ascontiguousarray(pixel_array, dtype=pixel_array.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OW"
    for keyword, value in tags.items():
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"unknown DICOM keyword {keyword!r}")
        setattr(ds, keyword, value)
    if not _PYDICOM3:  # pydicom 2 needs the encoding on the dataset; 3 takes it from the file meta
        ds.is_little_endian = True
        ds.is_implicit_VR = False
    return ds


def make_series(
    n_slices: int,
    *,
    patient_id: str = "PAT0001",
    patient_name: str = "Test^Patient",
    study_uid: str | None = None,
    series_uid: str | None = None,
    rows: int = 64,
    columns: int = 64,
    origin: Vector = (0.0, 0.0, 0.0),
    image_orientation: Vector = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing: Vector = (0.5, 0.5),
    slice_thickness: float = 1.0,
    slice_spacing: float | None = None,
    dtype: str = "uint16",
    seed: int = 0,
    **instance_args: Any,
) -> SyntheticSeries:
    """A volume cut into ``n_slices`` parallel slices, slice k at ``origin + k * slice_spacing * normal``
    (normal = row direction x column direction), with InstanceNumber k+1.

    UIDs not given derive from ``patient_id`` and ``seed``; the volume from ``seed``. ``instance_args``
    go to :func:`make_instance` (``modality``, ``rescale_slope``, descriptions, extra tags...).
    """
    study_uid = study_uid or make_uid(patient_id, seed, "study")
    series_uid = series_uid or make_uid(study_uid, seed, "series")
    spacing = slice_thickness if slice_spacing is None else slice_spacing
    normal = np.cross(np.asarray(image_orientation[:3], float), np.asarray(image_orientation[3:], float))
    volume = _random_slices((n_slices, rows, columns), dtype, zlib.crc32(f"{series_uid}/{seed}".encode()))
    datasets = [
        make_instance(
            patient_id=patient_id,
            patient_name=patient_name,
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=k + 1,
            image_position=tuple(np.asarray(origin, float) + k * spacing * normal),
            image_orientation=image_orientation,
            pixel_spacing=pixel_spacing,
            slice_thickness=slice_thickness,
            pixel_array=volume[k],
            **instance_args,
        )
        for k in range(n_slices)
    ]
    return SyntheticSeries(datasets, volume)


def make_study(
    n_series: int,
    n_instances: int,
    *,
    patient_id: str = "PAT0001",
    patient_name: str = "Test^Patient",
    study_uid: str | None = None,
    seed: int = 0,
    rows: int = 16,
    columns: int = 16,
    **instance_args: Any,
) -> list[Dataset]:
    """``n_series`` series (SeriesNumber 1..n, "Series k") of ``n_instances`` slices each, in one study.

    Images default to 16x16 because tree-shaped tests care about counts and tags, not pixels.
    """
    study_uid = study_uid or make_uid(patient_id, seed, "study")
    datasets: list[Dataset] = []
    for s in range(n_series):
        series = make_series(
            n_instances,
            patient_id=patient_id,
            patient_name=patient_name,
            study_uid=study_uid,
            series_uid=make_uid(study_uid, seed, "series", s),
            rows=rows,
            columns=columns,
            seed=seed,
            series_number=s + 1,
            series_description=f"Series {s + 1}",
            **instance_args,
        )
        datasets.extend(series.datasets)
    return datasets


def make_patient_tree(
    n_patients: int,
    n_studies: int,
    n_series: int,
    n_instances: int,
    *,
    seed: int = 0,
    patient_id_prefix: str = "PAT",
    rows: int = 16,
    columns: int = 16,
    **instance_args: Any,
) -> list[Dataset]:
    """Patients ``PAT0001``... (``Test^Patient1``...), each with ``n_studies`` studies of ``n_series``
    series of ``n_instances`` instances; ``n_patients * n_studies * n_series * n_instances`` datasets.

    Study j of every patient is dated 2024-01-02 + j days, with AccessionNumber ``ACC<patient><study>``
    (``ACC000102``) and description "Study j+1", so find/filter tests have distinct values to match.
    """
    first_day = datetime.date(2024, 1, 2)
    datasets: list[Dataset] = []
    for p in range(n_patients):
        patient_id = f"{patient_id_prefix}{p + 1:04d}"
        for j in range(n_studies):
            datasets += make_study(
                n_series,
                n_instances,
                patient_id=patient_id,
                patient_name=f"Test^Patient{p + 1}",
                study_uid=make_uid(patient_id, seed, "study", j),
                seed=seed,
                rows=rows,
                columns=columns,
                study_date=(first_day + datetime.timedelta(days=j)).strftime("%Y%m%d"),
                study_description=f"Study {j + 1}",
                accession_number=f"ACC{p + 1:04d}{j + 1:02d}",
                birth_date=f"{1950 + p % 50}0101",
                sex="MF"[p % 2],
                **instance_args,
            )
    return datasets


def to_bytes(ds: Dataset) -> bytes:
    """The Part-10 file (preamble, ``DICM``, file meta, dataset), as ``POST /instances`` takes it."""
    buffer = io.BytesIO()
    _dcmwrite(buffer, ds)
    return buffer.getvalue()


def write(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Write ``ds`` as a Part-10 file."""
    with open(path, "wb") as fp:
        _dcmwrite(fp, ds)


def _dcmwrite(fp: Any, ds: Dataset) -> None:
    if _PYDICOM3:
        pydicom.dcmwrite(fp, ds, enforce_file_format=True)
    else:
        pydicom.dcmwrite(fp, ds, write_like_original=False)
