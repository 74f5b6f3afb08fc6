"""A progress bar for transfers (files and bytes), drawn with ``rich`` on stderr.

``progress=None`` (the default everywhere) means "when stderr is a terminal": a script piped into a log
gets no bar. ``rich`` comes with the ``orthanc-client[cli]`` extra; without it, the default is silently no
bar and ``progress=True`` raises.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from typing_extensions import Self

from .._core.errors import InvalidInputError


def progress_wanted(progress: bool | None) -> bool:
    """Resolves the ``progress`` argument: ``None`` means "stderr is a terminal"."""
    if progress is None:
        return sys.stderr.isatty() and _has_rich()
    if progress and not _has_rich():
        raise InvalidInputError("progress=True needs rich: pip install 'orthanc-client[cli]'")
    return progress


def _has_rich() -> bool:
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


class BulkProgress:
    """Counts files and bytes; draws a bar when enabled, does nothing otherwise.

    Used from one thread (the one that collects results), so it needs no lock of its own.

    Example::

        with BulkProgress(True, "upload", total_files=10) as bar:
            bar.advance(nbytes=1234)
    """

    def __init__(self, enabled: bool | None, description: str, total_files: int | None = None) -> None:
        self.enabled = progress_wanted(enabled)
        self.description = description
        self.total_files = total_files
        self.files = 0
        self.bytes = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files  {task.fields[size]}  {task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total_files, size="0 B", rate="")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    def advance(self, files: int = 1, nbytes: int = 0) -> None:
        self.files += files
        self.bytes += nbytes
        if self._bar is not None:
            task = self._bar.tasks[0]
            elapsed = task.elapsed or 0.0
            rate = f"{self.bytes / elapsed / 1e6:.1f} MB/s" if elapsed > 0 else ""
            self._bar.update(self._task, advance=files, size=format_bytes(self.bytes), rate=rate)


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KB"`` (powers of 1000, as network rates are)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"
