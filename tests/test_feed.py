"""SyntheticFeed: generated studies trickling into a real Orthanc, seen by a ChangeWatcher."""

from __future__ import annotations

import threading
import time

import httpx

from orthanc_client import Change, ChangeWatcher
from orthanc_client.testing import OrthancServer, SyntheticFeed

from .test_resources_support import sync_client


def test_feed_sends_studies_over_time_and_a_watcher_sees_them_stable(clean_orthanc: OrthancServer) -> None:
    stable: list[Change] = []
    with sync_client(clean_orthanc) as client:
        watcher = ChangeWatcher(client, change_types=["StableStudy"], poll_interval=0.1)
        thread = threading.Thread(target=watcher.run, args=(stable.append,))
        thread.start()
        try:
            time.sleep(0.3)
            started = time.monotonic()
            with SyntheticFeed.to(clean_orthanc, studies=3, patients=2, instances=2, interval=0.4,
                                  instance_delay=0.1) as feed:
                sent = feed.join(60)
            assert time.monotonic() - started >= 2 * 0.4 + 3 * 0.1  # over time, not at once
            deadline = time.monotonic() + 30
            while len(stable) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            watcher.stop()
            thread.join(10)
    assert sorted(c.id for c in stable) == sorted(s.orthanc_id for s in sent)
    assert [s.patient_id for s in sent] == ["FEED-0001", "FEED-0002", "FEED-0001"]
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth) as http:
        assert len(http.get("/patients").json()) == 2 and len(http.get("/instances").json()) == 6
    again = [uid for _, uid, _ in SyntheticFeed.to(clean_orthanc, studies=3).datasets()]
    assert again == [s.study_uid for s in sent]  # deterministic
