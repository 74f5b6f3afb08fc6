"""Local DICOM files, without the network: what to send, whether it is DICOM, and its Orthanc ID.

- :func:`iter_local_sources` expands what a caller passes to ``upload`` (files, folders, zips, datasets,
  bytes, iterators of these) into :class:`LocalSource` items, lazily, naming each one for the result.
- :func:`inspect_source` recognises DICOM by content, never by name: the ``DICM`` magic after the 128-byte
  preamble, and for preamble-less files a plausible first data element confirmed by pydicom. ``.gz`` files
  are looked into.
- :func:`orthanc_instance_id` computes the ID Orthanc gives an instance, so that what the server already has
  can be skipped before sending; :func:`read_identifiers` reads the four UIDs it needs from the header only.

Everything here is plain blocking file I/O shared by the sync and async APIs; no HTTP.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from .._core.errors import InvalidInputError
from .._core.settings import CHUNK_SIZE

PREAMBLE_LENGTH = 128
HEAD_LENGTH = PREAMBLE_LENGTH + 4
DICM = b"DICM"
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
# Gzipped DICOM is decompressed into memory before sending (Orthanc wants a length, and gz files of single
# instances are small); past this size the file is refused rather than risking the memory.
MAX_GZIP_DICOM_SIZE = 1 << 30
# Files up to this size are read whole in one call and sent as bytes: the request body would hold them
# whole anyway (bodies are streamed in chunks of this size), and it spares an open file, seeks and an async
# body iterator per file. Larger files are streamed from disk.
WHOLE_READ_SIZE = CHUNK_SIZE

# Value representations that may follow a tag in explicit-VR little endian (for the preamble-less check).
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)

SourceKind = Literal["dicom", "not-dicom"]


def orthanc_instance_id(patient_id: str, study_uid: str, series_uid: str, sop_uid: str) -> str:
    """The ID Orthanc gives an instance: SHA-1 of ``PatientID|StudyUID|SeriesUID|SOPInstanceUID`` in five
    dash-separated groups of eight hex digits.

    Example::

        orthanc_instance_id("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5")  # 'a1b2c3d4-....'
    """
    return orthanc_hash("|".join(_clean(v) for v in (patient_id, study_uid, series_uid, sop_uid)))


def orthanc_hash(text: str) -> str:
    """Orthanc's resource-ID format of ``text``'s SHA-1 (``xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx``)."""
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
    return "-".join(digest[i : i + 8] for i in range(0, 40, 8))


def _clean(value: Any) -> str:
    # Orthanc strips leading/trailing spaces (and the NUL padding of UIDs) before hashing.
    return str(value if value is not None else "").strip(" \x00\t\r\n")


@dataclass(frozen=True)
class DicomIdentifiers:
    """The four values that make an instance's Orthanc ID."""

    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str

    @property
    def instance_id(self) -> str:
        return orthanc_instance_id(self.patient_id, self.study_uid, self.series_uid, self.sop_uid)


