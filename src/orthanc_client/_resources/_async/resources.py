"""``Patient``, ``Study``, ``Series``, ``Instance``: Orthanc resources as Python objects.

Design (the same in the sync and async APIs, see ``docs/resources.md``):

* Data attributes (``study.uid``, ``study.date``, ``series.modality``...) are plain properties over the JSON
  already loaded: what ``/tools/find`` with ``Expand``, a ``?expand`` child listing or ``GET /{level}/{id}``
  returned. They never cost a request once the data is there.
* Everything that needs I/O is a method: ``load()``, ``refresh()``, ``get_series()``, ``get_tag()``...
* Navigation properties (``study.series``, ``instance.patient``...) return what the matching ``get_*()``
  method fetched. In the sync API they fetch on first use (pyorthanc style); in the async API a property
  cannot await, so reading one before its ``get_*()`` (or ``load()`` for data attributes) was awaited raises
  ``NotLoadedError`` naming the call to make. That is the whole difference, and it lives in ``_resources.loading``
  (``tools/unasync.py`` swaps its raising function for its loading one in the sync twin).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

from typing_extensions import Self

from ..._core import async_backend as backend
from ..._core.errors import ConflictError, InvalidInputError, NotFoundError
from ..._core.paths import resource_path, validated_segment
from ..._dicom.tags import TagKey, find_tag, parse_tag, simplify_tags
from ..._dicom.values import (
    parse_bool,
    parse_date,
    parse_floats,
    parse_int,
    parse_orthanc_timestamp,
    parse_string,
    parse_time,
    split_values,
)
from ..._generated import operations as _ops
from ..._jobs._async.jobs import Job
from ..loading import not_loaded
from ..metadata import ResourceStatistics, parse_metadata
from ..modify import anonymize_body, modify_body
from ..revisions import AttachmentData, MetadataValue, if_match_header, revision_of

if TYPE_CHECKING:
    import numpy.typing as npt
    from pydicom.dataset import Dataset

    from ..._bulk.results import BulkResult
    from ..._client._async.client import AsyncOrthanc
    from ..pseudonyms import PseudonymMint

T = TypeVar("T")
R = TypeVar("R", bound="Resource")

DEFAULT_CONCURRENCY = 8
"""Parallel requests for per-instance work (files, pixels): enough to hide latency, few enough for Orthanc."""


class MainTag(Generic[T]):
    """A typed property over one main DICOM tag of the loaded JSON; ``None`` when the tag is absent or empty."""

    def __init__(self, keyword: str, parse: Callable[[Any], T | None], doc: str = "") -> None:
        self.keyword = keyword
        self.parse = parse
        self.__doc__ = doc or f"``{keyword}`` (main DICOM tag), ``None`` if absent."

    @overload
    def __get__(self, resource: None, owner: type[Any]) -> MainTag[T]: ...
    @overload
    def __get__(self, resource: Resource, owner: type[Any]) -> T | None: ...
    def __get__(self, resource: Resource | None, owner: type[Any]) -> MainTag[T] | T | None:
        if resource is None:
            return self
        return self.parse(resource.main_tag(self.keyword))


class Related(Generic[T]):
    """A navigation property (``study.series``, ``instance.patient``...): what ``get_<name>()`` fetched and
    cached. Sync API: fetched on first use; async API: ``NotLoadedError`` naming ``get_<name>()`` until it ran.
    Lists come back as copies, so that editing one leaves the cache alone."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.relation = name  # the key in Resource._related, filled by get_<name>()
        self.loader = f"get_{name}"
        self.__doc__ = f"As ``{self.loader}()`` (sync API: fetched on first use; async API: after it ran)."

    @overload
    def __get__(self, resource: None, owner: type[Any]) -> Related[T]: ...
    @overload
    def __get__(self, resource: Resource, owner: type[Any]) -> T: ...
    def __get__(self, resource: Resource | None, owner: type[Any]) -> Related[T] | T:
        if resource is None:
            return self
        cached = resource._related.get(self.relation)
        if cached is None:
            cached = not_loaded(resource, self.loader)
        return cast(T, list(cached) if isinstance(cached, list) else cached)


