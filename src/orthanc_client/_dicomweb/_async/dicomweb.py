"""``client.dicomweb``: QIDO-RS, WADO-RS, WADO-URI and STOW-RS, plus Orthanc's own DICOMweb client routes.

Method names and arguments follow dicomweb-client's (``search_for_studies``, ``retrieve_study``,
``store_instances``...), so that habits carry over; results are ``pydicom.Dataset``s. Every request goes
through the owning client: the same connection pool, credentials, retries, timeouts and typed errors.
WADO-RS answers are parsed as they stream in (``iter_study``, ``save_study``), never held whole.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ..._bulk._async.download import InstanceInfo, Layout, _layout_function
from ..._bulk.progress import BulkProgress
from ..._bulk.results import BulkItem, BulkResult
from ..._core import async_backend as backend
from ..._core.errors import (
    HTTPError,
    InvalidInputError,
    NotFoundError,
    OrthancError,
    RedirectError,
    UnexpectedAnswerError,
)
from ..._core.prepare import PreparedRequest, custom_operation
from ..._core.redact import redact_location
from ..._core.settings import CHUNK_SIZE
from ..._core.timeouts import call_timeout
from ..._core.types import NOT_GIVEN, NotGiven, TimeoutTypes
from ..._dicom.header_scan import FLAT_LAYOUT_LAST_TAG, LAST_LAYOUT_TAG
from ..._jobs._async.jobs import Job
from ..._network.bodies import ResourceRef, orthanc_ids
from ..._resources.search_cache import SearchCache
from ..dicom_json import dataset_from_json
from ..direct import read_datasets, save_parts
from ..files import PartFiles
from ..multipart import (
    ChunksReader,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    closing,
    new_boundary,
    part_head,
)
from ..query import (
    DICOM,
    DICOM_JSON,
    DicomWebError,
    DicomWebNotEnabledError,
    MultipartError,
    check_uid,
    dicom_accept,
    encode_pairs,
    frame_list,
    frames_accept,
    multipart_boundary,
    qido_pairs,
    resource_path,
    standard_json,
)
from ..stow import HEAD_SIZE, StowStatus, parse_stow_answer, sop_instance_uid

if TYPE_CHECKING:
    from pydicom import Dataset

    from ..._client._async.client import AsyncOrthanc

DEFAULT_PAGE_SIZE = 100
DEFAULT_BATCH_SIZE = 50
DEFAULT_BATCH_BYTES = 32 << 20
DEFAULT_STOW_CONCURRENCY = 2
StowInput = Any
"""A ``pydicom.Dataset``, a path (file or folder), DICOM bytes, or an iterable of these."""


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:  # pragma: no cover - pydicom is in the dicom extra
        raise InvalidInputError("DICOMweb results are pydicom Datasets: pip install pydicom") from None
    return pydicom


def _dataset_from_json(item: Any) -> Dataset:
    """A QIDO or metadata answer item as a Dataset; bulk data stays on the server, its URIs are kept in
    ``dataset.bulk_data_uris`` (``{tag: uri}``) for ``retrieve_bulkdata``."""
    _pydicom()
    dataset: Dataset = dataset_from_json(item)
    return dataset


def _dataset_from_part(chunks: list[bytes]) -> Dataset:
    dataset: Dataset = _pydicom().dcmread(ChunksReader(chunks))
    return dataset


@dataclass
class _StowFile:
    """One instance to send: a file streamed from disk, or bytes already in memory."""

    name: str
    uid: str
    size: int
    path: Path | None = None
    data: bytes | None = None

    def chunks(self) -> Iterable[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with open(self.path, "rb") as file:
            while chunk := file.read(CHUNK_SIZE):
                yield chunk


class AsyncDicomWeb:
    """The DICOMweb services of a server, reached through an ``AsyncOrthanc`` client (``client.dicomweb``).

    ``root`` is the DICOMweb prefix relative to the client's URL (``"dicom-web"`` for Orthanc's plugin); for
    another DICOMweb server, make a client for it and use ``AsyncDicomWeb(client, root="")`` (or the prefix
    its URLs need). ``wado_root`` is WADO-URI's (``"wado"`` for Orthanc). ``cache_ttl`` keeps identical
    searches for that many seconds (``None``: no cache), or pass a ``SearchCache`` shared with ``find_*``.

    Example::

        from orthanc_client.aio import AsyncOrthanc

        async with AsyncOrthanc() as client:
            studies = await client.dicomweb.search_for_studies(search_filters={"PatientName": "Demo^*"})
            for study in studies:
                result = await client.dicomweb.save_study(study.StudyInstanceUID, "out/")
    """

    def __init__(
        self,
        client: AsyncOrthanc,
        root: str = "dicom-web",
        *,
        wado_root: str = "wado",
        cache_ttl: float | None = None,
        cache: SearchCache | None = None,
    ) -> None:
        for name, value in (("root", root), ("wado_root", wado_root)):
            if "://" in value or ".." in value.split("/") or "?" in value or "#" in value:
                raise InvalidInputError(
                    f"{name} must be a path below the client's URL, got {value!r}; for another server, make a "
                    "client for it and pass root='' (or its DICOMweb prefix)"
                )
        self.client = client
        self.root = root.strip("/")
        self.wado_root = wado_root.strip("/")
        if cache is None and cache_ttl is not None:
            cache = SearchCache(cache_ttl)
        self.cache = cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client={self.client!r}, root={self.root!r})"

    # ------------------------------------------------------------------ plumbing

    def _url(self, path: str, pairs: Sequence[tuple[str, str]] = (), *, root: str | None = None) -> str:
        base = self.root if root is None else root
        url = "/".join(part for part in (base, path) if part)
        return url + ("?" + encode_pairs(pairs) if pairs else "")

    def _prepared(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        body: Callable[[], Any] | None = None,
        replayable: bool = True,
    ) -> PreparedRequest:
        operation = custom_operation(method, "/" + url.partition("?")[0], binary=True)
        return PreparedRequest(
            method=method,
            url=url,
            params=[],
            headers={"Accept-Encoding": "identity", **headers},
            body=body or (lambda: None),
            idempotent=method in ("GET", "PUT", "DELETE"),
            replayable=replayable,
            operation=operation,
        )

    async def _send(
        self, prepared: PreparedRequest, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, *, stream: bool = False
    ) -> httpx.Response:
        """Sends; returns a 2xx answer checked to be neither a redirect nor an HTML page."""
        try:
            response = await self.client._send(
                prepared, call_timeout(timeout, self.client._settings), stream=stream
            )
        except NotFoundError as error:
            await self._raise_if_not_enabled(error)
            raise
        except (RedirectError, UnexpectedAnswerError) as error:
            # the client's own checks (a redirect, an HTML page): named as what they are here
            raise DicomWebError(f"{error}: not a DICOMweb answer") from error
        if 300 <= response.status_code < 400 or "text/html" in response.headers.get("content-type", "").lower():
            try:
                await response.aread()
            except httpx.TransportError:
                pass  # the status and headers say all there is to say
            finally:
                await response.aclose()
            if 300 <= response.status_code < 400:
                location = redact_location(response.headers.get("location", "?"))
                raise DicomWebError(
                    f"{response.status_code} redirect from {prepared.describe()} to {location}: not followed "
                    "(the credentials would go along); configure the final URL"
                )
            raise DicomWebError(
                f"{prepared.describe()} answered an HTML page (a login page or a proxy?), not DICOMweb"
            )
        return response

    async def _raise_if_not_enabled(self, error: NotFoundError) -> None:
        """A 404 "Unknown resource" (OrthancStatus 17) on a DICOMweb route of an Orthanc that does not list
        the plugin means the plugin is missing, not the resource."""
        if error.orthanc_status != 17:
            return
        try:
            plugins = await self.client.request("GET", "/plugins")
        except OrthancError:
            return
        if isinstance(plugins, list) and "dicom-web" not in plugins:
            raise DicomWebNotEnabledError(
                f"{error.method} {error.url}: the DICOMweb plugin is not enabled on this Orthanc (its plugins: "
                f"{', '.join(map(str, plugins)) or 'none'}); load libOrthancDicomWeb and set "
                '"DicomWeb": {"Enable": true}'
            ) from None

    async def _get_json(self, url: str, *, cache: bool = False) -> Any:
        search_cache = self.cache if cache else None
        key = f"{self.client.url} {url}"
        if search_cache is not None:
            hit = search_cache.get(key)
            if hit is not None:
                return hit
        response = await self._send(self._prepared("GET", url, {"Accept": DICOM_JSON}))
        try:
            answer = json.loads(response.content) if response.content.strip() else []
        except ValueError:
            raise DicomWebError(
                f"GET /{url} answered {response.headers.get('content-type') or 'no content type'}, not DICOM JSON"
            ) from None
        if search_cache is not None:
            search_cache.put(key, answer)
        return answer

    def clear_cache(self) -> None:
        """Forgets every cached search."""
        if self.cache is not None:
            self.cache.clear()

    async def _iter_events(
        self, url: str, accept: str, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> AsyncIterator[PartStart | PartData | PartEnd]:
        """The parts of a multipart answer as parser events, as the bytes arrive."""
        response = await self._send(self._prepared("GET", url, {"Accept": accept}), timeout, stream=True)
        try:
            parser = MultipartParser(multipart_boundary(response.headers.get("content-type", "")))
            try:
                async for chunk in response.aiter_bytes():
                    for event in parser.feed(chunk):
                        yield event
            except httpx.TransportError as error:
                raise MultipartError(
                    f"the multipart answer of {url.partition('?')[0]} was cut after {parser.received} bytes: {error}"
                ) from None
            except httpx.DecodingError as error:  # a false Content-Encoding
                encoding = response.headers.get("content-encoding")
                raise DicomWebError(
                    f"the multipart answer of {url.partition('?')[0]} does not decode as {encoding!r}: {error}"
                ) from None
            parser.close()
        finally:
            await response.aclose()

    async def _iter_parts(
        self, url: str, accept: str, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> AsyncIterator[tuple[PartStart, bytes]]:
        """Each part whole, as soon as it is complete."""
        async for start, pieces in self._iter_chunked_parts(url, accept, timeout):
            yield start, pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def _iter_chunked_parts(
        self, url: str, accept: str, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> AsyncIterator[tuple[PartStart, list[bytes]]]:
        """Each part as the chunks it arrived in, as soon as it is complete."""
        start = PartStart()
        pieces: list[bytes] = []
        async for event in self._iter_events(url, accept, timeout):
            if isinstance(event, PartData):
                pieces.append(event.data)
            elif isinstance(event, PartStart):
                start, pieces = event, []
            else:
                yield start, pieces
                pieces = []

    # ------------------------------------------------------------------ QIDO-RS

    async def _search(
        self,
        path: str,
        search_filters: Mapping[str, Any] | None,
        fields: Sequence[str] | None,
        limit: int | None,
        offset: int | None,
        fuzzymatching: bool | None,
        get_remaining: bool,
    ) -> list[Dataset]:
        if get_remaining:
            found: list[Dataset] = []
            async for dataset in self._iter_search(
                path, search_filters, fields, fuzzymatching, limit or DEFAULT_PAGE_SIZE, offset or 0
            ):
                found.append(dataset)
            return found
        pairs = qido_pairs(search_filters, fields=fields, limit=limit, offset=offset, fuzzymatching=fuzzymatching)
        answer = await self._get_json(self._url(path, pairs), cache=True)
        return [_dataset_from_json(item) for item in answer]

    async def _iter_search(
        self,
        path: str,
        search_filters: Mapping[str, Any] | None,
        fields: Sequence[str] | None,
        fuzzymatching: bool | None,
        page_size: int,
        offset: int = 0,
    ) -> AsyncIterator[Dataset]:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidInputError(f"page_size must be a positive integer, got {page_size!r}")
        while True:
            pairs = qido_pairs(
                search_filters, fields=fields, limit=page_size, offset=offset, fuzzymatching=fuzzymatching
            )
            page = await self._get_json(self._url(path, pairs), cache=True)
            for item in page:
                yield _dataset_from_json(item)
            if len(page) < page_size:
                return
            offset += len(page)

    async def search_for_studies(
        self,
        fuzzymatching: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
        fields: Sequence[str] | None = None,
        search_filters: Mapping[str, Any] | None = None,
        get_remaining: bool = False,
    ) -> list[Dataset]:
        """QIDO-RS ``GET /studies``: the matching studies as Datasets.

        ``search_filters`` takes DICOM keywords (or tags) to values: strings with wildcards (``"DOE*"``),
        ``datetime.date``/``datetime`` values, ``(start, end)`` ranges (``None`` for an open end), lists for
        "any of". ``fields`` adds attributes to the answer (``["all"]`` for every one). ``get_remaining``
        pages through every result (``limit`` is then the page size).

        Example::

            studies = await client.dicomweb.search_for_studies(
                search_filters={"PatientID": "DEMO*", "StudyDate": (date(2024, 1, 1), None)}, fields=["ModalitiesInStudy"]
            )
        """
        return await self._search("studies", search_filters, fields, limit, offset, fuzzymatching, get_remaining)

    async def search_for_series(
        self,
        study_instance_uid: str | None = None,
        fuzzymatching: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
        fields: Sequence[str] | None = None,
        search_filters: Mapping[str, Any] | None = None,
        get_remaining: bool = False,
    ) -> list[Dataset]:
        """QIDO-RS ``GET [/studies/{uid}]/series`` (see ``search_for_studies``).

        Example::

            series = await client.dicomweb.search_for_series(study.uid, search_filters={"Modality": "CT"})
        """
        path = resource_path(study_instance_uid) + ("/series" if study_instance_uid else "series")
        return await self._search(path, search_filters, fields, limit, offset, fuzzymatching, get_remaining)

    async def search_for_instances(
        self,
        study_instance_uid: str | None = None,
        series_instance_uid: str | None = None,
        fuzzymatching: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
        fields: Sequence[str] | None = None,
        search_filters: Mapping[str, Any] | None = None,
        get_remaining: bool = False,
    ) -> list[Dataset]:
        """QIDO-RS ``GET [/studies/{uid}[/series/{uid}]]/instances`` (see ``search_for_studies``).

        Example::

            instances = await client.dicomweb.search_for_instances(study.uid, series.uid)
        """
        path = self._instances_path(study_instance_uid, series_instance_uid)
        return await self._search(path, search_filters, fields, limit, offset, fuzzymatching, get_remaining)

    @staticmethod
    def _instances_path(study_instance_uid: str | None, series_instance_uid: str | None) -> str:
        if series_instance_uid is not None and study_instance_uid is None:
            raise InvalidInputError("searching the instances of a series needs its study_instance_uid too")
        prefix = resource_path(study_instance_uid, series_instance_uid)
        return f"{prefix}/instances" if prefix else "instances"

    def iter_search_for_studies(
        self,
        search_filters: Mapping[str, Any] | None = None,
        *,
        fields: Sequence[str] | None = None,
        fuzzymatching: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Dataset]:
        """Every matching study, fetched ``page_size`` at a time (``limit``/``offset``) as you iterate.

        Example::

            async for study in client.dicomweb.iter_search_for_studies({"StudyDate": (date(2024, 1, 1), None)}):
                print(study.StudyInstanceUID)
        """
        return self._iter_search("studies", search_filters, fields, fuzzymatching, page_size)

    def iter_search_for_series(
        self,
        study_instance_uid: str | None = None,
        search_filters: Mapping[str, Any] | None = None,
        *,
        fields: Sequence[str] | None = None,
        fuzzymatching: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Dataset]:
        """Every matching series, page by page (see ``iter_search_for_studies``)."""
        path = resource_path(study_instance_uid) + ("/series" if study_instance_uid else "series")
        return self._iter_search(path, search_filters, fields, fuzzymatching, page_size)

    def iter_search_for_instances(
        self,
        study_instance_uid: str | None = None,
        series_instance_uid: str | None = None,
        search_filters: Mapping[str, Any] | None = None,
        *,
        fields: Sequence[str] | None = None,
        fuzzymatching: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Dataset]:
        """Every matching instance, page by page (see ``iter_search_for_studies``)."""
        path = self._instances_path(study_instance_uid, series_instance_uid)
        return self._iter_search(path, search_filters, fields, fuzzymatching, page_size)

    # ------------------------------------------------------------------ WADO-RS: instances

    def iter_study(self, study_instance_uid: str, *, transfer_syntax: str | None = "*") -> AsyncIterator[Dataset]:
        """The study's instances as Datasets, each as soon as it has arrived (one in memory at a time).

        Example::

            async for dataset in client.dicomweb.iter_study(study.uid):
                print(dataset.SOPInstanceUID, dataset.pixel_array.shape)
        """
        return self._iter_datasets(resource_path(check_uid(study_instance_uid, "study_instance_uid")), transfer_syntax)

    def iter_series(
        self, study_instance_uid: str, series_instance_uid: str, *, transfer_syntax: str | None = "*"
    ) -> AsyncIterator[Dataset]:
        """The series' instances as Datasets, as they arrive (see ``iter_study``)."""
        return self._iter_datasets(
            resource_path(check_uid(study_instance_uid, "study_instance_uid"), series_instance_uid), transfer_syntax
        )

    async def _iter_datasets(self, path: str, transfer_syntax: str | None) -> AsyncIterator[Dataset]:
        accept = dicom_accept(transfer_syntax)
        async for _, pieces in self._iter_chunked_parts(self._url(path), accept):
            yield _dataset_from_part(pieces)

    async def retrieve_study(self, study_instance_uid: str, *, transfer_syntax: str | None = "*") -> list[Dataset]:
        """WADO-RS: every instance of the study as a Dataset (``transfer_syntax="*"``: as stored; or a UID to
        have the server transcode). For large studies prefer ``iter_study`` or ``save_study``.

        Example::

            datasets = await client.dicomweb.retrieve_study(study.uid)
        """
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"))
        return await self._retrieve_datasets(path, transfer_syntax)

    async def _retrieve_datasets(self, path: str, transfer_syntax: str | None) -> list[Dataset]:
        """Every part as a Dataset, read by a thread while the next parts arrive: receiving waits on the
        server, reading is pydicom's CPU, and the two overlap (about 30% faster on 200 x 512 KB). Over the
        bulk path when the client allows it (``_dicomweb.direct``), else through the client."""
        url, accept = self._url(path), dicom_accept(transfer_syntax)
        origin = self.client._direct_origin()
        if origin is not None:
            try:
                datasets = await backend.run_in_worker(
                    None, functools.partial(read_datasets, origin, url, accept), _pydicom().dcmread
                )
            finally:
                origin.close()
            if datasets is not None:
                return datasets
        with ThreadPoolExecutor(1, thread_name_prefix="orthanc-client-read") as reader:
            futures = [
                reader.submit(_dataset_from_part, pieces)
                async for _, pieces in self._iter_chunked_parts(url, accept)
            ]
            return [future.result() for future in futures]

    async def retrieve_series(
        self, study_instance_uid: str, series_instance_uid: str, *, transfer_syntax: str | None = "*"
    ) -> list[Dataset]:
        """WADO-RS: every instance of the series as a Dataset (see ``retrieve_study``)."""
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"), series_instance_uid)
        return await self._retrieve_datasets(path, transfer_syntax)

    async def retrieve_instance(
        self,
        study_instance_uid: str,
        series_instance_uid: str,
        sop_instance_uid: str,
        *,
        transfer_syntax: str | None = "*",
    ) -> Dataset:
        """WADO-RS: one instance as a Dataset.

        Example::

            dataset = await client.dicomweb.retrieve_instance(study.uid, series.uid, instance.uid)
        """
        path = self._instance_path(study_instance_uid, series_instance_uid, sop_instance_uid)
        found = [dataset async for dataset in self._iter_datasets(path, transfer_syntax)]
        if len(found) != 1:
            raise DicomWebError(f"WADO-RS of instance {sop_instance_uid} answered {len(found)} parts, not 1")
        return found[0]

    @staticmethod
    def _instance_path(study_instance_uid: str, series_instance_uid: str, sop_instance_uid: str) -> str:
        check_uid(study_instance_uid, "study_instance_uid")
        check_uid(series_instance_uid, "series_instance_uid")
        return resource_path(study_instance_uid, series_instance_uid, sop_instance_uid)

    # ------------------------------------------------------------------ WADO-RS: to disk

    async def save_study(
        self,
        study_instance_uid: str,
        folder: str | os.PathLike[str],
        *,
        layout: Layout = "nested",
        transfer_syntax: str | None = "*",
        progress: bool | None = None,
    ) -> BulkResult:
        """Writes the study's instances to ``folder`` as they stream in (bounded memory), one ``.dcm`` per
        instance, named by ``layout`` as ``download`` names them (``"nested"``, ``"flat"`` or a function of an
        ``InstanceInfo``); returns a ``BulkResult`` (``stored``, ``failed``).

        Each file is written to a ``.part`` file and renamed when complete: if the stream is cut, the files
        already complete stay, the partial one is removed, and ``MultipartError`` (with ``.result``) is raised.

        Example::

            result = await client.dicomweb.save_study(study.uid, "out/", layout="flat")
            print(result)  # "download: 20 stored, 0 already stored, 0 skipped, 0 failed; 0.2 MB in 0.05 s"
        """
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"))
        return await self._save(path, folder, layout, transfer_syntax, progress)

    async def save_series(
        self,
        study_instance_uid: str,
        series_instance_uid: str,
        folder: str | os.PathLike[str],
        *,
        layout: Layout = "nested",
        transfer_syntax: str | None = "*",
        progress: bool | None = None,
    ) -> BulkResult:
        """Writes the series' instances to ``folder`` as they stream in (see ``save_study``)."""
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"), series_instance_uid)
        return await self._save(path, folder, layout, transfer_syntax, progress)

    async def _save(
        self,
        path: str,
        folder: str | os.PathLike[str],
        layout: Layout,
        transfer_syntax: str | None,
        progress: bool | None,
    ) -> BulkResult:
        name_of = _layout_function(layout)
        result = BulkResult("download")
        started = time.perf_counter()
        target = Path(os.fspath(folder))
        url, accept = self._url(path), dicom_accept(transfer_syntax)
        origin = self.client._direct_origin()
        # The bulk path's reader writes each piece itself; httpx's hands them to a writer thread (files.py).
        last_tag = FLAT_LAYOUT_LAST_TAG if layout == "flat" else LAST_LAYOUT_TAG
        files = PartFiles(target, name_of, _instance_info, write_in_thread=origin is None, last_tag=last_tag)
        try:
            with BulkProgress(progress, "save") as bar:
                done = False
                if origin is not None:
                    try:
                        advance = functools.partial(bar.advance, 1)
                        save = functools.partial(save_parts, origin, url, accept, advance=advance)
                        done = await backend.run_in_worker(None, save, files)
                    finally:
                        origin.close()
                    if not done:
                        files = PartFiles(target, name_of, _instance_info, last_tag=last_tag)
                if not done:
                    await self._save_events(url, accept, files, bar)
            items = files.finish()
        except BaseException as error:
            for item in files.abort():
                result.add("stored" if item.reason is None else "failed", item)
            result.elapsed = time.perf_counter() - started
            if isinstance(error, MultipartError):
                error.result = result
            raise
        for item in items:
            result.add("stored" if item.reason is None else "failed", item)
        result.elapsed = time.perf_counter() - started
        return result

    async def _save_events(self, url: str, accept: str, files: PartFiles, bar: BulkProgress) -> None:
        size = 0
        async for event in self._iter_events(url, accept):
            if isinstance(event, PartData):
                files.data(event.data)
                size += len(event.data)
            elif isinstance(event, PartStart):
                files.start()
                size = 0
            else:
                files.end()
                bar.advance(nbytes=size)

    # ------------------------------------------------------------------ WADO-RS: metadata, frames, bulk data

    async def retrieve_study_metadata(self, study_instance_uid: str) -> list[Dataset]:
        """WADO-RS metadata of every instance of the study (no pixel data; bulk data URIs in
        ``dataset.bulk_data_uris``).

        Example::

            for dataset in await client.dicomweb.retrieve_study_metadata(study.uid):
                print(dataset.SOPInstanceUID, dataset.Rows)
        """
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"))
        return [_dataset_from_json(item) for item in await self._get_json(self._url(path + "/metadata"))]

    async def retrieve_series_metadata(self, study_instance_uid: str, series_instance_uid: str) -> list[Dataset]:
        """WADO-RS metadata of every instance of the series (see ``retrieve_study_metadata``)."""
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"), series_instance_uid)
        return [_dataset_from_json(item) for item in await self._get_json(self._url(path + "/metadata"))]

    async def retrieve_instance_metadata(
        self, study_instance_uid: str, series_instance_uid: str, sop_instance_uid: str
    ) -> Dataset:
        """WADO-RS metadata of one instance (see ``retrieve_study_metadata``)."""
        path = self._instance_path(study_instance_uid, series_instance_uid, sop_instance_uid)
        answer = await self._get_json(self._url(path + "/metadata"))
        if not isinstance(answer, list) or len(answer) != 1:
            raise DicomWebError(f"the metadata of instance {sop_instance_uid} is not one dataset")
        return _dataset_from_json(answer[0])

    async def retrieve_instance_frames(
        self,
        study_instance_uid: str,
        series_instance_uid: str,
        sop_instance_uid: str,
        frame_numbers: Sequence[int] | int,
        media_types: Sequence[str | tuple[str, str]] | None = None,
    ) -> list[bytes]:
        """WADO-RS frames (numbers from 1), each as the bytes the server sent (uncompressed pixels by
        default; ``media_types=(("image/jp2", "1.2.840.10008.1.2.4.90"),)`` asks for another encoding).

        Example::

            [frame] = await client.dicomweb.retrieve_instance_frames(study.uid, series.uid, instance.uid, [1])
        """
        path = self._instance_path(study_instance_uid, series_instance_uid, sop_instance_uid)
        url = self._url(f"{path}/frames/{frame_list(frame_numbers)}")
        return [content async for _, content in self._iter_parts(url, frames_accept(media_types))]

    async def retrieve_bulkdata(
        self, url: str, media_types: Sequence[str | tuple[str, str]] | None = None
    ) -> list[bytes]:
        """The parts of a bulk data URI (from ``dataset.bulk_data_uris``) of this server.

        Only URIs under this client's DICOMweb root are fetched: the credentials never go to another host.

        Example::

            meta = await client.dicomweb.retrieve_instance_metadata(study.uid, series.uid, instance.uid)
            uri = meta.bulk_data_uris.get("7FE00010")   # Orthanc inlines small values: then a path of the bulk route
            path = uri or f"/dicom-web/studies/{study.uid}/series/{series.uid}/instances/{instance.uid}/bulk/7fe00010"
            [pixels] = await client.dicomweb.retrieve_bulkdata(path)
        """
        return [content async for _, content in self._iter_parts(self._bulk_url(url), frames_accept(media_types))]

    def _bulk_url(self, url: str) -> str:
        base = str(self.client.http_client.base_url).rstrip("/") + "/"
        root = base + (self.root + "/" if self.root else "")
        relative: str | None = None
        if url.startswith(root):
            relative = url[len(base) :]
        elif "://" not in url:
            relative = url.lstrip("/")
            prefix = httpx.URL(base).path.lstrip("/")
            if prefix and relative.startswith(prefix):
                relative = relative[len(prefix) :]
        if relative is None or not relative.startswith(self.root) or ".." in relative.split("?")[0].split("/"):
            raise InvalidInputError(f"{url!r} is not a bulk data URI of this DICOMweb server ({root})")
        return relative

    async def retrieve_instance_rendered(
        self,
        study_instance_uid: str,
        series_instance_uid: str,
        sop_instance_uid: str,
        media_types: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> bytes:
        """WADO-RS rendered instance (a JPEG or PNG image, as ``media_types`` asks; ``params`` such as
        ``{"viewport": "128,128"}``).

        Example::

            jpeg = await client.dicomweb.retrieve_instance_rendered(study.uid, series.uid, instance.uid, media_types=["image/jpeg"])
        """
        path = self._instance_path(study_instance_uid, series_instance_uid, sop_instance_uid)
        return await self._rendered(path, media_types, params)

    async def retrieve_series_rendered(
        self,
        study_instance_uid: str,
        series_instance_uid: str,
        media_types: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> bytes:
        """WADO-RS rendered series, where the server has it (see ``retrieve_instance_rendered``)."""
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"), series_instance_uid)
        return await self._rendered(path, media_types, params)

    async def retrieve_study_rendered(
        self, study_instance_uid: str, media_types: Sequence[str] | None = None, params: Mapping[str, Any] | None = None
    ) -> bytes:
        """WADO-RS rendered study, where the server has it (see ``retrieve_instance_rendered``)."""
        path = resource_path(check_uid(study_instance_uid, "study_instance_uid"))
        return await self._rendered(path, media_types, params)

    async def _rendered(
        self, path: str, media_types: Sequence[str] | None, params: Mapping[str, Any] | None
    ) -> bytes:
        accept = ", ".join(media_types) if media_types else "image/jpeg"
        pairs = [(str(key), str(value)) for key, value in (params or {}).items()]
        response = await self._send(self._prepared("GET", self._url(f"{path}/rendered", pairs), {"Accept": accept}))
        return response.content

    # ------------------------------------------------------------------ WADO-URI

    async def retrieve_instance_wado_uri(
        self,
        study_instance_uid: str,
        series_instance_uid: str,
        sop_instance_uid: str,
        *,
        content_type: str = DICOM,
        transfer_syntax: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> bytes:
        """WADO-URI (``/wado?requestType=WADO&...``): one object as bytes, a DICOM file by default or an image
        (``content_type="image/jpeg"``).

        Example::

            data = await client.dicomweb.retrieve_instance_wado_uri(study.uid, series.uid, instance.uid)
        """
        pairs = [
            ("requestType", "WADO"),
            ("studyUID", check_uid(study_instance_uid, "study_instance_uid")),
            ("seriesUID", check_uid(series_instance_uid, "series_instance_uid")),
            ("objectUID", check_uid(sop_instance_uid, "sop_instance_uid")),
            ("contentType", content_type),
        ]
        if transfer_syntax is not None:
            pairs.append(("transferSyntax", check_uid(transfer_syntax, "transfer_syntax")))
        pairs += [(str(key), str(value)) for key, value in (params or {}).items()]
        url = self._url("", pairs, root=self.wado_root)
        response = await self._send(self._prepared("GET", url, {"Accept": content_type}))
        return response.content

    # ------------------------------------------------------------------ STOW-RS

    async def store_instances(
        self,
        datasets: StowInput,
        study_instance_uid: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        concurrency: int = DEFAULT_STOW_CONCURRENCY,
        progress: bool | None = None,
    ) -> BulkResult:
        """STOW-RS: stores Datasets, DICOM files (streamed from disk), folders of them or DICOM bytes, in
        requests of at most ``batch_size`` instances / ``batch_bytes`` bytes, ``concurrency`` at a time.

        Returns a ``BulkResult`` with one item per input: ``stored`` (the server's warning, if any, in
        ``reason``), ``skipped`` (not a DICOM file: never sent) or ``failed`` (the server's failure reason). One
        bad instance never hides the others.

        Example::

            await series.download_files("scans")   # some files to store
            result = await client.dicomweb.store_instances(["scans/"])
            for item in result.failed:
                print(item.name, item.reason)
        """
        if study_instance_uid is not None:
            check_uid(study_instance_uid, "study_instance_uid")
        for name, number in (("batch_size", batch_size), ("batch_bytes", batch_bytes), ("concurrency", concurrency)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {number!r}")
        result = BulkResult("upload")
        started = time.perf_counter()
        files = _stow_files(datasets, result)
        batches = _batches(files, batch_size, batch_bytes)
        url = self._url(resource_path(study_instance_uid) if study_instance_uid else "studies")
        with BulkProgress(progress, "STOW", total_files=len(files)) as bar:
            async for batch, outcome in backend.map_unordered(
                lambda batch: self._store_batch(url, batch), batches, concurrency
            ):
                statuses = outcome if isinstance(outcome, dict) else None
                for stow_file in batch:
                    _record(result, stow_file, statuses, outcome if isinstance(outcome, BaseException) else None)
                    bar.advance(nbytes=stow_file.size)
        result.elapsed = time.perf_counter() - started
        return result

    async def _store_batch(self, url: str, batch: list[_StowFile]) -> dict[str, StowStatus]:
        boundary = new_boundary()
        heads = [part_head(boundary, DICOM, stow_file.size) for stow_file in batch]
        tail = closing(boundary)
        length = sum(len(head) + stow_file.size + 2 for head, stow_file in zip(heads, batch, strict=True)) + len(tail)

        def parts() -> Iterable[bytes]:
            for head, stow_file in zip(heads, batch, strict=True):
                yield head
                yield from stow_file.chunks()
                yield b"\r\n"
            yield tail

        headers = {
            "Content-Type": f'multipart/related; type="{DICOM}"; boundary={boundary}',
            "Content-Length": str(length),
            "Accept": DICOM_JSON,
        }
        prepared = self._prepared("POST", url, headers, body=lambda: _body(parts(), is_async=True), replayable=False)
        try:
            response = await self._send(prepared)
        except HTTPError as error:
            # 400/409 answers still say, instance by instance, what was stored and what was not.
            statuses = parse_stow_answer(error.body)
            if statuses:
                return statuses
            raise
        answer = json.loads(response.content) if response.content.strip() else {}
        return parse_stow_answer(answer)

    # ------------------------------------------------------------------ Orthanc's DICOMweb client

    async def list_servers(self) -> dict[str, dict[str, Any]]:
        """The remote DICOMweb servers this Orthanc knows (``GET /dicom-web/servers?expand``), by name, with
        their settings (Orthanc never shows passwords).

        Example::

            print(list(await client.dicomweb.list_servers()))
        """
        answer = await self.client.request("GET", f"/{self.root}/servers", params={"expand": ""})
        if isinstance(answer, list):  # old plugins ignore ?expand
            return {str(name): {} for name in answer}
        return {str(name): dict(settings) for name, settings in answer.items()}

    async def add_server(
        self,
        name: str,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Declares (or changes) the remote DICOMweb server ``name`` (``PUT /dicom-web/servers/{name}``).

        Example::

            await client.dicomweb.add_server("archive", "https://archive.example.org/dicom-web/", username="u", password="p")
            await client.dicomweb.remove_server("archive")
        """
        if not url:
            raise InvalidInputError("a DICOMweb server needs a url")
        body: dict[str, Any] = {"Url": url, **(extra or {})}
        if username is not None:
            body["Username"] = username
        if password is not None:
            body["Password"] = password
        await self.client.request("PUT", f"/{self.root}/servers/{_server_name(name)}", json=body)

    async def remove_server(self, name: str) -> None:
        """Forgets the remote DICOMweb server ``name``."""
        await self.client.request("DELETE", f"/{self.root}/servers/{_server_name(name)}")

    async def send(
        self, server: str, resources: ResourceRef | Iterable[ResourceRef], *, timeout: float | None = None
    ) -> Job:
        """STOW-RS of resources of this Orthanc (Orthanc IDs or resource objects) to the remote DICOMweb
        server ``server``, run by Orthanc as a job; waits for it and returns the finished ``Job``
        (``JobFailedError`` if it failed, ``JobTimeoutError`` after ``timeout`` seconds).

        Example::

            job = await client.dicomweb.send("pacs", instance.id, timeout=60)   # IDs or resources, any level
        """
        body = {"Resources": orthanc_ids(resources), "Synchronous": False}
        created = await self.client.request("POST", f"/{self.root}/servers/{_server_name(server)}/stow", json=body)
        job = Job(str(created["ID"]), self.client)
        return await job.wait(timeout=timeout)

    async def retrieve_from(
        self,
        server: str,
        study_instance_uid: str,
        series_instance_uid: str | None = None,
        sop_instance_uid: str | None = None,
    ) -> Any:
        """Makes this Orthanc pull a study (or series, or instance) from the remote DICOMweb server (WADO-RS
        run by Orthanc); returns Orthanc's answer.

        Example::

            [remote] = await client.dicomweb.remote_search("pacs", "/studies", {"AccessionNumber": "PACS000101"})
            await client.dicomweb.retrieve_from("pacs", remote.StudyInstanceUID)
        """
        resource: dict[str, Any] = {"Study": check_uid(study_instance_uid, "study_instance_uid")}
        if series_instance_uid is not None:
            resource["Series"] = check_uid(series_instance_uid, "series_instance_uid")
            if sop_instance_uid is not None:
                resource["Instance"] = check_uid(sop_instance_uid, "sop_instance_uid")
        elif sop_instance_uid is not None:
            raise InvalidInputError("an instance needs its series_instance_uid too")
        return await self.client.request(
            "POST", f"/{self.root}/servers/{_server_name(server)}/retrieve", json={"Resources": [resource]}
        )

    async def remote_search(
        self, server: str, uri: str = "/studies", search_filters: Mapping[str, Any] | None = None
    ) -> list[Dataset]:
        """QIDO-RS on the remote DICOMweb server, proxied by this Orthanc (``/dicom-web/servers/{name}/qido``).

        Example::

            studies = await client.dicomweb.remote_search("pacs", "/studies", {"PatientID": "PACS*"})
        """
        arguments = dict(qido_pairs(search_filters))
        answer = await self.client.request(
            "POST",
            f"/{self.root}/servers/{_server_name(server)}/qido",
            json={"Uri": _remote_uri(uri), "Arguments": arguments},
        )
        return [_dataset_from_json(standard_json(item)) for item in answer or []]

    async def remote_get(self, server: str, uri: str) -> Any:
        """A GET on the remote DICOMweb server, proxied by this Orthanc (``/dicom-web/servers/{name}/get``):
        decoded JSON for a JSON answer (e.g. ``/studies/{uid}/metadata``), else bytes.

        Example::

            [remote] = await client.dicomweb.remote_search("pacs", "/studies", {"AccessionNumber": "PACS000101"})
            metadata = await client.dicomweb.remote_get("pacs", f"/studies/{remote.StudyInstanceUID}/metadata")
        """
        return await self.client.request(
            "POST", f"/{self.root}/servers/{_server_name(server)}/get", json={"Uri": _remote_uri(uri)}
        )


def _server_name(name: str) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in "/?#%\\") or name in (".", ".."):
        raise InvalidInputError(f"invalid DICOMweb server name {name!r}")
    return name


def _remote_uri(uri: str) -> str:
    if not isinstance(uri, str) or not uri.startswith("/") or "://" in uri or ".." in uri.split("/"):
        raise InvalidInputError(f"the remote URI must be a path such as '/studies', got {uri!r}")
    return uri


async def _body(parts: Iterable[bytes], *, is_async: bool) -> AsyncIterator[bytes]:
    for chunk in parts:
        yield chunk


def _record(
    result: BulkResult, stow_file: _StowFile, statuses: dict[str, StowStatus] | None, error: BaseException | None
) -> None:
    path = stow_file.path
    if error is not None:
        result.add("failed", BulkItem.from_error(stow_file.name, error, path=path))
        return
    status = (statuses or {}).get(stow_file.uid)
    if status is None:
        reason = "the server's STOW-RS answer does not mention this instance (not stored)"
        result.add("failed", BulkItem(stow_file.name, path=path, size=stow_file.size, reason=reason))
    elif status.stored:
        result.add("stored", BulkItem(stow_file.name, path=path, size=stow_file.size, reason=status.reason))
    else:
        result.add("failed", BulkItem(stow_file.name, path=path, size=stow_file.size, reason=status.reason))


def _stow_files(datasets: StowInput, result: BulkResult) -> list[_StowFile]:
    """What to send, in order; non-DICOM files go to ``result.skipped`` at once."""
    items = [datasets] if _is_single(datasets) else list(datasets)
    if not items:
        raise InvalidInputError("store_instances: nothing to store")
    files: list[_StowFile] = []
    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            path = Path(os.fspath(item))
            if path.is_dir():
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    _add_path(child, files, result)
            elif path.is_file():
                _add_path(path, files, result)
            else:
                raise InvalidInputError(f"store_instances: {path} does not exist")
        elif isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            uid = sop_instance_uid(data[:HEAD_SIZE])
            name = f"<bytes #{index + 1}>"
            if uid is None:
                result.add("skipped", BulkItem(name, size=len(data), reason="not a DICOM Part 10 file"))
            else:
                files.append(_StowFile(name, uid, len(data), data=data))
        elif hasattr(item, "SOPInstanceUID") and hasattr(item, "save_as"):
            data = _encode_dataset(item)
            files.append(_StowFile(f"<dataset {item.SOPInstanceUID}>", str(item.SOPInstanceUID), len(data), data=data))
        else:
            raise InvalidInputError(
                f"store_instances takes Datasets, paths or DICOM bytes, not {type(item).__name__}"
            )
    return files


def _is_single(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(value, "SOPInstanceUID")


def _add_path(path: Path, files: list[_StowFile], result: BulkResult) -> None:
    with open(path, "rb") as file:
        head = file.read(HEAD_SIZE)
        size = os.fstat(file.fileno()).st_size
    uid = sop_instance_uid(head)
    if uid is None:
        result.add("skipped", BulkItem(str(path), path=path, size=size, reason="not a DICOM Part 10 file"))
    else:
        files.append(_StowFile(str(path), uid, size, path=path))


def _encode_dataset(dataset: Any) -> bytes:
    buffer = io.BytesIO()
    pydicom = _pydicom()
    if int(pydicom.__version__.split(".")[0]) >= 3:
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2
        pydicom.dcmwrite(buffer, dataset, write_like_original=False)
    return buffer.getvalue()


def _batches(files: list[_StowFile], batch_size: int, batch_bytes: int) -> list[list[_StowFile]]:
    batches: list[list[_StowFile]] = []
    current: list[_StowFile] = []
    size = 0
    for stow_file in files:
        if current and (len(current) >= batch_size or size + stow_file.size > batch_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(stow_file)
        size += stow_file.size
    if current:
        batches.append(current)
    return batches


def _instance_info(tags: dict[str, str], size: int) -> InstanceInfo:
    return InstanceInfo(
        id=tags.get("SOPInstanceUID", ""),
        series_id=tags.get("SeriesInstanceUID"),
        study_id=tags.get("StudyInstanceUID"),
        patient_id=tags.get("PatientID"),
        tags=tags,
        size=size,
    )


__all__ = ["AsyncDicomWeb", "DicomWebError", "DicomWebNotEnabledError", "MultipartError"]
