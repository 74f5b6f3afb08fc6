"""``find_studies()`` and friends: ``/tools/find`` with ``Expand``, paged, returning loaded resources.

Each page is one request whose answer already holds every resource's JSON, so reading ``study.date`` or
``study.patient_main_tags`` afterwards costs nothing: finding and reading N studies is one request per page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from typing_extensions import Unpack

from ..._core.errors import InvalidInputError, UnsupportedByServerError
from ..._dicom.query import dicom_query
from ..._generated.operations import POST_TOOLS_FIND
from ..search_cache import SearchCache
from .resources import Instance, Patient, Resource, Series, Study

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

R = TypeVar("R", bound=Resource)
DEFAULT_PAGE_SIZE = 1000
"""Resources per ``/tools/find`` request: large enough to keep requests few, small enough to keep each answer
(about 1 kB per expanded study) and Orthanc's work per request bounded."""

LabelsConstraint = Literal["All", "Any", "None"]

# Body keys newer than some supported Orthanc, and the argument that sends each; the release that brought each
# comes from the published specs (the generated table), like the gate every request goes through.
_NEWER_KEYS = {
    "Labels": "labels",
    "RequestedTags": "requested_tags",
    "OrderBy": "order_by",
    "MetadataQuery": "metadata_query",
}


class FindOptions(TypedDict, total=False):
    """Keyword options shared by every ``find_*``/``iter_*`` function (see ``iter_resources``).

    Example::

        from orthanc_client import FindOptions, find_series, find_studies

        recent: FindOptions = {"limit": 10, "requested_tags": ["StudyDescription"]}
        studies = await find_studies(client, {"StudyDate": "2024"}, **recent)
        series = await find_series(client, {"Modality": "MG"}, **recent)
    """

    labels: Iterable[str] | None
    labels_constraint: LabelsConstraint
    limit: int | None
    since: int
    page_size: int
    case_sensitive: bool | None
    requested_tags: Iterable[str] | None
    order_by: Iterable[tuple[str, str, str]] | None
    metadata_query: Mapping[str, str] | None
    cache: SearchCache | None