class Resource:
    """What every level shares: identity, loading, tags, labels, metadata, statistics, deletion, modification.

    Example::

        from orthanc_client import Resource

        for resource in (await study.get_patient(), study):       # the same calls at every level
            assert isinstance(resource, Resource)
            print(resource.level, resource.id, (await resource.get_statistics()).count_instances)
    """

    level: ClassVar[str] = ""
    """Orthanc's level name: ``"Patient"``, ``"Study"``, ``"Series"`` or ``"Instance"``."""
    _plural: ClassVar[str] = ""

    def __init__(self, id: str, client: AsyncOrthanc, data: Mapping[str, Any] | None = None) -> None:
        if not isinstance(id, str) or not id:
            raise InvalidInputError(f"{type(self).__name__} needs an Orthanc identifier string, got {id!r}")
        # Checked here, once: the ID goes into every path this object builds (a "../studies/<id>" or
        # "<id>?expand" would otherwise address another resource).
        validated_segment("orthanc_id", id, parameter="id", route=f"{type(self).__name__}(id)")
        self.id = id
        self.client = client
        self._data: dict[str, Any] | None = dict(data) if data is not None else None
        self._full_tags: dict[str, Any] | None = None
        self._related: dict[str, Any] = {}  # navigation results, by relation name

    # --- identity and loading ---------------------------------------------------------------------------

    @classmethod
    async def get(cls, client: AsyncOrthanc, id: str) -> Self:
        """The resource ``id``, loaded (one ``GET /{level}/{id}``)."""
        resource = cls(id, client)
        await resource.refresh()
        return resource

    @property
    def path(self) -> str:
        """The resource's REST path, e.g. ``/studies/<id>``."""
        return resource_path(self._plural, self.id)

    @property
    def is_loaded(self) -> bool:
        """Whether the resource's JSON is there (data attributes cost no request)."""
        return self._data is not None

    async def load(self) -> Self:
        """Loads the resource's JSON if it is not loaded yet (one request at most); returns ``self``."""
        if self._data is None:
            await self._fetch_data()
        return self

    async def refresh(self) -> Self:
        """Re-reads the resource's JSON and forgets cached tags and navigation; returns ``self``."""
        self._full_tags = None
        self._related.clear()
        await self._fetch_data()
        return self

    async def _fetch_data(self) -> dict[str, Any]:
        self._data = dict(await self.client.request("GET", self.path))
        return self._data

    async def _check_level(self, kind: str | None = None, name: object = None) -> None:
        """Orthanc does not check the level on its metadata, attachment, shared-tags and modify routes
        (``PUT /series/<a study's ID>/metadata/1025`` writes the study's): the resource's own JSON, loaded once
        (``GET /{level}/{id}`` answers 404 for an ID of another level), proves the ID is of this level.
        ``name`` (of ``kind``) is checked first, so that a refused name sends nothing at all."""
        if kind is not None:
            validated_segment(kind, name, parameter="name", route=f"{type(self).__name__}.{kind}")
        await self.load()
        kind = (self._data or {}).get("Type")
        if kind is not None and kind != self.level:
            raise InvalidInputError(f"{type(self).__name__}({self.id!r}) holds the data of a {kind}, not a {self.level}")

    @property
    def data(self) -> dict[str, Any]:
        """The resource's JSON as Orthanc returned it (sync: loaded on first use)."""
        data = self._data
        if data is None:
            data = not_loaded(self, "_fetch_data")
        return data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and type(other) is type(self) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    # --- tags ---------------------------------------------------------------------------------------------

    @property
    def main_dicom_tags(self) -> dict[str, Any]:
        """The main DICOM tags Orthanc indexes for this level (plus ``RequestedTags`` a find asked for)."""
        data = self.data
        tags = dict(data.get("MainDicomTags") or {})
        tags.update(data.get("RequestedTags") or {})
        return tags

    def main_tag(self, keyword: str) -> Any:
        """A main tag's raw string (``None`` if absent): no I/O beyond the first load."""
        data = self.data
        for group in ("MainDicomTags", "PatientMainDicomTags", "RequestedTags"):
            tags = data.get(group)
            if tags and keyword in tags:
                return tags[keyword]
        return None

    async def get_tag(self, key: TagKey, element: int | None = None, *, parse: bool = True) -> Any:
        """Any DICOM tag, by keyword or tag: ``get_tag("PatientName")``, ``get_tag(0x0010, 0x0010)``,
        ``get_tag((0x0010, 0x0010))``, ``get_tag("0010,0010")``.

        Main tags come from the loaded JSON; other tags from ``/instances/{id}/tags`` (an instance) or
        ``/{level}/{id}/shared-tags`` (other levels: tags equal in all its instances), read once and cached.
        Values are typed by their VR (dates, numbers, lists; needs pydicom for tags given by number),
        ``parse=False`` gives Orthanc's strings. Returns ``None`` for an absent tag.

        Example::

            name = await instance.get_tag("PatientName")
            rows = await instance.get_tag(0x0028, 0x0010)
        """
        if element is not None:
            if not isinstance(key, int):
                raise InvalidInputError("get_tag(group, element) takes two integers")
            key = (key, element)
        await self.load()
        found, value = find_tag(self._known_tags(), key)
        if not found:
            found, value = find_tag(await self.get_tags(simplified=False), key)
        if not found:
            return None
        return parse_tag(key, value) if parse else value

    tag = get_tag

    def _known_tags(self) -> dict[str, Any]:
        data = self.data
        return {**(data.get("PatientMainDicomTags") or {}), **self.main_dicom_tags}

    async def get_tags(self, *, simplified: bool = True) -> dict[str, Any]:
        """All tags of an instance (``/instances/{id}/tags``), or the tags shared by all instances of a
        patient/study/series; read once and cached. ``simplified``: ``{keyword: value}``; else Orthanc's full
        form (``{"gggg,eeee": {"Name", "Type", "Value"}}``)."""
        if self._full_tags is None:
            if self._tags_route == "shared-tags":  # Orthanc 1.10 answers it for an ID of another level
                await self._check_level()
            self._full_tags = dict(await self.client.request("GET", f"{self.path}/{self._tags_route}"))
        return simplify_tags(self._full_tags) if simplified else self._full_tags

    _tags_route: ClassVar[str] = "shared-tags"

    # --- Orthanc bookkeeping ------------------------------------------------------------------------------

    @property
    def is_stable(self) -> bool | None:
        """Orthanc's ``IsStable``: no new instance arrived for ``StableAge`` seconds (``None`` for instances)."""
        return parse_bool(self.data.get("IsStable"))

    @property
    def last_update(self) -> dt.datetime | None:
        """Orthanc's ``LastUpdate`` (UTC): when an instance was last added under this resource."""
        return parse_orthanc_timestamp(self.data.get("LastUpdate"))

    @property
    def labels(self) -> list[str] | None:
        """Labels as loaded (Orthanc 1.12+ sends them with the resource); ``None`` when the server did not."""
        labels = self.data.get("Labels")
        return list(labels) if isinstance(labels, list) else None

    async def get_labels(self) -> list[str]:
        """The resource's labels, read now (Orthanc 1.12+; ``UnsupportedByServerError`` before)."""
        return list(await self._api("get", "labels")(self.id))

    async def add_label(self, label: str) -> None:
        """Adds a label (Orthanc 1.12+). Labels are ``[A-Za-z0-9_-]`` strings.

        Example::

            await study.add_label("reviewed")         # Orthanc >= 1.12
            print(await study.get_labels())           # ['reviewed']
            await study.remove_label("reviewed")
        """
        await self._api("put", "labels_label")(self.id, label)
        self._note_label(label, present=True)

    async def remove_label(self, label: str) -> None:
        """Removes a label (Orthanc 1.12+); removing an absent label is not an error."""
        await self._api("delete", "labels_label")(self.id, label)
        self._note_label(label, present=False)

    def _note_label(self, label: str, *, present: bool) -> None:
        """Keeps the loaded ``Labels`` in step with what we just did, so ``labels`` needs no re-read."""
        if self._data is not None and isinstance(self._data.get("Labels"), list):
            labels = [item for item in self._data["Labels"] if item != label]
            self._data["Labels"] = sorted([*labels, label]) if present else labels

    async def get_metadata(self) -> dict[str, Any]:
        """All metadata, one request (and the resource's own ``GET`` first if it is not loaded: Orthanc does
        not check the level of the ID on this route); Orthanc's own entries typed (``LastUpdate``,
        ``ReceptionDate``: UTC datetimes; ``IndexInSeries``: int), user metadata as strings."""
        await self._check_level()
        return parse_metadata(await self._api("get", "metadata")(self.id, expand=True))

    async def get_metadata_with_revision(self, name: str | int) -> MetadataValue:
        """One metadata entry with its revision, for a write that must not overwrite another writer's.

        Example::

            await study.set_metadata("1025", "draft")
            value, revision = await study.get_metadata_with_revision("1025")
            await study.set_metadata("1025", value + "!", if_match=revision)   # ConflictError if it changed
        """
        await self._check_level("metadata_name", name)
        value, headers = await self.client._request_with_headers(self._operation("GET", "METADATA_NAME"), (self.id, name))
        return MetadataValue("" if value is None else str(value), revision_of(headers, f"metadata {name!r}"))

    async def set_metadata(self, name: str | int, value: str, *, if_match: str | None = None) -> None:
        """Writes one metadata entry (user metadata must be declared in Orthanc's ``UserMetadata``, or be a
        number from 1024 to 65535).

        ``if_match``: the revision read with ``get_metadata_with_revision``; Orthanc then refuses the write with
        ``ConflictError`` if the entry changed meanwhile (``update_metadata`` does the read-write-retry loop).

        Example::

            await study.set_metadata("1025", "reviewed")
        """
        await self._check_level("metadata_name", name)
        # The ETag of the answer is not returned: with Orthanc's default SQLite index it names a revision that
        # is not stored (measured on 1.10.1 and 1.12.7: a later If-Match with it is refused); read it again.
        await self.client._request_with_headers(
            self._operation("PUT", "METADATA_NAME"), (self.id, name), data=value, headers=if_match_header(if_match)
        )

    async def delete_metadata(self, name: str | int, *, if_match: str | None = None) -> None:
        """Deletes one metadata entry; with ``if_match``, only if it is still at that revision (else
        ``ConflictError``)."""
        await self._check_level("metadata_name", name)
        await self.client._request_with_headers(
            self._operation("DELETE", "METADATA_NAME"), (self.id, name), headers=if_match_header(if_match)
        )

    async def update_metadata(
        self, name: str | int, function: Callable[[str | None], str], *, attempts: int = 20
    ) -> str:
        """Reads a metadata entry, applies ``function`` to its value (``None`` when absent) and writes the
        result only if no one else wrote the entry meanwhile; on a conflict, reads and applies again, up to
        ``attempts`` times (then the last ``ConflictError`` is raised). Returns the value written.

        Orthanc has no "create only if absent": when several writers may create the entry at once, create it
        once beforehand so that every update is checked.

        Example::

            await study.set_metadata("1025", "0")
            await study.update_metadata("1025", lambda value: str(int(value or 0) + 1))   # from many processes
        """
        async def read() -> tuple[str | None, str | None]:
            value, revision = await self.get_metadata_with_revision(name)
            return value, revision

        async def write(value: str, revision: str | None) -> None:
            await self.set_metadata(name, value, if_match=revision)

        return await _read_apply_write("update_metadata", read, write, function, attempts)

    async def get_attachments(self) -> list[str]:
        """The names of the resource's attachments (``"dicom"``, user content types...)."""
        await self._check_level()
        return [str(name) for name in await self._api("get", "attachments")(self.id)]

    async def get_attachment(self, name: str | int) -> bytes:
        """An attachment's content (uncompressed)."""
        return (await self.get_attachment_with_revision(name)).data

    async def get_attachment_with_revision(self, name: str | int) -> AttachmentData:
        """An attachment's content with its revision (see ``get_metadata_with_revision``)."""
        await self._check_level("attachment_name", name)
        data, headers = await self.client._request_with_headers(
            self._operation("GET", "ATTACHMENTS_NAME_DATA"), (self.id, name)
        )
        return AttachmentData(bytes(data or b""), revision_of(headers, f"attachment {name!r}"))

    async def set_attachment(self, name: str | int, data: bytes, *, if_match: str | None = None) -> None:
        """Writes an attachment (a number from 1024 to 65535, or a name declared in ``UserContentType``);
        ``if_match`` as for ``set_metadata`` (``ConflictError`` if it changed meanwhile).

        Example::

            await study.set_attachment("1025", b"report")
        """
        await self._check_level("attachment_name", name)
        await self.client._request_with_headers(
            self._operation("PUT", "ATTACHMENTS_NAME"), (self.id, name), content=data, headers=if_match_header(if_match)
        )

    async def update_attachment(
        self, name: str | int, function: Callable[[bytes | None], bytes], *, attempts: int = 20
    ) -> bytes:
        """As ``update_metadata``, for an attachment: ``function`` gets its content (``None`` when absent) and
        returns the new content, written only if no one else wrote it meanwhile.

        Example::

            await instance.update_attachment("1026", lambda data: (data or b"") + b"seen\\n")
        """

        async def read() -> tuple[bytes | None, str | None]:
            data, revision = await self.get_attachment_with_revision(name)
            return data, revision

        async def write(data: bytes, revision: str | None) -> None:
            await self.set_attachment(name, data, if_match=revision)

        return await _read_apply_write("update_attachment", read, write, function, attempts)

    async def delete_attachment(self, name: str | int, *, if_match: str | None = None) -> None:
        """Deletes an attachment; with ``if_match``, only if it is still at that revision (else ``ConflictError``)."""
        await self._check_level("attachment_name", name)
        await self.client._request_with_headers(
            self._operation("DELETE", "ATTACHMENTS_NAME"), (self.id, name), headers=if_match_header(if_match)
        )

    async def get_statistics(self) -> ResourceStatistics:
        """Disk size and counts (``GET /{level}/{id}/statistics``)."""
        return ResourceStatistics(await self._api("get", "statistics")(self.id))

    async def delete(self) -> None:
        """Deletes the resource and everything under it from Orthanc.

        Example::

            copy = await series.modify(replace={"SeriesDescription": "scratch"})
            await copy.delete()                       # with everything below it
        """
        await self.client.request("DELETE", self.path)

    def _operation(self, method: str, route: str) -> Any:
        """The generated ``Operation`` for ``method /{level}/{id}/{route}`` (for calls that need answer headers)."""
        return getattr(_ops, f"{method}_{self._plural.upper()}_ID_{route}")

    def _api(self, verb: str, route: str) -> Callable[..., Any]:
        """The generated method for ``verb /{level}/{id}/{route}``: it checks the server version before sending
        (labels on Orthanc < 1.12 raise ``UnsupportedByServerError`` without a request)."""
        return cast(Callable[..., Any], getattr(self.client, f"{verb}_{self._plural}_id_{route}"))

    # --- navigation helpers -------------------------------------------------------------------------------

    async def _parent(self, relation: str, cls: type[R]) -> R:
        cached = self._related.get(relation)
        if cached is None:
            answer = await self.client.request("GET", f"{self.path}/{relation}")
            cached = cls(str(answer["ID"]), self.client, answer)
            self._related[relation] = cached
        return cast(R, cached)

    async def _children(self, relation: str, cls: type[R]) -> list[R]:
        cached = self._related.get(relation)
        if cached is None:
            answer = await self.client.request("GET", f"{self.path}/{relation}", params={"expand": True})
            cached = [cls(str(item["ID"]), self.client, item) for item in answer]
            # The children know this resource and the ancestors it knows (the single resources among its
            # relations; lists are its descendants) without another request: instance.study after
            # study.get_instances(), instance.patient after patient -> study -> series -> instances.
            lineage = {name: value for name, value in self._related.items() if isinstance(value, Resource)}
            lineage[self.level.lower()] = self
            for child in cached:
                child._related.update(lineage)
            self._related[relation] = cached
        return list(cast("list[R]", cached))

    # --- downloads (built in .download) -------------------------------------------------------------------

    async def download(self, path: str | os.PathLike[str], **options: Any) -> BulkResult:
        """Writes the resource as a zip archive at ``path``, with bounded memory whatever its size.

        Options as for ``orthanc_client.download_zip``: ``mode="client"`` (default: assembled here from
        concurrently fetched instances), ``"server"`` (Orthanc's own archive) or ``"media"`` (with DICOMDIR).

        Example::

            await study.download("study.zip")
        """
        from ..._bulk._async.download import download_zip

        return await download_zip(self.client, [self], path, **options)

    async def download_files(self, folder: str | os.PathLike[str], **options: Any) -> BulkResult:
        """Writes one ``.dcm`` per instance under ``folder`` (patient/study/series folders by default); raises
        ``BulkError`` if any instance failed. Options as for ``orthanc_client.download``.

        Example::

            await series.download_files("out", layout="flat")
        """
        from ..._bulk._async.download import download_files

        return await download_files(self.client, [self], folder, **options)

    # --- anonymize / modify (patient, study, series: as Orthanc jobs) -------------------------------------

    async def modify_as_job(
        self,
        *,
        replace: Mapping[str, Any] | None = None,
        remove: Iterable[str] | None = None,
        keep: Iterable[str] | None = None,
        remove_private_tags: bool = False,
        force: bool = False,
        keep_source: bool = True,
        priority: int = 0,
        transcode: str | None = None,
        private_creator: str | None = None,
    ) -> Job:
        """Starts ``POST /{level}/{id}/modify`` as an Orthanc job and returns it (not waited for).

        Changing PatientID/StudyInstanceUID/SeriesInstanceUID/SOPInstanceUID needs ``force=True``: it is
        refused before any request otherwise (``InvalidInputError``).
        """
        body = modify_body(
            replace=replace, remove=remove, keep=keep, remove_private_tags=remove_private_tags, force=force,
            keep_source=keep_source, priority=priority, transcode=transcode, private_creator=private_creator,
        )
        await self._check_level()
        answer = await self._api("post", "modify")(self.id, body)
        return Job(str(answer["ID"]), self.client)

    async def anonymize_as_job(
        self,
        *,
        replace: Mapping[str, Any] | None = None,
        remove: Iterable[str] | None = None,
        keep: Iterable[str] | None = None,
        keep_private_tags: bool = False,
        keep_labels: bool = False,
        force: bool = False,
        keep_source: bool = True,
        priority: int = 0,
        dicom_version: str | None = None,
        transcode: str | None = None,
        private_creator: str | None = None,
    ) -> Job:
        """Starts ``POST /{level}/{id}/anonymize`` as an Orthanc job and returns it (not waited for)."""
        body = anonymize_body(
            replace=replace, remove=remove, keep=keep, keep_private_tags=keep_private_tags,
            keep_labels=keep_labels, force=force, keep_source=keep_source, priority=priority,
            dicom_version=dicom_version, transcode=transcode, private_creator=private_creator,
        )
        await self._check_level()
        answer = await self._api("post", "anonymize")(self.id, body)
        return Job(str(answer["ID"]), self.client)

    async def _new_resource_from(self, job: Job, timeout: float | None) -> Self:
        await job.wait(timeout=timeout)
        return await type(self).get(self.client, str(job.content["ID"]))


