"""``Operation``: what the client needs to know to call one Orthanc route (the generated table is made of them)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One documented Orthanc route.

    ``response`` is ``"json"``, ``"text"``, ``"binary"``, ``"mixed"`` or ``"none"``: binary answers are asked for
    without gzip (Orthanc compresses on the fly, 20-45x slower for DICOM and numpy) and can be streamed.
    ``since`` is the first Orthanc release known to have the route ("" when no spec tells: plugin routes,
    ``client.request(...)``). ``absent_through`` is the newest published release whose spec proves the route
    absent ("" when none does): only a server of that release or older is refused, before sending anything.
    ``query_since`` and ``body_since`` list ``(name, since, absent_through)`` for the query arguments and JSON
    body fields newer than the route itself (``/tools/find``'s ``Labels``, ...); ``query_as_before`` the
    ``(name, value)`` pairs older releases act on anyway (``expand=true`` on child lists), never refused.
    """

    name: str
    method: str
    path: str
    since: str
    body: str | None = None
    response: str = "json"
    body_is_object: bool = False
    idempotent: bool = False
    absent_through: str = ""
    query_since: tuple[tuple[str, str, str], ...] = ()
    body_since: tuple[tuple[str, str, str], ...] = ()
    query_as_before: tuple[tuple[str, str], ...] = ()
    documented: bool = True
    """False for a route the spec does not describe (``client.request``): its answer is judged less strictly."""

    @property
    def binary_response(self) -> bool:
        return self.response in ("binary", "mixed")

    @functools.cached_property
    def since_tuple(self) -> tuple[int, ...]:
        return parse_version(self.since)

    def may_be_refused(
        self, query: Iterable[tuple[str, object]] = (), body_names: Iterable[str] = (), floor: str = "0"
    ) -> bool:
        """Whether a release from ``floor`` on could lack the route or one of the arguments about to be sent
        (if not, the version gate does not even need the server's version)."""
        lowest = _parsed(floor)
        if self.absent_through and _parsed(self.absent_through) >= lowest:
            return True
        for names, table in (({name for name, _ in query}, self.query_since), (set(body_names), self.body_since)):
            if any(name in names and _parsed(absent) >= lowest for name, _, absent in table):
                return True
        return False

    def missing_on(
        self, server_version: str, query: Iterable[tuple[str, object]] = (), body_names: Iterable[str] = ()
    ) -> tuple[str, str] | None:
        """``(what, since)`` for the first thing the published specs prove a ``server_version`` server lacks:
        the route, or one of the query arguments (``(name, value)`` pairs) or body fields about to be sent;
        ``None`` if nothing is."""
        server = parse_version(server_version)
        if self.absent_through and server <= _parsed(self.absent_through):
            return f"{self.method} {self.path}", self.since
        as_before = set(self.query_as_before)
        query_names = [name for name, value in query if (name, str(value).lower()) not in as_before]
        for kind, names, table in (
            ("query argument", query_names, self.query_since),
            ("body field", body_names, self.body_since),
        ):
            if not table:
                continue
            sent = set(names)
            for name, since, absent_through in table:
                if name in sent and server <= _parsed(absent_through):
                    return f"{self.method} {self.path} with the {kind} {name!r}", since
        return None

    def unproven_on(self, server_version: str) -> bool:
        """Whether the specs cannot tell that a ``server_version`` server has the route: none documents it
        (plugin routes, ``client.request``), or the server is older than the first release that does."""
        return not self.since or parse_version(server_version) < self.since_tuple


@functools.lru_cache(maxsize=64)
def _parsed(version: str) -> tuple[int, ...]:
    # the gate compares on every request: parse each release once
    return parse_version(version)


def parse_version(version: str) -> tuple[int, ...]:
    """``"1.12.7"`` -> ``(1, 12, 7)``; ``"mainline"`` and other non-numbers sort as the newest."""
    parts = []
    for part in version.strip().split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            return (9999,)
        parts.append(int(digits))
    return tuple(parts)


def presence(flag: bool | str | None) -> str | None:
    """Encodes a query argument that Orthanc only checks for presence: ``True`` sends it, ``False`` leaves it out."""
    if flag is None or flag is False:
        return None
    if flag is True:
        return "true"
    return flag
