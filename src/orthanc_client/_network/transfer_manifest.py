"""The on-disk record of a bulk transfer (SQLite): what was requested, found, moved, verified, anonymized,
failed and why.

``transfer()`` writes every step here before and after doing it, so a run that stops (Ctrl-C, a crash, the
PACS going down) resumes where it was: requests already answered are not queried again, and studies already
verified at the destination are never moved again, nor anonymized twice. Plain ``sqlite3``, no I/O to Orthanc: the sync and async
``transfer`` share it. Each call commits; a lock makes it safe from the sync API's worker threads.

Inspect one by hand::

    sqlite3 transfer.sqlite "select status, count(*) from studies group by status"
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Study states: PENDING (found at the source, not yet moved), MOVING (a C-MOVE was started: what arrived is
# unknown until verified), VERIFIED (every expected instance is at the destination), FAILED (gave up this
# run; retried on the next).
PENDING, MOVING, VERIFIED, FAILED = "pending", "moving", "verified", "failed"
# Request states: PENDING (not yet C-FINDed), FOUND (its studies are in the manifest), FAILED.
FOUND = "found"
# Anonymization states of a verified study (``anonymize_status``; NULL: not asked for yet): ANONYMIZING (the
# Orthanc job ``anonymize_job`` was started: its outcome is read from Orthanc before anything else is done),
# ANONYMIZED (the copy ``anonymized_id`` is complete; ``original_deleted`` says whether the identifiable study
# was deleted since), FAILED (gave up this run, ``anonymize_error`` says why; retried on the next).
ANONYMIZING, ANONYMIZED = "anonymizing", "anonymized"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    query TEXT NOT NULL,
    status TEXT NOT NULL,
    studies INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    request_key TEXT NOT NULL,
    patient_id TEXT,
    accession_number TEXT,
    expected_instances INTEGER,
    received_instances INTEGER,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    moved_at REAL,
    error TEXT,
    updated REAL NOT NULL,
    destination_id TEXT,
    anonymize_status TEXT,
    anonymize_job TEXT,
    anonymized_id TEXT,
    original_deleted INTEGER NOT NULL DEFAULT 0,
    anonymize_attempts INTEGER NOT NULL DEFAULT 0,
    anonymize_error TEXT
);
CREATE INDEX IF NOT EXISTS studies_by_status ON studies (status);
"""
# Columns added since the first manifests: a manifest written before gets them (NULL/0) when opened.
_ADDED_STUDY_COLUMNS = {
    "destination_id": "TEXT",
    "anonymize_status": "TEXT",
    "anonymize_job": "TEXT",
    "anonymized_id": "TEXT",
    "original_deleted": "INTEGER NOT NULL DEFAULT 0",
    "anonymize_attempts": "INTEGER NOT NULL DEFAULT 0",
    "anonymize_error": "TEXT",
}
_STUDY_COLUMNS = (
    "study_uid, request_key, patient_id, accession_number, expected_instances, received_instances, status,"
    " attempts, error, destination_id, anonymize_status, anonymize_job, anonymized_id, original_deleted,"
    " anonymize_attempts, anonymize_error"
)


@dataclass(frozen=True)
class StudyRecord:
    """One row of the ``studies`` table.

    ``status``/``attempts``/``error`` follow the C-MOVE and its verification; the ``anonymize_*`` fields, the
    anonymization on arrival: ``destination_id`` is the Orthanc ID of the study as received (the identifiable
    original), ``anonymized_id`` the Orthanc ID of its anonymized copy.
    """

    study_uid: str
    request_key: str
    patient_id: str | None
    accession_number: str | None
    expected_instances: int | None
    received_instances: int | None
    status: str
    attempts: int
    error: str | None
    destination_id: str | None = None
    anonymize_status: str | None = None
    anonymize_job: str | None = None
    anonymized_id: str | None = None
    original_deleted: bool = False
    anonymize_attempts: int = 0
    anonymize_error: str | None = None


def _study(row: tuple[Any, ...]) -> StudyRecord:
    """A ``SELECT {_STUDY_COLUMNS}`` row as a record (SQLite keeps ``original_deleted`` as 0/1)."""
    values = list(row)
    values[13] = bool(values[13])
    return StudyRecord(*values)


@dataclass(frozen=True)
class RequestRecord:
    """One row of the ``requests`` table (``query`` decoded)."""

    key: str
    query: dict[str, Any]
    status: str
    studies: int | None
    attempts: int
    error: str | None


