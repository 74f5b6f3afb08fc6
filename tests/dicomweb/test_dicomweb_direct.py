"""WADO-RS over the bulk path (``_dicomweb.direct``): ``retrieve_study``/``save_study`` read the answer with
``http.client`` when the client allows it, and give the same Datasets, files and typed errors as the httpx
path (a client with its own ``http_client`` takes that one). Real Orthanc with the DICOMweb plugin, a real nginx
with TLS in front of it, fake servers for chunked answers and faults, and the pull parser (``StreamParts``)
checked against the push parser on every chunking and every cut."""

from __future__ import annotations

import errno
import io
import logging
import os
import random
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread

from orthanc_client import AsyncOrthanc, DicomWebError, MultipartError, Orthanc
from orthanc_client._dicomweb.multipart import StreamParts, split_parts
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes
from orthanc_client.testing.proxy import NginxProxy

from .conftest import FakeServer, upload

STUDY = "1.2.3.4"


class Trickle(io.RawIOBase):
    """A raw stream giving at most ``step`` bytes per read, as a socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        size = min(len(target), self._step, len(self._data) - self._position)
        target[:size] = self._data[self._position : self._position + size]
        self._position += size
        return size


def read_all(body: bytes, boundary: bytes, step: int) -> list[tuple[dict[str, str], bytes]]:
    parts = StreamParts(io.BufferedReader(Trickle(body, step), 64), boundary)
    found = []
    while (start := parts.next_part()) is not None:
        found.append((start.headers, parts.read_part()))
    assert parts.complete
    return found


def body_of(parts: list[bytes], counted: list[bool], boundary: bytes = b"xyz") -> bytes:
    head = b"preamble line\r\n--not-it\r\n"
    return head + b"".join(
        b"--" + boundary + b"  \r\nContent-Type: application/dicom\r\n"
        + (b"Content-Length: %d\r\n" % len(p) if c else b"") + b"\r\n" + p + b"\r\n"
        for p, c in zip(parts, counted, strict=True)
    ) + b"--" + boundary + b"--\r\nepilogue"


def test_stream_parts_reads_what_the_push_parser_reads_on_any_chunking() -> None:
    rng = random.Random(7)
    # parts that hold delimiter look-alikes: a counted part may hold its own boundary text
    parts = [rng.randbytes(2000 + 97 * i) + b"\r\n--xy" + rng.randbytes(50) for i in range(5)] + [b""]
    for counted in ([True] * 6, [False] * 6, [True, False, True, False, False, True]):
        body = body_of(parts, counted)
        expected = [(start.headers, content) for start, content in split_parts(body, b"xyz")]
        assert [content for _, content in expected] == parts
        for step in (1, 3, 64, 1000, len(body)):
            assert read_all(body, b"xyz", step) == expected
        # iter_part gives the same bytes in pieces
        reader = StreamParts(io.BufferedReader(Trickle(body, 333), 64), b"xyz")
        pieces = []
        while reader.next_part() is not None:
            pieces.append(b"".join(reader.iter_part(500)))
        assert pieces == parts


def test_stream_parts_never_takes_a_cut_body_for_a_complete_one() -> None:
    parts = [bytes(range(256)) * 3, b"x" * 100]
    for counted in ([True, True], [False, False]):
        body = body_of(parts, counted)
        end = body.index(b"--xyz--") + len(b"--xyz--")
        for cut in range(0, end):
            with pytest.raises(MultipartError) as caught:
                read_all(body[:cut], b"xyz", 7)
            assert "ended early" in str(caught.value) or "delimiter" in str(caught.value), (cut, caught.value)


def test_stream_parts_checks_the_content_length() -> None:
    part = b"a" * 300
    for wrong in (299, 301, 250):
        body = b"--b\r\nContent-Length: %d\r\n\r\n" % wrong + part + b"\r\n--b--"
        with pytest.raises(MultipartError, match="Content-Length"):
            read_all(body, b"b", 50)
    with pytest.raises(MultipartError, match="garbage"):
        read_all(b"--b\r\n\r\nx\r\n--b junk\r\n\r\ny\r\n--b--", b"b", 5)
    with pytest.raises(MultipartError, match="first megabyte"):
        read_all(b"x" * (2 << 20), b"b", 1 << 16)


# ---------------------------------------------------------------- against a real Orthanc


class DirectLog(logging.Handler):
    """Counts the GETs the bulk path sent (its DEBUG line ends with ``direct)``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.direct = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().endswith("direct)") and "/dicom-web/" in record.getMessage():
            self.direct += 1


