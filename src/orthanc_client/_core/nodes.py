"""The nodes of an Orthanc cluster as one client sees them: which is healthy, which to use next, which owns a job.

No I/O here: the clients report what happened (``failed``, ``succeeded``, an answer naming a job) and ask where
to send (``route``). A single-URL client has no ``NodePool`` at all, so it pays nothing for any of this.

Why these rules:

- Nodes share one index and one storage, so a stateless call may go to any node: round-robin over the healthy
  ones spreads the load without measuring it.
- Jobs and C-FIND query answers live in the memory of the node that created them (another node answers 404):
  a request under ``/jobs/{id}`` or ``/queries/{id}`` goes to the node that created it, whatever its health.
- A node that fails to answer (connection refused or dropped) is taken out for a backoff that doubles with each
  consecutive failure (1 s, 2 s, 4 s... up to 30 s); once it has passed, the next request tries it again and a
  success re-admits it. When every node is out, the one due back first is tried rather than failing at once.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from .errors import ConnectError

logger = logging.getLogger("orthanc_client")

BASE_BACKOFF = 1.0
MAX_BACKOFF = 30.0
MAX_REMEMBERED = 100_000
"""Job and query owners remembered (oldest forgotten first): far more than Orthanc keeps in its job history."""

# "jobs/<id>..." or "queries/<id>...", relative to the base URL as PreparedRequest.url is.
_AFFINITY_PATH = re.compile(r"(jobs|queries)/([^/?]+)")


_PINNED: contextvars.ContextVar[Node | None] = contextvars.ContextVar("orthanc_client_pinned_node", default=None)


@dataclass(eq=False)
class Node:
    """One Orthanc node: its position in the client's list, its URL (no credentials) and its health."""

    index: int
    url: str
    failures: int = 0
    down_until: float = 0.0

    def is_up(self, now: float) -> bool:
        return self.down_until <= now

    def __repr__(self) -> str:
        return f"Node({self.index}, {self.url!r}, failures={self.failures})"


