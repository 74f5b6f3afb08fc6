"""``FolderWatcher`` / ``watch_folder``: upload what a scanner drops into a folder, losing nothing.

A file is sent only once it has stopped changing (same size and modification time for ``settle`` seconds:
scanners write slowly). Then:

* stored (or already stored) -> moved to ``done_dir`` (or deleted with ``delete=True``);
* not DICOM, or refused by Orthanc (a 4xx answer) -> moved to ``failed_dir``, the reason logged;
* the server cannot be reached (or answers 5xx) -> the file stays where it is and the watcher waits, with
  backoff, then tries again: a file leaves the folder only after Orthanc answered for it.

Relative paths are kept under ``done_dir``/``failed_dir``; a name already taken there gets a ``.1``, ``.2``...
suffix, so nothing is overwritten. Hidden files (``.name``) are left alone (scanners write there first).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..._bulk.dicom_files import classify
from ..._core.errors import HTTPError, InvalidInputError, ServerError, TransportError
from .watch import Stoppable

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

logger = logging.getLogger("orthanc_client.folder")


@dataclass
class FolderReport:
    """What a folder watcher did: files stored (new or already there) and files moved to ``failed_dir``."""

    stored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class FolderWatcher(Stoppable):
    """Uploads files dropped into ``directory`` (see the module). Give ``done_dir`` or ``delete=True``.

    Example::

        await series.download_files("incoming")   # a scanner's drop folder
        watcher = FolderWatcher(client, "incoming", done_dir="done", failed_dir="failed", settle=0)
        await watcher.run(until_idle=True)  # without until_idle: until watcher.stop(), SIGTERM or SIGINT
    """

    def __init__(
        self,
        client: AsyncOrthanc,
        directory: str | os.PathLike[str],
        *,
        recursive: bool = False,
        done_dir: str | os.PathLike[str] | None = None,
        delete: bool = False,
        failed_dir: str | os.PathLike[str] | None = None,
        settle: float = 2.0,
        poll_interval: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise InvalidInputError(f"watch_folder: {os.fspath(directory)!r} is not a directory")
        if (done_dir is None) == (not delete):
            raise InvalidInputError("watch_folder: give done_dir (where stored files go) or delete=True, not both")
        if settle < 0 or poll_interval <= 0 or max_backoff <= 0:
            raise InvalidInputError("watch_folder: settle must be >= 0, poll_interval and max_backoff > 0")
        self.client = client
        self.recursive = recursive
        self.done_dir = Path(done_dir).resolve() if done_dir is not None else None
        self.delete = delete
        self.failed_dir = Path(failed_dir).resolve() if failed_dir is not None else self.directory / "failed"
        for target in (self.done_dir, self.failed_dir):
            if target is not None:
                target.mkdir(parents=True, exist_ok=True)
        self.settle = settle
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.report = FolderReport()
        self._seen: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, unchanged since)

    def __repr__(self) -> str:
        return f"FolderWatcher({self.client!r}, {os.fspath(self.directory)!r})"

    async def run(self, *, until_idle: bool = False, handle_signals: bool = True) -> FolderReport:
        """Watches until ``stop()``, SIGTERM or SIGINT (or, with ``until_idle``, until the folder holds no file
        to send); returns what was done."""
        backoff = 0.0
        with self._signals_stop_me(handle_signals):
            while not self.stopping:
                try:
                    pending = await self.scan_once()
                except (TransportError, ServerError) as error:
                    backoff = min(self.max_backoff, max(self.poll_interval, backoff * 2))
                    logger.warning("cannot upload to %s (%s); files wait, again in %.1f s", self.client.url, error, backoff)
                    await self._pause(backoff)
                    continue
                backoff = 0.0
                if until_idle and pending == 0:
                    break
                await self._pause(self.poll_interval)
        self._stopping = False
        return self.report

    async def scan_once(self) -> int:
        """Looks at the folder once, sends every file that has settled; returns how many files wait (still
        changing, or not sent yet). A server that cannot be reached raises (the file stays)."""
        now = time.monotonic()
        present = set()
        waiting = 0
        for path in self._files():
            present.add(path)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            seen = self._seen.get(path)
            if seen is None or seen[:2] != key:
                self._seen[path] = (*key, now)
                waiting += 1
                continue
            if now - seen[2] < self.settle:
                waiting += 1
                continue
            await self._send(path)
            self._seen.pop(path, None)
            if self.stopping:
                break
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return waiting

    def _files(self) -> list[Path]:
        skip = {p for p in (self.done_dir, self.failed_dir) if p is not None}
        pattern = self.directory.rglob("*") if self.recursive else self.directory.iterdir()
        files = []
        for path in pattern:
            if path.name.startswith(".") or any(part.startswith(".") for part in path.relative_to(self.directory).parts):
                continue
            if any(path == s or s in path.parents for s in skip) or not path.is_file():
                continue
            files.append(path)
        return sorted(files)

    async def _send(self, path: Path) -> None:
        with open(path, "rb") as file:
            kind = classify(file)
            data = file.read() if kind == "dicom" else b""
        if kind != "dicom":
            self._fail(path, "not a DICOM file")
            return
        try:
            answer = await self.client.request("POST", "/instances", content=data)
        except (TransportError, ServerError):
            raise  # the file stays; run() waits for the server
        except HTTPError as error:
            self._fail(path, f"refused by Orthanc: {error}")
            return
        status = str(answer.get("Status", "")) if isinstance(answer, dict) else ""
        if status not in ("Success", "AlreadyStored"):
            self._fail(path, f"refused by Orthanc: {answer!r}")
            return
        relative = os.fspath(path.relative_to(self.directory))
        if self.delete:
            path.unlink()
            logger.info("%s: %s, deleted", relative, status)
        else:
            assert self.done_dir is not None
            target = _move(path, self.done_dir / relative)
            logger.info("%s: %s, moved to %s", relative, status, target)
        self.report.stored.append(relative)

    def _fail(self, path: Path, reason: str) -> None:
        relative = os.fspath(path.relative_to(self.directory))
        target = _move(path, self.failed_dir / relative)
        logger.warning("%s: %s; moved to %s", relative, reason, target)
        self.report.failed[relative] = reason


async def watch_folder(client: AsyncOrthanc, directory: str | os.PathLike[str], *, until_idle: bool = False,
                       **options: object) -> FolderReport:
    """``FolderWatcher(client, directory, **options).run(until_idle=...)``: see ``FolderWatcher``.

    Example::

        await series.download_files("incoming")
        report = await watch_folder(client, "incoming", done_dir="done", until_idle=True, settle=0)
        print(len(report.stored), report.failed)
    """
    watcher = FolderWatcher(client, directory, **options)  # type: ignore[arg-type]
    return await watcher.run(until_idle=until_idle)


def _move(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = target, 0
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.name}.{n}")
    shutil.move(os.fspath(source), os.fspath(candidate))
    return candidate