@pytest.fixture
def direct_log() -> Any:
    handler = DirectLog()
    logger = logging.getLogger("orthanc_client")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def make_client(kind: str, url: str, auth: tuple[str, str], *, bulk: bool, **options: Any) -> Any:
    """A client that may take the bulk path, or one that cannot (its own httpx client)."""
    cls = Orthanc if kind == "sync" else AsyncOrthanc
    if not bulk:
        transport = httpx.Client if kind == "sync" else httpx.AsyncClient
        options["http_client"] = transport(verify=options.get("verify", True))
    return cls(url, *auth, **options)


async def call(client: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(client.dicomweb, name)(*args, **kwargs)
    return await result if hasattr(result, "__await__") else result


async def close(client: Any) -> None:
    if isinstance(client, AsyncOrthanc):
        await client.aclose()
    else:
        client.close()


def same_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_bulk_path_gives_what_the_client_path_and_dicomweb_client_give(
    kind: str, clean_dicomweb: OrthancServer, direct_log: DirectLog, tmp_path: Path
) -> None:
    sent = make_study(2, 3, rows=128, columns=96)
    upload(clean_dicomweb, sent)
    study = str(sent[0].StudyInstanceUID)
    bulk = make_client(kind, clean_dicomweb.url, clean_dicomweb.auth, bulk=True)
    plain = make_client(kind, clean_dicomweb.url, clean_dicomweb.auth, bulk=False)
    try:
        ours = await call(bulk, "retrieve_study", study)
        assert direct_log.direct == 1
        through_httpx = await call(plain, "retrieve_study", study)
        assert direct_log.direct == 1
        session = __import__("requests").Session()
        session.auth = clean_dicomweb.auth
        theirs = DICOMwebClient(url=f"{clean_dicomweb.url}/dicom-web", session=session).retrieve_study(study)
        by_uid = {str(ds.SOPInstanceUID): ds for ds in [*through_httpx, *theirs]}
        sent_by_uid = {str(ds.SOPInstanceUID): ds for ds in sent}
        assert sorted(str(ds.SOPInstanceUID) for ds in ours) == sorted(sent_by_uid)
        for dataset in ours:
            uid = str(dataset.SOPInstanceUID)
            assert dataset.PixelData == sent_by_uid[uid].PixelData
            assert dataset == by_uid[uid]
            assert dataset.file_meta == by_uid[uid].file_meta
            assert [element.tag for element in dataset] == [element.tag for element in by_uid[uid]]
        series = await call(bulk, "retrieve_series", study, str(sent[3].SeriesInstanceUID))
        assert sorted(str(ds.SOPInstanceUID) for ds in series) == sorted(str(ds.SOPInstanceUID) for ds in sent[3:])

        result = await call(bulk, "save_study", study, tmp_path / "bulk", layout="nested")
        assert direct_log.direct == 3
        reference = await call(plain, "save_study", study, tmp_path / "httpx", layout="nested")
        assert len(result.stored) == len(reference.stored) == 6 and result.bytes == reference.bytes
        assert same_files(tmp_path / "bulk") == same_files(tmp_path / "httpx")
        for path in (tmp_path / "bulk").rglob("*.dcm"):
            assert dcmread(path).PixelData == sent_by_uid[str(dcmread(path).SOPInstanceUID)].PixelData
    finally:
        await close(bulk)
        await close(plain)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_tags_beyond_the_first_bytes_read_are_found_in_the_file_without_pydicom(
    kind: str, clean_dicomweb: OrthancServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A 20 KB private element (group 0019) comes before the nested layout's series and instance tags, so the
    # bulk path's first 4 KB of each part cannot name its file: the part's file is scanned again.
    sent = make_study(2, 2, rows=64, columns=64)
    for dataset in sent:
        dataset.private_block(0x0019, "ORTHANC-CLIENT TEST", create=True).add_new(0x10, "OB", b"\x01" * 20_000)
    upload(clean_dicomweb, sent)
    study = str(sent[0].StudyInstanceUID)
    plain = make_client(kind, clean_dicomweb.url, clean_dicomweb.auth, bulk=False)
    try:
        reference = await call(plain, "save_study", study, tmp_path / "httpx", layout="nested")
    finally:
        await close(plain)

    def no_pydicom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the layout's tags were read with pydicom")

    monkeypatch.setattr("pydicom.dcmread", no_pydicom)
    bulk = make_client(kind, clean_dicomweb.url, clean_dicomweb.auth, bulk=True)
    try:
        result = await call(bulk, "save_study", study, tmp_path / "bulk", layout="nested")
    finally:
        await close(bulk)
    assert len(result.stored) == len(reference.stored) == 4 and not result.failed
    assert same_files(tmp_path / "bulk") == same_files(tmp_path / "httpx")
    names = sorted(path.relative_to(tmp_path / "bulk").as_posix() for path in (tmp_path / "bulk").rglob("*.dcm"))
    assert len({name.split("/")[-2] for name in names}) == 2  # two series folders, named from tags past 4 KB
    assert all(".part" not in name for name in names)


def chunked(answer_body: bytes, sizes: list[int]) -> bytes:
    out, position, index = b"", 0, 0
    while position < len(answer_body):
        size = sizes[index % len(sizes)]
        piece = answer_body[position : position + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        position += size
        index += 1
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_chunked_answer_without_part_lengths_is_read_on_the_bulk_path(
    kind: str, direct_log: DirectLog, tmp_path: Path
) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 3, rows=40, columns=40)]
    body = body_of(files, [False, True, False])
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=xyz\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with FakeServer(head + chunked(body, [1, 700, 13, 5000])) as fake:
        client = make_client(kind, fake.url, ("user", "secret"), bulk=True)
        try:
            datasets = await call(client, "retrieve_study", STUDY)
            assert [to_bytes(ds) for ds in datasets] == files
            result = await call(client, "save_study", STUDY, tmp_path, layout="flat")
            assert sorted(p.read_bytes() for p in tmp_path.iterdir()) == sorted(files)
            assert len(result.stored) == 3
            assert fake.requests == 2 and direct_log.direct == 2  # never asked twice
        finally:
            await close(client)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 302 Found\r\nLocation: http://u:pw@elsewhere/login\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\n\r\n<html>login</html>\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/related\r\nContent-Length: 2\r\n\r\n[]",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/related; boundary=b\r\nContent-Encoding: gzip\r\n\r\nxx",
    ],
)
async def test_answers_the_bulk_path_does_not_read_raise_what_the_client_path_raises(
    answer: bytes, tmp_path: Path
) -> None:
    errors = []
    for bulk in (True, False):
        with FakeServer(answer) as fake:
            client = make_client("sync", fake.url, ("user", "secret"), bulk=bulk, retries=0)
            try:
                for method, args in (("retrieve_study", (STUDY,)), ("save_study", (STUDY, tmp_path / str(bulk)))):
                    with pytest.raises(Exception) as caught:  # noqa: PT011 - compared between the two paths
                        await call(client, method, *args)
                    errors.append((method, type(caught.value), str(caught.value).replace(fake.url, "URL")))
                    assert "pw" not in str(caught.value) and "secret" not in str(caught.value)
            finally:
                await close(client)
    assert errors[:2] == errors[2:]
    assert all(issubclass(error, DicomWebError) or error.__module__.startswith("orthanc_client") for _, error, _ in errors)
    assert not list(tmp_path.rglob("*.dcm")) and not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_part_that_is_not_dicom_stops_the_read_ahead_thread(kind: str) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 2, rows=16, columns=16)]
    body = body_of([files[0], b"not DICOM at all" * 10, files[1]], [True, True, True])
    head = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/related; boundary=xyz\r\nConnection: close\r\n\r\n"
    errors = []
    for bulk in (True, False):
        with FakeServer(head + body) as fake:
            client = make_client(kind, fake.url, ("user", "secret"), bulk=bulk)
            try:
                with pytest.raises(Exception) as caught:  # noqa: PT011 - compared between the two paths
                    await call(client, "retrieve_study", STUDY)
                errors.append(type(caught.value))
            finally:
                await close(client)
    assert errors[0] is errors[1]
    assert not [t for t in threading.enumerate() if t.name.startswith("orthanc-client-wado")]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_bulk_path_through_nginx_with_tls(
    kind: str, clean_dicomweb: OrthancServer, direct_log: DirectLog, tmp_path: Path
) -> None:
    sent = make_study(1, 4, rows=64, columns=64)
    upload(clean_dicomweb, sent)
    study = str(sent[0].StudyInstanceUID)
    with NginxProxy(clean_dicomweb.url, tls=True, path_prefix="/orthanc/") as proxy:
        client = make_client(kind, proxy.url, clean_dicomweb.auth, bulk=True, verify=str(proxy.ca_file))
        try:
            datasets = await call(client, "retrieve_study", study)
            assert sorted(ds.PixelData for ds in datasets) == sorted(ds.PixelData for ds in sent)
            result = await call(client, "save_study", study, tmp_path, layout="flat")
            assert sorted(p.read_bytes() for p in tmp_path.iterdir()) == sorted(to_bytes(ds) for ds in sent)
            assert len(result.stored) == 4 and direct_log.direct == 2
        finally:
            await close(client)
        untrusted = make_client(kind, proxy.url, clean_dicomweb.auth, bulk=True)
        try:
            with pytest.raises(Exception, match="certificate") as caught:  # noqa: PT011
                await call(untrusted, "retrieve_study", study)
            assert caught.value.__module__.startswith("orthanc_client")
        finally:
            await close(untrusted)