def read_identifiers(file: IO[bytes], *, feature: str = "reading DICOM identifiers") -> DicomIdentifiers:
    """The patient/study/series/instance identifiers of a DICOM file, reading the header only (pydicom
    with ``stop_before_pixels`` and just the four tags), never the pixel data.

    Raises ``ValueError`` when the header cannot be read or lacks the study, series or SOP instance UID, and
    ``InvalidInputError`` naming ``feature`` (the caller's option that needs it) when pydicom is missing.
    """
    pydicom = _pydicom(feature)
    try:
        dataset = pydicom.dcmread(
            file,
            force=True,
            stop_before_pixels=True,
            specific_tags=["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
        )
        values = [
            _clean(dataset.get(keyword))
            for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
        ]
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for a damaged header
        raise ValueError(f"unreadable DICOM header ({exc})") from None
    if not all(values[1:]):
        raise ValueError("the DICOM header lacks StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID")
    return DicomIdentifiers(*values)


def _pydicom(feature: str) -> Any:
    try:
        import pydicom
    except ImportError:
        raise InvalidInputError(f"{feature} needs pydicom: pip install 'orthanc-client[dicom]'") from None
    return pydicom


# --------------------------------------------------------------------------------------------- recognition


def looks_like_preambleless_dicom(head: bytes) -> bool:
    """Whether ``head`` starts like a DICOM data set written without the 128-byte preamble and ``DICM``:
    a first element in group 0002 (file meta) or 0008 (identifying), with a plausible VR or length."""
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    element = int.from_bytes(head[2:4], "little")
    if group not in (0x0002, 0x0008) or element > 0x0100:
        return False
    if head[4:6] in _VRS:
        return True  # explicit VR little endian
    length = int.from_bytes(head[4:8], "little")
    return length < 0x10000  # implicit VR little endian: a short first value


def _confirm_with_pydicom(file: IO[bytes]) -> bool:
    """A second opinion on a preamble-less candidate: pydicom reads a header with a SOP instance UID."""
    try:
        import pydicom
    except ImportError:
        return True  # without pydicom, the plausible first element has to do; Orthanc decides
    try:
        dataset = pydicom.dcmread(file, force=True, stop_before_pixels=True)
        return bool(dataset.get("SOPInstanceUID") or dataset.get("SOPClassUID"))
    except Exception:  # noqa: BLE001 - any parse failure means "not DICOM"
        return False


def classify(file: IO[bytes]) -> SourceKind:
    """``"dicom"`` or ``"not-dicom"`` for an open binary file at its start (the position is restored)."""
    start = file.tell()
    try:
        head = file.read(HEAD_LENGTH)
        if len(head) == HEAD_LENGTH and head[PREAMBLE_LENGTH:] == DICM:
            return "dicom"
        if looks_like_preambleless_dicom(head):
            file.seek(start)
            return "dicom" if _confirm_with_pydicom(file) else "not-dicom"
        return "not-dicom"
    finally:
        file.seek(start)


@dataclass
class InspectedSource:
    """A source opened and recognised: ``body`` is what to send (an open file or bytes) when DICOM."""

    kind: SourceKind
    body: IO[bytes] | bytes | None
    size: int
    reason: str | None = None

    def close(self) -> None:
        if self.body is not None and not isinstance(self.body, bytes):
            self.body.close()


def inspect_source(source: LocalSource) -> InspectedSource:
    """Opens ``source`` and says whether it is DICOM. A file up to ``WHOLE_READ_SIZE`` is read whole and
    closed at once (its body is bytes); a larger one stays open, to be streamed. A ``.gz`` is decompressed
    into memory. Raises ``OSError`` when the file cannot be read."""
    if source.data is not None:
        return _inspect_stream(io.BytesIO(source.data), source.data)
    file = source.open()
    try:
        # One read answers "is it small?" and, when it is, is the whole body: no second open, seek or read
        # before sending, and a replayable body for retries.
        data = file.read(WHOLE_READ_SIZE + 1)
        stream: IO[bytes]
        body: IO[bytes] | bytes
        if len(data) <= WHOLE_READ_SIZE:
            file.close()
            stream, body = io.BytesIO(data), data
        else:
            file.seek(0)
            stream = body = file
        if data[:2] == GZIP_MAGIC:
            return _inspect_gzip(stream)
        return _inspect_stream(stream, body)
    except BaseException:
        file.close()
        raise


def _inspect_gzip(stream: IO[bytes]) -> InspectedSource:
    """Decompresses a gzipped file into memory (Orthanc wants a length) and inspects what it holds."""
    with stream, gzip.GzipFile(fileobj=stream) as unzipped:
        try:
            data = unzipped.read(MAX_GZIP_DICOM_SIZE + 1)
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            return InspectedSource("not-dicom", None, 0, f"a damaged gzip file ({exc})")
    if len(data) > MAX_GZIP_DICOM_SIZE:
        return InspectedSource("not-dicom", None, 0, "a gzip file too large to decompress in memory")
    return _inspect_stream(io.BytesIO(data), data, gzipped=True)


def _inspect_stream(stream: IO[bytes], body: IO[bytes] | bytes, *, gzipped: bool = False) -> InspectedSource:
    size = _remaining_size(stream)
    if classify(stream) == "dicom":
        return InspectedSource("dicom", body, size)
    head = stream.read(4)
    if not isinstance(body, bytes):
        body.close()
    what = "a ZIP archive nested in a folder (pass it directly)" if head == ZIP_MAGIC else "not DICOM"
    return InspectedSource("not-dicom", None, size, f"{what}{' (inside gzip)' if gzipped else ''}")


def _remaining_size(stream: IO[bytes]) -> int:
    here = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return end - here


# ----------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class LocalSource:
    """One thing to upload: a file on disk (``path``), or bytes in memory (``data``), named for reports.

    ``problem`` says why an entry found while walking a folder cannot be uploaded (an unreadable folder, a
    FIFO, a socket, a device, a broken link): the upload reports it as failed without opening it.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None
    opener: Callable[[], IO[bytes]] | None = None
    size: int | None = None
    problem: str | None = None

    def open(self) -> IO[bytes]:
        """A fresh binary file object at the start (re-opened for each retry). Raises ``OSError`` for what is
        not a regular file, without blocking (a FIFO put in place of the file is not waited on)."""
        if self.problem is not None:
            raise OSError(errno.EINVAL, self.problem, str(self.path) if self.path else self.name)
        if self.opener is not None:
            return self.opener()
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open_regular_file(self.path)


def open_regular_file(path: Path) -> IO[bytes]:
    """``open(path, "rb")``, refusing anything but a regular file: opened non-blocking (opening a FIFO for
    reading would otherwise wait for a writer forever) and checked before the first read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{special_file_kind(mode)}, not a regular file", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def special_file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words (for reports)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def _dataset_source(dataset: Any, index: int) -> LocalSource:
    buffer = io.BytesIO()
    dataset.save_as(buffer)  # pydicom 2 and 3: writes the data set as it is (with its file meta, if any)
    sop = str(dataset.get("SOPInstanceUID", "") or "") or f"#{index}"
    data = buffer.getvalue()
    return LocalSource(name=f"<dataset {sop}>", data=data, size=len(data))


def _zip_sources(path: Path) -> Iterator[LocalSource]:
    """One source per member of a zip (folders skipped); each member is read from the archive when sent."""
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
    for info in members:

        def opener(member: str = info.filename) -> IO[bytes]:
            # Read the member whole: zip members are decompressed anyway, and a ZipExtFile is not seekable
            # enough for a replayable, length-announced upload.
            with zipfile.ZipFile(path) as archive:
                return io.BytesIO(archive.read(member))

        yield LocalSource(name=f"{path}/{info.filename}", path=path, opener=opener, size=info.file_size)


def _is_zip_name(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def _folder_sources(folder: Path, recursive: bool) -> Iterator[LocalSource]:
    """Every entry under ``folder`` as a source, files before sub-folders, by name. What cannot be uploaded
    (an unreadable sub-folder, a FIFO, a socket, a device, a broken link) becomes a source with a ``problem``,
    so that the upload reports it as failed: nothing found is left out silently. Links to folders are
    followed; a folder reached again through a link (a loop) is not walked twice."""
    walked: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            info = os.stat(current)
            if (info.st_dev, info.st_ino) in walked:
                continue  # reached again through a link: its files are listed once already
            walked.add((info.st_dev, info.st_ino))
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            yield _problem_source(current, f"cannot read this folder ({exc.strerror or exc}): its files were not uploaded")
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                mode = entry.stat(follow_symlinks=True).st_mode
            except FileNotFoundError:
                if entry.is_symlink():
                    target = _link_target(path)
                    yield _problem_source(path, f"a broken symbolic link (to {target}, which does not exist)")
                else:
                    yield _problem_source(path, "disappeared while its folder was read")
                continue
            except OSError as exc:
                yield _problem_source(path, f"cannot be examined ({exc.strerror or exc})")
                continue
            if stat.S_ISDIR(mode):
                subfolders.append(path)
            elif stat.S_ISREG(mode):
                yield from _file_sources(path, explicit=False)
            else:
                yield _problem_source(path, f"{special_file_kind(mode)}, not a regular file: not read")
        if recursive:
            pending.extend(reversed(subfolders))


def _problem_source(path: Path, problem: str) -> LocalSource:
    return LocalSource(name=str(path), path=path, size=0, problem=problem)


def _link_target(path: Path) -> str:
    try:
        return repr(os.readlink(path))
    except OSError:
        return "a target that cannot be read"


def _file_sources(path: Path, *, explicit: bool) -> Iterator[LocalSource]:
    # A zip is expanded when named .zip, or when passed explicitly and its content says so; any other file
    # is recognised (or skipped) by content when it is sent.
    if _is_zip_name(path) or (explicit and zipfile.is_zipfile(path)):
        try:
            yield from _zip_sources(path)
            return
        except (zipfile.BadZipFile, OSError):
            pass  # reported as "not DICOM" (or unreadable) like any other file
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    yield LocalSource(name=str(path), path=path, size=size)


def iter_local_sources(source: Any, *, recursive: bool = True) -> Iterator[LocalSource]:
    """Expands an upload ``source`` into :class:`LocalSource` items, lazily.

    ``source``: a path (file, folder, zip), a ``pydicom.Dataset``, bytes, a binary file object, or an iterable
    of any of these. A missing path raises ``InvalidInputError`` when reached.
    """
    counter = iter(range(1, 1 << 62))
    yield from _expand(source, recursive, counter)


def _expand(source: Any, recursive: bool, counter: Iterator[int]) -> Iterator[LocalSource]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if path.is_dir():
            yield from _folder_sources(path, recursive)
        elif path.is_file():
            yield from _file_sources(path, explicit=True)
        elif path.is_symlink():
            yield _problem_source(path, f"a broken symbolic link (to {_link_target(path)}, which does not exist)")
        elif path.exists():
            yield _problem_source(path, f"{special_file_kind(path.stat().st_mode)}, not a regular file: not read")
        else:
            raise InvalidInputError(f"no such file or folder: {path}")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        yield LocalSource(name=f"<bytes #{next(counter)}>", data=data, size=len(data))
    elif hasattr(source, "save_as") and hasattr(source, "get"):  # a pydicom Dataset / FileDataset
        yield _dataset_source(source, next(counter))
    elif hasattr(source, "read"):
        data = source.read()
        name = getattr(source, "name", None)
        yield LocalSource(name=str(name) if name else f"<file #{next(counter)}>", data=data, size=len(data))
    elif isinstance(source, Iterable) and not isinstance(source, str):
        for item in source:
            yield from _expand(item, recursive, counter)
    else:
        raise InvalidInputError(
            f"cannot upload a {type(source).__name__}: pass a path, a folder, a zip, a pydicom Dataset, "
            "bytes, or an iterable of these"
        )