class NodePool:
    """Health and choice of the nodes one client talks to; safe to share between threads.

    Example::

        pool = NodePool(["http://a:8042/", "http://b:8042/"])
        node = pool.route("studies/1234/anonymize")   # round-robin over healthy nodes
        pool.failed(node)                              # out for 1 s, then on probation
        pool.note_answer(node, b'{"ID": "j1", "Path": "/jobs/j1"}')
        assert pool.route("jobs/j1") is node           # a job's calls go to its node
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        base_backoff: float = BASE_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(urls) < 1:
            raise ValueError("a node pool needs at least one URL")
        self.nodes = [Node(index, url) for index, url in enumerate(urls)]
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._clock = clock
        # Reads and writes take turns separately: an operation that reads then writes (a check, then a job)
        # would otherwise send every write to the same node.
        self._next = {"read": 0, "write": 0}
        self._owners: OrderedDict[str, Node] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        now = self._clock()
        return f"NodePool({len(self.nodes)} nodes, {sum(n.is_up(now) for n in self.nodes)} up)"

    def healthy(self) -> list[Node]:
        """The nodes not currently taken out."""
        now = self._clock()
        return [node for node in self.nodes if node.is_up(now)]

    def by_url(self, url: str) -> Node:
        """The node with this base URL (with or without a trailing slash); ``KeyError`` if there is none."""
        wanted = url.rstrip("/")
        for node in self.nodes:
            if node.url.rstrip("/") == wanted:
                return node
        raise KeyError(url)

    def choose(self, avoid: Sequence[Node] = (), *, lane: str = "read") -> Node:
        """The next healthy node not in ``avoid``, round-robin within ``lane`` (``"read"`` or ``"write"``); if
        none, the one due back soonest."""
        now = self._clock()
        with self._lock:
            count = len(self.nodes)
            start = self._next[lane]
            for step in range(count):
                node = self.nodes[(start + step) % count]
                if node.is_up(now) and node not in avoid:
                    self._next[lane] = (node.index + 1) % count
                    return node
            candidates = [n for n in self.nodes if n not in avoid] or self.nodes
            return min(candidates, key=lambda n: n.down_until)

    def owner(self, path: str) -> Node | None:
        """The node that created the job or query ``path`` is about (``jobs/<id>/...``), if known."""
        match = _AFFINITY_PATH.match(path)
        if match is None:
            return None
        with self._lock:
            return self._owners.get(f"{match.group(1)}/{match.group(2)}")

    @staticmethod
    def has_affinity(path: str) -> bool:
        """Whether ``path`` is about a node-local object (a job or a query)."""
        return _AFFINITY_PATH.match(path) is not None

    def route(self, path: str, avoid: Sequence[Node] = (), *, method: str = "GET") -> Node:
        """Where to send a request for ``path``: the node pinned by ``pinned()``, else the owner of the job or
        query it names, else the next healthy node (reads and writes taking turns separately)."""
        pinned = _PINNED.get()
        if pinned is not None and any(pinned is node for node in self.nodes):  # not another client's node
            return pinned
        owner = self.owner(path)
        if owner is not None:
            return owner
        return self.choose(avoid, lane="read" if method in ("GET", "HEAD") else "write")

    def remember(self, kind: str, id: str, node: Node) -> None:
        """Record that job or query ``id`` (``kind`` is ``"jobs"`` or ``"queries"``) lives on ``node``."""
        with self._lock:
            self._owners[f"{kind}/{id}"] = node
            self._owners.move_to_end(f"{kind}/{id}")
            while len(self._owners) > MAX_REMEMBERED:
                self._owners.popitem(last=False)

    def note_answer(self, node: Node, body: bytes) -> None:
        """Learn from an answer of ``node`` that created a job or a query (``{"ID": ..., "Path": "/jobs/..."}``).

        Only small answers that mention such a path are parsed, so other answers cost a substring search.
        """
        if len(body) > 4096 or (b'"/jobs/' not in body and b'"/queries/' not in body):
            return
        try:
            answer = json.loads(body)
        except ValueError:
            return
        if isinstance(answer, dict) and isinstance(answer.get("Path"), str) and isinstance(answer.get("ID"), str):
            match = _AFFINITY_PATH.match(answer["Path"].lstrip("/"))
            if match is not None and match.group(2) == answer["ID"]:
                self.remember(match.group(1), answer["ID"], node)

    def look_elsewhere(self, path: str, node: Node, tried: list[Node]) -> bool:
        """After ``node`` answered 404 for ``path``: whether to ask another node, because ``path`` names a job
        or query whose owner is unknown (it was created by another client, or through a balancer). Adds
        ``node`` to ``tried``; the caller then routes with ``avoid=tried``."""
        if _PINNED.get() is not None or not self.has_affinity(path) or self.owner(path) is not None:
            return False
        tried.append(node)
        return any(n not in tried for n in self.nodes)

    def found(self, path: str, node: Node) -> None:
        """``node`` answered for the job or query ``path`` names: it is the owner."""
        match = _AFFINITY_PATH.match(path)
        if match is not None and self.owner(path) is None:
            self.remember(match.group(1), match.group(2), node)

    def owner_free_alternative(self, tried: Sequence[Node]) -> bool:
        """Whether a healthy node outside ``tried`` remains."""
        now = self._clock()
        return any(node.is_up(now) and node not in tried for node in self.nodes)

    def failed(self, node: Node) -> None:
        """``node`` did not answer: take it out for a backoff that doubles with each consecutive failure."""
        with self._lock:
            node.failures += 1
            delay = min(self.max_backoff, self.base_backoff * 2 ** (node.failures - 1))
            node.down_until = self._clock() + delay
        logger.warning("Orthanc node %s did not answer; taken out for %.0f s", node.url, delay)

    def succeeded(self, node: Node) -> None:
        """``node`` answered: (re-)admit it."""
        if node.failures:
            with self._lock:
                node.failures = 0
                node.down_until = 0.0
            logger.info("Orthanc node %s answers again; re-admitted", node.url)


def node_failed(pool: NodePool | None, node: Node, error: BaseException, tried: list[Node]) -> bool:
    """After ``error`` from ``node``: takes the node out if no connection could be made to it, and says whether
    an untried healthy node remains.

    Only a failed connect counts: a kept-alive connection that the server closed, or a timeout (a busy
    node), says nothing about the node's health. A killed node's in-flight requests drop; their retries then
    find its port closed.
    """
    if pool is None or not connect_failed(error):
        return False
    pool.failed(node)
    tried.append(node)
    return _PINNED.get() is None and pool.owner_free_alternative(tried)


def connect_failed(error: BaseException) -> bool:
    """Whether ``error`` says no connection could be made (through httpx, or through the direct connections,
    which report ``ConnectError`` with the system's reason)."""
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
        return True
    text = str(error).lower()
    return isinstance(error, ConnectError) and ("refused" in text or "errno 111" in text)


class pinned:  # noqa: N801 - used like a function: `with pinned(node):`
    """Within this block (this thread or task), every request of the pool's client goes to ``node`` (no
    effect with ``None``: a single-URL client has nowhere else to go)."""

    def __init__(self, node: Node | None) -> None:
        self._node = node
        self._token: contextvars.Token[Node | None] | None = None

    def __enter__(self) -> None:
        if self._node is not None:
            self._token = _PINNED.set(self._node)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _PINNED.reset(self._token)
            self._token = None
