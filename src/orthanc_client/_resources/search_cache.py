"""``SearchCache``: identical searches within a time-to-live served from memory (no I/O; shared by the sync
and async APIs, by ``find_*`` and DICOMweb's QIDO-RS alike), as dicomtrolley's ``CachedSearcher`` does.

A viewer or a script that asks the same question again and again (the studies of a patient, every time a
page is drawn) then costs one request per ``ttl`` seconds. Answers are kept as the server sent them: each hit
builds fresh result objects, so a caller changing one never changes the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from .._core.errors import InvalidInputError


class SearchCache:
    """Remembers search answers for ``ttl`` seconds, at most ``max_entries`` of them (the oldest go first).

    Example::

        from orthanc_client import DicomWeb, find_studies

        cache = SearchCache(ttl=60)
        studies = find_studies(client, {"PatientID": "DEMO*"}, cache=cache)   # a request
        studies = find_studies(client, {"PatientID": "DEMO*"}, cache=cache)   # from memory
        web = DicomWeb(client, cache=cache)                                   # QIDO-RS too
        cache.clear()
    """

    def __init__(self, ttl: float = 60.0, max_entries: int = 1024) -> None:
        if not ttl > 0 or max_entries < 1:
            raise InvalidInputError(f"a SearchCache needs ttl > 0 and max_entries >= 1, got {ttl!r}, {max_entries!r}")
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()  # the sync API searches from worker threads too

    def get(self, key: str) -> Any | None:
        """The answer remembered for ``key``, or ``None`` (never seen, or older than ``ttl``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= time.monotonic():
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self.hits += 1
            return entry[1]

    def put(self, key: str, answer: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forgets every answer."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"SearchCache(ttl={self.ttl:g}, entries={len(self)}, hits={self.hits}, misses={self.misses})"
