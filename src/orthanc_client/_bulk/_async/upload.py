"""``upload``: send files, folders, zips and data sets to Orthanc, concurrently, accounting for every file."""

from __future__ import annotations

import contextlib
import functools
import io
import random
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from ..._client._async.client import AsyncOrthanc
from ..._core import async_backend as backend
from ..._core.breaker import BatchBreaker, means_server_down, not_attempted_reason
from ..._core.errors import (
    HTTPError,
    InvalidInputError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnexpectedAnswerError,
)
from ..dicom_files import (
    DicomIdentifiers,
    InspectedSource,
    LocalSource,
    inspect_source,
    iter_local_sources,
    read_identifiers,
)
from ..progress import BulkProgress, progress_wanted
from ..results import BulkItem, BulkResult, Outcome

DEFAULT_UPLOAD_CONCURRENCY = 8
"""Requests in flight at once: Orthanc stores in parallel (its HTTP threads), and 8 saturated a 2-core
server in measurements while keeping a busy production server responsive."""
DEFAULT_RETRY_FOR = 60.0
"""Seconds to keep retrying a file after its first dropped connection (covers an Orthanc restart)."""
EXISTENCE_BATCH = 256
"""Files whose Orthanc IDs are computed and looked up with one ``/tools/find`` when skipping existing ones."""
_RETRY_STATUSES = frozenset({502, 503, 504})


async def upload(
    client: AsyncOrthanc,
    source: Any,
    *,
    recursive: bool = True,
    skip_existing: bool = False,
    concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    stop_on_error: bool = False,
    progress: bool | None = None,
    retry_for: float = DEFAULT_RETRY_FOR,
) -> BulkResult:
    """Uploads DICOM to Orthanc and reports what happened to every file.

    Example::

        await series.download_files("scans")   # some files to upload
        result = await upload(client, "scans/", skip_existing=True)
        print(result)                       # counts, bytes, time, instances/s
        for item in result.failed:
            print(item.name, item.reason, item.details)

    Args:
        source: a file, a folder, a zip, a ``pydicom.Dataset``, bytes, or an iterable of these. Files are
            recognised as DICOM by content (``DICM`` magic, or a preamble-less data set pydicom can read,
            also inside ``.gz``), whatever their name; anything else lands in ``result.skipped``.
        recursive: descend into sub-folders.
        skip_existing: compute each instance's Orthanc ID from its header (not its pixels) and send only
            what the server lacks (one ``/tools/find`` per batch). Otherwise Orthanc's ``AlreadyStored``
            answer puts the file in ``result.already_stored``.
        concurrency: files in flight at once, each read and posted by a worker thread (with either client).
        stop_on_error: stop sending new files after the first failure (files in flight still finish).
        progress: a bar on stderr; ``None`` shows it when stderr is a terminal.
        retry_for: after a dropped connection, a timeout or a 502/503/504, keep retrying (files re-opened,
            with backoff) for up to this many seconds: storing an instance twice is harmless in Orthanc. The
            window is shared by the whole batch (a circuit breaker, ``orthanc_client._core.breaker``): once the
            server has been unreachable for that long, every remaining file fails at once with the same
            cause. A server never reached by this upload gets 3 s, not ``retry_for`` (it is down, not
            restarting), so a dead server is reported in seconds whatever the number of files.

    Returns:
        a :class:`BulkResult`; it does not raise for failed files (see ``raise_for_failures()``).
    """
    if concurrency < 1:
        raise InvalidInputError(f"concurrency must be at least 1, got {concurrency}")
    if not isinstance(retry_for, (int, float)) or isinstance(retry_for, bool) or not 0 <= retry_for < float("inf"):
        raise InvalidInputError(f"retry_for must be a finite number of seconds >= 0, got {retry_for!r}")
    sources: Iterable[LocalSource] = iter_local_sources(source, recursive=recursive)
    total: int | None = None
    if progress_wanted(progress) and not isinstance(source, Iterator):
        sources = list(sources)  # a folder walk is cheap; knowing the total makes the bar useful
        total = len(sources)
    started = time.perf_counter()
    poster = client._direct_poster()
    post: Callable[[bytes | IO[bytes], int], Any]
    if poster is not None:
        post = functools.partial(poster.post, "instances")
    else:
        post_instances = backend.blocking(client.post_instances)

        def post(body: bytes | IO[bytes], size: int) -> Any:
            return post_instances(body)

    try:
        with BulkProgress(progress, "upload", total) as bar, backend.worker_threads(concurrency) as workers:
            uploader = _Uploader(client, post, workers, retry_for=retry_for, stop_on_error=stop_on_error, bar=bar)
            if skip_existing:
                await uploader.run_skipping_existing(sources, concurrency)
            else:
                await uploader.run(sources, concurrency)
        uploader.result.elapsed = time.perf_counter() - started
        return uploader.result
    finally:
        if poster is not None:
            poster.close()


