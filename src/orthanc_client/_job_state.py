"""Job states and the polling policy for waiting on Orthanc jobs: sans-I/O, shared by the sync and async ``Job``.

Kept out of ``_async/jobs.py`` so that ``orthanc_client.JobState`` and ``orthanc_client.aio.JobState`` are the
same enum (a generated copy would be a different class, and ``is`` comparisons across APIs would fail).
"""

from __future__ import annotations

from enum import Enum

# Polling: the first look comes quickly so that short jobs return fast; then the interval grows with the
# time already waited (a tenth of it), so the expected overshoot stays near 5% of the job's own duration,
# capped so that a long job is still noticed within a second of its end.
FIRST_POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 1.0
POLL_FRACTION_OF_ELAPSED = 0.1


class JobState(str, Enum):
    """The state of an Orthanc job, as ``GET /jobs/{id}`` names it."""

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


def next_poll_interval(elapsed: float, poll_interval: float | None) -> float:
    """Seconds to sleep before the next look at a job that has run ``elapsed`` seconds so far."""
    if poll_interval is not None:
        return poll_interval
    return min(MAX_POLL_INTERVAL, max(FIRST_POLL_INTERVAL, elapsed * POLL_FRACTION_OF_ELAPSED))
