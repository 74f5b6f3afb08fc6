"""Job states and the polling policy for waiting on Orthanc jobs: sans-I/O, shared by the sync and async ``Job``.

Kept out of ``_async/jobs.py`` so that ``orthanc_client.JobState`` and ``orthanc_client.aio.JobState`` are the
same enum (a generated copy would be a different class, and ``is`` comparisons across APIs would fail).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any

from .._dicom.values import parse_orthanc_timestamp

# Polling: the first look comes quickly so that short jobs return fast; then the interval grows with the
# time already waited (a tenth of it), capped so that a long job is still noticed within a second of its end.
# A running job whose progress moves is looked at again when, at that pace, it should end (ProgressPace), not
# up to a whole interval later; if it has not ended by then, at most every MIN_POLL_INTERVAL (a cap of 100
# requests/s) or 2% of the time waited, whichever is longer, so that a job that overruns its estimate is not
# polled at that rate for long (requests grow with the log of the wait).
FIRST_POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 1.0
POLL_FRACTION_OF_ELAPSED = 0.1
MIN_POLL_INTERVAL = 0.01
MIN_POLL_FRACTION_OF_ELAPSED = 0.02


class JobState(str, Enum):
    """The state of an Orthanc job, as ``GET /jobs/{id}`` names it.

    Example::

        from orthanc_client import JobState, list_jobs

        succeeded = [job.id for job in list_jobs(client) if job.state is JobState.SUCCESS]
        print(len(succeeded), JobState.RUNNING.is_finished)   # ... False
    """

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILURE = "Failure"
    PAUSED = "Paused"
    RETRY = "Retry"

    @property
    def is_finished(self) -> bool:
        """True for ``SUCCESS`` and ``FAILURE``: states a job never leaves by itself."""
        return self in (JobState.SUCCESS, JobState.FAILURE)


def next_poll_interval(elapsed: float, poll_interval: float | None, remaining: float | None = None) -> float:
    """Seconds to sleep before the next look at a job that has run ``elapsed`` seconds so far; ``remaining``
    is an estimate of the seconds it still needs (``ProgressPace``; ``None``: none), which may shorten it."""
    if poll_interval is not None:
        return poll_interval
    delay = min(MAX_POLL_INTERVAL, max(FIRST_POLL_INTERVAL, elapsed * POLL_FRACTION_OF_ELAPSED))
    if remaining is not None:
        floor = max(MIN_POLL_INTERVAL, elapsed * MIN_POLL_FRACTION_OF_ELAPSED)
        delay = min(delay, max(floor, remaining))
    return delay


class ProgressPace:
    """Estimates the seconds a running job still needs from the pace of its ``Progress`` (percent) on the
    server's clock (each answer's ``Timestamp``), since the first answer that showed it running.

    Not Orthanc's own ``EstimatedTimeOfArrival``: it comes from ``EffectiveRuntime``, which Orthanc 1.12.7
    reports near 0 while a job runs, so that estimate says "now" all along (1.10 gets it right)."""

    def __init__(self) -> None:
        self._start: tuple[dt.datetime, float] | None = None

    def remaining(self, info: Mapping[str, Any]) -> float | None:
        """Seconds left after the answer ``info`` of ``GET /jobs/{id}``; ``None`` while there is no pace yet."""
        progress = info.get("Progress")
        now = parse_orthanc_timestamp(info.get("Timestamp"))
        if info.get("State") != JobState.RUNNING.value or not isinstance(progress, (int, float)) or now is None:
            self._start = None  # paused, retried, resubmitted: the pace starts again
            return None
        if self._start is None or progress < self._start[1] or now < self._start[0]:
            self._start = (now, float(progress))
            return None
        started, progress_then = self._start
        if progress <= progress_then:
            return None
        seconds = (now - started).total_seconds()
        return max(0.0, seconds * (100.0 - progress) / (progress - progress_then))
