"""What a bulk ``transfer()`` did, as one value (shared by the sync and async APIs; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class TransferFailure:
    """Something the transfer gave up on this run (the next run retries it).

    ``kind`` is ``"request"`` (its C-FIND failed: ``key`` is e.g. ``"AccessionNumber=A1"``), ``"study"``
    (not verified at the destination; ``key`` is the StudyInstanceUID) or ``"anonymize"`` (verified, but its
    anonymization, or the deletion of its original afterwards, failed; ``key`` is the StudyInstanceUID);
    ``reason`` carries Orthanc's details.
    """

    kind: Literal["request", "study", "anonymize"]
    key: str
    reason: str
    attempts: int


@dataclass(frozen=True)
class TransferReport:
    """The outcome of ``transfer()``, counting the whole manifest (earlier runs included) unless said.

    Attributes:
        manifest: the SQLite file; requests: how many requests it holds; studies: studies found for them.
        verified: studies complete at the destination. moved: of those, verified after a C-MOVE of this run.
        already_present: verified this run without moving (an earlier run, or the data was already there).
        moves: C-MOVE jobs started this run. failed: what is still missing, and why.
        instances_expected: sum of the source's counts (``None`` if the source did not give them all).
        instances_received: instances counted at the destination for verified studies. elapsed: seconds.
        anonymized: studies anonymized by this run (``transfer(anonymize=...)``). anonymized_ids: every
        anonymized study, ``{StudyInstanceUID at the source: Orthanc ID of its anonymized copy}``.
        originals_deleted: studies whose identifiable original was deleted after anonymization.

    Example::

        from orthanc_client import transfer

        report = transfer(pacs, accession_numbers=["PACS000101", "NOSUCHACC"], manifest="run.sqlite")
        print(report)            # a short multi-line summary
        if not report.ok:
            for failure in report.failed:
                print(failure.key, failure.reason)   # NOSUCHACC: not found at the source
    """

    manifest: Path
    requests: int
    studies: int
    verified: int
    moved: int
    already_present: int
    moves: int
    instances_expected: int | None
    instances_received: int
    elapsed: float
    failed: list[TransferFailure] = field(default_factory=list)
    anonymized: int = 0
    anonymized_ids: dict[str, str] = field(default_factory=dict)
    originals_deleted: int = 0

    @property
    def ok(self) -> bool:
        """Every request answered and every study found is verified at the destination."""
        return not self.failed and self.verified == self.studies

    def __str__(self) -> str:
        expected = "?" if self.instances_expected is None else str(self.instances_expected)
        lines = [
            f"transfer {'complete' if self.ok else 'INCOMPLETE'} in {self.elapsed:.1f} s (manifest {self.manifest})",
            f"  requests: {self.requests}, studies found: {self.studies}",
            f"  verified: {self.verified} (moved this run: {self.moved}, already there: {self.already_present})"
            f" with {self.moves} C-MOVE job(s)",
            f"  instances at destination: {self.instances_received} / {expected} expected",
        ]
        if self.anonymized_ids or self.anonymized:
            lines.append(
                f"  anonymized: {len(self.anonymized_ids)} (this run: {self.anonymized}),"
                f" identifiable originals deleted: {self.originals_deleted}"
            )
        if self.failed:
            lines.append(f"  failed: {len(self.failed)}")
            lines += [
                f"    {f.kind} {f.key} after {f.attempts} attempt(s): {f.reason}" for f in self.failed[:20]
            ]
            if len(self.failed) > 20:
                lines.append(f"    ... and {len(self.failed) - 20} more (see the manifest)")
        return "\n".join(lines)