# ---------------------------------------------------------------- save_study: parts moved in the kernel (splice)


class SpliceCounter:
    """Wraps ``os.splice``, counting the calls (and, when asked, refusing the socket or the file as a kernel
    or a file system without splice support would)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, refuse: str | None = None) -> None:
        self.calls = 0
        self.refused = 0
        self._splice = os.splice
        self._refuse = refuse
        monkeypatch.setattr(os, "splice", self)

    def __call__(self, source: int, destination: int, count: int, *args: Any) -> int:
        self.calls += 1
        into_file = stat.S_ISREG(os.fstat(destination).st_mode)
        if (self._refuse == "file" and into_file) or (self._refuse == "socket" and not into_file):
            self.refused += 1
            raise OSError(errno.EINVAL, "Invalid argument")
        return self._splice(source, destination, count, *args)


def stored_files(server: OrthancServer, datasets: list[Any]) -> dict[str, bytes]:
    """Each instance's file as Orthanc serves it, by SOPInstanceUID (what a save must write byte for byte)."""
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        out = {}
        for dataset in datasets:
            uid = str(dataset.SOPInstanceUID)
            found = http.post("/tools/lookup", content=uid).raise_for_status().json()
            out[f"{uid}.dcm"] = http.get(f"/instances/{found[0]['ID']}/file").raise_for_status().content
        return out