class _JobModifiable(Resource):
    """Patient, study and series: shared tags; ``modify()``/``anonymize()`` run as an Orthanc job and return the new resource."""

    async def get_shared_tags(self) -> dict[str, Any]:
        """The tags whose value is the same in every instance below (``{keyword: value}``; read once, cached).

        Orthanc reads every instance's file to compute them: costly on a large resource.
        """
        return await self.get_tags(simplified=True)

    async def modify(self, *, timeout: float | None = None, **options: Any) -> Self:
        """Modifies as an Orthanc job, waits for it by polling (no request outlives a timeout) and returns
        the new (loaded) resource. Options: see ``modify_as_job``.

        Example::

            copy = await study.modify(replace={"StudyDescription": "Reviewed"})
            await copy.delete()
        """
        return await self._new_resource_from(await self.modify_as_job(**options), timeout)

    async def anonymize(
        self, *, timeout: float | None = None, pseudonyms: PseudonymMint | None = None, **options: Any
    ) -> Self:
        """Anonymizes as an Orthanc job, waits and returns the new (loaded) resource. Options: see
        ``anonymize_as_job`` (``keep``, ``replace``, ``remove``, ``keep_private_tags``, ``dicom_version``...).

        ``pseudonyms``: a ``PseudonymMint`` whose keyed values replace PatientID, PatientName,
        PatientBirthDate and every UID, so that a later export of the same patient links up with this one
        (instance by instance, see ``orthanc_client._resources._async.pseudonymize``).

        Example::

            from orthanc_client import PseudonymMint

            anonymous = await study.anonymize(replace={"PatientName": "ANON"}, keep=["StudyDescription"])
            research = await study.anonymize(pseudonyms=PseudonymMint(secret="keep me out of git"))
            for copy in (anonymous, research):
                await copy.delete()
        """
        if pseudonyms is not None:
            from .pseudonymize import anonymize_with_pseudonyms

            return await anonymize_with_pseudonyms(self, pseudonyms, **options)
        return await self._new_resource_from(await self.anonymize_as_job(**options), timeout)


