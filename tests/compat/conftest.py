"""Fixtures for the pyorthanc facade tests: a populated Orthanc and, side by side, real pyorthanc.

Every scenario can run through real ``pyorthanc`` (installed in the dev venv as the reference) and through
``orthanc_client.compat.pyorthanc`` against the same server, and the tests compare the results.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, to_bytes

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyorthanc warns that the Orthanc SDK is a mock outside Orthanc
    import pyorthanc as real_pyorthanc

from orthanc_client.compat import pyorthanc as facade

# 2 patients x 2 studies x 2 series x 2 instances: PAT0001/PAT0002, studies dated 2024-01-02/03.
TREE = (2, 2, 2, 2)
FILES = [to_bytes(ds) for ds in make_patient_tree(*TREE, Manufacturer="ACME", StationName="ST1")]


@dataclass
class Pair:
    """The same server seen through real pyorthanc (``ref``) and through the facade (``ours``)."""

    server: OrthancServer
    ref: real_pyorthanc.Orthanc
    ours: facade.Orthanc


@pytest.fixture
def populated(clean_orthanc: OrthancServer) -> OrthancServer:
    """The test server holding exactly ``FILES``."""
    with httpx.Client(base_url=clean_orthanc.url, auth=clean_orthanc.auth, timeout=60) as http:
        for body in FILES:
            http.post("/instances", content=body).raise_for_status()
    return clean_orthanc


@pytest.fixture
def pair(populated: OrthancServer) -> Iterator[Pair]:
    server = populated
    ref = real_pyorthanc.Orthanc(server.url, server.username, server.password, timeout=60)
    ours = facade.Orthanc(server.url, server.username, server.password)
    try:
        yield Pair(server, ref, ours)
    finally:
        ref.close()
        ours.close()
