"""Writing the parts of a WADO-RS answer to files (shared by the sync and async APIs), two ways:

- by the thread that reads the answer (``write_in_thread=False``, the bulk path): it writes each piece itself,
  from one reused buffer with ``os.write`` (no copy through a file object's buffer), or has the kernel move
  it from the socket (``fileno``/``moved``, see ``direct.py``). Measured with the server on the other of 2
  cores: a writer thread costs more in hand-overs than it hides (1.75-1.8x a plain read, against 1.6x).
- by a writer thread (the httpx path, whose reader spends its own CPU in Python per chunk). The queue between
  the two holds at most ``MAX_PENDING`` batches of ``BATCH_BYTES``, so memory stays bounded whatever the
  study's size; when the disk is slower, the reader waits.

Each part goes to ``.orthanc-client-N.dcm.part`` and is renamed to its layout name once complete: a file
under its final name is always whole.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._bulk.results import BulkItem
from .._core.errors import InvalidInputError
from .._core.fastpath.connections import write_all
from .._dicom.header_scan import LAST_LAYOUT_TAG, LAYOUT_TAGS, layout_tags

MAX_PENDING = 16
BATCH_BYTES = 1 << 20
"""Chunks go to the thread in batches of about this size: each hand-over between two threads costs a GIL
switch (up to 5 ms when the other thread is busy in Python), so there must be few. At most ``MAX_PENDING``
batches wait, about 16 MB."""
HEAD_BYTES = 64 * 1024
"""Bytes of each part kept in memory, at most, to read its tags without reopening the file (the bulk path keeps
fewer: ``direct.FIRST_BYTES``)."""
RESCAN_BYTES = 1 << 20
"""When a part's tags lie beyond the bytes kept (a big private group before them), this much of its file is
read again from the disk's cache for the scan, before falling back to pydicom."""

_START, _DATA, _END, _STOP = range(4)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