class Patient(_JobModifiable):
    """A patient in Orthanc.

    Example::

        patient = await Patient.get(client, patient_id)
        print(patient.name, patient.birth_date)
        for study in await patient.get_studies():
            print(study.date, study.description)
    """

    level = "Patient"
    _plural = "patients"

    name = MainTag("PatientName", parse_string)
    patient_id = MainTag("PatientID", parse_string)
    birth_date = MainTag("PatientBirthDate", parse_date)
    sex = MainTag("PatientSex", parse_string)
    other_patient_ids = MainTag("OtherPatientIDs", split_values)

    async def get_studies(self) -> list[Study]:
        """The patient's studies, with their data (one request, cached)."""
        return await self._children("studies", Study)

    studies: Related[list[Study]] = Related()

    async def get_protected(self) -> bool:
        """Whether Orthanc protects the patient from automatic recycling."""
        return bool(parse_bool(await self.client.get_patients_id_protected(self.id)))

    async def set_protected(self, protected: bool) -> None:
        """Protects the patient from automatic recycling (``MaximumStorageSize``/``MaximumPatientCount``), or not."""
        await self.client.put_patients_id_protected(self.id, data="1" if protected else "0")


class Study(_JobModifiable):
    """A study in Orthanc.

    Example::

        study = await Study.get(client, study_id)
        print(study.uid, study.date, study.description, study.patient_main_tags["PatientName"])
        series = await study.get_series()
    """

    level = "Study"
    _plural = "studies"

    uid = MainTag("StudyInstanceUID", parse_string)
    date = MainTag("StudyDate", parse_date)
    time = MainTag("StudyTime", parse_time)
    description = MainTag("StudyDescription", parse_string)
    accession_number = MainTag("AccessionNumber", parse_string)
    study_id = MainTag("StudyID", parse_string)
    referring_physician_name = MainTag("ReferringPhysicianName", parse_string)
    institution_name = MainTag("InstitutionName", parse_string)
    requested_procedure_description = MainTag("RequestedProcedureDescription", parse_string)

    @property
    def patient_main_tags(self) -> dict[str, Any]:
        """The patient's main tags, as Orthanc sends them with every study (no request)."""
        return dict(self.data.get("PatientMainDicomTags") or {})

    @property
    def datetime(self) -> dt.datetime | None:
        """StudyDate and StudyTime combined (midnight if the time is absent)."""
        date = self.date
        return None if date is None else dt.datetime.combine(date, self.time or dt.time())

    async def get_patient(self) -> Patient:
        """The patient above, loaded (at most one request, then cached)."""
        return await self._parent("patient", Patient)

    patient: Related[Patient] = Related()

    async def get_series(self) -> list[Series]:
        """The study's series, with their data (one request, cached)."""
        return await self._children("series", Series)

    series: Related[list[Series]] = Related()

    async def get_instances(self) -> list[Instance]:
        """All instances of the study, with their data (one request, cached)."""
        return await self._children("instances", Instance)

    instances: Related[list[Instance]] = Related()


