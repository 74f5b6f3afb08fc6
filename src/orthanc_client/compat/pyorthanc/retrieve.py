"""pyorthanc's ``retrieve_and_write_*``: write DICOM files as ``<path>/<PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm``."""

from __future__ import annotations

import os
from typing import Any

from ._resources import Instance, Patient, Series, Study

__all__ = [
    "retrieve_and_write_instance",
    "retrieve_and_write_patient",
    "retrieve_and_write_patients",
    "retrieve_and_write_series",
    "retrieve_and_write_study",
]


def retrieve_and_write_patients(patients: list[Patient], path: str | os.PathLike[str]) -> None:
    """Writes every instance of the patients under ``path``."""
    for patient in patients:
        retrieve_and_write_patient(patient, path)


def retrieve_and_write_patient(patient: Patient, path: str | os.PathLike[str]) -> None:
    """Writes the patient under ``path/<PatientID>`` (``unknown-patient`` when PatientID is empty)."""
    folder = os.path.join(path, patient.patient_id or "unknown-patient")
    for study in patient.studies:
        retrieve_and_write_study(study, folder)


def retrieve_and_write_study(study: Study, patient_path: str | os.PathLike[str]) -> None:
    """Writes the study under ``patient_path/<StudyInstanceUID>``."""
    folder = os.path.join(patient_path, study.uid)
    for series in study.series:
        retrieve_and_write_series(series, folder)


def retrieve_and_write_series(series: Series, study_path: str | os.PathLike[str]) -> None:
    """Writes the series under ``study_path/<SeriesInstanceUID>``."""
    folder = os.path.join(study_path, series.uid)
    os.makedirs(folder, exist_ok=True)
    for instance in series.instances:
        retrieve_and_write_instance(instance, folder)


def retrieve_and_write_instance(instance: Instance, series_path: Any) -> None:
    """Streams the instance's file to ``series_path/<SOPInstanceUID>.dcm`` (nothing written on error)."""
    instance.download(os.path.join(series_path, instance.uid + ".dcm"))
