"""Job states and the polling policy for waiting on Orthanc jobs: sans-I/O, shared by the sync and async ``Job``.

Kept out of ``_async/jobs.py`` so that ``orthanc_client.JobState`` and ``orthanc_client.aio.JobState`` are the
same enum (a generated copy would be a different class, and ``is`` comparisons across APIs would fail).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from ._tags import parse_orthanc_timestamp

# Polling: the first look comes quickly so that short jobs return fast; then the interval grows with the
# time already waited (a tenth of it), capped so that a long job is still noticed within a second of its end.
# A running job that Orthanc can time (EstimatedTimeOfArrival, from its progress) is looked at again when it
# should end, not up to a whole interval later; if it has not ended by then, at most every MIN_POLL_INTERVAL
# (a cap of 100 requests/s) or 2% of the time waited, whichever is longer, so that a job that overruns its
# estimate is not polled at that rate for long (requests grow with the log of the wait).
FIRST_POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 1.0
POLL_FRACTION_OF_ELAPSED = 0.1
MIN_POLL_INTERVAL = 0.01
MIN_POLL_FRACTION_OF_ELAPSED = 0.02

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


def next_poll_interval(elapsed: float, poll_interval: float | None, remaining: float | None = None) -> float:
    """Seconds to sleep before the next look at a job that has run ``elapsed`` seconds so far; ``remaining``
    is the server's estimate of the seconds left (``None`` when it has none), which may shorten the sleep."""
    if poll_interval is not None:
        return poll_interval
    delay = min(MAX_POLL_INTERVAL, max(FIRST_POLL_INTERVAL, elapsed * POLL_FRACTION_OF_ELAPSED))
    if remaining is not None:
        floor = max(MIN_POLL_INTERVAL, elapsed * MIN_POLL_FRACTION_OF_ELAPSED)
        delay = min(delay, max(floor, remaining))
    return delay


def estimated_remaining(info: Mapping[str, Any]) -> float | None:
    """Seconds Orthanc expects a running job still needs: its ``EstimatedTimeOfArrival`` (from the progress)
    minus the answer's ``Timestamp``, both the server's clock; ``None`` when it gives no estimate."""
    eta = parse_orthanc_timestamp(info.get("EstimatedTimeOfArrival"))
    now = parse_orthanc_timestamp(info.get("Timestamp"))
    if eta is None or now is None:
        return None
    return max(0.0, (eta - now).total_seconds())