class PartFiles:
    """Writes the parts of one answer to files. ``start()``/``data()``/``end()`` per part, then
    ``finish()`` (returns the items) or ``abort()`` (after an error: removes the partial file).

    Example::

        files = PartFiles(Path("out"), lambda info: info["SOPInstanceUID"] + ".dcm", lambda tags, size: tags)
        files.start(); files.data(instance.get_file()); files.end()
        print(files.finish()[0].path)                   # out/<SOPInstanceUID>.dcm
    """

    def __init__(
        self,
        target: Path,
        name_of: Callable[[Any], str],
        make_info: Callable[[dict[str, str], int], Any],
        *,
        write_in_thread: bool = True,
        last_tag: int = LAST_LAYOUT_TAG,
    ) -> None:
        self.write_in_thread = write_in_thread
        self._last_tag = last_tag  # the scan of each part's tags stops there (the layout needs no more)
        self.target = target
        self._name_of = name_of
        self._make_info = make_info
        self._queue: queue.Queue[tuple[int, list[Any] | None]] = queue.Queue(MAX_PENDING)
        self._batch: list[bytes] = []
        self._batch_size = 0
        self.items: list[BulkItem] = []
        self.error: BaseException | None = None
        self._seen: set[str] = set()
        self._made: set[Path] = set()
        self._partial: Path | None = None
        self._file: int | None = None  # a descriptor: os.write has no buffer to copy through
        self._head: list[bytes] = []
        self._head_size = 0
        self._size = 0
        self._count = 0
        self._thread = threading.Thread(target=self._run, name="orthanc-client-save", daemon=True)
        if write_in_thread:
            self._thread.start()

    # ---- the reader's side

    def _put(self, op: int, data: list[Any] | None = None) -> None:
        if self.error is not None:
            raise self.error
        if self.write_in_thread:
            self._queue.put((op, data))
        else:
            self._do(op, data)
            if self.error is not None:
                raise self.error

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_size = self._batch, [], 0
            self._put(_DATA, batch)

    def start(self) -> None:
        self._put(_START)

    def data(self, chunk: bytes | memoryview) -> None:
        """The next piece of the current part. A view (of a buffer the reader reuses) is written before this
        returns, or copied for the writer thread."""
        if not self.write_in_thread:  # no hand-over to save: written at once
            self._put(_DATA, [chunk])
            return
        if isinstance(chunk, memoryview):
            chunk = chunk.tobytes()
        self._batch.append(chunk)
        self._batch_size += len(chunk)
        if self._batch_size >= BATCH_BYTES:
            self._flush()

    def fileno(self) -> int:
        """The current part's file descriptor, for a reader that writes to it itself (``moved`` then counts
        the bytes); only when the reader writes (``write_in_thread=False``)."""
        if self.write_in_thread or self._file is None:
            raise RuntimeError("no part file open in the reader's thread")
        return self._file

    def moved(self, count: int) -> None:
        """``count`` bytes were written to ``fileno()`` by the reader."""
        self._size += count

    def end(self) -> None:
        self._flush()
        self._put(_END)

    def finish(self) -> list[BulkItem]:
        """Waits for the last file; raises what the thread met (a disk error, a bad layout)."""
        self._flush()
        if self.write_in_thread:
            self._queue.put((_STOP, None))
            self._thread.join()
        if self.error is not None:
            raise self.error
        return self.items

    def abort(self) -> list[BulkItem]:
        """Stops after an error on the reader's side: the parts already complete are still written (their
        end is in the queue, in order), the part being written is removed."""
        if self.write_in_thread:
            self._queue.put((_STOP, None))
            self._thread.join()
        self._drop_partial()
        return self.items

    # ---- the thread's side

    def _run(self) -> None:
        while True:
            op, data = self._queue.get()
            if op == _STOP:
                return
            if self.error is not None:
                continue  # drain, so that the reader never blocks on a full queue
            self._do(op, data)

    def _do(self, op: int, data: list[Any] | None) -> None:
        try:
            if op == _DATA:
                assert data is not None and self._file is not None
                for chunk in data:
                    write_all(self._file, chunk)
                    self._size += len(chunk)
                    if self._head_size < HEAD_BYTES:
                        # bytes are kept as they are (a full slice is no copy); a view is copied, since its
                        # buffer is reused for the next piece
                        head = chunk[: HEAD_BYTES - self._head_size]
                        self._head.append(head.tobytes() if isinstance(head, memoryview) else head)
                        self._head_size += len(head)
            elif op == _START:
                self._open()
            else:
                self._close()
        except BaseException as error:  # noqa: BLE001 - handed to the reader, which raises it
            self.error = error
            self._drop_partial()

    def _open(self) -> None:
        if self.target not in self._made:
            self.target.mkdir(parents=True, exist_ok=True)
            self._made.add(self.target)
        self._partial = self.target / f".orthanc-client-{self._count}.dcm.part"
        self._count += 1
        self._file = os.open(self._partial, _OPEN_FLAGS, 0o666)
        self._head, self._head_size, self._size = [], 0, 0

    def _close(self) -> None:
        assert self._file is not None and self._partial is not None
        file, self._file = self._file, None
        os.close(file)
        partial, self._partial = self._partial, None
        head = self._head[0] if len(self._head) == 1 else b"".join(self._head)
        self._head = []
        self.items.append(self._place(partial, head, self._size))

    def _drop_partial(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            os.close(file)
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
            self._partial = None

    def _place(self, partial: Path, head: bytes, size: int) -> BulkItem:
        """Renames a complete ``.part`` file to its layout name (its tags read from its first bytes)."""
        try:
            tags = _tags(head, partial, size, self._last_tag)
        except Exception as error:  # noqa: BLE001 - an unreadable part is reported, the others go on
            partial.unlink(missing_ok=True)
            return BulkItem(partial.name, size=size, reason=f"a part of the answer is not DICOM: {error}", error=error)
        uid = tags.get("SOPInstanceUID", partial.stem)
        relative = Path(self._name_of(self._make_info(tags, size))).as_posix().lstrip("/")
        if not relative or ".." in Path(relative).parts:
            partial.unlink(missing_ok=True)
            raise InvalidInputError(f"the layout gave {relative!r} for {uid}: not a relative path")
        if relative in self._seen:
            stem, dot, suffix = relative.rpartition(".")
            relative = f"{stem}_{len(self._seen)}.{suffix}" if dot else f"{relative}_{len(self._seen)}"
        self._seen.add(relative)
        final = self.target / relative
        if final.parent not in self._made:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(final.parent)
        os.replace(partial, final)
        return BulkItem(str(final), path=final, instance_id=uid, size=size)


def _tags(head: bytes, partial: Path, size: int, last_tag: int) -> dict[str, str]:
    tags = layout_tags(head, last_tag)
    if (tags is None or "SOPInstanceUID" not in tags) and size > len(head):
        with open(partial, "rb") as file:
            tags = layout_tags(file.read(RESCAN_BYTES), last_tag)
    if tags is not None and "SOPInstanceUID" in tags:
        return tags
    import pydicom

    dataset = pydicom.dcmread(partial, stop_before_pixels=True, specific_tags=list(LAYOUT_TAGS.values()))
    return {element.keyword: str(element.value) for element in dataset if element.keyword in LAYOUT_TAGS.values()}
