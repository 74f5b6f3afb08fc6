"""Lost updates (issue 13, part 8): metadata and attachments are read with their revision and written with
``if_match=``; a stale revision raises ``ConflictError``; ``update_metadata`` retries a read-modify-write on
conflicts, so that concurrent writers never overwrite each other.

Measured on both releases: a read answers ``ETag: "<revision>-<md5>"``; a write with a stale ``If-Match``
answers 409; without ``If-Match`` a write overwrites, unless ``CheckRevisions`` is true (then 409).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest

import orthanc_client
import orthanc_client.aio as aio
from orthanc_client import ConflictError, InvalidInputError, NotFoundError
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree

from .test_resources_support import async_client, sync_client, upload


@pytest.fixture
def study_id(clean_orthanc: OrthancServer) -> str:
    return upload(clean_orthanc, make_patient_tree(1, 1, 1, 1, seed=21))[0]["ParentStudy"]


@pytest.fixture(params=["sync", "async"])
async def study(request: pytest.FixtureRequest, clean_orthanc: OrthancServer, study_id: str) -> Any:
    if request.param == "sync":
        with sync_client(clean_orthanc) as client:
            yield orthanc_client.Study(study_id, client)
    else:
        async with async_client(clean_orthanc) as client:
            yield aio.Study(study_id, client)


async def run(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def server_value(server: OrthancServer, path: str) -> tuple[int, bytes]:
    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        answer = http.get(path)
        return answer.status_code, answer.content


async def test_metadata_is_read_with_its_revision_and_a_stale_one_is_refused(
    study: Any, clean_orthanc: OrthancServer, study_id: str
) -> None:
    await run(study.set_metadata("1025", "one"))
    value, revision = await run(study.get_metadata_with_revision("1025"))
    assert value == "one" and revision
    await run(study.set_metadata("1025", "two", if_match=revision))  # the current revision: accepted
    with pytest.raises(ConflictError) as caught:  # the revision of "one" is stale now
        await run(study.set_metadata("1025", "three", if_match=revision))
    assert caught.value.status_code == 409
    with pytest.raises(ConflictError):
        await run(study.delete_metadata("1025", if_match=revision))
    assert server_value(clean_orthanc, f"/studies/{study_id}/metadata/1025") == (200, b"two")
    _, current = await run(study.get_metadata_with_revision("1025"))
    await run(study.delete_metadata("1025", if_match=current))
    assert server_value(clean_orthanc, f"/studies/{study_id}/metadata/1025")[0] == 404


async def test_attachments_are_read_with_their_revision_and_a_stale_one_is_refused(
    study: Any, clean_orthanc: OrthancServer, study_id: str
) -> None:
    await run(study.set_attachment("1025", b"\x00first"))
    assert "1025" in await run(study.get_attachments())
    data, revision = await run(study.get_attachment_with_revision("1025"))
    assert data == b"\x00first"
    await run(study.set_attachment("1025", b"second", if_match=revision))
    with pytest.raises(ConflictError):
        await run(study.set_attachment("1025", b"third", if_match=revision))
    with pytest.raises(ConflictError):
        await run(study.delete_attachment("1025", if_match=revision))
    assert server_value(clean_orthanc, f"/studies/{study_id}/attachments/1025/data") == (200, b"second")
    _, current = await run(study.get_attachment_with_revision("1025"))
    await run(study.delete_attachment("1025", if_match=current))
    assert "1025" not in await run(study.get_attachments())


async def test_update_metadata_applies_the_function_and_refuses_bad_arguments(study: Any) -> None:
    assert await run(study.update_metadata("1028", lambda value: (value or "") + "x")) == "x"
    assert await run(study.update_metadata("1028", lambda value: (value or "") + "y")) == "xy"
    with pytest.raises(InvalidInputError, match="attempts"):
        await run(study.update_metadata("1028", lambda value: "z", attempts=0))
    with pytest.raises(InvalidInputError, match="if_match"):
        await run(study.set_metadata("1028", "z", if_match="1-abc\r\nX-Injected: 1"))
    with pytest.raises(NotFoundError):
        await run(study.get_metadata_with_revision("1029"))


async def test_update_metadata_gives_up_with_the_conflict_after_its_attempts(
    study: Any, clean_orthanc: OrthancServer, study_id: str
) -> None:
    await run(study.set_metadata("1030", "0"))
    calls = []

    def meddle(value: str | None) -> str:
        # another writer changes the entry between our read and our write, every time
        calls.append(value)
        with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth) as http:
            http.put(f"/studies/{study_id}/metadata/1030", content=f"other-{len(calls)}".encode()).raise_for_status()
        return "mine"

    with pytest.raises(ConflictError):
        await run(study.update_metadata("1030", meddle, attempts=3))
    assert len(calls) == 3
    assert server_value(clean_orthanc, f"/studies/{study_id}/metadata/1030") == (200, b"other-3")


WRITER = textwrap.dedent(
    """
    import sys
    from orthanc_client import Orthanc, Study
    url, user, password, study_id, count = sys.argv[1:]
    with Orthanc(url, user, password) as client:
        study = Study(study_id, client)
        for _ in range(int(count)):
            study.update_metadata("1031", lambda value: str(int(value) + 1), attempts=100)
    """
)


def test_two_processes_incrementing_one_counter_lose_no_update(clean_orthanc: OrthancServer, study_id: str) -> None:
    with sync_client(clean_orthanc) as client:
        orthanc_client.Study(study_id, client).set_metadata("1031", "0")
    args = [clean_orthanc.url, clean_orthanc.username, clean_orthanc.password, study_id, "200"]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, *args], stderr=subprocess.PIPE) for _ in range(2)]
    for writer in writers:
        _, errors = writer.communicate(timeout=240)
        assert writer.returncode == 0, errors.decode()
    assert server_value(clean_orthanc, f"/studies/{study_id}/metadata/1031") == (200, b"400")


@pytest.fixture
def checking_server(orthanc_version: str) -> Any:
    with OrthancServer(orthanc_version, name="orthanc-revisions", extra_config={"CheckRevisions": True}) as server:
        yield server


def test_with_check_revisions_on_a_write_without_if_match_is_a_conflict(checking_server: OrthancServer) -> None:
    study_id = upload(checking_server, make_patient_tree(1, 1, 1, 1, seed=22))[0]["ParentStudy"]
    with sync_client(checking_server) as client:
        study = orthanc_client.Study(study_id, client)
        study.set_metadata("1025", "0")  # creating needs no revision
        with pytest.raises(ConflictError):
            study.set_metadata("1025", "blind")
        with pytest.raises(ConflictError):
            study.delete_metadata("1025")
        for _ in range(3):
            study.update_metadata("1025", lambda value: str(int(value or 0) + 1))
        assert study.get_metadata_with_revision("1025").value == "3"