@pytest.mark.skipif(not hasattr(os, "splice"), reason="splice(2) is Linux's")
@pytest.mark.parametrize("refuse", [None, "file", "socket"])
async def test_save_study_moves_parts_in_the_kernel_and_falls_back_when_refused(
    refuse: str | None, clean_dicomweb: OrthancServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sent = make_study(1, 3, rows=256, columns=256)  # 128 KB each: more than the first 4 KB read for the tags
    upload(clean_dicomweb, sent)
    splice = SpliceCounter(monkeypatch, refuse)
    client = make_client("sync", clean_dicomweb.url, clean_dicomweb.auth, bulk=True)
    try:
        result = await call(client, "save_study", str(sent[0].StudyInstanceUID), tmp_path, layout="flat")
    finally:
        await close(client)
    assert same_files(tmp_path) == stored_files(clean_dicomweb, sent)
    assert len(result.stored) == 3 and not result.failed
    if refuse is None:
        assert splice.calls >= 2 * 3 and not splice.refused  # socket -> pipe -> file, for each part
    else:
        assert splice.refused == 1  # refused once, then every byte read the usual way


def counted_answer(files: list[bytes], *, cut_at: int | None = None) -> bytes:
    body = body_of(files, [True] * len(files))
    if cut_at is not None:
        body = body[:cut_at]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/related; boundary=xyz\r\nConnection: close\r\n\r\n"
    return head + body


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_cut_inside_a_spliced_part_leaves_no_file_that_looks_complete(kind: str, tmp_path: Path) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 3, rows=256, columns=256)]
    body = body_of(files, [True] * 3)
    cut = body.index(files[2]) + 100_000  # past the first 64 KB: inside what is spliced
    with FakeServer(counted_answer(files, cut_at=cut)) as fake:
        client = make_client(kind, fake.url, ("user", "secret"), bulk=True)
        try:
            with pytest.raises(MultipartError, match="ended early") as caught:
                await call(client, "save_study", STUDY, tmp_path, layout="flat")
        finally:
            await close(client)
    assert sorted(p.read_bytes() for p in tmp_path.iterdir()) == sorted(files[:2])  # no .part file left
    assert len(caught.value.result.stored) == 2 and "secret" not in str(caught.value)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_server_that_stalls_inside_a_spliced_part_times_out(kind: str, tmp_path: Path) -> None:
    files = [to_bytes(ds) for ds in make_study(1, 2, rows=256, columns=256)]
    body = body_of(files, [True] * 2)
    stall = body.index(files[1]) + 100_000
    with FakeServer(counted_answer(files, cut_at=stall), hold=10) as fake:
        client = make_client(kind, fake.url, ("user", "secret"), bulk=True, timeout=0.5, retries=0)
        started = time.monotonic()
        try:
            with pytest.raises(MultipartError, match="cut") as caught:
                await call(client, "save_study", STUDY, tmp_path, layout="flat")
        finally:
            await close(client)
    assert time.monotonic() - started < 5  # the read timeout, not the server, ended it
    assert [p.read_bytes() for p in tmp_path.iterdir()] == files[:1]
    assert "timed out" in str(caught.value)


