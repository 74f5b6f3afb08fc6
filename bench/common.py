"""Shared bits of the benchmarks: timing, request counting, the row format."""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

Row = dict[str, Any]


def row(name: str, ours_s: float, peer_s: float | None, *, ours_requests: int | None = None,
        peer_requests: int | None = None, note: str = "") -> Row:
    return {
        "name": name,
        "ours_s": ours_s,
        "peer_s": peer_s,
        "ratio": (ours_s / peer_s) if peer_s else None,
        "ours_requests": ours_requests,
        "peer_requests": peer_requests,
        "note": note,
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call: for cases that change the server and can't be repeated."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def best_in_turns(
    repeat: int,
    contenders: dict[str, Callable[[], Any]],
    before: Callable[[], Any] = lambda: None,
    after: Callable[[str], Any] = lambda name: None,
) -> dict[str, float]:
    """Each contender's fastest of ``repeat`` runs, the contenders taking turns, so that a busy moment of the
    machine disturbs them alike. ``before()`` and ``after(name)`` run untimed around each run (to reset the
    server or the disk, and to check the outcome)."""
    return {name: min(times) for name, times in times_in_turns(repeat, contenders, before, after).items()}


def times_in_turns(
    repeat: int,
    contenders: dict[str, Callable[[], Any]],
    before: Callable[[], Any] = lambda: None,
    after: Callable[[str], Any] = lambda name: None,
) -> dict[str, list[float]]:
    """Every run's time, in seconds, of each contender, taking turns as in ``best_in_turns``."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            before()
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            after(name)
            times[name].append(elapsed)
    return times


def median_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class RequestCounter:
    """Counts the requests an httpx client sends (install with ``counter.install(http_client)``)."""

    def __init__(self) -> None:
        self.count = 0

    def hook(self, request: httpx.Request) -> None:
        self.count += 1

    async def async_hook(self, request: httpx.Request) -> None:
        self.count += 1

    def install(self, client: httpx.Client | httpx.AsyncClient) -> None:
        hooks = client.event_hooks
        hooks.setdefault("request", [])
        hooks["request"].append(self.async_hook if isinstance(client, httpx.AsyncClient) else self.hook)
        client.event_hooks = hooks

    def reset(self) -> None:
        self.count = 0


class LoggedRequestCounter(logging.Handler):
    """Counts the requests the library makes from its DEBUG log (one line per answer, whichever way the request
    went: through httpx or the bulk upload's own pool). Unlike httpx event hooks, it does not change the path
    the library takes (hooks make the upload post through httpx, so that they see every request).

    Example: ``with LoggedRequestCounter() as counter: upload(...)``, then ``counter.count``.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self._logger = logging.getLogger("orthanc_client")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        if " -> %d" in str(record.msg):
            self.count += 1

    def __enter__(self) -> LoggedRequestCounter:
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


# <linux/fs.h>: the inode flags ioctls, and the flag ext4's Orlov allocator reads as "the top of a directory tree".
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def spread_folder(folder: Path) -> bool:
    """Create ``folder`` and ask ext4 to place each of its subfolders in a block group of its own, as it does
    for folders at the top of the disk. ``True`` when the file system took the flag.

    Why a benchmark needs this: on ext4 without a journal (this machine's disk), creating a file scans every
    inode of its block group deleted in the last 1-360 s (the kernel's ``recently_deleted()``). ext4 keeps a new
    folder near its parent, so everything under ``/tmp`` lands in the few block groups where the test suites
    and the other benchmarks delete thousands of files a minute. A file there costs 0.05-0.3 ms to create
    instead of 0.005 ms, whoever creates it: a save of 200 files timed there times the deletions of the last
    minutes, not the client.
    """
    folder.mkdir()
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        import fcntl  # Linux only, as the flag is

        flags = struct.unpack("i", fcntl.ioctl(descriptor, FS_IOC_GETFLAGS, struct.pack("i", 0)))[0]
        fcntl.ioctl(descriptor, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_TOPDIR_FL))
    except (ImportError, OSError):  # not ext4 (tmpfs, xfs, btrfs...): nothing to spread, and no such scan either
        return False
    finally:
        os.close(descriptor)
    return True


def creating_files_ms(folder: Path, count: int) -> float:
    """What the file system alone costs a save of ``count`` files: creating that many empty files in ``folder``
    (created, then removed)."""
    folder.mkdir()
    started = time.perf_counter()
    for index in range(count):
        (folder / f"{index}.dcm").touch()
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder)
    return elapsed * 1000
