"""Sans-I/O parts of the networking API: answers, retrieve identifiers, the manifest. No server needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from orthanc_client import DicomNetworkError, FindAnswer, InvalidInputError, NotFoundError
from orthanc_client._core.errors import HTTPError, error_for_response
from orthanc_client._network.bodies import (
    c_find_body,
    normalize_level,
    raise_remote_error,
    retrieve_identifiers,
    uid_list_query,
)
from orthanc_client._network.transfer_manifest import (
    ANONYMIZED,
    ANONYMIZING,
    FAILED,
    MOVING,
    PENDING,
    VERIFIED,
    Manifest,
)
from orthanc_client._resources.modify import anonymize_options


def test_find_answer_reads_typed_values() -> None:
    answer = FindAnswer(
        "Study",
        {
            "PatientID": "P1",
            "StudyInstanceUID": "1.2",
            "StudyDate": "20240102",
            "NumberOfStudyRelatedInstances": "7",
        },
        "pacs",
    )
    assert answer["PatientID"] == "P1" and answer.uid == "1.2" and answer.number_of_instances == 7
    assert answer.study_date is not None and answer.study_date.isoformat() == "2024-01-02"
    assert answer.identifier() == {"PatientID": "P1", "StudyInstanceUID": "1.2"}
    assert FindAnswer("Series", {"SeriesInstanceUID": "1"}).number_of_instances is None


def test_retrieve_identifiers_and_levels() -> None:
    assert normalize_level("IMAGE") == "Instance"
    with pytest.raises(InvalidInputError):
        normalize_level("Visit")
    assert retrieve_identifiers(None, ["1.2", "1.3"]) == (
        "Study",
        [{"StudyInstanceUID": "1.2"}, {"StudyInstanceUID": "1.3"}],
    )
    level, ids = retrieve_identifiers("series", [{"StudyInstanceUID": "1", "SeriesInstanceUID": "1.1"}])
    assert level == "Series" and uid_list_query(level, ids + ids) == {"SeriesInstanceUID": "1.1"}
    with pytest.raises(InvalidInputError):
        retrieve_identifiers("Study", [])


def test_find_body_converts_python_values_and_asks_for_counts() -> None:
    import datetime as dt

    body = c_find_body(
        "Study", {"StudyDate": (dt.date(2024, 1, 1), None), "Modality": ["CT", "MR"]}, ["BodyPartExamined"], 5
    )
    assert body["Query"]["StudyDate"] == "20240101-" and body["Query"]["Modality"] == "CT\\MR"
    assert body["Query"]["NumberOfStudyRelatedInstances"] == "" and body["Query"]["BodyPartExamined"] == ""
    assert body["Level"] == "Study" and body["Timeout"] == 5


def test_manifest_keeps_verified_studies_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    with Manifest(path) as manifest:
        manifest.add_requests({"AccessionNumber=A": {"AccessionNumber": "A"}})
        assert [r.status for r in manifest.requests()] == [PENDING]
        added = manifest.request_found(
            "AccessionNumber=A", [{"study_uid": "1", "expected_instances": 3}, {"study_uid": "2"}]
        )
        assert added == 2
        manifest.moving(["1", "2"])
        manifest.received("1", 3, verified=True)
        manifest.received("2", 1, verified=False, error="1 of ? instances arrived")
        manifest.failed(["1", "2"], "boom")  # never downgrades a verified study
    with Manifest(path) as reopened:
        reopened.add_requests({"AccessionNumber=A": {"AccessionNumber": "A"}})  # a re-run: state kept
        assert reopened.request_found("AccessionNumber=A", [{"study_uid": "1"}]) == 0
        assert reopened.count_studies() == {VERIFIED: 1, FAILED: 1}
        (failed,) = reopened.studies(FAILED)
        assert (failed.study_uid, failed.error, failed.attempts, failed.received_instances) == (
            "2",
            "boom",
            1,
            1,
        )
        assert not reopened.studies(MOVING)


# The studies table as the first manifests wrote it, before anonymization on arrival.
_MANIFEST_BEFORE_ANONYMIZE = """
CREATE TABLE requests (key TEXT PRIMARY KEY, query TEXT NOT NULL, status TEXT NOT NULL, studies INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT, updated REAL NOT NULL);
CREATE TABLE studies (study_uid TEXT PRIMARY KEY, request_key TEXT NOT NULL, patient_id TEXT,
    accession_number TEXT, expected_instances INTEGER, received_instances INTEGER, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, moved_at REAL, error TEXT, updated REAL NOT NULL);
