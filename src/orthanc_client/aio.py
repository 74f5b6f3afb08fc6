"""The asynchronous API: the same names as ``orthanc_client``, with ``await``.

Example::

    from orthanc_client.aio import AsyncOrthanc

    async with AsyncOrthanc() as client:
        print((await client.get_system())["Version"])
"""

from __future__ import annotations

from ._async.client import AsyncOrthanc
from ._async.streaming import AsyncStreamedResponse

__all__ = ["AsyncOrthanc", "AsyncStreamedResponse"]
