"""``download`` (a folder of ``.dcm`` files) and ``download_zip`` (one archive), concurrent and streamed.

Both start by listing the instances of the requested resources (one request per resource plus one per
series and study for the folder names), then fetch instances concurrently, each streamed straight to disk
(folders) or through a small spool into a ``ZIP_STORED`` archive (zips), so memory stays bounded whatever
the study's size. Nothing is written under a final name until it is complete.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from ..._client._async.client import AsyncOrthanc
from ..._core import async_backend as backend
from ..._core.breaker import BatchBreaker, means_server_down, not_attempted_reason
from ..._core.errors import InvalidInputError
from ..._core.paths import resource_path
from ..._core.settings import CHUNK_SIZE
from ..fast_files import fetch_file
from ..progress import BulkProgress
from ..results import BulkError, BulkItem, BulkResult, Outcome

DEFAULT_DOWNLOAD_CONCURRENCY = 8
SPOOL_SIZE = 1 << 20
"""Instances up to this size wait for their turn in the zip in memory, larger ones in a temporary file."""
ZIP64_THRESHOLD = (1 << 31) - 1

ZipMode = Literal["client", "server", "media"]

_PLURAL = {
    "patient": "patients",
    "patients": "patients",
    "study": "studies",
    "studies": "studies",
    "series": "series",
    "instance": "instances",
    "instances": "instances",
}


@dataclass(frozen=True)
class InstanceInfo:
    """What a ``layout`` function gets for each instance: Orthanc IDs and the main DICOM tags of the
    instance, its series, study and patient (merged into ``tags``, e.g. ``tags["SeriesDescription"]``).

    Example::

        def by_modality(info: InstanceInfo) -> str:
            return f"{info.tags.get('Modality', 'OT')}/{info.tags['SOPInstanceUID']}.dcm"

        await download(client, [study], "out", layout=by_modality)
    """

    id: str
    series_id: str | None = None
    study_id: str | None = None
    patient_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    size: int | None = None


Layout = Literal["nested", "flat"] | Callable[[InstanceInfo], str | os.PathLike[str]]
"""``"nested"``, ``"flat"``, or a function giving each instance's path relative to the target folder."""


def resolve_resources(resources: Any, level: str | None = None) -> list[tuple[str, str]]:
    """``(route level, Orthanc ID)`` pairs, e.g. ``("studies", "a1b2...")``, from what callers pass.

    Accepted: resource objects with ``.id`` and a level (a ``level`` attribute or the class name
    Patient/Study/Series/Instance), ``(level, id)`` pairs, expanded ``/tools/find`` answers (dicts with ``ID``
    and ``Type``), or Orthanc ID strings with ``level=``; one of these or a list of them.
    """
    items = [resources] if _is_single(resources) else list(resources)
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            if level is None:
                raise InvalidInputError(f"an Orthanc ID alone ({item!r}) needs level='study' (or patient...)")
            out.append((_plural(level), item))
        elif isinstance(item, tuple) and len(item) == 2:
            out.append((_plural(str(item[0])), str(item[1])))
        elif isinstance(item, Mapping) and "ID" in item:
            kind = item.get("Type") or level
            if kind is None:
                raise InvalidInputError("a find result without 'Type' needs level='study' (or patient, ...)")
            out.append((_plural(str(kind)), str(item["ID"])))
        elif hasattr(item, "id"):
            kind = getattr(item, "level", None)
            kind = getattr(kind, "value", kind) or level or type(item).__name__
            out.append((_plural(str(kind)), str(item.id)))
        else:
            raise InvalidInputError(f"cannot download a {type(item).__name__}: pass resources or IDs")
    return out


def _is_single(resources: Any) -> bool:
    if isinstance(resources, (str, Mapping)) or hasattr(resources, "id"):
        return True
    # ("study", "a1b2...") is one resource; ("a1b2...", "c3d4...") two IDs (refused later without a level)
    return (
        isinstance(resources, tuple)
        and len(resources) == 2
        and all(isinstance(part, str) for part in resources)
        and resources[0].lower() in _PLURAL
    )


def _plural(level: str) -> str:
    try:
        return _PLURAL[level.lower()]
    except KeyError:
        raise InvalidInputError(f"unknown level {level!r}: patient, study, series or instance") from None


_UNSAFE = re.compile(r"[^A-Za-z0-9._^ -]+")


