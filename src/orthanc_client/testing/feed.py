"""``SyntheticFeed``: a fake clinical site that sends generated studies to an Orthanc over time.

For demos and for testing daemons (routers, watchers) against a realistic trickle of data: study after
study, instance after instance, with pauses. Deterministic: the same arguments send the same UIDs. Needs
the ``dicom`` extra (pydicom, numpy).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from typing_extensions import Self

from .server import OrthancServer

__all__ = ["FedStudy", "SyntheticFeed"]


@dataclass(frozen=True)
class FedStudy:
    """A study the feed sent: its patient, StudyInstanceUID, Orthanc ID, instance count and when it ended."""

    patient_id: str
    study_uid: str
    orthanc_id: str
    instances: int
    sent_at: float  # time.monotonic() after its last instance


class SyntheticFeed:
    """Sends ``studies`` generated studies to the Orthanc at ``url``, one every ``interval`` seconds,
    ``instance_delay`` seconds between their instances. Patients cycle through ``patients`` IDs
    ``<patient_id_prefix>0001``... so that some patients get several studies.

    Example::

        with OrthancServer() as server, SyntheticFeed.to(server, studies=3, interval=0.5) as feed:
            feed.join()                      # or keep working while it sends in the background
            print([s.study_uid for s in feed.sent])
    """

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None = None,
        *,
        studies: int = 10,
        series: int = 1,
        instances: int = 4,
        patients: int = 3,
        patient_id_prefix: str = "FEED-",
        interval: float = 1.0,
        instance_delay: float = 0.0,
        seed: int = 0,
        study_options: dict[str, Any] | None = None,
    ) -> None:
        if studies < 0 or series < 1 or instances < 1 or patients < 1 or interval < 0 or instance_delay < 0:
            raise ValueError("SyntheticFeed: counts must be positive and delays >= 0")
        self.url = url
        self._auth = auth
        self.studies, self.series, self.instances, self.patients = studies, series, instances, patients
        self.patient_id_prefix = patient_id_prefix
        self.interval, self.instance_delay, self.seed = interval, instance_delay, seed
        self.study_options = dict(study_options or {})
        self.sent: list[FedStudy] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @classmethod
    def to(cls, server: OrthancServer, **options: Any) -> SyntheticFeed:
        """A feed for a test server (its URL and credentials)."""
        return cls(server.url, server.auth, **options)

    def __repr__(self) -> str:
        return f"SyntheticFeed({self.url!r}, studies={self.studies}, sent={len(self.sent)})"

    def datasets(self) -> Iterator[tuple[str, str, list[Any]]]:
        """``(patient_id, study_uid, datasets)`` for every study the feed sends, in order."""
        from .dicom import make_study, make_uid

        for k in range(self.studies):
            patient_id = f"{self.patient_id_prefix}{k % self.patients + 1:04d}"
            study_uid = make_uid("feed", self.patient_id_prefix, self.seed, k)
            options = {"patient_name": f"Feed^Patient{k % self.patients + 1}", **self.study_options}
            yield patient_id, study_uid, make_study(
                self.series, self.instances, patient_id=patient_id, study_uid=study_uid, seed=self.seed + k,
                accession_number=f"FEED{k + 1:06d}", **options,
            )

    def run(self) -> list[FedStudy]:
        """Sends everything (blocking) unless ``stop()`` is called; returns what was sent."""
        from .dicom import to_bytes

        with httpx.Client(base_url=self.url, auth=self._auth, timeout=60) as http:
            for index, (patient_id, study_uid, datasets) in enumerate(self.datasets()):
                if index and self._stop.wait(self.interval):
                    break
                orthanc_id = ""
                for n, dataset in enumerate(datasets):
                    if n and self.instance_delay and self._stop.wait(self.instance_delay):
                        return self.sent
                    answer = http.post("/instances", content=to_bytes(dataset)).raise_for_status().json()
                    orthanc_id = answer["ParentStudy"]
                self.sent.append(FedStudy(patient_id, study_uid, orthanc_id, len(datasets), time.monotonic()))
        return self.sent

    def start(self) -> Self:
        """Sends in a background thread; ``join()`` waits for it, ``stop()`` ends it early."""
        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - kept for join() to raise in the caller's thread
                self.error = exc

        self._thread = threading.Thread(target=target, name="synthetic-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> list[FedStudy]:
        """Waits for the background feed; raises what it raised."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.sent

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join()