INSERT INTO requests VALUES ('AccessionNumber=A', '{"AccessionNumber": "A"}', 'found', 1, 1, NULL, 0);
INSERT INTO studies VALUES ('1.2', 'AccessionNumber=A', 'P', 'A', 4, 4, 'verified', 1, 0, NULL, 0);
"""


def test_a_manifest_from_before_anonymization_resumes_into_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_MANIFEST_BEFORE_ANONYMIZE)
    with Manifest(path) as manifest:
        (study,) = manifest.studies(VERIFIED)
        assert (study.study_uid, study.received_instances, study.anonymize_status) == ("1.2", 4, None)
        assert (study.anonymized_id, study.original_deleted, study.anonymize_attempts) == (None, False, 0)
        manifest.anonymize_attempt("1.2")
        manifest.anonymize_started("1.2", "orig", "job-1")
        manifest.anonymize_failed("1.2", "timed out", forget_job=False)  # the job may still finish
    with Manifest(path) as reopened:
        study = reopened.study("1.2")
        assert study is not None and (study.anonymize_status, study.anonymize_job) == (FAILED, "job-1")
        assert (study.destination_id, study.anonymize_error, study.anonymize_attempts) == (
            "orig",
            "timed out",
            1,
        )
        reopened.anonymize_failed("1.2", "job failed", forget_job=True)  # the next attempt starts a new job
        reopened.anonymize_started("1.2", "orig", "job-2")
        assert reopened.studies()[0].anonymize_status == ANONYMIZING
        reopened.anonymized("1.2", "copy")
        reopened.anonymize_failed("1.2", "delete refused", forget_job=False)  # the copy stays recorded
        study = reopened.study("1.2")
        assert study is not None
        assert (study.anonymize_status, study.anonymized_id, study.anonymize_job) == (
            ANONYMIZED,
            "copy",
            "job-2",
        )
        assert (study.anonymize_error, study.original_deleted, study.status) == (
            "delete refused",
            False,
            VERIFIED,
        )
        reopened.original_deleted("1.2")
        study = reopened.study("1.2")
        assert study is not None and study.original_deleted and study.anonymize_error is None


def test_anonymize_options_are_checked_before_the_transfer_starts() -> None:
    assert anonymize_options(False) is None and anonymize_options(True) == {}
    options = anonymize_options({"keep": (t for t in ["StudyDescription"]), "timeout": 60})
    assert options == {"keep": ["StudyDescription"], "timeout": 60}  # a generator is read once, here
    assert anonymize_options({"replace": {"PatientID": "P-42"}}) == {"replace": {"PatientID": "P-42"}}
    for bad, message in [
        ({"keep_source": False}, "keep_original"),
        ({"dicom_versoin": "2023b"}, "unknown option.*dicom_versoin"),
        ({"replace": {"StudyInstanceUID": "1.2"}}, "force=True"),
        ({"remove": "PatientName"}, "not one string"),
        ("yes", "True/False or a mapping"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            anonymize_options(bad)  # type: ignore[arg-type]


def test_remote_errors_are_told_apart_from_orthancs_own() -> None:
    """A 5xx about a modality or peer is the remote failing (kept in ``last_error``); a 4xx is about the
    request and propagates unchanged."""

    def error(status: int, details: str) -> HTTPError:
        request = httpx.Request("POST", "http://orthanc/modalities/pacs/echo")
        body = {"HttpStatus": status, "Message": "Error in the network protocol", "Details": details}
        return error_for_response(httpx.Response(status, json=body, request=request))

    node = SimpleNamespace(name="pacs", last_error=None)
    unknown = error(404, "Unknown modality")
    with pytest.raises(NotFoundError) as raised:
        raise_remote_error(node, "C-ECHO", unknown)
    assert raised.value is unknown and node.last_error is None
    with pytest.raises(
        DicomNetworkError, match="C-ECHO with 'pacs' failed: DicomAssociation - connection refused"
    ):
        raise_remote_error(node, "C-ECHO", error(500, "DicomAssociation - connection refused"))
    assert isinstance(node.last_error, DicomNetworkError) and node.last_error.remote == "pacs"


def test_one_resource_to_retrieve_is_not_iterated() -> None:
    from orthanc_client._network._async.modality import _as_items

    answer = FindAnswer("Study", {"StudyInstanceUID": "1.2"})
    identifier = {"StudyInstanceUID": "1.2"}
    assert _as_items("1.2") == ["1.2"]
    assert _as_items(answer) == [answer] and _as_items(identifier) == [identifier]
    assert _as_items(iter(("1.2", answer))) == ["1.2", answer]


@pytest.mark.parametrize(("given", "sent"), [(2, 2), (2.0, 2), (0.5, 1), (10.2, 11)])
def test_dicom_timeouts_are_whole_seconds_rounded_up(given: float, sent: int) -> None:
    from orthanc_client._network.bodies import dicom_timeout_seconds, query_body

    assert dicom_timeout_seconds(given) == sent
    assert query_body("Study", {}, given)["Timeout"] == sent


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "5"])
def test_a_dicom_timeout_that_is_not_a_positive_number_is_refused(bad: object) -> None:
    from orthanc_client._network.bodies import dicom_timeout_seconds

    with pytest.raises(InvalidInputError, match="dicom_timeout"):
        dicom_timeout_seconds(bad)  # type: ignore[arg-type]
