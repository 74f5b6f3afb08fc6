"""The bulk upload's poster for a cluster: each POST goes to the next healthy node, over that node's direct
connections (``posts.DirectPoster``), and a node that stops answering is left for the others.

A POST whose connection could not be made (nothing sent) goes at once to another node. One whose connection
dropped after sending raises, as with one server: the upload then sends the file again after a short pause, to
the next healthy node. That is safe because the nodes share one index: an instance already stored (by the node
that died after storing it) is answered ``AlreadyStored`` and never stored twice, whichever node receives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import httpx

from ..nodes import Node, NodePool, node_failed
from .posts import DirectPoster, direct_poster


class NodesPoster:
    """Posts to paths under whichever node is next; the same ``post``/``close`` as ``DirectPoster``.

    Example::

        pool = NodePool([str(client.http_client.base_url)])
        poster = NodesPoster.for_nodes(pool, [client.http_client])   # None if a node cannot be posted to directly
        dicom_bytes = instance.get_file()
        answer = poster.post("instances", dicom_bytes, len(dicom_bytes))   # {"Status": "AlreadyStored", ...}
        poster.close()
    """

    def __init__(self, pool: NodePool, posters: Sequence[DirectPoster]) -> None:
        self._pool = pool
        self._posters = list(posters)

    @classmethod
    def for_nodes(
        cls,
        pool: NodePool,
        http_clients: Sequence[httpx.Client | httpx.AsyncClient],
        *,
        verify: Any = True,
        max_connections: int = 8,
    ) -> NodesPoster | None:
        """A poster over every node, or ``None`` if one of them cannot be posted to directly (``https://``, a
        proxy...): the upload then posts through the client, which spreads and fails over the same way."""
        posters = [
            direct_poster(http, owns_transport=True, verify=verify, max_connections=max_connections)
            for http in http_clients
        ]
        if any(poster is None for poster in posters):
            for poster in posters:
                if poster is not None:
                    poster.close()
            return None
        return cls(pool, [p for p in posters if p is not None])

    def __repr__(self) -> str:
        return f"NodesPoster({self._pool!r})"

    def close(self) -> None:
        for poster in self._posters:
            poster.close()

    def post(self, path: str, body: bytes | IO[bytes], size: int) -> Any:
        """Sends ``body`` to the next healthy node; see ``DirectPoster.post``."""
        tried: list[Node] = []
        while True:
            node = self._pool.choose(avoid=tried, lane="write")
            start = body.tell() if not isinstance(body, bytes) and body.seekable() else None
            try:
                answer = self._posters[node.index].post(path, body, size)
            except httpx.TransportError as exc:
                # Only a connection never made is safe to send elsewhere at once: nothing left us.
                replayable = start is not None or isinstance(body, bytes)
                if node_failed(self._pool, node, exc, tried) and replayable:
                    if start is not None:
                        assert not isinstance(body, bytes)
                        body.seek(start)
                    continue
                raise
            self._pool.succeeded(node)
            return answer

