"""One test body for both APIs: ``await api.get_system()`` runs ``Orthanc`` or ``AsyncOrthanc``."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

from orthanc_client import AsyncOrthanc, Orthanc


class AwaitableSync:
    """Wraps a sync client so that its methods can be awaited like the async client's."""

    def __init__(self, client: Orthanc) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute) or name.startswith("stream"):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            return attribute(*args, **kwargs)

        return call


async def read_stream(api: Any, method: str, *args: Any, **kwargs: Any) -> bytes:
    """Reads a ``stream_*`` method's answer chunk by chunk, through the sync or async protocol."""
    context = getattr(api, method)(*args, **kwargs)
    chunks: list[bytes] = []
    if hasattr(context, "__aenter__"):
        async with context as answer:
            async for chunk in answer.aiter_bytes(4096):
                chunks.append(chunk)
    else:
        with context as answer:
            chunks.extend(answer.iter_bytes(4096))
    return b"".join(chunks)


async def make_api(kind: str, url: str, username: str, password: str, **options: Any) -> AsyncIterator[Any]:
    if kind == "sync":
        client = Orthanc(url, username, password, **options)
        yield AwaitableSync(client)
        client.close()
    else:
        async_client = AsyncOrthanc(url, username, password, **options)
        yield async_client
        await async_client.aclose()


def is_async(api: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(api, "aclose", None))