def safe_name(value: str | None, fallback: str) -> str:
    """A path component from a DICOM value: unsafe characters become ``_``; empty or dots fall back."""
    cleaned = _UNSAFE.sub("_", (value or "").strip()).strip(" .")[:120]
    return cleaned or fallback


def nested_layout(info: InstanceInfo) -> str:
    """``PatientID/StudyInstanceUID/SeriesInstanceUID/SOPInstanceUID.dcm`` (unique and stable)."""
    tags = info.tags
    return "/".join(
        (
            safe_name(tags.get("PatientID"), info.patient_id or "patient"),
            safe_name(tags.get("StudyInstanceUID"), info.study_id or "study"),
            safe_name(tags.get("SeriesInstanceUID"), info.series_id or "series"),
            safe_name(tags.get("SOPInstanceUID"), info.id) + ".dcm",
        )
    )


def flat_layout(info: InstanceInfo) -> str:
    """``SOPInstanceUID.dcm`` in one folder."""
    return safe_name(info.tags.get("SOPInstanceUID"), info.id) + ".dcm"


def _layout_function(layout: Layout) -> Callable[[InstanceInfo], str]:
    if layout == "nested":
        return nested_layout
    if layout == "flat":
        return flat_layout
    if callable(layout):
        user = layout
        return lambda info: os.fspath(user(info))
    raise InvalidInputError(f"layout must be 'nested', 'flat' or a function, not {layout!r}")


def _relative_paths(instances: list[InstanceInfo], layout: Layout) -> list[tuple[InstanceInfo, str]]:
    """Each instance's relative path; a path two instances would share gets the Orthanc ID appended."""
    function = _layout_function(layout)
    seen: set[str] = set()
    out = []
    for info in instances:
        relative = Path(function(info)).as_posix().lstrip("/")
        if not relative or ".." in Path(relative).parts:
            raise InvalidInputError(f"the layout gave {relative!r} for {info.id}: not a relative path")
        if relative in seen:
            stem, dot, suffix = relative.rpartition(".")
            relative = f"{stem}_{info.id[:8]}.{suffix}" if dot else f"{relative}_{info.id[:8]}"
        seen.add(relative)
        out.append((info, relative))
    return out


async def list_instances(
    client: AsyncOrthanc, resources: list[tuple[str, str]], *, with_parents: bool = True
) -> list[InstanceInfo]:
    """The instances under ``resources`` (duplicates removed), with their parents' tags if ``with_parents``.

    A resource that does not exist raises ``NotFoundError`` here, before any file is written.
    """
    raw: dict[str, dict[str, Any]] = {}
    for level, resource_id in resources:
        if level == "instances":
            answer = [await client.request("GET", resource_path("instances", resource_id))]
        else:
            answer = await client.request(
                "GET", resource_path(level, resource_id, "instances"), params={"expand": ""}
            )
        for instance in answer:
            raw.setdefault(instance["ID"], instance)
    series_info: dict[str, dict[str, Any]] = {}
    study_info: dict[str, dict[str, Any]] = {}
    if with_parents:
        series_ids: set[str] = {str(i["ParentSeries"]) for i in raw.values() if i.get("ParentSeries")}
        for series_id in sorted(series_ids):
            series_info[series_id] = await client.request("GET", resource_path("series", series_id))
        study_ids: set[str] = {str(s["ParentStudy"]) for s in series_info.values() if s.get("ParentStudy")}
        for study_id in sorted(study_ids):
            study_info[study_id] = await client.request("GET", resource_path("studies", study_id))
    out = []
    for instance_id, instance in raw.items():
        series = series_info.get(instance.get("ParentSeries", ""), {})
        study = study_info.get(series.get("ParentStudy", ""), {})
        tags: dict[str, str] = {}
        for part in (
            study.get("PatientMainDicomTags"),
            study.get("MainDicomTags"),
            series.get("MainDicomTags"),
            instance.get("MainDicomTags"),
        ):
            tags.update(part or {})
        size = instance.get("FileSize")
        out.append(
            InstanceInfo(
                id=instance_id,
                series_id=instance.get("ParentSeries"),
                study_id=series.get("ParentStudy"),
                patient_id=study.get("ParentPatient"),
                tags=tags,
                size=int(size) if isinstance(size, int) else None,
            )
        )
    return out


