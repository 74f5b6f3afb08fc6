"""``transfer()``: pull many studies from a DICOM modality (C-FIND, then C-MOVE in batches), resumable.

The manifest (``transfer_manifest.py``, SQLite) records each step, so re-running the same call after an interruption
continues where it stopped and never moves again a study already verified at the destination. Arrival is
verified by counting the instances the destination holds against the source's C-FIND counts. Optionally each
verified study is then anonymized at the destination (an Orthanc job, recorded before it is waited for, so
that it is never run twice for one study) and its identifiable original deleted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._bulk.progress import BulkProgress
from ..._core import async_backend as backend
from ..._core.errors import (
    InvalidInputError,
    JobFailedError,
    NotFoundError,
    OrthancError,
    UnsupportedByServerError,
)
from ..._core.operation import parse_version
from ..._dicom.query import dicom_query
from ..._dicom.values import parse_int
from ..._generated.operations import POST_TOOLS_FIND
from ..._jobs._async.jobs import Job
from ..._resources._async.resources import Study
from ..._resources.modify import AnonymizeOptions, anonymize_options
from ..bodies import FindAnswer
from ..transfer_manifest import (
    ANONYMIZED,
    FAILED,
    FOUND,
    MOVING,
    PENDING,
    VERIFIED,
    Manifest,
    RequestRecord,
    StudyRecord,
)
from ..transfer_report import TransferFailure, TransferReport
from .modality import Modality

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

_LABELS_SINCE = (1, 12, 0)
_MAX_BACKOFF = 60.0
_STUDY_COUNT = "NumberOfStudyRelatedInstances"


class _NotAnonymizable(OrthancError):
    """The destination holds a verified study in a state that anonymizing it would not fix (gone, or split
    over several Orthanc studies): reported, not retried within the run."""


def transfer_requests(
    accession_numbers: Iterable[str] = (),
    patient_ids: Iterable[str] = (),
    queries: Iterable[Mapping[str, Any]] = (),
) -> dict[str, dict[str, str]]:
    """Stable manifest keys for each request -> its study-level DICOM query (``"AccessionNumber=A1"``...)."""
    requests: dict[str, dict[str, str]] = {}
    for accession in accession_numbers:
        requests[f"AccessionNumber={accession}"] = {"AccessionNumber": str(accession)}
    for patient_id in patient_ids:
        requests[f"PatientID={patient_id}"] = {"PatientID": str(patient_id)}
    for query in queries:
        dicom = dicom_query(query)
        requests["Query=" + json.dumps(dicom, sort_keys=True)] = dicom
    if not requests:
        raise InvalidInputError("nothing to transfer: give accession_numbers, patient_ids or queries")
    return requests


async def transfer(
    source: Modality,
    *,
    accession_numbers: Iterable[str] = (),
    patient_ids: Iterable[str] = (),
    queries: Iterable[Mapping[str, Any]] = (),
    manifest: str | Path = "orthanc-transfer.sqlite",
    destination: AsyncOrthanc | None = None,
    target_aet: str | None = None,
    batch_size: int = 10,
    concurrency: int = 2,
    max_attempts: int = 3,
    backoff: float = 2.0,
    move_timeout: float | None = None,
    dicom_timeout: float | None = None,
    label: str | None = None,
    anonymize: bool | AnonymizeOptions | Mapping[str, Any] = False,
    keep_original: bool = False,
    progress: bool | None = None,
) -> TransferReport:
    """Finds the studies of each request at ``source`` (C-FIND) and C-MOVEs them to the destination in
    batches, verifying that every instance arrived; resumable through the ``manifest`` file.

    Args:
        source: the modality to pull from (its ``client`` is the Orthanc that sends the C-FIND/C-MOVE).
        accession_numbers, patient_ids, queries: what to transfer; ``queries`` are study-level queries with
            the same Python values as ``Modality.find`` (dates, ranges, wildcards).
        manifest: the SQLite file recording progress; run again with the same file to resume.
        destination: the Orthanc that receives and is checked (default ``source.client``).
        target_aet: the C-MOVE destination (default: ``destination``'s own ``DicomAet``).
        batch_size: studies per C-MOVE job; concurrency: C-MOVE jobs (and C-FINDs) in flight at once.
        max_attempts, backoff: each C-FIND and each batch is tried up to ``max_attempts`` times, waiting
            ``backoff``, then twice as long... between attempts; what still fails is reported (and retried
            by the next run).
        move_timeout: seconds to wait for one C-MOVE job; dicom_timeout: Orthanc's DICOM timeout.
        label: a label put on each verified study at the destination (Orthanc 1.12+); with ``anonymize``, on
            the anonymized copy only: the label marks what the transfer delivered, so that whoever selects
            studies by it never picks up identifiable data (a kept original is not labelled).
        anonymize: anonymize each study once it is verified complete at the destination: ``True`` for
            Orthanc's default profile, or the options of ``Study.anonymize`` as an ``AnonymizeOptions`` (or a
            dict): ``replace``, ``keep``, ``remove``, ``dicom_version``, ``timeout`` (seconds to wait for one
            job)... checked before anything is sent. Each study is one Orthanc job, waited for by polling,
            recorded in the manifest before the wait: a re-run never anonymizes a study twice, and one
            interrupted during the job reads that job's outcome. The copy's Orthanc ID is in the manifest and
            in ``report.anonymized_ids``; a failure is recorded with Orthanc's reason, reported in
            ``report.failed`` (``kind="anonymize"``) and retried by the next run. Each study is anonymized on
            its own: without ``replace={"PatientID": ...}`` two studies of one patient get two random
            PatientIDs.
        keep_original: with ``anonymize``, keep the identifiable study at the destination next to its
            anonymized copy. Default ``False``: the original is deleted once the copy holds as many instances,
            because anonymizing on arrival is for a destination (a research PACS) that should end up holding
            only anonymized data, and the source still has the original; this includes a study that was
            already at the destination before the transfer. The deletion comes after the copy is recorded,
            so a re-run with ``keep_original=False`` also deletes the originals an earlier run kept.
        progress: a progress bar on stderr (``None``: only when stderr is a terminal).

    Returns a ``TransferReport``; it does not raise for a failed study (see ``report.failed``).

    Example::

        pacs = Modality(client, "pacs")
        report = await transfer(pacs, accession_numbers=["PACS000101"], manifest="pull.sqlite", concurrency=4)
        print(report)

        # only the anonymized copies stay (here, or at destination=another_client), labelled
        report = await transfer(
            pacs, accession_numbers=["PACS000102"], manifest="research.sqlite",
            anonymize=AnonymizeOptions(keep=["StudyDescription"]), label="project-42",
        )
        print(report.anonymized_ids)   # {StudyInstanceUID at the source: Orthanc ID of the anonymized study}
    """
    if batch_size < 1 or concurrency < 1 or max_attempts < 1:
        raise InvalidInputError("batch_size, concurrency and max_attempts must be at least 1")
    requests = transfer_requests(accession_numbers, patient_ids, queries)
    anonymization = anonymize_options(anonymize)
    destination = destination if destination is not None else source.client
    if label is not None:
        version = await destination.server_version()
        if parse_version(version) < _LABELS_SINCE:
            raise UnsupportedByServerError("labels on arrival", "1.12.0", version)
    if target_aet is None:
        target_aet = str((await destination.system())["DicomAet"])
    run = _TransferRun(
        source,
        destination,
        target_aet,
        Manifest(manifest),
        batch_size,
        concurrency,
        max_attempts,
        backoff,
        move_timeout,
        dicom_timeout,
        label,
        anonymization,
        keep_original,
    )
    try:
        return await run.execute(requests, progress)
    finally:
        run.manifest.close()


class _TransferRun:
    """One execution of ``transfer()``: its settings, its manifest, its counters."""

    def __init__(
        self,
        source: Modality,
        destination: AsyncOrthanc,
        target_aet: str,
        manifest: Manifest,
        batch_size: int,
        concurrency: int,
        max_attempts: int,
        backoff: float,
        move_timeout: float | None,
        dicom_timeout: float | None,
        label: str | None,
        anonymize: dict[str, Any] | None = None,
        keep_original: bool = False,
    ) -> None:
        self.source = source
        self.destination = destination
        self.target_aet = target_aet
        self.manifest = manifest
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.move_timeout = move_timeout
        self.dicom_timeout = dicom_timeout
        self.label = label
        self.anonymize = anonymize  # options for Study.anonymize_as_job, or None: do not anonymize
        self.keep_original = keep_original
        # Counters for this run's report; the sync API runs batches in threads, hence the lock.
        self._counter_lock = threading.Lock()
        self.moves = 0
        self.moved = 0
        self.already_present = 0
        self.anonymized = 0

    def _count(self, name: str) -> None:
        with self._counter_lock:
            setattr(self, name, getattr(self, name) + 1)

    async def execute(self, requests: dict[str, dict[str, str]], progress: bool | None) -> TransferReport:
        started = time.monotonic()
        self.manifest.add_requests(requests)
        await self._resolve_requests(
            [r for r in self.manifest.requests(PENDING, FAILED) if r.key in requests]
        )
        wanted = set(requests)
        todo = [s for s in self.manifest.studies(PENDING, MOVING, FAILED) if s.request_key in wanted]
        # Verified by an earlier run but not (completely) anonymized: an interrupted run, a failed job, a first
        # run without ``anonymize``. Nothing to move: these batches only anonymize.
        unfinished = [
            s
            for s in self.manifest.studies(VERIFIED)
            if s.request_key in wanted and self._needs_anonymizing(s)
        ]
        work = [(batch, False) for batch in self._batches(unfinished)]
        work += [(batch, True) for batch in self._batches(todo)]
        total = len(todo) + len(unfinished)
        with BulkProgress(progress, "transfer (studies)", total_files=total) as bar:
            async for (batch, _move), result in backend.map_unordered(self._process, work, self.concurrency):
                if isinstance(result, BaseException) and not isinstance(result, OrthancError):
                    raise result  # a bug, not a network failure: do not hide it in the report
                if isinstance(result, OrthancError):
                    self.manifest.failed([s.study_uid for s in batch], str(result))
                bar.advance(files=len(batch))
        return self._report(wanted, time.monotonic() - started)

    def _batches(self, studies: list[StudyRecord]) -> list[list[StudyRecord]]:
        return [studies[i : i + self.batch_size] for i in range(0, len(studies), self.batch_size)]

    async def _process(self, work: tuple[list[StudyRecord], bool]) -> None:
        """Moves and verifies a batch (unless it is verified already), then anonymizes its verified studies
        one after the other (Orthanc runs few jobs at once anyway: ``ConcurrentJobs``)."""
        batch, move = work
        verified = await self._transfer_batch(batch) if move else batch
        if self.anonymize is not None:
            for study in verified:
                await self._anonymize(study.study_uid)

    async def _retrying(self, attempt_fn: Any, *args: Any) -> Any:
        """Runs ``attempt_fn`` until it succeeds or ``max_attempts`` failed; returns the result or the last
        ``OrthancError`` (at once for ``_NotAnonymizable``: trying again would not change it)."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await attempt_fn(*args)
            except OrthancError as error:
                if attempt == self.max_attempts or isinstance(error, _NotAnonymizable):
                    return error
                await backend.sleep(min(_MAX_BACKOFF, self.backoff * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")

    # --- C-FIND ------------------------------------------------------------------------------------------

    async def _resolve_requests(self, requests: list[RequestRecord]) -> None:
        async def resolve(request: RequestRecord) -> None:
            result = await self._retrying(self._find_studies, request.query)
            if isinstance(result, OrthancError):
                self.manifest.request_failed(request.key, str(result))
            else:
                self.manifest.request_found(request.key, result)

        async for _request, outcome in backend.map_unordered(resolve, requests, self.concurrency):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _find_studies(self, query: dict[str, str]) -> list[dict[str, Any]]:
        answers = await self.source.find("Study", query, dicom_timeout=self.dicom_timeout)
        studies = []
        for answer in answers:
            if not answer.study_instance_uid:
                continue
            expected = answer.number_of_instances
            if expected is None:
                expected = await self._count_from_series(answer)
            studies.append(
                {
                    "study_uid": answer.study_instance_uid,
                    "patient_id": answer.patient_id,
                    "accession_number": answer.accession_number,
                    "expected_instances": expected,
                }
            )
        return studies

    async def _count_from_series(self, study: FindAnswer) -> int | None:
        # Some PACS do not compute NumberOfStudyRelatedInstances; the series-level count is more common.
        series = await self.source.find(
            "Series", {"StudyInstanceUID": study.study_instance_uid}, dicom_timeout=self.dicom_timeout
        )
        counts = [s.number_of_instances for s in series]
        if not series or any(count is None for count in counts):
            return None  # unknown: verified by presence at the destination only
        return sum(count for count in counts if count is not None)

    # --- C-MOVE and verification -------------------------------------------------------------------------

    async def _transfer_batch(self, batch: list[StudyRecord]) -> list[StudyRecord]:
        """Moves what the destination lacks, verifies; returns the studies of ``batch`` verified complete."""
        remaining = batch
        last_error: OrthancError | None = None
        for attempt in range(1, self.max_attempts + 1):
            remaining = await self._verify(remaining, moved=attempt > 1)
            if not remaining:
                return batch
            if attempt > 1:
                await backend.sleep(min(_MAX_BACKOFF, self.backoff * 2 ** (attempt - 2)))
            self.manifest.moving(s.study_uid for s in remaining)
            try:
                self._count("moves")
                await self.source.move(
                    [s.study_uid for s in remaining],
                    level="Study",
                    target_aet=self.target_aet,
                    timeout=self.move_timeout,
                    dicom_timeout=self.dicom_timeout,
                )
                last_error = None
            except OrthancError as error:
                last_error = error
        remaining = await self._verify(remaining, moved=True)
        if remaining:
            reason = str(last_error) if last_error is not None else "instances missing at the destination"
            self.manifest.failed([s.study_uid for s in remaining], reason)
        missing = {s.study_uid for s in remaining}
        return [s for s in batch if s.study_uid not in missing]

    async def _verify(self, studies: list[StudyRecord], *, moved: bool) -> list[StudyRecord]:
        """Counts the studies' instances at the destination; records the complete ones; returns the others."""
        try:
            held = await self._held_at_destination([s.study_uid for s in studies])
        except OrthancError as error:
            for study in studies:
                self.manifest.received(
                    study.study_uid, 0, verified=False, error=f"verification failed: {error}"
                )
            return studies
        missing = []
        for study in studies:
            count, orthanc_ids = held.get(study.study_uid, (0, []))
            complete = count > 0 if study.expected_instances is None else count >= study.expected_instances
            if not complete:
                expected = "?" if study.expected_instances is None else study.expected_instances
                self.manifest.received(
                    study.study_uid, count, verified=False, error=f"{count} of {expected} instances arrived"
                )
                missing.append(study)
                continue
            if self.label is not None and self.anonymize is None:  # else the anonymized copy is labelled
                for orthanc_id in orthanc_ids:
                    await self.destination.put_studies_id_labels_label(orthanc_id, self.label)
            self.manifest.received(study.study_uid, count, verified=True)
            self._count("moved" if moved else "already_present")
        return missing

    async def _held_at_destination(self, study_uids: list[str]) -> dict[str, tuple[int, list[str]]]:
        """StudyInstanceUID -> ``(instances, Orthanc study ids)`` at the destination, for the studies it holds.

        One ``/tools/find`` for the whole batch (DICOM list matching on the UID), by UID rather than by
        Orthanc id so that a destination that changes PatientIDs is still counted; Orthanc before 1.11 lacks
        ``RequestedTags``, so there a second find counts the instances of the studies' series.
        """
        if not study_uids:
            return {}  # an empty UID list would match every study
        query = {"StudyInstanceUID": "\\".join(study_uids)}
        body: dict[str, Any] = {"Level": "Study", "Query": query, "Expand": True}
        # the client refuses RequestedTags where Orthanc would silently ignore it: ask only where it is taken
        if POST_TOOLS_FIND.missing_on(await self.destination.server_version(), body_names=["RequestedTags"]) is None:
            body["RequestedTags"] = [_STUDY_COUNT]
        found = await self.destination.post_tools_find(body)
        uid_by_id = {str(s["ID"]): str(s["MainDicomTags"]["StudyInstanceUID"]) for s in found}
        requested = {str(s["ID"]): parse_int((s.get("RequestedTags") or {}).get(_STUDY_COUNT)) for s in found}
        counts = {orthanc_id: count for orthanc_id, count in requested.items() if count is not None}
        if len(counts) < len(requested):
            series = await self.destination.post_tools_find(
                {"Level": "Series", "Query": query, "Expand": True}
            )
            counts = Counter()
            for one in series:
                counts[str(one["ParentStudy"])] += len(one["Instances"])
        held: dict[str, tuple[int, list[str]]] = {}
        for orthanc_id, uid in uid_by_id.items():
            # One UID may be several Orthanc studies (under different PatientIDs): what arrived is their sum.
            total, ids = held.get(uid, (0, []))
            held[uid] = (total + counts.get(orthanc_id, 0), [*ids, orthanc_id])
        return held

    # --- anonymization on arrival -------------------------------------------------------------------------

    def _needs_anonymizing(self, study: StudyRecord) -> bool:
        """Whether a verified study still lacks its anonymized copy, or (``keep_original=False``) still has
        its identifiable original at the destination."""
        if self.anonymize is None:
            return False
        if study.anonymize_status != ANONYMIZED:
            return True
        return not self.keep_original and not study.original_deleted

    async def _anonymize(self, study_uid: str) -> None:
        """Anonymizes one verified study (retried as the C-MOVEs are); records the outcome or the reason."""
        outcome = await self._retrying(self._anonymize_attempt, study_uid)
        if isinstance(outcome, OrthancError):
            record = self.manifest.study(study_uid)
            if record is not None and record.anonymize_status == ANONYMIZED:
                reason = (
                    f"anonymized as {record.anonymized_id}, but the identifiable original "
                    f"{record.destination_id} was not deleted: {outcome}"
                )
            else:
                reason = f"anonymization failed: {outcome}"
            self.manifest.anonymize_failed(study_uid, reason, forget_job=False)

    async def _anonymize_attempt(self, study_uid: str) -> None:
        """One attempt, resuming from what the manifest says was done: a recorded job is waited for (it may
        have finished while nobody watched) rather than started again; a recorded copy is not made again."""
        assert self.anonymize is not None
        record = self.manifest.study(study_uid)
        if record is None or record.status != VERIFIED:
            raise AssertionError(f"anonymizing {study_uid}, which is not verified at the destination")
        if record.anonymize_status != ANONYMIZED:
            original_id, anonymized_id = await self._anonymized_copy(record)
            if self.label is not None:
                await Study(anonymized_id, self.destination).add_label(self.label)
            self.manifest.anonymized(study_uid, anonymized_id)
            self._count("anonymized")
        else:
            original_id, anonymized_id = str(record.destination_id), str(record.anonymized_id)
        if not self.keep_original and not record.original_deleted:
            await self._delete_original(original_id, anonymized_id)
            self.manifest.original_deleted(study_uid)

    async def _anonymized_copy(self, record: StudyRecord) -> tuple[str, str]:
        """Runs (or resumes) the anonymization job of ``record``; returns ``(original id, copy id)``."""
        assert self.anonymize is not None
        options = {key: value for key, value in self.anonymize.items() if key != "timeout"}
        self.manifest.anonymize_attempt(record.study_uid)
        if record.anonymize_job is not None and record.destination_id is not None:
            original_id, job = record.destination_id, Job(record.anonymize_job, self.destination)
        else:
            original_id = await self._original_id(record.study_uid)
            # KeepSource: the original goes only once the copy is recorded and counted (_delete_original), so
            # a job that fails half-way never leaves a study with neither.
            job = await Study(original_id, self.destination).anonymize_as_job(**options, keep_source=True)
            self.manifest.anonymize_started(record.study_uid, original_id, job.id)
        try:
            await job.wait(timeout=self.anonymize.get("timeout"))
        except JobFailedError as error:
            # Failed for good: the next attempt starts a new job (a timeout keeps it: it may still finish).
            self.manifest.anonymize_failed(
                record.study_uid, f"anonymization failed: {error}", forget_job=True
            )
            raise
        except NotFoundError as error:
            # Orthanc forgot the job (restarted without SaveJobs, or pushed out of JobsHistorySize): its
            # outcome is unknown, so the next attempt starts a new one.
            forgotten = OrthancError(f"job {job.id} is unknown to Orthanc (forgotten since it started)")
            self.manifest.anonymize_failed(record.study_uid, str(forgotten), forget_job=True)
            raise forgotten from error
        return original_id, str(job.content["ID"])

    async def _original_id(self, study_uid: str) -> str:
        """The Orthanc ID of the study as received at the destination (one ``/tools/find`` by UID)."""
        found = await self.destination.post_tools_find(
            {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}}
        )
        ids = [str(orthanc_id) for orthanc_id in found]
        if not ids:
            raise _NotAnonymizable(
                "the study is no longer at the destination (deleted since it was verified?)"
            )
        if len(ids) > 1:
            # Anonymizing each would give each its own new StudyInstanceUID: one study would become several.
            raise _NotAnonymizable(
                f"the destination holds this StudyInstanceUID as {len(ids)} Orthanc studies ({', '.join(ids)}:"
                " different PatientIDs); anonymizing them one by one would split the study, merge them first"
            )
        return ids[0]

    async def _delete_original(self, original_id: str, anonymized_id: str) -> None:
        """Deletes the identifiable study once its anonymized copy holds at least as many instances."""
        if original_id == anonymized_id:
            # The options kept PatientID and StudyInstanceUID: the "copy" is the original's own Orthanc study.
            raise _NotAnonymizable(
                "the anonymized study has the original's Orthanc ID (the options keep PatientID and"
                " StudyInstanceUID), so there is no separate original to delete"
            )
        original = Study(original_id, self.destination)
        try:
            held = (await original.get_statistics()).count_instances or 0
        except NotFoundError:
            return  # already deleted (by an interrupted run, or by hand)
        copied = (await Study(anonymized_id, self.destination).get_statistics()).count_instances or 0
        if copied < held:
            raise OrthancError(
                f"the anonymized copy {anonymized_id} holds {copied} of the original's {held} instances:"
                " the original is kept"
            )
        try:
            await original.delete()
        except NotFoundError:
            pass

    def _report(self, wanted: set[str], elapsed: float) -> TransferReport:
        requests = [r for r in self.manifest.requests() if r.key in wanted]
        studies = [s for s in self.manifest.studies() if s.request_key in wanted]
        failed = [
            TransferFailure("request", r.key, r.error or "", r.attempts)
            for r in requests
            if r.status == FAILED
        ]
        # A request that matches nothing is no error of the transfer, but what was asked for is not there:
        # report it rather than call the run complete.
        failed += [
            TransferFailure("request", r.key, "no study matches at the source", r.attempts)
            for r in requests
            if r.status == FOUND and not r.studies
        ]
        failed += [
            TransferFailure("study", s.study_uid, s.error or "not verified", s.attempts)
            for s in studies
            if s.status != VERIFIED
        ]
        if self.anonymize is not None:
            failed += [
                TransferFailure(
                    "anonymize", s.study_uid, s.anonymize_error or "not anonymized", s.anonymize_attempts
                )
                for s in studies
                if s.status == VERIFIED and self._needs_anonymizing(s)
            ]
        counts = [s.expected_instances for s in studies]
        return TransferReport(
            manifest=self.manifest.path,
            requests=len(requests),
            studies=len(studies),
            verified=sum(1 for s in studies if s.status == VERIFIED),
            moved=self.moved,
            already_present=self.already_present,
            moves=self.moves,
            instances_expected=None
            if any(c is None for c in counts)
            else sum(c for c in counts if c is not None),
            instances_received=sum(s.received_instances or 0 for s in studies if s.status == VERIFIED),
            elapsed=elapsed,
            failed=failed,
            anonymized=self.anonymized,
            anonymized_ids={
                s.study_uid: s.anonymized_id
                for s in studies
                if s.anonymize_status == ANONYMIZED and s.anonymized_id is not None
            },
            originals_deleted=sum(1 for s in studies if s.original_deleted),
        )