class Series(_JobModifiable):
    """A series in Orthanc.

    Example::

        series = await Series.get(client, series_id)
        volume = await series.to_numpy(rescale=True)         # slices sorted by geometry
        async for dataset in series.get_pydicom():
            print(dataset.InstanceNumber)
    """

    level = "Series"
    _plural = "series"

    uid = MainTag("SeriesInstanceUID", parse_string)
    modality = MainTag("Modality", parse_string)
    series_number = MainTag("SeriesNumber", parse_int)
    description = MainTag("SeriesDescription", parse_string)
    date = MainTag("SeriesDate", parse_date)
    time = MainTag("SeriesTime", parse_time)
    body_part_examined = MainTag("BodyPartExamined", parse_string)
    protocol_name = MainTag("ProtocolName", parse_string)
    manufacturer = MainTag("Manufacturer", parse_string)
    station_name = MainTag("StationName", parse_string)
    image_orientation_patient = MainTag("ImageOrientationPatient", parse_floats)

    @property
    def expected_number_of_instances(self) -> int | None:
        """Orthanc's estimate of the complete series size, from the DICOM headers (often ``None``)."""
        return parse_int(self.data.get("ExpectedNumberOfInstances"))

    @property
    def status(self) -> str | None:
        """Orthanc's ``Status``: ``"Complete"``, ``"Missing"``, ``"Inconsistent"`` or ``"Unknown"``."""
        return parse_string(self.data.get("Status"))

    async def get_study(self) -> Study:
        """The study above, loaded (at most one request, then cached)."""
        return await self._parent("study", Study)

    study: Related[Study] = Related()

    async def get_patient(self) -> Patient:
        """The patient above, loaded (at most one request, then cached)."""
        return await self._parent("patient", Patient)

    patient: Related[Patient] = Related()

    async def get_instances(self) -> list[Instance]:
        """The series' instances, with their data (one request, cached)."""
        return await self._children("instances", Instance)

    instances: Related[list[Instance]] = Related()

    async def get_pydicom(self, concurrency: int = DEFAULT_CONCURRENCY) -> AsyncIterator[Dataset]:
        """Yields every instance as a ``pydicom.Dataset``, files fetched ``concurrency`` at a time, in the
        order they arrive (sort by ``InstanceNumber`` if you need an order). Needs pydicom."""
        instances = await self.get_instances()
        async for _, result in backend.map_unordered(_read_dataset, instances, concurrency):
            if isinstance(result, BaseException):
                raise result
            yield result

    async def to_numpy(
        self, *, rescale: bool = False, concurrency: int = DEFAULT_CONCURRENCY
    ) -> npt.NDArray[Any]:
        """The series as a ``(slices, rows, columns)`` volume (a 4th axis for color), slices sorted along the
        slice normal (ImagePositionPatient on the ImageOrientationPatient normal; InstanceNumber when the
        geometry is missing). ``rescale``: apply RescaleSlope/Intercept. Dtype: the stored type (uint16,
        int16, uint8...) without rescale, float32 with rescale. One request for the geometry, then the
        instance files, ``concurrency`` at a time, each read straight into its slot and rescaled here exactly;
        Orthanc's ``/series/{id}/numpy`` instead (two requests) for a compressed series without ``rescale``,
        and when the client cannot use its direct path (a caller's own httpx client, event hooks, https...)
        unless ``rescale`` (which Orthanc 1.10 rounds). Peak memory: about the volume. Needs numpy (the
        ``dicom`` extra).

        Example::

            volume = await Series(series_id, client).to_numpy(rescale=True)   # float32, Hounsfield units for CT
        """
        from ..._bulk._async.numpy_io import series_to_numpy

        return await series_to_numpy(self, rescale=rescale, concurrency=concurrency)


