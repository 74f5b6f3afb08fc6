"""``Peer``: another Orthanc reached over HTTP(S) (``/peers``): configure it, check it, send it resources."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..._core.errors import DicomNetworkError, HTTPError, InvalidInputError
from ..._core.paths import validated_segment
from ..._jobs._async.jobs import Job
from ..bodies import ResourceRef, orthanc_ids, raise_remote_error

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc


class Peer:
    """An Orthanc peer known to the Orthanc behind ``client``, by its name in ``OrthancPeers``.

    Example::

        peer = Peer(client, "pacs")
        if await peer.is_reachable():
            job = await peer.store([instance.id], timeout=60)   # IDs or resources, any level
            print(job.content["InstancesCount"])
    """

    def __init__(self, client: AsyncOrthanc, name: str) -> None:
        # Orthanc's own rule for the names of modalities and peers; anything else could leave its route
        validated_segment("symbolic_name", name, parameter="name", route="Peer(name)")
        self.client = client
        self.name = name
        self.last_error: DicomNetworkError | None = None

    def __repr__(self) -> str:
        return f"Peer({self.name!r}, client={self.client!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Peer) and other.name == self.name and other.client is self.client

    def __hash__(self) -> int:
        return hash(("Peer", self.name, id(self.client)))

    @classmethod
    async def list(cls, client: AsyncOrthanc) -> builtins.list[Peer]:
        """Every peer the server knows (``GET /peers``)."""
        return [cls(client, str(name)) for name in await client.get_peers()]

    @classmethod
    async def create(
        cls,
        client: AsyncOrthanc,
        name: str,
        *,
        url: str,
        username: str | None = None,
        password: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Peer:
        """Declares (or replaces) the peer ``name`` at runtime (``PUT /peers/{name}``).

        ``extra`` passes other fields (``"HttpHeaders"``, ``"Timeout"``, ``"CertificateFile"``...). The
        password goes to Orthanc only; Orthanc never shows it back.

        Example::

            backup = await Peer.create(client, "backup", url="https://backup.example.org:8042", username="u", password="p")
            await backup.delete()
        """
        if not url:
            raise InvalidInputError("a peer needs a url")
        body: dict[str, Any] = {"Url": url, **(extra or {})}
        if username is not None:
            body["Username"] = username
        if password is not None:
            body["Password"] = password
        await client.put_peers_id(name, body)
        return cls(client, name)

    async def configuration(self) -> dict[str, Any]:
        """Orthanc's settings for this peer (``Url``, ``Username``...; the password is never returned)."""
        return dict(await self.client.get_peers_id_configuration(self.name))

    async def delete(self) -> None:
        """Forgets the peer (``DELETE /peers/{name}``)."""
        await self.client.delete_peers_id(self.name)

    async def system(self) -> dict[str, Any]:
        """The peer's ``/system`` as seen through this Orthanc; ``DicomNetworkError`` if it cannot be reached."""
        try:
            return dict(await self.client.get_peers_id_system(self.name))
        except HTTPError as error:
            raise_remote_error(self, "peer /system", error)

    async def is_reachable(self) -> bool:
        """``True`` if the peer answers through this Orthanc; if not ``False``, with the reason in ``last_error``.

        Example::

            print(await Peer(client, "pacs").is_reachable())   # True
        """
        try:
            await self.system()
        except DicomNetworkError:
            return False
        self.last_error = None
        return True

    async def start_store(
        self,
        resources: ResourceRef | Iterable[ResourceRef],
        *,
        compress: bool = False,
        transcode: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Job:
        """Starts a job sending resources of this Orthanc to the peer and returns it (see ``store``)."""
        body: dict[str, Any] = {"Resources": orthanc_ids(resources), "Asynchronous": True, **(options or {})}
        if compress:
            body["Compress"] = True
        if transcode:
            body["Transcode"] = transcode
        try:
            created = await self.client.post_peers_id_store(self.name, body)
        except HTTPError as error:
            raise_remote_error(self, "peer store", error)
        return Job(str(created["ID"]), self.client)

    async def store(
        self,
        resources: ResourceRef | Iterable[ResourceRef],
        *,
        timeout: float | None = None,
        compress: bool = False,
        transcode: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Job:
        """Sends resources (ids or ``Patient``/``Study``/... objects) to the peer and waits; returns the
        finished ``Job`` (``content["InstancesCount"]``, ``content["FailedInstancesCount"]``).

        ``timeout`` bounds the wait (``JobTimeoutError``; the job goes on). ``compress`` gzips the transfer;
        ``transcode`` converts to a transfer syntax UID on the way.

        Example::

            await Peer(client, "pacs").store(instance.id, timeout=60)
        """
        job = await self.start_store(resources, compress=compress, transcode=transcode, options=options)
        return await job.wait(timeout=timeout)