async def download(
    client: AsyncOrthanc,
    resources: Any,
    folder: str | os.PathLike[str],
    *,
    layout: Layout = "nested",
    level: str | None = None,
    concurrency: int = DEFAULT_DOWNLOAD_CONCURRENCY,
    stop_on_error: bool = False,
    progress: bool | None = None,
) -> BulkResult:
    """Downloads every instance of ``resources`` into ``folder``, one ``.dcm`` file each, concurrently.

    Example::

        studies = await client.post_tools_find({"Level": "Study", "Query": {"PatientID": "DEMOCT*"}})
        result = await download(client, studies, "out", level="study")   # out/DEMOCT01/<study>/<series>/<sop>.dcm
        result.raise_for_failures()

    Args:
        resources: resources (``.id`` and a level), ``(level, id)`` pairs, expanded find results, or Orthanc
            IDs with ``level=``; one or a list.
        layout: ``"nested"`` (patient/study/series folders, the default), ``"flat"``, or a function of
            :class:`InstanceInfo` returning a relative path.
        concurrency: instances fetched at once. stop_on_error: start no new download after a failure.
        progress: a bar on stderr; ``None`` shows it when stderr is a terminal.

    Returns:
        a :class:`BulkResult` (``stored``: files written). Each file is written as ``<name>.part`` and
        renamed when complete, so a failure never leaves a truncated file under the final name. An unknown
        resource raises ``NotFoundError`` before anything is written.
    """
    pairs = resolve_resources(resources, level)
    started = time.perf_counter()
    instances = await list_instances(client, pairs, with_parents=layout != "flat")
    root = Path(os.fspath(folder))
    result = BulkResult("download")
    planned = _relative_paths(instances, layout)
    origin = client._direct_origin()  # the fast path (``_bulk.fast_files``), when the client allows it

    # One retry window for the batch: once an instance has spent the client's whole retry budget on a server
    # that is unreachable, every remaining one fails at once with that cause (seconds, not minutes per file).
    breaker = BatchBreaker(retry_for=0.0)

    async def fetch(job: tuple[InstanceInfo, str]) -> tuple[Outcome, BulkItem]:
        info, relative = job
        target = root / relative
        cause = breaker.open_cause()
        if cause is not None:
            item = BulkItem.from_error(relative, cause, path=target, attempts=0)
            item.instance_id, item.reason = info.id, not_attempted_reason(cause)
            return "failed", item
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if origin is not None:
                written = await backend.run_in_worker(None, functools.partial(fetch_file, origin, info.id), target)
                if written is not None:
                    return "stored", BulkItem(relative, path=target, instance_id=info.id, size=written)
            async with client.stream_get_instances_id_file(info.id) as answer:
                written = await answer.write_to(target)
        except Exception as exc:
            if means_server_down(exc):
                breaker.trip(exc)
            raise
        return "stored", BulkItem(relative, path=target, instance_id=info.id, size=written)

    def until_stopped() -> Iterable[tuple[InstanceInfo, str]]:
        for job in planned:
            if result.stopped_early:
                return
            yield job

    with contextlib.ExitStack() as cleanup, BulkProgress(progress, "download", len(planned)) as bar:
        if origin is not None:
            cleanup.callback(origin.close)
        results = backend.map_unordered(fetch, until_stopped(), concurrency)
        async with contextlib.aclosing(results):  # type: ignore[type-var]  # stops the generator early
            async for (info, relative), outcome in results:
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, Exception):
                        raise outcome
                    result.add("failed", BulkItem.from_error(relative, outcome, path=root / relative))
                    result.failed[-1].instance_id = info.id
                    result.stopped_early = result.stopped_early or stop_on_error
                    bar.advance()
                else:
                    result.add(*outcome)
                    result.stopped_early = result.stopped_early or (stop_on_error and outcome[0] == "failed")
                    bar.advance(nbytes=outcome[1].size)
    result.elapsed = time.perf_counter() - started
    return result


async def download_files(
    client: AsyncOrthanc, resources: Any, folder: str | os.PathLike[str], **options: Any
) -> BulkResult:
    """Like :func:`download`, but raises ``BulkError`` if any instance failed (for ``.download_files``).

    Example::

        await download_files(client, [study], "out", layout="flat")
    """
    result = await download(client, resources, folder, **options)
    result.raise_for_failures()
    return result


