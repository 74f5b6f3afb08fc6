"""Faults a real server cannot give on demand (cut streams, redirects, HTML pages: small fake servers), an
Orthanc without the plugin, Orthanc's own DICOMweb client routes (A sends to B), and the multipart parser."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from orthanc_client import DicomWebError, DicomWebNotEnabledError, MultipartError, NotFoundError
from orthanc_client._dicomweb.multipart import MultipartParser, PartData, PartEnd, PartStart, split_parts
from orthanc_client._dicomweb.query import qido_pairs
from orthanc_client._dicomweb.stow import parse_stow_answer, sop_instance_uid
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes

from .conftest import Api, FakeServer, empty, make_api, upload

STUDY = "1.2.3.4"

MISSING_ID = "-".join(["0" * 8] * 5)  # well formed, on no server


def multipart_answer(parts: list[bytes], boundary: str = "b0undary", *, cut_at: int | None = None) -> bytes:
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    body += f"--{boundary}--\r\n".encode()
    if cut_at is not None:
        body = body[:cut_at]
    head = (
        "HTTP/1.1 200 OK\r\n"
        f'Content-Type: multipart/related; type="application/dicom"; boundary={boundary}\r\n'
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_truncated_multipart_leaves_no_file_that_looks_complete(kind: str, tmp_path: Path) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 3, rows=64, columns=64)]
    whole = multipart_answer(files)
    # cut in the middle of the third part
    body_start = whole.index(b"\r\n\r\n") + 4
    cut = whole.index(files[2]) - body_start + len(files[2]) // 2
    with FakeServer(multipart_answer(files, cut_at=cut)) as fake:
        api = await make_api(kind, fake.url, ("user", "secret"))
        try:
            with pytest.raises(MultipartError) as caught:
                await api.call("save_study", STUDY, tmp_path / "out", layout="flat")
            assert "ended early" in str(caught.value)
            written = sorted(p.name for p in (tmp_path / "out").iterdir())
            assert len(written) == 2 and all(name.endswith(".dcm") for name in written)
            assert len(caught.value.result.stored) == 2
            for path in (tmp_path / "out").iterdir():
                assert path.read_bytes() in files[:2]
            with pytest.raises(MultipartError):
                await api.call("retrieve_study", STUDY)
            assert "secret" not in str(caught.value)
        finally:
            await api.close()


async def test_complete_fake_answer_is_read_whole(kind: str, tmp_path: Path) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 2)]
    with FakeServer(multipart_answer(files)) as fake:
        api = await make_api(kind, fake.url, ("user", "secret"))
        try:
            datasets = await api.call("retrieve_study", STUDY)
            assert len(datasets) == 2
        finally:
            await api.close()


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere/login\r\nContent-Length: 0\r\n\r\n", "redirect"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\n\r\n<html>login</html>\r\n",
            "HTML",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]", "multipart"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", "DICOM JSON"),
        (
            b"HTTP/1.1 302 Found\r\nLocation: http://user:pw@elsewhere/x\r\nContent-Length: 0\r\n\r\n",
            "redirect",
        ),
    ],
)
async def test_redirects_html_and_wrong_answers_are_errors_not_data(kind: str, answer: bytes, match: str) -> None:
    with FakeServer(answer) as fake:
        api = await make_api(kind, fake.url, ("user", "secret"))
        try:
            if match != "DICOM JSON":
                with pytest.raises(DicomWebError, match=match) as caught:
                    await api.call("retrieve_study", STUDY)
                assert "pw" not in str(caught.value)
            if match != "multipart":
                with pytest.raises(DicomWebError, match=match) as caught:
                    await api.call("search_for_studies")
                assert "pw" not in str(caught.value)
        finally:
            await api.close()


async def test_a_server_without_the_plugin_says_so(kind: str, clean_orthanc: OrthancServer) -> None:
    api = await make_api(kind, clean_orthanc)
    try:
        with pytest.raises(DicomWebNotEnabledError, match="DICOMweb plugin is not enabled"):
            await api.call("search_for_studies")
        with pytest.raises(DicomWebNotEnabledError):
            await api.call("retrieve_study", STUDY)
        # the REST API still answers 404s as such
        with pytest.raises(NotFoundError):
            await api.client.get_studies_id(MISSING_ID) if kind == "async" else api.client.get_studies_id(MISSING_ID)
    finally:
        await api.close()


# ---------------------------------------------------------------- Orthanc's DICOMweb client: A -> B


async def test_send_retrieve_from_and_proxied_searches(
    kind: str, dicomweb_server: OrthancServer, dicomweb_second_server: OrthancServer
) -> None:
    empty(dicomweb_server)
    empty(dicomweb_second_server)
    sent = make_study(2, 2)
    upload(dicomweb_server, sent)
    study = str(sent[0].StudyInstanceUID)
    api: Api = await make_api(kind, dicomweb_server)
    remote = await make_api(kind, dicomweb_second_server)
    user, password = dicomweb_second_server.auth
    try:
        await api.call("add_server", "second", f"{dicomweb_second_server.url}/dicom-web/", username=user,
                       password=password)
        servers = await api.call("list_servers")
        assert servers["second"]["Url"] == f"{dicomweb_second_server.url}/dicom-web/"
        assert password not in repr(servers)
        found = await api.call("search_for_studies", search_filters={"StudyInstanceUID": study})
        orthanc_id = _orthanc_study_id(dicomweb_server, study)
        assert found
        job = await api.call("send", "second", orthanc_id, timeout=60)
        assert int(job.content["InstancesCount"]) == 4
        assert len(await remote.call("search_for_instances", study)) == 4
        # QIDO and WADO proxied through A (exact match: Orthanc's proxy escapes '*' itself)
        proxied = await api.call("remote_search", "second", "/studies", {"PatientID": str(sent[0].PatientID)})
        assert [str(ds.StudyInstanceUID) for ds in proxied] == [study]
        metadata = await api.call("remote_get", "second", f"/studies/{study}/metadata")
        assert len(metadata) == 4
        # pull back into A after deleting it there
        empty(dicomweb_server)
        await api.call("retrieve_from", "second", study)
        assert len(await api.call("search_for_instances", study)) == 4
        await api.call("remove_server", "second")
        assert "second" not in await api.call("list_servers")
    finally:
        await api.close()
        await remote.close()


def _orthanc_study_id(server: OrthancServer, study_uid: str) -> str:
    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        answer = http.post("/tools/lookup", content=study_uid).raise_for_status().json()
    return str(answer[0]["ID"])


# ---------------------------------------------------------------- no-I/O parts


def test_parser_reads_any_chunking_and_rejects_a_cut_body() -> None:
    parts = [bytes(random.Random(i).randbytes(1000 + 37 * i)) for i in range(4)] + [b""]
    body = b"preamble\r\n" + b"".join(
        b"--xyz\r\nContent-Type: application/dicom\r\nContent-Location: /p/%d\r\n\r\n" % i + p + b"\r\n"
        for i, p in enumerate(parts)
    ) + b"--xyz--\r\nepilogue"
    for size in (1, 2, 3, 7, 64, 1000, len(body)):
        parser = MultipartParser(b"xyz")
        got: list[bytes] = []
        locations = []
        for start in range(0, len(body), size):
            for event in parser.feed(body[start : start + size]):
                if isinstance(event, PartStart):
                    got.append(b"")
                    locations.append(event.content_location)
                elif isinstance(event, PartData):
                    got[-1] += event.data
                else:
                    assert isinstance(event, PartEnd)
        parser.close()
        assert got == parts and locations == [f"/p/{i}" for i in range(5)]
    for cut in (0, 5, len(body) // 2, body.index(b"--xyz--")):
        parser = MultipartParser(b"xyz")
        parser.feed(body[:cut])
        with pytest.raises(MultipartError, match="ended early"):
            parser.close()
    assert [content for _, content in split_parts(body, b"xyz")] == parts


def test_query_encoding_and_stow_answers() -> None:
    import datetime as dt

    assert qido_pairs({"StudyDate": (dt.date(2024, 1, 1), dt.date(2024, 1, 31)), "Modality": ["CT", "MR"]}) == [
        ("StudyDate", "20240101-20240131"),
        ("Modality", "CT,MR"),
    ]
    data = to_bytes(make_study(1, 1)[0])
    assert sop_instance_uid(data[:4096]) == str(make_study(1, 1)[0].SOPInstanceUID)
    assert sop_instance_uid(b"not dicom" * 100) is None
    answer = {
        "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.1"]},
                                             "00081196": {"vr": "US", "Value": [0xB000]}}]},
        "00081198": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.2"]},
                                             "00081197": {"vr": "US", "Value": [0xA900]}}]},
    }
    statuses = parse_stow_answer(answer)
    assert statuses["1.2.1"].stored and "coercion" in (statuses["1.2.1"].reason or "")
    assert not statuses["1.2.2"].stored and "0xA900" in (statuses["1.2.2"].reason or "")


def test_parser_uses_content_length_and_checks_it() -> None:
    parts = [bytes(random.Random(i).randbytes(3000 + i)) for i in range(3)]

    def body(lengths: list[int]) -> bytes:
        return b"".join(
            b"--b\r\nContent-Length: %d\r\n\r\n" % n + p + b"\r\n" for n, p in zip(lengths, parts, strict=True)
        ) + b"--b--"

    good = body([len(p) for p in parts])
    for size in (1, 5, 100, 4096, len(good)):
        parser = MultipartParser(b"b")
        got: list[bytes] = []
        for start in range(0, len(good), size):
            for event in parser.feed(good[start : start + size]):
                if isinstance(event, PartStart):
                    got.append(b"")
                elif isinstance(event, PartData):
                    got[-1] += event.data
        parser.close()
        assert got == parts
    for lengths in ([len(parts[0]) + 7, len(parts[1]), len(parts[2])], [len(parts[0]) - 7, len(parts[1]), len(parts[2])]):
        with pytest.raises(MultipartError, match="Content-Length"):
            list(split_parts(body(lengths), b"b"))


def test_layout_tags_scan_matches_pydicom_and_skips_sequences() -> None:
    import io

    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from orthanc_client._dicom.header_scan import LAYOUT_TAGS, layout_tags

    for dataset in make_study(2, 2):
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2"
        item.ReferencedSOPInstanceUID = "1.2.3"
        dataset.ReferencedStudySequence = Sequence([item, item])
        data = to_bytes(dataset)
        read = pydicom.dcmread(io.BytesIO(data))
        assert layout_tags(data) == {name: str(read.get(name)) for name in LAYOUT_TAGS.values() if name in read}
    dataset.PatientName = "Müller^Jürgen"
    dataset.SpecificCharacterSet = "ISO_IR 100"
    assert layout_tags(to_bytes(dataset)) is None  # not ASCII: pydicom decodes it
    assert layout_tags(to_bytes(dataset)[:200]) is None


@pytest.mark.parametrize("write_in_thread", [True, False])
def test_part_files_abort_keeps_the_complete_parts_and_removes_the_partial(
    tmp_path: Path, write_in_thread: bool
) -> None:
    from orthanc_client._dicomweb.files import PartFiles

    files = [to_bytes(ds) for ds in make_study(1, 3)]
    writer = PartFiles(
        tmp_path, lambda info: f"{info['SOPInstanceUID']}.dcm", lambda tags, size: tags, write_in_thread=write_in_thread
    )
    for data in files[:2]:
        writer.start()
        writer.data(data[:100])
        writer.data(data[100:])
        writer.end()
    writer.start()
    writer.data(files[2][:500])
    items = writer.abort()  # at once: the thread may not have written anything yet
    assert [item.path.read_bytes() for item in items if item.path] == files[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{ds.SOPInstanceUID}.dcm" for ds in make_study(1, 3)[:2])


def test_the_tag_scan_steps_over_an_undefined_length_un_element_as_implicit_vr() -> None:
    """A private element of VR UN with an undefined length holds implicit-VR items (PS3.5 6.2.2): read as
    explicit VR, the scan lost its place. It shares the pixel header's walk now (``_dicom.elements``)."""
    import struct

    from orthanc_client._dicom.header_scan import layout_tags

    def explicit(group: int, number: int, vr: bytes, value: bytes) -> bytes:
        return struct.pack("<HH2sH", group, number, vr, len(value)) + value

    syntax = b"1.2.840.10008.1.2.1\x00"
    meta = explicit(0x0002, 0x0010, b"UI", syntax)
    inner = struct.pack("<HHI", 0x0008, 0x0100, 4) + b"ABCD"  # implicit VR, inside the item
    un = struct.pack("<HH2sHI", 0x0009, 0x1001, b"UN", 0, 0xFFFFFFFF)
    un += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    un += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    data = (
        bytes(128) + b"DICM" + meta + explicit(0x0008, 0x0018, b"UI", b"1.2.3.4\x00") + un
        + explicit(0x0010, 0x0020, b"LO", b"PID1") + explicit(0x0020, 0x000D, b"UI", b"1.2.3\x00")
        + explicit(0x0020, 0x000E, b"UI", b"1.2.3.5\x00") + explicit(0x0020, 0x0013, b"IS", b"7 ")
        + explicit(0x0028, 0x0010, b"US", b"\x01\x00")
    )
    assert layout_tags(data) == {
        "SOPInstanceUID": "1.2.3.4", "PatientID": "PID1", "StudyInstanceUID": "1.2.3",
        "SeriesInstanceUID": "1.2.3.5", "InstanceNumber": "7",
    }
