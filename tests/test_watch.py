"""ChangeWatcher against real Orthanc servers: delivery, crash replay, clean stop, restarts, failures, resets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import orthanc_client.aio as aio
from orthanc_client import Change, ChangeWatcher, InvalidInputError, Orthanc
from orthanc_client._routing.watch_state import WatchState
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, make_uid

from .test_resources_support import async_client, sync_client, upload

WATCHER_SCRIPT = """
import sys, time
from orthanc_client import ChangeWatcher, Orthanc
state, since, out, mode = sys.argv[1:5]
with Orthanc() as client:
    watcher = ChangeWatcher(client, state=state, since=int(since), change_types=["NewInstance"], poll_interval=0.1)
    def handle(change):
        with open(out, "a") as f:
            f.write(f"{change.seq}\\n")
        time.sleep(0.2)
    watcher.run(handle, until_idle=(mode == "idle"))
print("clean exit", flush=True)
"""


def last_seq(server: OrthancServer) -> int:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as http:
        return int(http.get("/changes", params={"last": ""}).raise_for_status().json()["Last"])


def new_instance_seqs(server: OrthancServer, since: int) -> list[int]:
    seqs: list[int] = []
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as http:
        while True:
            page = http.get("/changes", params={"since": since, "limit": 100}).raise_for_status().json()
            seqs += [c["Seq"] for c in page["Changes"] if c["ChangeType"] == "NewInstance"]
            since = page["Last"]
            if page["Done"]:
                return seqs


def watcher_process(server: OrthancServer, state: Path, since: int, out: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ORTHANC_URL": server.url, "ORTHANC_USERNAME": server.username,
           "ORTHANC_PASSWORD": server.password}
    return subprocess.Popen([sys.executable, "-c", WATCHER_SCRIPT, str(state), str(since), str(out), mode],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lines(path: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_hands_on_new_changes_once_filtered(clean_orthanc: OrthancServer, tmp_path: Path, kind: str) -> None:
    state = tmp_path / "state.sqlite"
    seen: list[Change] = []
    if kind == "sync":
        with sync_client(clean_orthanc) as client:
            watcher = ChangeWatcher(client, state=state, change_types=["NewInstance"], poll_interval=0.1)
            watcher.run(seen.append, until_idle=True)  # "now": positions at the end, sees nothing
            start = watcher.cursor
            answers = upload(clean_orthanc, make_study(1, 3, patient_id="W1", study_uid=make_uid("w", kind)))
            watcher.run(seen.append, until_idle=True)
            again = ChangeWatcher(client, state=state, since=0, change_types=["NewInstance"])
            again.run(seen.append, until_idle=True)  # the stored cursor wins over since=0
    else:
        async with async_client(clean_orthanc) as aclient:
            awatcher = aio.ChangeWatcher(aclient, state=state, change_types=["NewInstance"], poll_interval=0.1)
            await awatcher.run(seen.append, until_idle=True)
            start = awatcher.cursor
            answers = upload(clean_orthanc, make_study(1, 3, patient_id="W1", study_uid=make_uid("w", kind)))

            async def handle(change: Change) -> None:  # a coroutine handler is awaited
                seen.append(change)

            await awatcher.run(handle, until_idle=True)
            async for change in aio.ChangeWatcher(aclient, state=state, change_types=["NewInstance"]).changes(
                until_idle=True
            ):
                seen.append(change)
    assert start is not None and all(change.seq > start for change in seen)
    assert sorted(change.id for change in seen) == sorted(a["ID"] for a in answers)
    assert {(c.change_type, c.resource_type) for c in seen} == {("NewInstance", "Instance")}
    assert all(c.path == f"/instances/{c.id}" and c.date is not None for c in seen)
    assert WatchState(state).cursor() == last_seq(clean_orthanc)


def test_sigkill_replays_at_most_the_change_in_flight(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    since = last_seq(clean_orthanc)
    upload(clean_orthanc, make_study(2, 4, patient_id="W2", study_uid=make_uid("w2")))
    expected = new_instance_seqs(clean_orthanc, since)
    state, out = tmp_path / "state.sqlite", tmp_path / "handled.txt"
    first = watcher_process(clean_orthanc, state, since, out, "forever")
    wait_for_lines(out, 3)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_after = len(out.read_text().split())
    second = watcher_process(clean_orthanc, state, since, out, "idle")
    assert second.wait(60) == 0, second.stderr.read() if second.stderr else ""
    handled = [int(x) for x in out.read_text().split()]
    counts = Counter(handled)
    assert sorted(counts) == sorted(expected)  # nothing lost
    replayed = [seq for seq, n in counts.items() if n > 1]
    assert len(replayed) <= 1 and all(counts[seq] == 2 for seq in replayed)  # only the one in flight
    assert killed_after < len(expected)  # it really was killed mid-run


def test_clean_stop_replays_nothing(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    since = last_seq(clean_orthanc)
    upload(clean_orthanc, make_study(2, 4, patient_id="W3", study_uid=make_uid("w3")))
    expected = new_instance_seqs(clean_orthanc, since)
    state, out = tmp_path / "state.sqlite", tmp_path / "handled.txt"
    first = watcher_process(clean_orthanc, state, since, out, "forever")
    wait_for_lines(out, 2)
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0
    assert first.stdout is not None and "clean exit" in first.stdout.read()
    second = watcher_process(clean_orthanc, state, since, out, "idle")
    assert second.wait(60) == 0
    handled = [int(x) for x in out.read_text().split()]
    assert sorted(handled) == sorted(expected)  # each exactly once


def test_server_restarted_under_a_running_watcher(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    seen: list[str] = []
    with Orthanc(clean_orthanc.url, *clean_orthanc.auth, retries=0) as client:
        watcher = ChangeWatcher(client, state=tmp_path / "s.sqlite", change_types=["NewInstance"],
                                poll_interval=0.1, max_backoff=0.5)
        thread = threading.Thread(target=watcher.run, args=(lambda c: seen.append(c.id),))
        thread.start()
        try:
            time.sleep(0.3)
            before = upload(clean_orthanc, make_study(1, 2, patient_id="W4", study_uid=make_uid("w4", 1)))
            _wait(lambda: len(seen) >= 2)
            clean_orthanc.stop()
            time.sleep(1.5)  # the watcher polls a dead server meanwhile: backoff, no crash
            assert thread.is_alive()
            clean_orthanc.start()
            after = upload(clean_orthanc, make_study(1, 2, patient_id="W4", study_uid=make_uid("w4", 2)))
            _wait(lambda: len(seen) >= 4)
            clean_orthanc.restart()  # a quick restart this time
            after += upload(clean_orthanc, make_study(1, 2, patient_id="W4", study_uid=make_uid("w4", 3)))
            _wait(lambda: len(seen) >= 6)
        finally:
            watcher.stop()
            thread.join(10)
    assert not thread.is_alive()
    assert sorted(seen) == sorted(a["ID"] for a in before + after)


def test_failing_handler_is_dead_lettered_and_the_watcher_goes_on(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    since = last_seq(clean_orthanc)
    answers = upload(clean_orthanc, make_study(1, 3, patient_id="W5", study_uid=make_uid("w5")))
    bad = answers[1]["ID"]
    calls: Counter[str] = Counter()

    def handle(change: Change) -> None:
        calls[change.id] += 1
        if change.id == bad:
            raise RuntimeError(f"cannot handle {change.id}")

    with sync_client(clean_orthanc) as client:
        watcher = ChangeWatcher(client, state=tmp_path / "s.sqlite", since=since,
                                change_types=["NewInstance"], attempts=3, retry_delay=0.01)
        watcher.run(handle, until_idle=True)
    assert calls[bad] == 3 and all(calls[a["ID"]] == 1 for a in answers if a["ID"] != bad)
    letters = WatchState(tmp_path / "s.sqlite").dead_letters()
    assert [(letter.resource_id, letter.attempts) for letter in letters] == [(bad, 3)]
    assert "RuntimeError: cannot handle" in letters[0].error


def test_log_reset_is_noticed_and_deletions_are_not_a_reset(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    state = WatchState(tmp_path / "s.sqlite")
    state.set_cursor(last_seq(clean_orthanc) + 1_000_000)  # as after the server got a new, empty database
    seen: list[str] = []
    with sync_client(clean_orthanc) as client:
        watcher = ChangeWatcher(client, state=state, change_types=["NewInstance"], poll_interval=0.1)
        thread = threading.Thread(target=watcher.run, args=(lambda change: seen.append(change.id),))
        thread.start()
        try:
            time.sleep(0.5)
            answers = upload(clean_orthanc, make_study(1, 1, patient_id="W6", study_uid=make_uid("w6")))
            _wait(lambda: answers[0]["ID"] in seen)  # started again from the beginning of the (new) log
        finally:
            watcher.stop()
            thread.join(10)
        assert [kind for _, kind, _ in state.events()] == ["log-reset"]
        # Deleting the resources of the latest changes lowers the log's Last below the cursor: not a reset.
        cursor = watcher.cursor
        second = upload(clean_orthanc, make_study(1, 1, patient_id="W7", study_uid=make_uid("w7")))
        watcher.run(lambda change: seen.append(change.id), until_idle=True)
        with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth) as http:
            http.delete(f"/patients/{second[0]['ParentPatient']}").raise_for_status()
        assert last_seq(clean_orthanc) < (watcher.cursor or 0) and (watcher.cursor or 0) > (cursor or 0)
        watcher.run(lambda change: seen.append(change.id), until_idle=True)
        third = upload(clean_orthanc, make_study(1, 1, patient_id="W8", study_uid=make_uid("w8")))
        watcher.run(lambda change: seen.append(change.id), until_idle=True)
    assert [kind for _, kind, _ in state.events()] == ["log-reset"]
    assert seen.count(second[0]["ID"]) == 1 and seen.count(third[0]["ID"]) == 1 and seen.count(answers[0]["ID"]) == 1


def test_iterator_form_commits_a_change_when_the_next_is_asked_for(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    since = last_seq(clean_orthanc)
    answers = upload(clean_orthanc, make_study(1, 3, patient_id="W9", study_uid=make_uid("w9")))
    got: list[Change] = []
    with sync_client(clean_orthanc) as client:
        watcher = ChangeWatcher(client, state=tmp_path / "s.sqlite", since=since, change_types=["NewInstance"])
        for change in watcher:
            got.append(change)
            if len(got) == 2:
                break  # the second one was in hand: it comes again next time
        rest = ChangeWatcher(client, state=tmp_path / "s.sqlite", change_types=["NewInstance"])
        again = [change.id for change in rest.changes(until_idle=True)]
    assert sorted([got[0].id, *again]) == sorted(a["ID"] for a in answers) and again[0] == got[1].id


def test_bad_arguments(tmp_path: Path) -> None:
    with Orthanc("http://127.0.0.1:9") as client:
        with pytest.raises(InvalidInputError, match="StableStuddy"):
            ChangeWatcher(client, change_types=["StableStuddy"])
        with pytest.raises(InvalidInputError, match="not one string"):
            ChangeWatcher(client, change_types="StableStudy")
        with pytest.raises(InvalidInputError, match="since"):
            ChangeWatcher(client, since=-1)
        (tmp_path / "junk").write_text("not a database, but long enough to be read as one" * 100)
        with pytest.raises(InvalidInputError, match="state file"):
            ChangeWatcher(client, state=tmp_path / "junk")
        with pytest.raises(InvalidInputError, match="does not exist"):
            ChangeWatcher(client, state=tmp_path / "no" / "such" / "state.sqlite")
        watcher = ChangeWatcher(client, state=tmp_path / "fine.sqlite")
        watcher.close()


def _wait(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
