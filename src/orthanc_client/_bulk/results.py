"""``BulkResult``: what an upload or a download did, file by file, with totals.

Every file the caller handed over ends up in exactly one list, so nothing is silently lost: ``stored``,
``already_stored``, ``skipped`` (not DICOM) or ``failed`` (with the reason and Orthanc's error details).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._core.errors import HTTPError, OrthancError

Outcome = Literal["stored", "already_stored", "skipped", "failed"]


@dataclass
class BulkItem:
    """One file of a transfer.

    Attributes:
        name: the file (its path, ``archive.zip/member``, ``<bytes #1>`` or ``<dataset UID>``).
        path: the local file, when there is one (for a download: the file written).
        instance_id: the Orthanc instance ID, when known.
        size: bytes sent or received.
        reason: why it was skipped or failed, in words.
        details: Orthanc's own error details (``HTTPError.details``), when it sent some.
        error: the exception behind a failure.
        attempts: how many times it was sent (more than one after a dropped connection).

    Example::

        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            result = series.download_files(folder, layout="flat")
            for item in result.stored[:2]:
                print(item.name, item.instance_id, item.size)   # every file ends in exactly one list
    """

    name: str
    path: Path | None = None
    instance_id: str | None = None
    size: int = 0
    reason: str | None = None
    details: str | None = None
    error: BaseException | None = field(default=None, repr=False, compare=False)
    attempts: int = 1

    @classmethod
    def from_error(
        cls, name: str, error: BaseException, *, path: Path | None = None, attempts: int = 1
    ) -> BulkItem:
        """A failed item whose reason and details come from ``error`` (Orthanc's details for an HTTPError)."""
        details = error.details if isinstance(error, HTTPError) else None
        reason = str(error) or type(error).__name__
        return cls(name, path=path, reason=reason, details=details, error=error, attempts=attempts)


@dataclass
class BulkResult:
    """The outcome of ``upload`` or ``download``: four lists of :class:`BulkItem` and totals.

    For a download, ``stored`` lists the files written and ``already_stored`` the files that were already
    on disk with the right size (not fetched again).

    Example::

        from orthanc_client import upload

        series.download_files("scans")   # some files to upload
        result = upload(client, "scans/")
        print(result)  # "upload: 0 stored, 20 already stored, 0 skipped, 0 failed, 0.2 MB in 0.1 s ..."
        for item in result.failed:
            print(item.name, item.reason, item.details)
        result.raise_for_failures()
    """

    operation: Literal["upload", "download"]
    stored: list[BulkItem] = field(default_factory=list)
    already_stored: list[BulkItem] = field(default_factory=list)
    skipped: list[BulkItem] = field(default_factory=list)
    failed: list[BulkItem] = field(default_factory=list)
    elapsed: float = 0.0
    stopped_early: bool = False
    """True when ``stop_on_error`` ended the transfer at the first failure (the rest was not attempted)."""

    def add(self, outcome: Outcome, item: BulkItem) -> None:
        getattr(self, outcome).append(item)

    @property
    def total(self) -> int:
        """Every file accounted for."""
        return len(self.stored) + len(self.already_stored) + len(self.skipped) + len(self.failed)

    @property
    def instances(self) -> int:
        """DICOM instances that are now on the other side (stored or already there)."""
        return len(self.stored) + len(self.already_stored)

    @property
    def bytes(self) -> int:
        """Bytes sent (upload) or received (download)."""
        return sum(item.size for item in self.stored) + sum(item.size for item in self.already_stored)

    @property
    def instances_per_second(self) -> float:
        return self.instances / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def instance_ids(self) -> list[str]:
        """The Orthanc IDs of the stored and already-stored instances (in completion order)."""
        return [item.instance_id for item in self.stored + self.already_stored if item.instance_id]

    def raise_for_failures(self) -> None:
        """Raises :class:`BulkError` when anything failed."""
        if self.failed:
            raise BulkError(self)

    def summary(self) -> str:
        megabytes = self.bytes / 1e6
        return (
            f"{self.operation}: {len(self.stored)} stored, {len(self.already_stored)} already stored, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed; {megabytes:.1f} MB in "
            f"{self.elapsed:.2f} s ({self.instances_per_second:.0f} instances/s)"
        )

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<BulkResult {self.summary()}>"


class BulkError(OrthancError):
    """An upload or download in which some files failed; ``result`` holds every file's outcome."""

    def __init__(self, result: BulkResult) -> None:
        self.result = result
        first = result.failed[0]
        more = f" (and {len(result.failed) - 1} more)" if len(result.failed) > 1 else ""
        super().__init__(f"{result.operation} failed for {first.name}: {first.reason}{more}")


# The names before 0.2, when "transfer" also meant the C-FIND/C-MOVE pull (``transfer()``, ``TransferReport``):
# the same classes, kept so that existing imports work.
TransferResult = BulkResult
TransferItem = BulkItem
TransferError = BulkError