class _Uploader:
    """The state of one ``upload`` call.

    Each file is read, recognised and posted by one blocking call (``send``) in a worker thread, with the
    asyncio client too: threads posting through ``post`` measured fastest (``orthanc_client._core.fastpath.posts``), and
    file reads never stall the event loop. Results are recorded by the caller's thread only.
    """

    def __init__(
        self,
        client: AsyncOrthanc,
        post: Callable[[bytes | IO[bytes], int], Any],
        workers: Any,
        *,
        retry_for: float,
        stop_on_error: bool,
        bar: BulkProgress | None,
    ) -> None:
        self.client = client
        self.post = post
        self.workers = workers
        self.retry_for = retry_for
        self.stop_on_error = stop_on_error
        self.result = BulkResult("upload")
        self.bar = bar
        self.breaker = BatchBreaker(retry_for)

    def record(self, outcome: Outcome, item: BulkItem) -> None:
        self.result.add(outcome, item)
        if outcome == "failed" and self.stop_on_error:
            self.result.stopped_early = True
        if self.bar is not None:
            self.bar.advance(nbytes=item.size if outcome in ("stored", "already_stored") else 0)

    def _until_stopped(self, sources: Iterable[LocalSource]) -> Iterator[LocalSource]:
        """``sources`` until a failure with ``stop_on_error``; what is in flight still completes."""
        for source in sources:
            if self.result.stopped_early:
                return
            yield source

    async def run(self, sources: Iterable[LocalSource], concurrency: int) -> None:
        results = backend.map_unordered(self._send_in_worker, self._until_stopped(sources), concurrency)
        async with contextlib.aclosing(results):  # type: ignore[type-var]  # stops the generator early
            async for source, outcome in results:
                self.record(*_unpack(source, outcome))

    async def run_skipping_existing(self, sources: Iterable[LocalSource], concurrency: int) -> None:
        for batch in _batched(self._until_stopped(sources), EXISTENCE_BATCH):
            identified: list[tuple[LocalSource, DicomIdentifiers | None]] = []
            results = backend.map_unordered(self._identify_in_worker, batch, concurrency)
            async with contextlib.aclosing(results):  # type: ignore[type-var]  # stops the generator early
                async for source, outcome in results:
                    if isinstance(outcome, BaseException):
                        self.record(*_unpack(source, outcome))
                    elif isinstance(outcome, tuple):
                        self.record(*outcome)
                    else:
                        identified.append((source, outcome))
            existing = await self.existing_instances([i for _, i in identified if i is not None])
            to_send = []
            for source, identifiers in identified:
                instance_id = identifiers.instance_id if identifiers is not None else None
                if instance_id is not None and instance_id in existing:
                    item = BulkItem(
                        source.name,
                        path=source.path,
                        instance_id=instance_id,
                        size=0,
                        attempts=0,
                        reason="already on the server (not sent)",
                    )
                    self.record("already_stored", item)
                else:
                    to_send.append(source)
            await self.run(to_send, concurrency)

    async def _identify_in_worker(self, source: LocalSource) -> tuple[Outcome, BulkItem] | DicomIdentifiers | None:
        return await backend.run_in_worker(self.workers, self.identify, source)

    async def _send_in_worker(self, source: LocalSource) -> tuple[Outcome, BulkItem]:
        return await backend.run_in_worker(self.workers, self.send, source)

    def identify(self, source: LocalSource) -> tuple[Outcome, BulkItem] | DicomIdentifiers | None:
        """The source's Orthanc instance ID from its header; ``None`` if unreadable (Orthanc will judge);
        an outcome straight away when it is not DICOM."""
        inspected = _inspected(source)
        if isinstance(inspected, tuple):
            return inspected
        try:
            if inspected.kind != "dicom" or inspected.body is None:
                return "skipped", _skipped(source, inspected)
            stream = inspected.body
            try:
                return read_identifiers(io.BytesIO(stream) if isinstance(stream, bytes) else stream, feature="skip_existing")
            except ValueError:
                return None
        finally:
            inspected.close()

    async def existing_instances(self, identifiers: list[DicomIdentifiers]) -> set[str]:
        """The Orthanc IDs among ``identifiers`` that the server has: one ``/tools/find`` matching the list of
        SOP instance UIDs (DICOM list matching), intersected with the IDs computed offline (the same SOP UID
        under another patient is another instance)."""
        if not identifiers or self.breaker.open_cause() is not None:
            return set()  # with the breaker open, every file is reported as not attempted by ``run``
        try:
            return await self._find_existing(identifiers)
        except (TransportError, ServerError) as exc:
            if not means_server_down(exc):
                raise
            self.breaker.trip(exc)
            return set()

    async def _find_existing(self, identifiers: list[DicomIdentifiers]) -> set[str]:
        wanted = {identifier.instance_id for identifier in identifiers}
        uids = "\\".join(sorted({identifier.sop_uid for identifier in identifiers}))
        found = await self.client.post_tools_find({"Level": "Instance", "Query": {"SOPInstanceUID": uids}})
        return wanted.intersection(found or [])

    def send(self, source: LocalSource) -> tuple[Outcome, BulkItem]:
        """Recognises, then sends one source (blocking); retries dropped connections for up to ``retry_for`` s."""
        inspected = _inspected(source)
        if isinstance(inspected, tuple):
            return inspected
        if inspected.kind != "dicom":
            return "skipped", _skipped(source, inspected)
        try:
            return self._post(source, inspected)
        finally:
            inspected.close()

    def _post(self, source: LocalSource, inspected: InspectedSource) -> tuple[Outcome, BulkItem]:
        attempts = 0
        protocol_errors = 0
        while True:
            cause = self.breaker.open_cause()
            if cause is not None:
                return _given_up(source, cause, attempts)
            attempts += 1
            try:
                assert inspected.body is not None  # a DICOM source has a body
                answer = self.post(inspected.body, inspected.size)
                self.breaker.succeeded()
                break
            except (TransportError, ServerError) as exc:
                if isinstance(exc, ServerError) and exc.status_code not in _RETRY_STATUSES:
                    self.breaker.succeeded()
                    return _failed(source, exc, attempts)
                if isinstance(exc, ProtocolError):
                    # An answer that is not one (a proxy's garbage, HTML): once more in case a connection
                    # was mixed up, never for the whole retry window.
                    protocol_errors += 1
                    if protocol_errors > 1:
                        return _failed(source, exc, attempts)
                if isinstance(exc, RequestTimeoutError):
                    # The server took the whole read timeout without answering: sending again would only wait
                    # as long again (and double its work); the rest of the batch gives up with this cause.
                    self.breaker.trip(exc)
                    return _failed(source, exc, attempts)
                if self.breaker.failed(exc):
                    return _failed(source, exc, attempts)
                pause = min(2.0, 0.1 * 2 ** min(attempts, 5)) * (0.5 + random.random())
                time.sleep(min(pause, self.breaker.remaining() + 0.05))
                if not isinstance(inspected.body, bytes):
                    # Re-open: the failed attempt may have left the file anywhere, or the file was replaced.
                    inspected.close()
                    inspected.body = source.open()
            except HTTPError as exc:
                self.breaker.succeeded()
                return _failed(source, exc, attempts)
            except ValueError as exc:  # the fast path's answer was not JSON (a login page...)
                self.breaker.succeeded()
                problem = UnexpectedAnswerError(
                    f"{type(exc).__name__}: {exc}"[:300], method="POST", url=f"{self.client.url}/instances",
                    expected="JSON",
                )
                return _failed(source, problem, attempts)
        if not isinstance(answer, dict):
            problem = UnexpectedAnswerError(
                f"{answer!r}"[:300], method="POST", url=f"{self.client.url}/instances", expected="Orthanc's JSON answer"
            )
            return _failed(source, problem, attempts)
        status = answer.get("Status") if isinstance(answer, dict) else None
        item = BulkItem(
            source.name,
            path=source.path,
            instance_id=answer.get("ID") if isinstance(answer, dict) else None,
            size=inspected.size,
            attempts=attempts,
        )
        if status == "Success":
            return "stored", item
        if status == "AlreadyStored":
            if attempts > 1:
                item.reason = "AlreadyStored after a retry: the interrupted attempt had most likely stored it"
            return "already_stored", item
        item.reason = f"Orthanc answered {status or answer!r} instead of Success"
        return "failed", item