async def download_zip(
    client: AsyncOrthanc,
    resources: Any,
    path: str | os.PathLike[str],
    *,
    mode: ZipMode = "client",
    layout: Layout = "nested",
    level: str | None = None,
    concurrency: int = DEFAULT_DOWNLOAD_CONCURRENCY,
    progress: bool | None = None,
) -> BulkResult:
    """Writes ``resources`` as one zip file at ``path``, with bounded memory whatever their size.

    Example::

        await download_zip(client, [study], "study.zip")                  # assembled here, concurrently
        await download_zip(client, [study], "study.zip", mode="server")   # Orthanc's own archive
        await download_zip(client, [study], "media.zip", mode="media")    # with a DICOMDIR

    Args:
        mode: ``"client"`` fetches instances concurrently and stores them uncompressed (``ZIP_STORED``: DICOM
            barely compresses) in the archive; ``"server"`` streams Orthanc's ``/tools/create-archive``
            (patient/study/series folders named by Orthanc), ``"media"`` its DICOMDIR media.
        layout: the archive's folder layout in ``"client"`` mode, as for :func:`download`.

    Raises:
        NotFoundError: an unknown resource.
        BulkError: an instance could not be fetched. The zip is written to ``<path>.part`` and renamed
            only when complete, so no partial archive is left.
    """
    pairs = resolve_resources(resources, level)
    target = Path(os.fspath(path))
    started = time.perf_counter()
    if mode in ("server", "media"):
        body = {"Resources": [resource_id for _, resource_id in pairs], "Synchronous": True}
        for level_name, resource_id in pairs:  # a clear NotFoundError rather than Orthanc's generic 400/404
            await client.request("GET", resource_path(level_name, resource_id))
        stream = (
            client.stream_post_tools_create_archive(body)
            if mode == "server"
            else client.stream_post_tools_create_media(body)
        )
        async with stream as answer:
            written = await answer.write_to(target)
        result = BulkResult("download", stored=[BulkItem(target.name, path=target, size=written)])
        result.elapsed = time.perf_counter() - started
        return result
    if mode != "client":
        raise InvalidInputError(f"mode must be 'client', 'server' or 'media', not {mode!r}")

    instances = await list_instances(client, pairs, with_parents=layout != "flat")
    planned = _relative_paths(instances, layout)
    result = BulkResult("download")

    async def fetch(job: tuple[InstanceInfo, str]) -> _Spool:
        spool = _Spool()
        try:
            async with client.stream_get_instances_id_file(job[0].id) as answer:
                async for chunk in answer.aiter_bytes():  # as received: no re-chunking copies
                    spool.write(chunk)
            return spool
        except BaseException:
            spool.close()
            raise

    partial = target.with_name(target.name + ".part")
    try:
        with (
            BulkProgress(progress, "zip", len(planned)) as bar,
            zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
        ):
            results = backend.map_unordered(fetch, planned, concurrency)
            async with contextlib.aclosing(results):  # type: ignore[type-var]  # stops the generator early
                async for (info, relative), outcome in results:
                    if isinstance(outcome, BaseException):
                        result.add("failed", BulkItem.from_error(relative, outcome))
                        raise BulkError(result) from outcome
                    with outcome as spool:
                        force_zip64 = spool.size > ZIP64_THRESHOLD
                        with archive.open(relative, "w", force_zip64=force_zip64) as entry:
                            spool.copy_to(entry)
                    item = BulkItem(relative, path=target, instance_id=info.id, size=spool.size)
                    result.add("stored", item)
                    bar.advance(nbytes=spool.size)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    result.elapsed = time.perf_counter() - started
    return result


class _Spool:
    """One instance's bytes waiting for their turn in the zip: the chunks as received (kept, not copied) up
    to ``SPOOL_SIZE``, then a temporary file, so memory stays bounded whatever the instance's size."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.file: IO[bytes] | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.file is None and self.size > SPOOL_SIZE:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            self.file.writelines(self.chunks)
            self.chunks = []
        if self.file is not None:
            self.file.write(chunk)
        else:
            self.chunks.append(chunk)

    def copy_to(self, target: IO[bytes]) -> None:
        if self.file is None:
            target.writelines(self.chunks)
        else:
            self.file.seek(0)
            shutil.copyfileobj(self.file, target, CHUNK_SIZE)

    def close(self) -> None:
        self.chunks = []
        if self.file is not None:
            self.file.close()

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
