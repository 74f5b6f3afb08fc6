"""Two real Orthanc servers that know each other as DICOM modalities and as peers.

``local`` (AET ``LOCAL``) is the client's server: it has the modality and the peer ``remote``. ``remote``
(AET ``REMOTE``) plays the PACS: it has the modality ``local``, so it can C-STORE there on a C-MOVE. Started
once per Orthanc version for the whole networking suite; tests empty both with ``network`` before running.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orthanc_client import AsyncOrthanc, Modality, Orthanc, Peer, aio, transfer
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_patient_tree, to_bytes

# What every test may rely on being on the remote: 3 patients x 2 studies x 2 series x 2 instances. Study j
# of each patient is dated 2024-01-02 + j, accession ACC<patient><study>.
PATIENTS, STUDIES, SERIES, INSTANCES = 3, 2, 2, 2
INSTANCES_PER_STUDY = SERIES * INSTANCES
TOTAL_INSTANCES = PATIENTS * STUDIES * INSTANCES_PER_STUDY

_DICOM = {"DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomCheckModalityHost": False}


@dataclass
class NetworkPair:
    local: OrthancServer
    remote: OrthancServer
    remote_files: list[bytes]

    def reset(self) -> None:
        """Both servers running; local empty; remote holding exactly the reference data set."""
        for server in (self.local, self.remote):
            if not server.is_running():
                server.start()
            _delete_everything(server)
        with httpx.Client(base_url=self.remote.url, auth=self.remote.auth, timeout=60) as http:
            for body in self.remote_files:
                http.post("/instances", content=body).raise_for_status()


def _delete_everything(server: OrthancServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for patient in http.get("/patients").raise_for_status().json():
            http.delete(f"/patients/{patient}").raise_for_status()


@pytest.fixture(scope="session")
def network_pair(orthanc_version: str) -> Iterator[NetworkPair]:
    local = OrthancServer(orthanc_version, name="net-local", aet="LOCAL")
    remote = OrthancServer(orthanc_version, name="net-remote", aet="REMOTE")
    local.extra_config = {
        **_DICOM,
        "DicomModalities": {"remote": {"AET": remote.aet, "Host": "127.0.0.1", "Port": remote.dicom_port}},
        "OrthancPeers": {
            "remote": {"Url": remote.url, "Username": remote.username, "Password": remote.password}
        },
    }
    remote.extra_config = {
        **_DICOM,
        "DicomModalities": {
            "local": {"AET": local.aet, "Host": "127.0.0.1", "Port": local.dicom_port, "AllowGet": True}
        },
    }
    files = [to_bytes(ds) for ds in make_patient_tree(PATIENTS, STUDIES, SERIES, INSTANCES)]
    try:
        local.start()
        remote.start()
        yield NetworkPair(local, remote, files)
    finally:
        local.close()
        remote.close()


@pytest.fixture
def network(network_pair: NetworkPair) -> NetworkPair:
    """``network_pair`` reset: local empty, remote with the reference data, both running."""
    network_pair.reset()
    return network_pair


@dataclass
class Api:
    """One API flavour (sync or async) bound to ``local``: test bodies ``await call(...)`` either way."""

    kind: str
    client: Any
    Modality: Any
    Peer: Any
    transfer: Any
    network: NetworkPair


async def call(value: Any) -> Any:
    """The result of a sync call, or the awaited result of an async one."""
    return await value if inspect.isawaitable(value) else value


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, network: NetworkPair) -> AsyncIterator[Api]:
    if request.param == "sync":
        client = Orthanc(network.local.url, *network.local.auth)
        yield Api("sync", client, Modality, Peer, transfer, network)
        client.close()
    else:
        async_client = AsyncOrthanc(network.local.url, *network.local.auth)
        yield Api("async", async_client, aio.Modality, aio.Peer, aio.transfer, network)
        await async_client.aclose()


def http(server: OrthancServer) -> httpx.Client:
    """A plain client for checking a server's state independently of the code under test."""
    return httpx.Client(base_url=server.url, auth=server.auth, timeout=60)


def record_requests(api: Api) -> list[httpx.Request]:
    """Every request ``api.client`` sends from now on, in order (for counting requests, reading bodies)."""
    sent: list[httpx.Request] = []
    if api.kind == "async":

        async def record_async(request: httpx.Request) -> None:
            sent.append(request)

        api.client.http_client.event_hooks["request"].append(record_async)
    else:
        api.client.http_client.event_hooks["request"].append(sent.append)
    return sent
