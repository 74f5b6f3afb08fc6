"""A routing daemon end to end, on two throw-away Orthanc servers (``python examples/route_demo.py``).

A fake clinic (``SyntheticFeed``) sends studies to the hospital's Orthanc; a ``Router`` pseudonymizes those
of the research patients (``RT-*``) as they become stable and sends them to the research Orthanc, a peer.
Prints what arrived where. Needs the installed Orthanc (``make install``) and the ``dicom`` extra.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import httpx

from orthanc_client import Orthanc, PseudonymMint, Router
from orthanc_client.testing import OrthancServer, SyntheticFeed

RULES = {"routes": [{
    "name": "research",
    "on": "StableStudy",
    "where": {"PatientID": "RT-*"},
    "do": [{"anonymize": {"pseudonyms": True, "keep": ["StudyDescription"]}}, {"send": {"peer": "research"}}],
}]}


def main() -> None:
    research = OrthancServer(name="research", extra_config={"StableAge": 1})
    hospital = OrthancServer(name="hospital")
    hospital.extra_config = {"StableAge": 1, "OrthancPeers": {"research": {
        "Url": research.url, "Username": research.username, "Password": research.password}}}
    mint = PseudonymMint("demo secret: keep yours out of the code")
    with research, hospital, tempfile.TemporaryDirectory() as tmp, \
            Orthanc(hospital.url, *hospital.auth) as client:
        router = Router(client, RULES, state=Path(tmp) / "route.sqlite", pseudonyms=mint,
                        poll_interval=0.2)
        router.check()
        daemon = threading.Thread(target=router.run, kwargs={"handle_signals": False})
        daemon.start()
        try:
            with SyntheticFeed.to(hospital, studies=4, patients=2, patient_id_prefix="RT-", interval=0.5) as feed:
                sent = feed.join()
            with SyntheticFeed.to(hospital, studies=2, patient_id_prefix="CLINIC-", interval=0.5) as other:
                other.join()
            with httpx.Client(base_url=research.url, auth=research.auth) as http:
                deadline = time.monotonic() + 60
                while len(http.get("/studies").json()) < len(sent) and time.monotonic() < deadline:
                    time.sleep(0.2)
                arrived = http.post("/tools/find", json={"Level": "Study", "Query": {}, "Expand": True}).json()
        finally:
            router.stop()
            daemon.join()
    print(f"sent {len(sent)} research studies and 2 clinical ones; {len(arrived)} arrived at the research server:")
    for study in arrived:
        patient = study["PatientMainDicomTags"]
        print(f"  {patient['PatientID']}  {patient['PatientName']:<16} {study['MainDicomTags']['StudyInstanceUID']}")
    expected = {mint.patient_id(s.patient_id) for s in sent}
    print("pseudonymous patients as expected:", {s["PatientMainDicomTags"]["PatientID"] for s in arrived} == expected)


if __name__ == "__main__":
    main()
