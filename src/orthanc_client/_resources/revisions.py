"""Values read with their Orthanc revision, for writes that must not overwrite someone else's.

Orthanc keeps a revision for every metadata entry and attachment: it sends it as the ``ETag`` of a read or a
write, and refuses a write whose ``If-Match`` names an older one with 409 (``ConflictError``). The revision is
an opaque string (Orthanc writes ``"<number>-<md5 of the value>"``): give it back unchanged as ``if_match=``.

Measured on 1.10.1 and 1.12.7 with Orthanc's default SQLite index: reads always answer revision 0 and the
check is on the value's MD5, so a write is refused when the value changed since it was read, but not when it
changed and came back to the same value; and the ``ETag`` of a write names a revision that is not stored, so
the writers here return nothing and the next revision is read again.
"""

from __future__ import annotations

from typing import NamedTuple

import httpx

from .._core.errors import InvalidInputError, OrthancError


class MetadataValue(NamedTuple):
    """A metadata entry with its revision: ``value, revision = study.get_metadata_with_revision("1025")``.

    Example::

        study.set_metadata("1025", "draft")
        value, revision = study.get_metadata_with_revision("1025")
        study.set_metadata("1025", value + "!", if_match=revision)   # ConflictError if it changed meanwhile
    """

    value: str
    revision: str


class AttachmentData(NamedTuple):
    """An attachment's bytes with their revision: ``data, revision = study.get_attachment_with_revision("1025")``.

    Example::

        study.set_attachment("1025", b"report")
        data, revision = study.get_attachment_with_revision("1025")
        study.set_attachment("1025", data + b"!", if_match=revision)   # ConflictError if it changed meanwhile
    """

    data: bytes
    revision: str


def revision_of(headers: httpx.Headers, what: str) -> str:
    """The revision Orthanc sent as ``ETag``; an answer without one is an error, not an empty revision."""
    revision: str | None = headers.get("etag")
    if not revision:
        raise OrthancError(f"Orthanc sent no revision (ETag) for {what}")
    return revision


def if_match_header(if_match: str | None) -> dict[str, str]:
    """The ``If-Match`` header for a write, none when ``if_match`` is ``None``."""
    if if_match is None:
        return {}
    if not isinstance(if_match, str) or not if_match or any(c in if_match for c in "\r\n\x00"):
        raise InvalidInputError(f"if_match must be a revision string as read from Orthanc, got {if_match!r}")
    return {"If-Match": if_match}
