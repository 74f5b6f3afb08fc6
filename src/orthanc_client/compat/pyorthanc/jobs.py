"""pyorthanc's ``Job`` (``pyorthanc.jobs``): follow an Orthanc job; ``State`` and ``ErrorCode`` enums."""

from __future__ import annotations

import time as _time
from datetime import datetime
from enum import Enum
from typing import Any

from ..._jobs.state import next_poll_interval
from ._native import native_of
from ._sdk_enums import ErrorCode
from .client import Orthanc
from .util import ensure_non_raw_response, make_datetime_from_dicom_date

__all__ = ["ErrorCode", "Job", "Orthanc", "State"]


class State(Enum):
    """Job state, as Orthanc names it."""

    failure = "Failure"
    paused = "Paused"
    pending = "Pending"
    retry = "Retry"
    running = "Running"
    success = "Success"


def _iso_to_datetime(value: str) -> datetime | None:
    date, _, time = value.partition("T")
    return make_datetime_from_dicom_date(date, time)


class Job:
    """An Orthanc job; every property reads ``GET /jobs/{id}`` afresh, as in pyorthanc.

    Not the native ``orthanc_client.Job``, which answers from its last read, gives aware UTC datetimes and
    raises ``JobFailedError`` from ``wait()``; only its polling policy (``next_poll_interval``) is shared.
    """

    def __init__(self, id_: str, client: Any) -> None:
        self.id_ = id_
        self.client = ensure_non_raw_response(client)

    def get_information(self) -> dict[str, Any]:
        """The job's current ``GET /jobs/{id}`` answer."""
        info: dict[str, Any] = native_of(self.client).get_jobs_id(self.id_)
        return info

    @property
    def state(self) -> State:
        return State(self.get_information()["State"])

    @property
    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = self.get_information()["Content"]
        return content

    @property
    def type(self) -> str:
        return str(self.get_information()["Type"])

    @property
    def creation_time(self) -> datetime | None:
        return _iso_to_datetime(self.get_information()["CreationTime"])

    @property
    def effective_runtime(self) -> float:
        return float(self.get_information()["EffectiveRuntime"])

    @property
    def priority(self) -> int:
        return int(self.get_information()["Priority"])

    @property
    def progress(self) -> int:
        return int(self.get_information()["Progress"])

    @property
    def error(self) -> ErrorCode:
        return ErrorCode(self.get_information()["ErrorCode"])

    @property
    def error_details(self) -> str | None:
        details = self.get_information().get("ErrorDetails")
        return None if details is None else str(details)

    @property
    def timestamp(self) -> datetime | None:
        return _iso_to_datetime(self.get_information()["Timestamp"])

    @property
    def completion_time(self) -> datetime | None:
        value = self.get_information().get("CompletionTime")
        return None if value is None else _iso_to_datetime(value)

    def wait_until_completion(self, time_interval: float | None = None) -> None:
        """Returns once the job is no longer Pending or Running (a failure does not raise, as in pyorthanc).

        ``time_interval`` fixes the polling interval in seconds; by default the interval starts at 50 ms and
        grows with the time waited (pyorthanc polls every 2 s, so short jobs took at least 2 s).
        """
        started = _time.monotonic()
        while self.state in (State.pending, State.running):
            _time.sleep(next_poll_interval(_time.monotonic() - started, time_interval))

    def __repr__(self) -> str:
        return f"Job({self.id_})"