class Instance(Resource):
    """An instance (one DICOM file) in Orthanc.

    Example::

        instance = await Instance.get(client, instance_id)
        print(instance.uid, instance.instance_number, await instance.get_tag("PatientName"))
        dataset = await instance.get_pydicom()
        pixels = await instance.to_numpy()
    """

    level = "Instance"
    _plural = "instances"
    _tags_route = "tags"

    uid = MainTag("SOPInstanceUID", parse_string)
    instance_number = MainTag("InstanceNumber", parse_int)
    image_position_patient = MainTag("ImagePositionPatient", parse_floats)
    image_orientation_patient = MainTag("ImageOrientationPatient", parse_floats)
    number_of_frames = MainTag("NumberOfFrames", parse_int)
    acquisition_number = MainTag("AcquisitionNumber", parse_int)

    @property
    def file_size(self) -> int | None:
        """Size of the DICOM file in bytes."""
        return parse_int(self.data.get("FileSize"))

    @property
    def index_in_series(self) -> int | None:
        """Orthanc's ``IndexInSeries`` (from the DICOM headers; not a geometric order)."""
        return parse_int(self.data.get("IndexInSeries"))

    async def get_series(self) -> Series:
        """The series above, loaded (at most one request, then cached)."""
        return await self._parent("series", Series)

    series: Related[Series] = Related()

    async def get_study(self) -> Study:
        """The study above, loaded (at most one request, then cached)."""
        return await self._parent("study", Study)

    study: Related[Study] = Related()

    async def get_patient(self) -> Patient:
        """The patient above, loaded (at most one request, then cached)."""
        return await self._parent("patient", Patient)

    patient: Related[Patient] = Related()

    async def get_file(self) -> bytes:
        """The DICOM file (Part 10), as stored.

        Example::

            data = await instance.get_file()
            assert data[128:132] == b"DICM"
        """
        return await self.client.get_instances_id_file(self.id)

    async def get_pydicom(self) -> Dataset:
        """The instance as a ``pydicom.Dataset`` (needs pydicom: the ``dicom`` extra)."""
        return await _read_dataset(self)

    async def to_numpy(self, *, rescale: bool = False) -> npt.NDArray[Any]:
        """All frames as a ``(frames, rows, columns)`` array (a 4th axis for color); ``rescale``
        applies RescaleSlope/Intercept. Needs numpy."""
        from ..._bulk._async.numpy_io import instance_to_numpy

        return await instance_to_numpy(self, rescale=rescale)

    async def modify(self, **options: Any) -> bytes:
        """The modified DICOM file. Orthanc modifies single instances synchronously and does not store the
        result: upload the bytes if you want them kept. Options: see ``modify_as_job`` (``replace``,
        ``remove``, ``keep``, ``force``...), except the job-only ``keep_source`` and ``priority``."""
        body = modify_body(run_as_job=False, **_instance_options("modify", options))
        return await self.client.post_instances_id_modify(self.id, _without_job_fields(body))

    async def anonymize(self, *, pseudonyms: PseudonymMint | None = None, **options: Any) -> bytes:
        """The anonymized DICOM file (synchronous in Orthanc, not stored; see ``modify``). ``pseudonyms``: a
        ``PseudonymMint`` for PatientID, PatientName, PatientBirthDate and the UIDs (see ``Study.anonymize``)."""
        if pseudonyms is not None:
            from ..pseudonyms import pseudonym_replacements

            tags = await self.client.request("GET", f"{self.path}/tags", params={"simplify": True})
            minted = pseudonym_replacements(pseudonyms, tags, frozenset(options.get("keep") or ()))
            options = {**options, "replace": {**minted, **dict(options.get("replace") or {})}, "force": True}
        body = anonymize_body(run_as_job=False, **_instance_options("anonymize", options))
        return await self.client.post_instances_id_anonymize(self.id, _without_job_fields(body))


