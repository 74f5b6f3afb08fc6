"""``Operation``: what the client needs to know to call one Orthanc route (the generated table is made of them)."""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One documented Orthanc route.

    ``response`` is ``"json"``, ``"text"``, ``"binary"``, ``"mixed"`` or ``"none"``: binary answers are asked for
    without gzip (Orthanc compresses on the fly, 20-45x slower for DICOM and numpy) and can be streamed.
    ``since`` is the oldest Orthanc release (among the specs the client was generated from) that has the route.
    """

    name: str
    method: str
    path: str
    since: str
    body: str | None = None
    response: str = "json"
    body_is_object: bool = False
    idempotent: bool = False
    documented: bool = True
    """False for a route the spec does not describe (``client.request``): its answer is judged less strictly."""

    @property
    def binary_response(self) -> bool:
        return self.response in ("binary", "mixed")

    @functools.cached_property
    def since_tuple(self) -> tuple[int, ...]:
        # read on every request by the version gate: parsed once per route
        return parse_version(self.since)


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
