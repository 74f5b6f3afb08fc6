"""PseudonymMint (keyed, deterministic) and ``anonymize(pseudonyms=mint)`` against real Orthanc servers."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import httpx
import pytest

import orthanc_client.aio as aio
from orthanc_client import InvalidInputError, PseudonymMint, Study
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, make_uid

from .test_resources_support import async_client, sync_client, upload

UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")


def test_same_secret_same_pseudonyms_across_processes() -> None:
    code = (
        "from orthanc_client import PseudonymMint as M; m = M('a long project secret');"
        "print(m.patient_id('P1'), m.patient_name('DOE^JOHN'), m.birth_date('19800101', key='P1'), m.uid('1.2.3'))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        for _ in range(2)
    }
    assert len(outputs) == 1
    mint = PseudonymMint("a long project secret")
    here = f"{mint.patient_id('P1')} {mint.patient_name('DOE^JOHN')} {mint.birth_date('19800101', key='P1')} {mint.uid('1.2.3')}\n"
    assert outputs == {here}


def test_different_secrets_give_different_pseudonyms() -> None:
    a, b = PseudonymMint("first secret value"), PseudonymMint("second secret value")
    values = [f"P{i}" for i in range(50)]
    assert all(a.patient_id(v) != b.patient_id(v) for v in values)
    assert all(a.uid(v) != b.uid(v) for v in values)
    assert sum(a.patient_name(v) != b.patient_name(v) for v in values) > 40  # 8,500 names: rare equal pairs
    assert a.patient_id("P1") != a.patient_id("P2")


def test_100000_uids_valid_and_distinct() -> None:
    mint = PseudonymMint("uid collision secret")
    uids = {mint.uid(f"1.2.840.10008.{i}") for i in range(100_000)}
    assert len(uids) == 100_000
    assert all(len(uid) <= 64 and UID.match(uid) and uid.startswith("2.25.") for uid in uids)
    long_root = PseudonymMint("uid collision secret", uid_root="1.2.826.0.1.3680043.10.999.12345678901234567")
    long_uids = {long_root.uid(str(i)) for i in range(10_000)}
    assert len(long_uids) == 10_000 and all(len(uid) <= 64 and UID.match(uid) for uid in long_uids)


def test_names_dates_and_errors() -> None:
    mint = PseudonymMint("name and date secret")
    name = mint.patient_name("DOE^JOHN")
    assert re.fullmatch(r"[A-Z]+\^[A-Z]+", name) and name != "DOE^JOHN"
    shifted = [dt.datetime.strptime(mint.birth_date("19800615", key=f"P{i}"), "%Y%m%d").date() for i in range(200)]
    deltas = {abs((day - dt.date(1980, 6, 15)).days) for day in shifted}
    assert max(deltas) <= 365 and 0 not in deltas and len(deltas) > 100
    assert mint.birth_date("") == ""
    assert "secret" not in repr(mint)
    with pytest.raises(InvalidInputError, match="YYYYMMDD"):
        mint.birth_date("1980-06-15")
    with pytest.raises(InvalidInputError, match="at least 8"):
        PseudonymMint("short")
    with pytest.raises(InvalidInputError, match="uid_root"):
        PseudonymMint("long enough secret", uid_root="1.02.3")
    with pytest.raises(InvalidInputError, match="ORTHANC_PSEUDONYM_SECRET"):
        PseudonymMint.from_env("ORTHANC_PSEUDONYM_SECRET_UNSET_FOR_TEST")


def _originals(server: OrthancServer, study_id: str) -> dict[str, dict[str, str]]:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        tags = http.get(f"/studies/{study_id}/instances-tags", params={"simplify": True}).raise_for_status().json()
    return {
        t["SOPInstanceUID"]: {k: t[k] for k in ("SeriesInstanceUID", "StudyInstanceUID", "PatientID", "PatientName",
                                                "PatientBirthDate", "FrameOfReferenceUID", "SOPClassUID") if k in t}
        for t in tags.values()
    }


def _check_pseudonymized(server: OrthancServer, new_id: str, originals: dict[str, dict[str, str]],
                         mint: PseudonymMint) -> None:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        tags = http.get(f"/studies/{new_id}/instances-tags", params={"simplify": True}).raise_for_status().json()
    expected_sops = {mint.uid(sop): sop for sop in originals}
    assert {t["SOPInstanceUID"] for t in tags.values()} == set(expected_sops)
    for t in tags.values():
        source = originals[expected_sops[t["SOPInstanceUID"]]]
        assert t["PatientID"] == mint.patient_id(source["PatientID"])
        assert t["PatientName"] == mint.patient_name(source["PatientName"])
        assert t["PatientBirthDate"] == mint.birth_date(source["PatientBirthDate"], key=source["PatientID"])
        assert t["StudyInstanceUID"] == mint.uid(source["StudyInstanceUID"])
        assert t["SeriesInstanceUID"] == mint.uid(source["SeriesInstanceUID"])
        assert t["SOPClassUID"] == source["SOPClassUID"]  # a kind of object, not an identifier: kept
        if "FrameOfReferenceUID" in source:
            assert t["FrameOfReferenceUID"] == mint.uid(source["FrameOfReferenceUID"])


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_anonymize_with_pseudonyms_links_exports(clean_orthanc: OrthancServer, kind: str) -> None:
    mint = PseudonymMint("research project secret")
    first = upload(clean_orthanc, make_study(2, 2, patient_id="PSN1", patient_name="DOE^JANE",
                                            study_uid=make_uid("psn", kind, 1), birth_date="19700310"))
    second = upload(clean_orthanc, make_study(1, 2, patient_id="PSN1", patient_name="DOE^JANE",
                                             study_uid=make_uid("psn", kind, 2), birth_date="19700310"))
    first_id, second_id = first[0]["ParentStudy"], second[0]["ParentStudy"]
    originals = _originals(clean_orthanc, first_id)
    if kind == "sync":
        with sync_client(clean_orthanc) as client:
            new = Study(first_id, client).anonymize(pseudonyms=mint, keep=["StudyDescription"])
            again = Study(first_id, client).anonymize(pseudonyms=mint)
            other = Study(second_id, client).anonymize(pseudonyms=mint, keep_source=False)
            patient_of_new, patient_of_other = new.get_patient().id, other.get_patient().id
            with pytest.raises(InvalidInputError, match="priority"):
                Study(second_id, client).anonymize(pseudonyms=mint, priority=3)
    else:
        async with async_client(clean_orthanc) as aclient:
            new = await aio.Study(first_id, aclient).anonymize(pseudonyms=mint, keep=["StudyDescription"])
            again = await aio.Study(first_id, aclient).anonymize(pseudonyms=mint)
            other = await aio.Study(second_id, aclient).anonymize(pseudonyms=mint, keep_source=False)
            patient_of_new = (await new.get_patient()).id
            patient_of_other = (await other.get_patient()).id
    assert new.id not in (first_id, second_id) and again.id == new.id  # deterministic: the same study again
    assert new.description == "Synthetic study"
    assert patient_of_new == patient_of_other  # the second export joins the first one's patient
    _check_pseudonymized(clean_orthanc, new.id, originals, mint)
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth, timeout=60) as http:
        studies = set(http.get("/studies").raise_for_status().json())
    assert studies == {first_id, new.id, other.id}  # keep_source=False deleted the second original


def test_instance_anonymize_with_pseudonyms_returns_the_minted_file(clean_orthanc: OrthancServer) -> None:
    import io

    import pydicom

    mint = PseudonymMint("instance level secret")
    (answer,) = upload(clean_orthanc, make_study(1, 1, patient_id="PSI", study_uid=make_uid("psi")))
    with sync_client(clean_orthanc) as client:
        from orthanc_client import Instance

        instance = Instance(answer["ID"], client)
        source = instance.get_tags()
        data = instance.anonymize(pseudonyms=mint)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPInstanceUID == mint.uid(source["SOPInstanceUID"])
    assert ds.StudyInstanceUID == mint.uid(make_uid("psi")) and ds.PatientID == mint.patient_id("PSI")