def _given_up(source: LocalSource, cause: BaseException, attempts: int) -> tuple[Outcome, BulkItem]:
    """A file the batch gave up on once its breaker opened: the same cause for every one."""
    item = BulkItem.from_error(source.name, cause, path=source.path, attempts=attempts)
    if attempts == 0:
        item.reason = not_attempted_reason(cause)
    return "failed", item


def _failed(source: LocalSource, error: BaseException, attempts: int) -> tuple[Outcome, BulkItem]:
    return "failed", BulkItem.from_error(source.name, error, path=source.path, attempts=attempts)


def _inspected(source: LocalSource) -> InspectedSource | tuple[Outcome, BulkItem]:
    """The source opened and recognised, or its outcome when it cannot be read: a folder entry that is no file
    (unreadable folder, FIFO, socket, device, broken link) is failed with its path and why, never opened."""
    if source.problem is not None:
        return "failed", BulkItem(source.name, path=source.path, size=0, reason=source.problem, attempts=0)
    try:
        return inspect_source(source)
    except OSError as exc:
        return "failed", BulkItem.from_error(source.name, exc, path=source.path)


def _skipped(source: LocalSource, inspected: InspectedSource) -> BulkItem:
    return BulkItem(source.name, path=source.path, size=0, reason=inspected.reason or "not DICOM")


def _unpack(source: LocalSource, outcome: object) -> tuple[Outcome, BulkItem]:
    if isinstance(outcome, BaseException):
        if not isinstance(outcome, Exception):
            raise outcome  # KeyboardInterrupt, cancellation: not a file's failure
        return "failed", BulkItem.from_error(source.name, outcome, path=source.path)
    assert isinstance(outcome, tuple)
    return outcome


def _batched(items: Iterable[LocalSource], size: int) -> Iterator[list[LocalSource]]:
    batch: list[LocalSource] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
