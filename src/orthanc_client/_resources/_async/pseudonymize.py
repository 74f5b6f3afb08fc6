"""Anonymization with keyed pseudonyms (``study.anonymize(pseudonyms=mint)``).

Orthanc's own anonymization gives every UID a random new value, so two exports of the same patient never
link up. Here every instance is anonymized by ``POST /instances/{id}/anonymize`` with a ``Replace`` holding the
mint's values for PatientID, PatientName, PatientBirthDate and every identifying UID of that instance
(``StudyInstanceUID``, ``SeriesInstanceUID``, ``SOPInstanceUID``, ``FrameOfReferenceUID``...), and the
result is stored back with ``POST /instances``. Per instance, because a study- or series-level job can only
``Replace`` one value for all its instances, and SOPInstanceUIDs differ per instance (a job followed by a
modification per instance costs more requests and leaves random UIDs in between). Costs: one request reading
the resource's tags, then two per instance, ``concurrency`` at a time. Measured on 2 cores, Orthanc 1.10, a
100-instance study: 1.32 s, against 0.42 s for Orthanc's study job with random UIDs, and 0.42 + 0.59 s for
that job followed by a modification and store per instance (which still leaves the series UIDs random and
an intermediate copy to delete).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..._core import async_backend as backend
from ..._core.errors import InvalidInputError
from ..modify import anonymize_body
from ..pseudonyms import PseudonymMint, pseudonym_replacements

if TYPE_CHECKING:
    from .resources import Resource

R = TypeVar("R", bound="Resource")
_PARENT_KEY = {"Patient": "ParentPatient", "Study": "ParentStudy", "Series": "ParentSeries", "Instance": "ID"}


async def anonymize_with_pseudonyms(
    resource: R,
    mint: PseudonymMint,
    *,
    replace: Mapping[str, Any] | None = None,
    remove: Iterable[str] | None = None,
    keep: Iterable[str] | None = None,
    keep_private_tags: bool = False,
    keep_source: bool = True,
    dicom_version: str | None = None,
    concurrency: int = 8,
    **unsupported: Any,
) -> R:
    """Anonymizes ``resource`` (patient, study, series or instance) with ``mint``'s pseudonyms, stores the
    result in the same Orthanc and returns the new resource, loaded. ``replace`` adds fixed values (they win
    over the mint's); ``keep_source=False`` deletes the original once every instance is stored.

    Example::

        mint = PseudonymMint(secret="keep me out of git")   # or PseudonymMint.from_env()
        research_copy = await series.anonymize(pseudonyms=mint, keep=["SeriesDescription"])
        await research_copy.delete()
    """
    if unsupported:
        raise InvalidInputError(
            f"anonymize(pseudonyms=...) does not take {', '.join(sorted(unsupported))}: it anonymizes instance "
            "by instance (options: replace, remove, keep, keep_private_tags, keep_source, dicom_version, concurrency)"
        )
    if not isinstance(mint, PseudonymMint):
        raise InvalidInputError(f"pseudonyms= takes a PseudonymMint, not {type(mint).__name__}")
    keep_list = [str(tag) for tag in keep] if keep is not None else []
    if isinstance(keep, str) or isinstance(remove, str):
        raise InvalidInputError("keep and remove take lists of tags, not one string")
    fixed = dict(replace or {})
    client = resource.client
    if resource.level == "Instance":
        tags_by_instance = {resource.id: await client.request("GET", f"{resource.path}/tags", params={"simplify": True})}
    else:
        tags_by_instance = dict(
            await client.request("GET", f"{resource.path}/instances-tags", params={"simplify": True})
        )
    if not tags_by_instance:
        raise InvalidInputError(f"{resource!r} has no instances to anonymize")
    keep_set = frozenset(keep_list)

    async def one(instance_id: str) -> dict[str, Any]:
        tags = tags_by_instance[instance_id]
        body = anonymize_body(
            replace={**pseudonym_replacements(mint, tags, keep_set), **fixed},
            remove=remove, keep=keep_list, keep_private_tags=keep_private_tags, force=True,
            dicom_version=dicom_version, run_as_job=False,
        )
        body.pop("KeepSource", None)
        body.pop("Priority", None)
        data = await client.post_instances_id_anonymize(instance_id, body)
        return dict(await client.request("POST", "/instances", content=data))

    stored: list[dict[str, Any]] = []
    async for _instance, result in backend.map_unordered(one, list(tags_by_instance), concurrency):
        if isinstance(result, BaseException):
            raise result
        stored.append(result)
    parents = {str(answer.get(_PARENT_KEY[resource.level])) for answer in stored}
    if len(parents) != 1:  # only with replace= values that split the resource: say so rather than pick one
        raise InvalidInputError(
            f"the pseudonymized {resource.level.lower()} came out as {len(parents)} resources ({sorted(parents)}); "
            "replace= must not give instances of one resource different identifiers"
        )
    if not keep_source:
        await resource.delete()
    return await type(resource).get(client, parents.pop())
