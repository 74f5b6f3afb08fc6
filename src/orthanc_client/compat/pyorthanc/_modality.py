"""pyorthanc's ``Modality`` (alias ``RemoteModality``): C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE via Orthanc.

Not the native ``orthanc_client.Modality``: that one runs moves, gets and stores as jobs it waits for and
returns ``Job``/``FindAnswer`` objects, and its ``echo()`` raises for Orthanc's own 4xx errors; pyorthanc sends
one request per call, returns Orthanc's dicts, and its ``echo()`` is ``False`` on any HTTP error.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._find import _validate_level
from ._native import native_of
from ._resources import _format_params
from .util import ensure_non_raw_response

__all__ = ["Modality", "RemoteModality"]


class Modality:
    """A DICOM modality configured in Orthanc, by its name (``client``, ``modality``)."""

    def __init__(self, client: Any, modality: str) -> None:
        self.client = ensure_non_raw_response(client)
        self.modality = modality

    @property
    def _api(self) -> Any:
        return native_of(self.client)

    def echo(self) -> bool:
        """C-ECHO; ``True`` if the modality answered."""
        try:
            self._api.post_modalities_id_echo(self.modality)
        except httpx.HTTPError:
            return False
        return True

    def find(self, data: dict[str, Any]) -> dict[str, Any]:
        """C-FIND with ``data`` (``{'Level': ..., 'Query': {...}}``): ``{'ID': query id, 'answers': [...]}``."""
        query_id = self._api.post_modalities_id_query(self.modality, data)["ID"]
        return {"ID": query_id, "answers": self.get_query_answers(query_id)}

    query = find

    def get_query_answers(self, query_id: str, simplify: bool = True, short: bool = False) -> list[dict[str, Any]]:
        """The answers of a C-FIND query, each as a dict of tags."""
        params = _format_params(simplify, short)
        # One request for every answer (expand), where pyorthanc asked once per answer.
        answers = self._api.get_queries_id_answers(query_id, expand=True, **params)
        return [dict(answer) for answer in answers]

    def move(self, query_identifier: str, cmove_data: dict[str, Any] | None = None) -> dict[str, Any]:
        """C-MOVE the answers of a query (``cmove_data`` e.g. ``{'TargetAet': 'ORTHANC'}``)."""
        return dict(self._api.post_queries_id_retrieve(query_identifier, cmove_data))

    def get(self, level: str, resources: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
        """C-GET the resources identified by DICOM tags (e.g. ``{'StudyInstanceUID': ...}``) at ``level``."""
        _validate_level(level)
        if isinstance(resources, dict):
            resources = [resources]
        return dict(self._api.post_modalities_id_get(self.modality, {"Level": level, "Resources": resources}))

    def store(self, instance_or_series_id: Any) -> dict[str, Any]:
        """C-STORE an Orthanc resource (or a list of them) to the modality."""
        return dict(self._api.post_modalities_id_store(self.modality, instance_or_series_id))

    def __repr__(self) -> str:
        return f"Modality({self.modality!r})"


RemoteModality = Modality
