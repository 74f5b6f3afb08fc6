"""Instance files to disk over a ``DirectOrigin`` (the folder ``download``): blocking, shared by both APIs (the
asyncio one runs it in worker threads).

Each file is read with ``readinto`` into one reused buffer of at most 1 MB and written to ``<name>.part``,
renamed when complete. Whatever the fast path does not expect (a redirect, an error status, a chunked answer,
a body that is not a DICOM file, a broken connection) leaves no file and returns ``None``: the caller then
asks through the client, which retries and raises the typed errors.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._core.fastpath.connections import DirectOrigin, DirectReadError

_BUFFER = 1 << 20
_PREAMBLE = 132  # 128 bytes of preamble, then "DICM": every file Orthanc stores starts so


def fetch_file(origin: DirectOrigin, instance_id: str, target: Path) -> int | None:
    """Writes the file of ``instance_id`` to ``target``; its size, or ``None`` when not done (module doc)."""
    partial = target.with_name(target.name + ".part")
    with origin.connect() as connection:
        try:
            body = connection.get(f"instances/{instance_id}/file")
            if body.length < _PREAMBLE:
                body.discard()
                return None
            buffer = memoryview(bytearray(min(body.length, _BUFFER)))
            with open(partial, "wb") as file:
                first = True
                while body.remaining:
                    view = buffer[: min(body.remaining, len(buffer))]
                    body.readinto(view)
                    if first and bytes(view[128:_PREAMBLE]) != b"DICM":
                        raise DirectReadError("not a DICOM file")  # a login page, an error page...
                    first = False
                    file.write(view)
            os.replace(partial, target)
            return body.length
        except DirectReadError:
            partial.unlink(missing_ok=True)
            return None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