class Manifest:
    """A transfer manifest at ``path`` (created if missing).

    Example::

        with Manifest("transfer.sqlite") as manifest:
            print(manifest.count_studies())          # {"verified": 48, "failed": 2}
            for study in manifest.studies(FAILED):
                print(study.study_uid, study.error)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # check_same_thread=False: the sync transfer runs batches in threads; the lock serialises them.
        self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            present = {row[1] for row in db.execute("PRAGMA table_info(studies)")}
            for column, declaration in _ADDED_STUDY_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE studies ADD COLUMN {column} {declaration}")

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"Manifest({str(self.path)!r})"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # --- requests ----------------------------------------------------------------------------------------

    def add_requests(self, requests: Mapping[str, Mapping[str, str]]) -> None:
        """Records requests (key -> DICOM query); a key already present keeps its state."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO requests (key, query, status, updated) VALUES (?, ?, ?, ?)",
                [
                    (key, json.dumps(dict(query), sort_keys=True), PENDING, now)
                    for key, query in requests.items()
                ],
            )

    def requests(self, *statuses: str) -> list[RequestRecord]:
        sql = "SELECT key, query, status, studies, attempts, error FROM requests"
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
        return [
            RequestRecord(key, json.loads(query), status, studies, attempts, error)
            for key, query, status, studies, attempts, error in self._read(sql + " ORDER BY key", statuses)
        ]

    def request_found(self, key: str, studies: Iterable[Mapping[str, Any]]) -> int:
        """Marks ``key`` answered and records its studies (``study_uid``, ``patient_id``,
        ``accession_number``, ``expected_instances``); returns how many are new. A study already known keeps
        its state: a resumed run never forgets that a study was verified."""
        now = time.time()
        rows = [
            (
                s["study_uid"],
                key,
                s.get("patient_id"),
                s.get("accession_number"),
                s.get("expected_instances"),
                PENDING,
                now,
            )
            for s in studies
        ]
        with self._write() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO studies (study_uid, request_key, patient_id, accession_number,"
                " expected_instances, status, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = db.total_changes - before
            db.execute(
                "UPDATE requests SET status = ?, studies = ?, attempts = attempts + 1, error = NULL, updated = ?"
                " WHERE key = ?",
                (FOUND, len(rows), now, key),
            )
        return added

    def request_failed(self, key: str, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE requests SET status = ?, attempts = attempts + 1, error = ?, updated = ? WHERE key = ?",
                (FAILED, error, time.time(), key),
            )

    # --- studies -----------------------------------------------------------------------------------------

    def studies(self, *statuses: str) -> list[StudyRecord]:
        sql = f"SELECT {_STUDY_COLUMNS} FROM studies"
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
        return [_study(row) for row in self._read(sql + " ORDER BY request_key, study_uid", statuses)]

    def study(self, study_uid: str) -> StudyRecord | None:
        rows = self._read(f"SELECT {_STUDY_COLUMNS} FROM studies WHERE study_uid = ?", [study_uid])
        return _study(rows[0]) if rows else None

    def count_studies(self) -> dict[str, int]:
        """``{status: count}``."""
        return {
            status: count for status, count in self._read("SELECT status, COUNT(*) FROM studies GROUP BY 1")
        }

    def moving(self, study_uids: Iterable[str]) -> None:
        """Records that a C-MOVE of these studies starts (before it does, so a crash leaves a trace)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE studies SET status = ?, attempts = attempts + 1, moved_at = ?, updated = ?"
                " WHERE study_uid = ?",
                [(MOVING, now, now, uid) for uid in study_uids],
            )

    def received(self, study_uid: str, count: int, *, verified: bool, error: str | None = None) -> None:
        """Records what the destination holds for a study; ``verified`` when it is complete."""
        with self._write() as db:
            if verified:
                db.execute(
                    "UPDATE studies SET received_instances = ?, status = ?, error = NULL, updated = ?"
                    " WHERE study_uid = ?",
                    (count, VERIFIED, time.time(), study_uid),
                )
            else:
                db.execute(
                    "UPDATE studies SET received_instances = ?, error = COALESCE(?, error), updated = ?"
                    " WHERE study_uid = ?",
                    (count, error, time.time(), study_uid),
                )

    def failed(self, study_uids: Iterable[str], error: str) -> None:
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE studies SET status = ?, error = ?, updated = ? WHERE study_uid = ? AND status != ?",
                [(FAILED, error, now, uid, VERIFIED) for uid in study_uids],
            )

    # --- anonymization on arrival ------------------------------------------------------------------------

    def anonymize_attempt(self, study_uid: str) -> None:
        """Counts one attempt at anonymizing a study (starting its job, or waiting for the recorded one)."""
        with self._write() as db:
            db.execute(
                "UPDATE studies SET anonymize_attempts = anonymize_attempts + 1, updated = ? WHERE study_uid = ?",
                (time.time(), study_uid),
            )

    def anonymize_started(self, study_uid: str, original_id: str, job_id: str) -> None:
        """Records the anonymization job of a verified study (before waiting, so that an interrupted run's
        next run reads that job's outcome instead of anonymizing again)."""
        with self._write() as db:
            db.execute(
                "UPDATE studies SET anonymize_status = ?, destination_id = ?, anonymize_job = ?, updated = ?"
                " WHERE study_uid = ?",
                (ANONYMIZING, original_id, job_id, time.time(), study_uid),
            )

    def anonymized(self, study_uid: str, anonymized_id: str) -> None:
        """Records the complete anonymized copy (the job id stays, for the record)."""
        with self._write() as db:
            db.execute(
                "UPDATE studies SET anonymize_status = ?, anonymized_id = ?, anonymize_error = NULL, updated = ?"
                " WHERE study_uid = ?",
                (ANONYMIZED, anonymized_id, time.time(), study_uid),
            )

    def original_deleted(self, study_uid: str) -> None:
        """Records that the identifiable study (``destination_id``) is gone from the destination."""
        with self._write() as db:
            db.execute(
                "UPDATE studies SET original_deleted = 1, anonymize_error = NULL, updated = ? WHERE study_uid = ?",
                (time.time(), study_uid),
            )

    def anonymize_failed(self, study_uid: str, error: str, *, forget_job: bool) -> None:
        """Records why anonymizing (or deleting the original after it) failed. A study already anonymized keeps
        that state (only its original's deletion is retried); ``forget_job`` when the recorded job is known to
        have failed, so that the next attempt starts a new one rather than waiting for it again."""
        with self._write() as db:
            db.execute(
                "UPDATE studies SET anonymize_status = CASE WHEN anonymize_status = ? THEN ? ELSE ? END,"
                " anonymize_job = CASE WHEN ? THEN NULL ELSE anonymize_job END,"
                " anonymize_error = ?, updated = ? WHERE study_uid = ?",
                (ANONYMIZED, ANONYMIZED, FAILED, forget_job, error, time.time(), study_uid),
            )