def tools_find_body(
    level: str,
    query: Mapping[str, Any] | None,
    *,
    labels: Iterable[str] | None = None,
    labels_constraint: LabelsConstraint = "All",
    case_sensitive: bool | None = None,
    requested_tags: Iterable[str] | None = None,
    order_by: Iterable[tuple[str, str, str]] | None = None,
    metadata_query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``/tools/find`` body without paging (sans I/O). ``order_by``: ``(type, key, direction)`` triples
    such as ``("DicomTag", "StudyDate", "DESC")`` or ``("Metadata", "LastUpdate", "ASC")``."""
    if labels_constraint not in ("All", "Any", "None"):
        raise InvalidInputError(f"labels_constraint must be 'All', 'Any' or 'None', not {labels_constraint!r}")
    body: dict[str, Any] = {"Level": level, "Query": dicom_query(query), "Expand": True}
    if case_sensitive is not None:
        body["CaseSensitive"] = case_sensitive
    if labels is not None:
        if isinstance(labels, str):
            raise InvalidInputError(f"labels takes a list of labels, not one string: write [{labels!r}]")
        body["Labels"] = list(labels)
        body["LabelsConstraint"] = labels_constraint
    if requested_tags is not None:
        body["RequestedTags"] = list(requested_tags)
    if order_by is not None:
        body["OrderBy"] = [{"Type": kind, "Key": key, "Direction": direction} for kind, key, direction in order_by]
    if metadata_query is not None:
        body["MetadataQuery"] = dict(metadata_query)
    return body


async def _check_server_takes(client: AsyncOrthanc, body: Mapping[str, Any]) -> None:
    """Refuses a body the server is too old for, before sending, naming the argument the caller gave (asks the
    version only if it could be)."""
    used = [key for key in _NEWER_KEYS if key in body]
    if not used:
        return
    version = await client.server_version()
    for key in used:
        missing = POST_TOOLS_FIND.missing_on(version, body_names=[key])
        if missing is not None:
            raise UnsupportedByServerError(f"find(..., {_NEWER_KEYS[key]}=...)", missing[1], version)


async def iter_resources(
    client: AsyncOrthanc,
    cls: type[R],
    query: Mapping[str, Any] | None = None,
    *,
    labels: Iterable[str] | None = None,
    labels_constraint: LabelsConstraint = "All",
    limit: int | None = None,
    since: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
    case_sensitive: bool | None = None,
    requested_tags: Iterable[str] | None = None,
    order_by: Iterable[tuple[str, str, str]] | None = None,
    metadata_query: Mapping[str, str] | None = None,
    cache: SearchCache | None = None,
) -> AsyncIterator[R]:
    """Yields loaded resources of ``cls``'s level matching ``query``, a page of ``page_size`` at a time.

    ``query``: DICOM keyword -> value; strings as Orthanc takes them (wildcards ``*``/``?``, ranges
    ``"20240101-20240131"``), or Python values (``date``, ``(start, end)`` ranges, lists for "any of").
    ``limit`` caps the total, ``since`` skips that many first results. ``labels``/``labels_constraint``
    (Orthanc 1.12+), ``requested_tags`` (1.11+: extra tags returned with each resource, read with
    ``get_tag`` without another request), ``order_by`` and ``metadata_query`` (1.12.5+) raise
    ``UnsupportedByServerError`` on older servers before any request. ``cache`` (a ``SearchCache``) serves
    pages asked again within its time-to-live from memory.
    """
    if page_size < 1:
        raise InvalidInputError(f"page_size must be at least 1, not {page_size}")
    if (limit is not None and limit < 0) or since < 0:
        raise InvalidInputError("limit and since must not be negative")
    body = tools_find_body(
        cls.level, query, labels=labels, labels_constraint=labels_constraint, case_sensitive=case_sensitive,
        requested_tags=requested_tags, order_by=order_by, metadata_query=metadata_query,
    )
    await _check_server_takes(client, body)
    seen: set[str] = set()  # resources added while paging can shift pages: never yield one twice
    offset, returned = since, 0
    while limit is None or returned < limit:
        page = page_size if limit is None else min(page_size, limit - returned)
        request = {**body, "Since": offset, "Limit": page}
        key = f"{client.url} /tools/find {json.dumps(request, sort_keys=True)}" if cache is not None else ""
        answer = cache.get(key) if cache is not None else None
        if answer is None:
            answer = await client.post_tools_find(request)
            if cache is not None:
                cache.put(key, answer)
        for item in answer:
            resource_id = str(item["ID"])
            if resource_id in seen:
                continue
            seen.add(resource_id)
            returned += 1
            yield cls(resource_id, client, item)
            if limit is not None and returned >= limit:
                return
        if len(answer) < page:
            return
        offset += len(answer)


async def iter_patients(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> AsyncIterator[Patient]:
    """Streams matching patients.

    Example::

        async for patient in iter_patients(client, {"PatientName": "Test^*"}):
            print(patient.id, patient.name)
    """
    async for resource in iter_resources(client, Patient, query, **options):
        yield resource


async def iter_studies(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> AsyncIterator[Study]:
    """Streams matching studies without building a list (for huge servers).

    Example::

        async for study in iter_studies(client, {"StudyDate": (date(2024, 1, 1), None)}, page_size=500):
            print(study.uid, study.date)
    """
    async for resource in iter_resources(client, Study, query, **options):
        yield resource


async def iter_series(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> AsyncIterator[Series]:
    """Streams matching series.

    Example::

        async for found in iter_series(client, {"Modality": ["CT", "MR"]}):
            print(found.uid, found.main_tag("SeriesDescription"))
    """
    async for resource in iter_resources(client, Series, query, **options):
        yield resource


async def iter_instances(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> AsyncIterator[Instance]:
    """Streams matching instances.

    Example::

        async for found in iter_instances(client, {"SOPInstanceUID": instance.uid}):
            print(found.id)
    """
    async for resource in iter_resources(client, Instance, query, **options):
        yield resource


async def find_patients(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> list[Patient]:
    """Matching patients, loaded.

    Example::

        patients = await find_patients(client, {"PatientID": "DEMO*"}, limit=10)
    """
    return [resource async for resource in iter_resources(client, Patient, query, **options)]


async def find_studies(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> list[Study]:
    """Matching studies, loaded: their main tags (and the patient's) are read without further requests.

    Example::

        await study.add_label("research")
        studies = await find_studies(client, {"PatientName": "Demo*", "StudyDate": (date(2024, 1, 1), None)},
                                     labels=["research"], limit=100)
        print([(s.uid, s.date, s.description) for s in studies])
        await study.remove_label("research")
    """
    return [resource async for resource in iter_resources(client, Study, query, **options)]


async def find_series(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> list[Series]:
    """Matching series, loaded.

    Example::

        ct_series = await find_series(client, {"Modality": "CT"})
    """
    return [resource async for resource in iter_resources(client, Series, query, **options)]


async def find_instances(
    client: AsyncOrthanc, query: Mapping[str, Any] | None = None, **options: Unpack[FindOptions]
) -> list[Instance]:
    """Matching instances, loaded.

    Example::

        first_slices = await find_instances(client, {"InstanceNumber": "1"})
    """
    return [resource async for resource in iter_resources(client, Instance, query, **options)]
