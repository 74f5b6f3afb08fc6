"""Helpers shared by the resources/find/jobs/numpy tests (no tests here): uploads and client factories."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from pydicom.dataset import Dataset

from orthanc_client import Orthanc
from orthanc_client.aio import AsyncOrthanc
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import to_bytes


def upload(server: OrthancServer, datasets: Iterable[Dataset]) -> list[dict[str, str]]:
    """Uploads with plain httpx (independent of the client under test); returns Orthanc's answers."""
    answers = []
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for ds in datasets:
            response = http.post(
                "/instances", content=to_bytes(ds), headers={"Content-Type": "application/dicom"}
            )
            response.raise_for_status()
            answers.append(response.json())
    return answers


def sync_client(server: OrthancServer, **kwargs: object) -> Orthanc:
    return Orthanc(server.url, server.username, server.password, **kwargs)  # type: ignore[arg-type]


def async_client(server: OrthancServer, **kwargs: object) -> AsyncOrthanc:
    return AsyncOrthanc(server.url, server.username, server.password, **kwargs)  # type: ignore[arg-type]
