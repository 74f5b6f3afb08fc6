"""The routing daemon against two real Orthanc servers: A (watched, with peer B) and B (the destination)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import orthanc_client.aio as aio
from orthanc_client import InvalidInputError, Orthanc, PseudonymMint
from orthanc_client._routing._sync.route import Router, route_status
from orthanc_client._routing.rules import main_tags_match, parse_routes
from orthanc_client.testing import OrthancServer, version_tuple
from orthanc_client.testing.dicom import make_study, make_uid

from .test_resources_support import upload

RULES = """\
routes:
  - on: StableStudy
    where: {PatientID: "RT-*"}
    do:
      - send: {peer: B}
"""
_DICOM = {"DicomAlwaysAllowStore": True, "DicomAlwaysAllowEcho": True, "DicomCheckModalityHost": False}


@dataclass
class Pair:
    a: OrthancServer
    b: OrthancServer

    def reset(self) -> None:
        for server in (self.a, self.b):
            if not server.is_running():
                server.start()
            with http(server) as client:
                for patient in client.get("/patients").raise_for_status().json():
                    client.delete(f"/patients/{patient}").raise_for_status()


def http(server: OrthancServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=server.auth, timeout=60)


@pytest.fixture(scope="session")
def route_pair_servers(orthanc_version: str) -> Iterator[Pair]:
    a = OrthancServer(orthanc_version, name="route-a", aet="ROUTEA")
    b = OrthancServer(orthanc_version, name="route-b", aet="ROUTEB", extra_config={**_DICOM, "StableAge": 1})
    a.extra_config = {
        **_DICOM,
        "StableAge": 1,
        "OrthancPeers": {"B": {"Url": b.url, "Username": b.username, "Password": b.password},
                         "dead": {"Url": "http://127.0.0.1:9", "Username": "x", "Password": "y"}},
        "DicomModalities": {"bdicom": {"AET": b.aet, "Host": "127.0.0.1", "Port": b.dicom_port}},
    }
    try:
        a.start()
        b.start()
        yield Pair(a, b)
    finally:
        a.close()
        b.close()


@pytest.fixture
def pair(route_pair_servers: Pair) -> Pair:
    route_pair_servers.reset()
    return route_pair_servers


def last_seq(server: OrthancServer) -> int:
    with http(server) as client:
        return int(client.get("/changes", params={"last": ""}).raise_for_status().json()["Last"])


def study_uids(server: OrthancServer) -> dict[str, int]:
    """StudyInstanceUID -> instance count."""
    with http(server) as client:
        studies = client.get("/studies", params={"expand": ""}).raise_for_status().json()
        return {s["MainDicomTags"]["StudyInstanceUID"]: len(client.get(f"/studies/{s['ID']}/instances").json())
                for s in studies}


def stable_studies(server: OrthancServer, since: int) -> int:
    with http(server) as client:
        count = 0
        while True:
            page = client.get("/changes", params={"since": since, "limit": 100}).raise_for_status().json()
            count += sum(c["ChangeType"] == "StableStudy" for c in page["Changes"])
            since = page["Last"]
            if page["Done"]:
                return count


def cli(server: OrthancServer, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "ORTHANC_URL": server.url, "ORTHANC_USERNAME": server.username,
           "ORTHANC_PASSWORD": server.password, "ORTHANC_PSEUDONYM_SECRET": "route test secret"}
    return subprocess.Popen([sys.executable, "-m", "orthanc_client.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


def passes(state: Path) -> int:
    if not state.exists():
        return 0
    with sqlite3.connect(state) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM route_passes").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def wait_until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_daemon_sigkilled_and_restarted_delivers_every_match_once(pair: Pair, tmp_path: Path) -> None:
    rules, state = tmp_path / "rules.yaml", tmp_path / "route.sqlite"
    rules.write_text(RULES)
    since = last_seq(pair.a)
    daemon = cli(pair.a, "route", str(rules), "--state", str(state), "--since", str(since), "--poll-interval", "0.2")
    matching = [make_uid("route", i) for i in range(4)]
    others = [make_uid("other", i) for i in range(2)]
    try:
        upload(pair.a, make_study(1, 3, patient_id="XX-1", study_uid=others[0]))
        for i, uid in enumerate(matching):  # one after the other: they become stable a second apart
            upload(pair.a, make_study(1, 3, patient_id=f"RT-{i}", study_uid=uid))
            if i == 0:
                wait_until(lambda: passes(state) >= 1)
                daemon.send_signal(signal.SIGKILL)
                daemon.wait(10)
                killed_at = passes(state)
                upload(pair.a, make_study(1, 3, patient_id="XX-2", study_uid=others[1]))
                daemon = cli(pair.a, "route", str(rules), "--state", str(state), "--poll-interval", "0.2")
            time.sleep(0.5)
        wait_until(lambda: stable_studies(pair.a, since) == 6)
        wait_until(lambda: passes(state) == 4)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0, daemon.stderr.read() if daemon.stderr else ""
        log = daemon.stderr.read() if daemon.stderr else ""
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert killed_at < 4
    assert study_uids(pair.b) == {uid: 3 for uid in matching}  # every match, complete, and nothing else
    assert "routed" in log and "send to peer B" in log and pair.a.password not in log
    status = subprocess.run([sys.executable, "-m", "orthanc_client.cli", "route-status", "--state", str(state),
                             "--json"], capture_output=True, text=True, check=True)
    report = json.loads(status.stdout)
    assert report["passes"] == {"route 1": 4} and report["deliveries"] == {"peer:B": 4}
    assert report["dead_letters"] == []


def test_failing_route_is_dead_lettered_and_listed(pair: Pair, tmp_path: Path) -> None:
    state = tmp_path / "route.sqlite"
    routes = parse_routes({"routes": [{"name": "to-dead", "on": "StableStudy", "do": [{"send": {"peer": "dead"}}]}]})
    since = last_seq(pair.a)
    upload(pair.a, make_study(1, 1, patient_id="DL-1", study_uid=make_uid("dead")))
    wait_until(lambda: stable_studies(pair.a, since) == 1)
    with Orthanc(pair.a.url, *pair.a.auth) as client:
        router = Router(client, routes, state=state, since=since, attempts=2, retry_delay=0.05, send_timeout=30)
        router.run(until_idle=True)
    letters = route_status(state)["dead_letters"]
    assert len(letters) == 1 and letters[0]["attempts"] == 2 and letters[0]["change_type"] == "StableStudy"
    shown = subprocess.run([sys.executable, "-m", "orthanc_client.cli", "route-status", "--state", str(state)],
                           capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"})
    assert "Dead letters (1)" in shown.stdout and letters[0]["resource_id"][:8] in shown.stdout


async def test_async_router_anonymizes_with_pseudonyms_sends_by_cstore_and_deletes(pair: Pair, tmp_path: Path) -> None:
    mint = PseudonymMint("route test secret")
    routes = parse_routes({"routes": [{
        "on": ["StableStudy"], "where": {"PatientID": "PS-*", "StudyDate": "20240101-20241231", "ModalitiesInStudy": ["MR", "CT"]},
        "do": [{"anonymize": {"pseudonyms": True}}, {"send": {"modality": "bdicom"}}, {"delete": True}],
    }]})
    since = last_seq(pair.a)
    source_uid = make_uid("pseudo-route")
    upload(pair.a, make_study(1, 2, patient_id="PS-1", study_uid=source_uid))
    upload(pair.a, make_study(1, 2, patient_id="PS-2", study_uid=make_uid("too-old"), study_date="20200101"))
    wait_until(lambda: stable_studies(pair.a, since) == 2)
    async with aio.AsyncOrthanc(pair.a.url, *pair.a.auth) as client:
        router = aio.Router(client, routes, state=tmp_path / "s.sqlite", since=since, poll_interval=0.2,
                            pseudonyms=mint)
        await router.check()
        await router.run(until_idle=True)
        assert route_status(tmp_path / "s.sqlite")["dead_letters"] == []
        # the anonymized copy's own StableStudy (Orthanc drops the deleted source's changes from its log)
        wait_until(lambda: stable_studies(pair.a, since) == 2)
        await router.run(until_idle=True)  # ... which the router made, so it is not routed again
    assert study_uids(pair.b) == {mint.uid(source_uid): 2}
    on_a = study_uids(pair.a)
    assert source_uid not in on_a and mint.uid(source_uid) in on_a and make_uid("too-old") in on_a


def test_rules_are_checked_before_anything_runs(pair: Pair, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown change type"):
        parse_routes({"routes": [{"on": "StableStuddy", "do": [{"send": {"peer": "B"}}]}]})
    with pytest.raises(InvalidInputError, match="last action"):
        parse_routes({"routes": [{"on": "StableStudy", "do": [{"delete": True}, {"send": {"peer": "B"}}]}]})
    with pytest.raises(InvalidInputError, match="exactly one of peer"):
        parse_routes({"routes": [{"on": "StableStudy", "do": [{"send": {"peer": "B", "modality": "M"}}]}]})
    with pytest.raises(InvalidInputError, match="unknown action 'copy'"):
        parse_routes({"routes": [{"on": "StableStudy", "do": [{"copy": {}}]}]})
    with pytest.raises(InvalidInputError, match="force"):
        parse_routes({"routes": [{"on": "StableStudy", "do": [{"modify": {"replace": {"PatientID": "X"}}}]}]})
    needs_mint = parse_routes({"routes": [{"on": "StableStudy", "do": [{"anonymize": {"pseudonyms": True}}]}]})
    with Orthanc(pair.a.url, *pair.a.auth) as client:
        with pytest.raises(InvalidInputError, match="ORTHANC_PSEUDONYM_SECRET"):
            Router(client, needs_mint, state=None)
        with pytest.raises(InvalidInputError, match="rules as a dict"):
            Router(client, ["send everything"], state=None)  # type: ignore[list-item]
        from_dict = Router(client, {"routes": [{"on": "StableStudy", "do": [{"send": {"peer": "B"}}]}]}, state=None)
        from_dict.check()
        assert [r.name for r in from_dict.routes] == ["route 1"]
        for target, message in (({"peer": "C"}, "no peer 'C'"), ({"modality": "nope"}, "no modality 'nope'"),
                                ({"dicomweb": "web"}, "DICOMweb plugin")):
            routes = parse_routes({"routes": [{"on": "StableStudy", "do": [{"send": target}]}]})
            with pytest.raises(InvalidInputError, match=message):
                Router(client, routes, state=None).check()
        if version_tuple(pair.a.version) < (1, 12):
            labelled = parse_routes({"routes": [{"on": "StableStudy", "do": [{"label": "x"}]}]})
            with pytest.raises(InvalidInputError, match="labels need Orthanc 1.12"):
                Router(client, labelled, state=None).check()
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  - on: StableStudy\n    do:\n      - send: {peer: C}\n")
    result = cli(pair.a, "route", str(bad), "--state", str(tmp_path / "s.sqlite"))
    _, err = result.communicate(timeout=60)
    assert result.returncode == 2 and "no peer 'C'" in err  # a bad rules file is a usage error


def test_yaml_on_key_and_where_matching() -> None:
    import yaml

    (route,) = parse_routes(yaml.safe_load(RULES))
    assert route.on == {"StableStudy"} and route.where == {"PatientID": "RT-*"}
    assert main_tags_match({"PatientName": "doe*"}, {"PatientName": "DOE^JOHN"})
    assert not main_tags_match({"PatientID": "rt-*"}, {"PatientID": "RT-1"})  # IDs are case-sensitive
    assert main_tags_match({"Modality": "CT\\MR"}, {"Modality": "MR"})
    assert main_tags_match({"StudyDate": "-20240101"}, {"StudyDate": "20231231"})
    assert not main_tags_match({"StudyDate": "20240101-"}, {"StudyDate": "20231231"})
    assert not main_tags_match({"AccessionNumber": "A?"}, {})
    assert main_tags_match({"AccessionNumber": ""}, {})


def test_modify_label_and_send_by_dicomweb(orthanc_version: str, tmp_path: Path) -> None:
    b = OrthancServer(orthanc_version, name="web-b", plugins=("dicomweb",), extra_config={"DicomWeb": {"Enable": True}})
    a = OrthancServer(orthanc_version, name="web-a", plugins=("dicomweb",))
    a.extra_config = {"StableAge": 1, "DicomWeb": {"Enable": True, "Servers": {
        "bweb": [b.url + "/dicom-web/", b.username, b.password]}}}
    labels = version_tuple(orthanc_version) >= (1, 12)
    steps: list[dict[str, object]] = [{"modify": {"replace": {"InstitutionName": "Research"}}}]
    steps += [{"label": ["routed", "research"]}] if labels else []
    steps += [{"send": {"dicomweb": "bweb"}}]
    routes = parse_routes({"routes": [{"name": "web", "on": "StableStudy", "do": steps}]})
    with a, b:
        since = last_seq(a)
        upload(a, make_study(1, 3, patient_id="WEB-1", study_uid=make_uid("web")))
        wait_until(lambda: stable_studies(a, since) == 1)
        with Orthanc(a.url, *a.auth) as client:
            router = Router(client, routes, state=tmp_path / "s.sqlite", since=since)
            router.check()
            router.run(until_idle=True)
        assert route_status(tmp_path / "s.sqlite")["deliveries"] == {"dicomweb:bweb": 1}
        with http(b) as client_b:
            tags = [client_b.get(f"/instances/{i}/simplified-tags").json() for i in client_b.get("/instances").json()]
        assert len(tags) == 3 and {t["InstitutionName"] for t in tags} == {"Research"}
        (sent_uid,) = {t["StudyInstanceUID"] for t in tags}
        assert sent_uid != make_uid("web")  # the modified copy went (Orthanc gives a modified study new UIDs)
        if labels:
            with http(a) as client_a:
                copies = client_a.post("/tools/find", json={"Level": "Study", "Query": {}, "Labels": ["routed"],
                                                            "LabelsConstraint": "All", "Expand": True}).json()
            assert len(copies) == 1 and sorted(copies[0]["Labels"]) == ["research", "routed"]


def test_doctests_of_the_rules_and_the_mint() -> None:
    import doctest

    from orthanc_client._resources import pseudonyms as _pseudonyms
    from orthanc_client._routing import rules as _route_rules

    for module in (_route_rules, _pseudonyms):
        failed, attempted = doctest.testmod(module)
        assert attempted > 0 and failed == 0
