"""pyorthanc's finders: ``query_orthanc``, ``find_patients/studies/series/instances`` and the tree ``find``.

All go through ``POST /tools/find`` with ``Expand``: one request per page for the flat finders (pyorthanc
always asked once more for an empty page), one per level for ``find`` (pyorthanc asked once per resource).
Found resources come with their main DICOM tags cached, so reading them costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..._resources._sync.find import LabelsConstraint, tools_find_body
from ._native import native_of
from ._resources import Instance, Patient, Resource, Series, Study
from .util import async_to_sync, ensure_non_raw_response

DEFAULT_RESOURCES_LIMIT = 1_000
_LEVELS: dict[str, type[Resource]] = {"Patient": Patient, "Study": Study, "Series": Series, "Instance": Instance}


def _validate_level(level: str) -> None:
    if level not in _LEVELS:
        raise ValueError(f"level should be one of ['Patient', 'Study', 'Series', 'Instance'], got {level} instead.")


def _validate_labels_constraint(labels_constraint: str) -> None:
    if labels_constraint not in ("All", "Any", "None"):
        raise ValueError(
            "labels_constraint should be one of ['All', 'Any', 'None'], "
            f"got {labels_constraint} instead."
        )


def _sync_client(client: Any) -> Any:
    from .async_client import AsyncOrthanc

    if isinstance(client, AsyncOrthanc):
        return async_to_sync(client)
    return ensure_non_raw_response(client)


def _find_pages(api: Any, body: dict[str, Any], limit: int, all_pages: bool) -> list[dict[str, Any]]:
    """Every page of ``/tools/find`` from ``body['Since']`` (or one page), as pyorthanc pages them.

    Not the native ``iter_resources``: pyorthanc's ``limit`` is the page size when reading every page (native:
    the total, with pages of at least 1), and the native finder refuses labels on Orthanc < 1.12 (after asking
    the server's version) where pyorthanc sends them and lets Orthanc answer.
    """
    results: list[dict[str, Any]] = []
    while True:
        page = api.post_tools_find(body)
        results += page
        # A short page is the last one: no need for pyorthanc's extra request that comes back empty.
        if not all_pages or limit <= 0 or len(page) < limit:
            return results
        body = {**body, "Since": body["Since"] + limit}


def query_orthanc(client: Any, level: str, query: dict[str, str] | None = None,
                  labels: list[str] | str | None = None, labels_constraint: str = "All",
                  limit: int = DEFAULT_RESOURCES_LIMIT, since: int = 0, retrieve_all_resources: bool = True,
                  lock_children: bool = False) -> list[Any]:
    """Resources of ``level`` matching ``query`` (DICOM tags) and ``labels``, as pyorthanc objects.

    ``level`` is 'Patient', 'Study', 'Series' or 'Instance'; ``labels_constraint`` 'All', 'Any' or 'None'
    (anything else raises ``ValueError``). ``limit``/``since`` page through the results; with
    ``retrieve_all_resources`` every page is read. Query values are DICOM strings as in pyorthanc, or Python
    values as with the native finders (``date``, ``(start, end)`` ranges, lists for "any of").
    """
    _validate_level(level)
    _validate_labels_constraint(labels_constraint)
    client = _sync_client(client)
    if isinstance(labels, str):
        labels = [labels]
    constraint = cast(LabelsConstraint, labels_constraint)  # validated above, with pyorthanc's message
    body = {**tools_find_body(level, query, labels=labels, labels_constraint=constraint), "Limit": limit, "Since": since}
    cls = _LEVELS[level]
    resources = []
    for info in _find_pages(native_of(client), body, limit, retrieve_all_resources):
        resource = cls(info["ID"], client, lock_children)
        resource._prime(info)
        resources.append(resource)
    return resources


def find_patients(client: Any, query: dict[str, str] | None = None, labels: list[str] | str | None = None,
                  labels_constraint: str = "All", **kwargs: Any) -> list[Patient]:
    """Patients matching ``query`` and ``labels`` (more options: see ``query_orthanc``)."""
    return query_orthanc(client=client, level="Patient", query=query, labels=labels,
                         labels_constraint=labels_constraint, **kwargs)


def find_studies(client: Any, query: dict[str, str] | None = None, labels: list[str] | str | None = None,
                 labels_constraint: str = "All", **kwargs: Any) -> list[Study]:
    """Studies matching ``query`` and ``labels``."""
    return query_orthanc(client=client, level="Study", query=query, labels=labels,
                         labels_constraint=labels_constraint, **kwargs)


def find_series(client: Any, query: dict[str, str] | None = None, labels: list[str] | str | None = None,
                labels_constraint: str = "All", **kwargs: Any) -> list[Series]:
    """Series matching ``query`` and ``labels``."""
    return query_orthanc(client=client, level="Series", query=query, labels=labels,
                         labels_constraint=labels_constraint, **kwargs)


def find_instances(client: Any, query: dict[str, str] | None = None, labels: list[str] | str | None = None,
                   labels_constraint: str = "All", **kwargs: Any) -> list[Instance]:
    """Instances matching ``query`` and ``labels``."""
    return query_orthanc(client=client, level="Instance", query=query, labels=labels,
                         labels_constraint=labels_constraint, **kwargs)


def _everything(api: Any, level: str) -> list[dict[str, Any]]:
    body = {**tools_find_body(level, None), "Since": 0, "Limit": DEFAULT_RESOURCES_LIMIT}
    return _find_pages(api, body, DEFAULT_RESOURCES_LIMIT, True)


def _children_in_order(parent: dict[str, Any], key: str, built: dict[str, Any]) -> list[Any]:
    return [built[i] for i in parent.get(key, []) if i in built]


def find(orthanc: Any, patient_filter: Callable[..., Any] | None = None,
         study_filter: Callable[..., Any] | None = None, series_filter: Callable[..., Any] | None = None,
         instance_filter: Callable[..., Any] | None = None) -> list[Patient]:
    """The patient forest, filtered level by level and trimmed of branches left empty.

    Each filter takes a resource and returns whether to keep it. Resources come with their children locked
    (``patient.studies`` is the filtered list). Instances are listed only when ``instance_filter`` is given,
    as in pyorthanc's synchronous ``find``.
    """
    client = _sync_client(orthanc)
    api = native_of(client)

    def build(level: str, cls: type[Resource]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        infos = {info["ID"]: info for info in _everything(api, level)}
        objects = {}
        for id_, info in infos.items():
            obj = cls(id_, client, True)
            obj._prime(info)
            objects[id_] = obj
        return infos, objects

    patient_infos, patients_by_id = build("Patient", Patient)
    patients = list(patients_by_id.values())
    if patient_filter is not None:
        patients = [p for p in patients if patient_filter(p)]
    if not patients:
        return []
    study_infos, studies = build("Study", Study)
    series_infos, series = build("Series", Series)
    instances: dict[str, Any] = {}
    if instance_filter is not None:
        _, instances = build("Instance", Instance)

    for patient in patients:
        kids = _children_in_order(patient_infos[patient.id_], "Studies", studies)
        patient._child_resources = [s for s in kids if study_filter(s)] if study_filter is not None else kids
        for study in patient._child_resources:
            kids = _children_in_order(study_infos[study.id_], "Series", series)
            study._child_resources = [s for s in kids if series_filter(s)] if series_filter is not None else kids
            if instance_filter is None:
                continue
            for one_series in study._child_resources:
                kids = _children_in_order(series_infos[one_series.id_], "Instances", instances)
                one_series._child_resources = [i if instance_filter(i) else None for i in kids]
    return trim_patients(patients)


def trim_patients(patients: list[Patient]) -> list[Patient]:
    """Removes, from a filtered forest, the studies and series left empty, then the patients left empty."""
    for patient in patients:
        patient.remove_empty_studies()
    return [p for p in patients if p.studies != []]