class SplicingTrickle:
    """A stream over bytes with ``splice_to`` (written with ``os.write``), that stops splicing after
    ``splice_limit`` bytes as a file system without splice support would: ``StreamParts.splice_part`` checked
    on every chunking without a socket."""

    def __init__(self, data: bytes, step: int, splice_limit: int) -> None:
        self._reader = io.BufferedReader(Trickle(data, step), 64)
        self.read, self.read1, self.readline = self._reader.read, self._reader.read1, self._reader.readline
        self.can_splice = True
        self._left = splice_limit

    def readinto1(self, target: memoryview) -> int:
        return self._reader.readinto1(target)

    def splice_to(self, file: int, count: int) -> int:
        data = self._reader.read(min(count, self._left))
        self._left -= len(data)
        os.write(file, data)
        if len(data) < count:
            self.can_splice = False
        return len(data)


def test_splice_part_moves_exactly_each_part_and_hands_over_to_readinto(tmp_path: Path) -> None:
    rng = random.Random(11)
    parts = [rng.randbytes(3000 + 501 * i) for i in range(4)] + [b""]
    body = body_of(parts, [True] * 5)
    for step, limit in ((1, 1 << 30), (700, 1 << 30), (5000, 4500), (64, 0)):
        parts_read = StreamParts(SplicingTrickle(body, step, limit), b"xyz")  # type: ignore[arg-type]
        buffer = memoryview(bytearray(1000))
        out = []
        while parts_read.next_part() is not None:
            path = tmp_path / f"part-{len(out)}"
            file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            count = parts_read.readinto_part(buffer[:100])
            os.write(file, buffer[:count])
            while parts_read.part_left:
                if parts_read.can_splice:
                    parts_read.splice_part(file, parts_read.part_left)
                else:
                    count = parts_read.readinto_part(buffer)
                    os.write(file, buffer[:count])
            os.close(file)
            out.append(path.read_bytes())
        assert out == parts, (step, limit)
        assert parts_read.complete


@pytest.mark.parametrize("bulk", [True, False])
async def test_a_target_that_is_a_file_raises_and_leaves_it_alone(
    bulk: bool, clean_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    sent = make_study(1, 2, rows=64, columns=64)
    upload(clean_dicomweb, sent)
    target = tmp_path / "a-file"
    target.write_bytes(b"mine")
    client = make_client("sync", clean_dicomweb.url, clean_dicomweb.auth, bulk=bulk)
    try:
        with pytest.raises(OSError, match="a-file"):
            await call(client, "save_study", str(sent[0].StudyInstanceUID), target, layout="flat")
    finally:
        await close(client)
    assert target.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
