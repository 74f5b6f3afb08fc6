"""The state file of change watchers and routers: one SQLite database (shared by the sync and async APIs).

SQLite because one file gives atomic commits that survive a SIGKILL at any instant, readers (the status
command) that never see a half-written state, and no server to run. WAL with ``synchronous=NORMAL``: a commit
costs microseconds and survives the process dying (only a power loss may drop the last commits, which the
at-least-once delivery then replays).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from .._core.errors import InvalidInputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER NOT NULL, change_type TEXT, resource_type TEXT, resource_id TEXT, path TEXT, date TEXT,
    error TEXT NOT NULL, attempts INTEGER NOT NULL, failed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (at TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
"""


@dataclass(frozen=True)
class DeadLetter:
    """A change whose handler kept failing: recorded, then skipped (``orthanc route-status`` lists them)."""

    seq: int
    change_type: str
    resource_type: str
    resource_id: str
    path: str
    error: str
    attempts: int
    failed_at: str


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WatchState:
    """The SQLite state file (``":memory:"`` or ``None``: a state that lives as long as the object).

    Example::

        state = WatchState("route.sqlite")
        print(state.cursor(), [letter.resource_id for letter in state.dead_letters()])
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        target = ":memory:" if path is None else os.fspath(path)
        if target != ":memory:" and os.path.isdir(target):
            raise InvalidInputError(f"the state file {target!r} is a directory")
        if target != ":memory:" and not os.path.isdir(os.path.dirname(os.path.abspath(target))):
            raise InvalidInputError(f"the folder of the state file {target!r} does not exist")
        # One connection, used from the watcher's thread; the lock covers a sync handler calling back from a
        # worker thread (isolation_level=None: we open transactions ourselves, so each commit is explicit).
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self.path = target
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InvalidInputError(f"{target!r} is not a watcher state file ({exc})") from None

    def __repr__(self) -> str:
        return f"WatchState({self.path!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Runs one statement in its own transaction (committed on return) and returns its rows."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def executescript(self, sql: str) -> None:
        with self._lock:
            self._db.executescript(sql)

    def transaction(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Several statements committed together, or none of them."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def cursor(self, name: str = "changes") -> int | None:
        """The last change handled (``None``: never started)."""
        rows = self.execute("SELECT seq FROM cursor WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else None

    def cursor_statement(self, seq: int, name: str = "changes") -> tuple[str, tuple[Any, ...]]:
        return ("INSERT INTO cursor (name, seq) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
                (name, int(seq)))

    def set_cursor(self, seq: int, name: str = "changes") -> None:
        self.execute(*self.cursor_statement(seq, name))

    def dead_letter_statement(self, change: Any, error: BaseException | str, attempts: int) -> tuple[str, tuple[Any, ...]]:
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return (
            "INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (change.seq, change.change_type, change.resource_type, change.id, change.path,
             change.date.isoformat() if change.date else None, message, attempts, utc_now()),
        )

    def dead_letters(self) -> list[DeadLetter]:
        rows = self.execute(
            "SELECT seq, change_type, resource_type, resource_id, path, error, attempts, failed_at "
            "FROM dead_letters ORDER BY seq"
        )
        return [DeadLetter(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7]) for r in rows]

    def record_event(self, kind: str, detail: str) -> None:
        """A line of history (a log reset, a route delivered...): what the status command summarizes."""
        self.execute("INSERT INTO events VALUES (?, ?, ?)", (utc_now(), kind, detail))

    def events(self, kind: str | None = None) -> list[tuple[str, str, str]]:
        if kind is None:
            rows = self.execute("SELECT at, kind, detail FROM events ORDER BY rowid")
        else:
            rows = self.execute("SELECT at, kind, detail FROM events WHERE kind = ? ORDER BY rowid", (kind,))
        return [(str(a), str(k), str(d)) for a, k, d in rows]


@dataclass(frozen=True)
class Change:
    """One entry of Orthanc's ``/changes`` log.

    ``seq``: its position in the log; ``change_type``: ``"NewInstance"``, ``"StableStudy"``...;
    ``resource_type``: ``"Patient"``, ``"Study"``, ``"Series"`` or ``"Instance"``; ``id``: the resource's
    Orthanc ID; ``path``: its REST path (``/studies/<id>``); ``date``: when Orthanc logged it (UTC).

    Example::

        import tempfile
        from pathlib import Path

        from orthanc_client import ChangeWatcher

        with tempfile.TemporaryDirectory() as folder:
            watcher = ChangeWatcher(client, state=Path(folder) / "cursor.sqlite", since=0, change_types=["NewStudy"])
            for change in watcher.changes(until_idle=True):
                print(change.seq, change.resource_type, change.id, change.date)
    """

    seq: int
    change_type: str
    resource_type: str
    id: str
    path: str
    date: dt.datetime | None

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Change:
        """From one item of ``GET /changes``'s ``Changes``."""
        date = None
        raw = entry.get("Date")
        if isinstance(raw, str):
            try:
                date = dt.datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
            except ValueError:
                date = None
        return cls(
            seq=int(entry["Seq"]),
            change_type=str(entry.get("ChangeType", "")),
            resource_type=str(entry.get("ResourceType", "")),
            id=str(entry.get("ID", "")),
            path=str(entry.get("Path", "")),
            date=date,
        )
