"""Revision-safe read-modify-write of metadata and attachments (``ETag`` / ``If-Match``), also across cluster nodes.

With ``"CheckRevisions": true``, Orthanc numbers every version of a metadata or attachment: reading it answers
an ``ETag`` (``"<revision>-<md5>"``), and a write must carry it as ``If-Match``; if someone wrote in between,
the write is refused with 409. The revision lives in the index, which all nodes of a cluster share, so the same
loop (read, change, write if unchanged, else read again) is safe whichever nodes the reads and writes reach.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from urllib.parse import quote

from .. import _async_backend as backend
from .._exceptions import ConflictError, InvalidInputError, NotFoundError
from .client import AsyncOrthanc

DEFAULT_ATTEMPTS = 50
_LEVELS = frozenset({"patients", "studies", "series", "instances"})


async def read_with_revision(client: AsyncOrthanc, path: str) -> tuple[bytes | None, str | None]:
    """``(value, etag)`` of a metadata or attachment ``path`` (e.g. ``instances/<id>/metadata/1024``);
    ``(None, None)`` if it does not exist yet.

    Example::

        value, etag = await read_with_revision(client, f"instances/{instance_id}/metadata/1024")
    """
    try:
        async with client.stream("GET", path) as answer:
            return await answer.aread(), answer.headers.get("etag")
    except NotFoundError:
        return None, None


async def _update(
    client: AsyncOrthanc, read_path: str, write_path: str, update: Callable[[bytes | None], bytes], attempts: int
) -> bytes:
    if attempts < 1:
        raise InvalidInputError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        current, etag = await read_with_revision(client, read_path)
        new = update(current)
        if not isinstance(new, (bytes, bytearray)):
            raise InvalidInputError(f"update() must return bytes, got {type(new).__name__}")
        headers = {"If-Match": etag} if etag else {}
        try:
            await client.request("PUT", write_path, content=bytes(new), headers=headers)
            return bytes(new)
        except ConflictError:
            if attempt == attempts:
                raise
            # Another writer won: back off a little, with jitter, so two writers do not collide forever.
            await backend.sleep(random.random() * min(0.2, 0.005 * 2**attempt))
    raise AssertionError("unreachable")


def _resource_path(level: str, id: str) -> str:
    if level not in _LEVELS:
        raise InvalidInputError(f"level must be one of {sorted(_LEVELS)}, got {level!r}")
    if not id:
        raise InvalidInputError("the resource id is empty")
    return f"{level}/{quote(id, safe='')}"


async def update_metadata(
    client: AsyncOrthanc,
    level: str,
    id: str,
    name: str,
    update: Callable[[str | None], str],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
) -> str:
    """Sets metadata ``name`` of a resource to ``update(current value)`` (``None`` when absent) without losing
    a concurrent update: read with its ``ETag``, write with ``If-Match``, and on 409 read again and retry (up to
    ``attempts`` times; then ``ConflictError``). Needs ``"CheckRevisions": true`` on the server. Returns the
    value written.

    Example::

        count = await update_metadata(client, "studies", study_id, "ReviewCount",
                                      lambda old: str(int(old or 0) + 1))
    """
    path = f"{_resource_path(level, id)}/metadata/{quote(name, safe='')}"

    def encoded(current: bytes | None) -> bytes:
        value = update(None if current is None else current.decode("utf-8"))
        if not isinstance(value, str):
            raise InvalidInputError(f"update() must return a str, got {type(value).__name__}")
        return value.encode("utf-8")

    return (await _update(client, path, path, encoded, attempts)).decode("utf-8")


async def update_attachment(
    client: AsyncOrthanc,
    level: str,
    id: str,
    name: str,
    update: Callable[[bytes | None], bytes],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
) -> bytes:
    """Like :func:`update_metadata`, for attachment ``name`` (its content as bytes). Returns the bytes written.

    Example::

        await update_attachment(client, "instances", instance_id, "notes",
                                lambda old: (old or b"") + b"reviewed\\n")
    """
    base = f"{_resource_path(level, id)}/attachments/{quote(name, safe='')}"
    return await _update(client, f"{base}/data", base, update, attempts)