# Options that only mean something for a job that stores new resources; a single instance is modified in
# the answer and nothing is stored, so they are refused rather than silently ignored.
_JOB_ONLY_OPTIONS = ("keep_source", "priority")


def _instance_options(operation: str, options: dict[str, Any]) -> dict[str, Any]:
    given = [name for name in _JOB_ONLY_OPTIONS if name in options]
    if given:
        raise InvalidInputError(
            f"Instance.{operation}: {', '.join(given)} only apply to series, study and patient jobs; Orthanc "
            "modifies one instance in its answer and stores nothing"
        )
    return options


def _without_job_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in ("KeepSource", "Priority")}


async def _read_dataset(instance: Instance) -> Dataset:
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading DICOM files needs pydicom: pip install 'orthanc-client[dicom]'") from exc
    data = await instance.get_file()
    return pydicom.dcmread(io.BytesIO(data))



async def _read_apply_write(
    what: str,
    read: Callable[[], Awaitable[tuple[T | None, str | None]]],
    write: Callable[[T, str | None], Awaitable[None]],
    function: Callable[[T | None], T],
    attempts: int,
) -> T:
    """Reads a value with its revision, applies ``function`` and writes the result only if the revision is
    unchanged; on a conflict, again, up to ``attempts`` times (then the last ``ConflictError``). The revision
    lives in Orthanc's index, so this holds across processes and across the nodes of a cluster."""
    if attempts < 1:
        raise InvalidInputError(f"{what}: attempts must be at least 1, got {attempts!r}")
    for attempt in range(1, attempts + 1):
        try:
            current, revision = await read()
        except NotFoundError:
            current, revision = None, None
        new_value = function(current)
        try:
            await write(new_value, revision)
            return new_value
        except ConflictError:
            if attempt == attempts:
                raise
            # another writer won: back off a little, at random, so that two writers do not collide again
            await backend.sleep(random.uniform(0, 0.002 * attempt))
    raise AssertionError("unreachable")  # pragma: no cover

LEVELS: dict[str, type[Resource]] = {"Patient": Patient, "Study": Study, "Series": Series, "Instance": Instance}
