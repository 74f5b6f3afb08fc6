"""``Modality``: a remote DICOM node Orthanc talks to (C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE) and its
configuration (``/modalities``).

Every long operation runs as an Orthanc job and is waited for by polling ``GET /jobs/{id}``, so no single
HTTP request lasts as long as a slow PACS takes to move a study (the ReadTimeout of a synchronous C-MOVE).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..._core.errors import DicomNetworkError, HTTPError, JobFailedError, NotFoundError
from ..._core.operation import parse_version
from ..._core.paths import validated_segment
from ..._jobs._async.jobs import Job
from ..bodies import (
    FindAnswer,
    Identifier,
    ResourceRef,
    c_find_body,
    dicom_timeout_seconds,
    modality_config,
    normalize_level,
    orthanc_ids,
    parse_answers,
    query_body,
    raise_remote_error,
    retrieve_identifiers,
    uid_list_query,
)

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

# /modalities/{id}/move accepts "Asynchronous" (runs as a job) in 1.12 (the 1.10.1 API silently runs it
# synchronously). Older servers get the same job through a stored query: C-FIND the UIDs, then retrieve it.
_MOVE_AS_JOB_SINCE = (1, 12, 0)


class Modality:
    """A DICOM modality (PACS, scanner, another Orthanc) known to the Orthanc behind ``client``, by its
    symbolic name in ``DicomModalities``.

    Example::

        pacs = Modality(client, "pacs")
        if not await pacs.echo():
            print("PACS unreachable:", pacs.last_error)
        studies = await pacs.find("Study", {"PatientID": "PACS*", "StudyDate": (date(2024, 1, 1), None)})
        await pacs.move(studies, timeout=60)     # C-MOVE to this Orthanc, waiting for the job
        job = await pacs.start_move(studies)     # or get the Job and wait later
        await job.wait(timeout=60)
    """

    def __init__(self, client: AsyncOrthanc, name: str) -> None:
        # Orthanc's own rule for the names of modalities and peers; anything else could leave its route
        validated_segment("symbolic_name", name, parameter="name", route="Modality(name)")
        self.client = client
        self.name = name
        self.last_error: DicomNetworkError | None = None

    def __repr__(self) -> str:
        return f"Modality({self.name!r}, client={self.client!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Modality) and other.name == self.name and other.client is self.client

    def __hash__(self) -> int:
        return hash(("Modality", self.name, id(self.client)))

    # --- configuration -------------------------------------------------------------------------------------

    @classmethod
    async def list(cls, client: AsyncOrthanc) -> builtins.list[Modality]:
        """Every modality the server knows (``GET /modalities``).

        Example::

            print([modality.name for modality in await Modality.list(client)])   # ['pacs']
        """
        names = await client.get_modalities()
        return [cls(client, str(name)) for name in names]

    @classmethod
    async def create(
        cls,
        client: AsyncOrthanc,
        name: str,
        *,
        aet: str,
        host: str,
        port: int,
        manufacturer: str | None = None,
        allow: Mapping[str, bool] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Modality:
        """Declares (or replaces) the modality ``name`` at runtime (``PUT /modalities/{name}``).

        ``allow`` switches operations: ``{"echo": True, "find": True, "move": True, "get": False,
        "store": True}``; ``extra`` passes other fields (``"LocalAet"``, ``"Timeout"``, ...). The change is
        lost at restart unless Orthanc runs with ``DicomModalitiesInDatabase``.

        Example::

            scanner = await Modality.create(client, "scanner", aet="CT01", host="10.0.0.5", port=104)
            await scanner.delete()
        """
        modality = cls(client, name)
        body = modality_config(
            {}, aet=aet, host=host, port=port, manufacturer=manufacturer, allow=allow, extra=extra
        )
        await client.put_modalities_id(name, body)
        return modality

    async def configuration(self) -> dict[str, Any]:
        """Orthanc's settings for this modality: ``AET``, ``Host``, ``Port``, ``Manufacturer``, ``Allow*``...

        Raises ``NotFoundError`` if the server does not know it.
        """
        return dict(await self.client.get_modalities_id_configuration(self.name))

    async def configure(
        self,
        *,
        aet: str | None = None,
        host: str | None = None,
        port: int | None = None,
        manufacturer: str | None = None,
        allow: Mapping[str, bool] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Changes the given fields, keeping the others (read, merge, ``PUT``); returns the new settings.

        Example::

            scanner = await Modality.create(client, "scanner", aet="CT01", host="10.0.0.5", port=104)
            await scanner.configure(port=11112, allow={"get": True})
            await scanner.delete()
        """
        current = await self.configuration()
        body = modality_config(
            current, aet=aet, host=host, port=port, manufacturer=manufacturer, allow=allow, extra=extra
        )
        await self.client.put_modalities_id(self.name, body)
        return body

    async def delete(self) -> None:
        """Forgets the modality (``DELETE /modalities/{name}``)."""
        await self.client.delete_modalities_id(self.name)

    # --- C-ECHO ----------------------------------------------------------------------------------------------

    async def echo(self, *, dicom_timeout: float | None = None) -> bool:
        """C-ECHO: ``True`` if the modality answers; ``False`` if not, with the reason in ``last_error``.

        Orthanc's own errors (unknown modality, bad credentials, Orthanc down) still raise: they are not an
        answer about the modality. ``dicom_timeout`` (seconds) bounds the DICOM association.

        Example::

            if not await pacs.echo(dicom_timeout=5):
                print("no answer:", pacs.last_error)
        """
        try:
            await self.check(dicom_timeout=dicom_timeout)
        except DicomNetworkError:
            return False
        return True

    async def check(self, *, dicom_timeout: float | None = None) -> None:
        """C-ECHO that raises ``DicomNetworkError`` (with Orthanc's details) when the modality does not answer."""
        body: dict[str, Any] = {} if dicom_timeout is None else {"Timeout": dicom_timeout_seconds(dicom_timeout)}
        try:
            await self.client.post_modalities_id_echo(self.name, body)
        except HTTPError as error:
            # A failed association is a 500 "Error in the network protocol" with the reason in Details.
            raise_remote_error(self, "C-ECHO", error)
        self.last_error = None

    # --- C-FIND ----------------------------------------------------------------------------------------------

    async def find(
        self,
        level: str,
        query: Mapping[str, Any] | None = None,
        *,
        return_tags: Iterable[str] = (),
        dicom_timeout: float | None = None,
        keep_query: bool = False,
    ) -> builtins.list[FindAnswer]:
        """C-FIND at ``level`` (``"Patient"``, ``"Study"``, ``"Series"``, ``"Instance"``); returns every answer.

        ``query`` takes the same Python values as ``find_*``: ``"DOE*"`` wildcards, ``date`` or ``datetime``,
        ``(start, end)`` ranges (``None`` for an open end), lists for "any of". The level's identifying tags,
        its instance count and a few descriptive tags are always asked for; ``return_tags`` adds more.

        Two requests however many answers (``POST /modalities/{id}/query``, then the answers expanded and
        simplified); a third deletes the stored query unless ``keep_query``, in which case every answer's
        ``query_id`` names it (``/queries/{id}``: retrieve from it, or delete it later).

        Example::

            [study_answer] = await pacs.find("Study", {"AccessionNumber": "PACS000101"})
            answers = await pacs.find("Series", {"StudyInstanceUID": study_answer.study_instance_uid, "Modality": ["CT", "MR"]})
        """
        level = normalize_level(level)
        query_id = await self._query(c_find_body(level, query, return_tags, dicom_timeout), "C-FIND")
        try:
            answers = await self.client.get_queries_id_answers(query_id, expand=True, simplify=True)
        finally:
            if not keep_query:
                await self._forget_query(query_id)
        return parse_answers(level, self.name, answers, query_id if keep_query else None)

    async def _query(self, body: dict[str, Any], operation: str) -> str:
        """Runs a C-FIND whose answers Orthanc stores; returns the stored query's id."""
        try:
            created = await self.client.post_modalities_id_query(self.name, body)
        except HTTPError as error:
            raise_remote_error(self, operation, error)
        return str(created["ID"])

    async def _forget_query(self, query_id: str) -> None:
        try:
            await self.client.delete_queries_id(query_id)
        except NotFoundError:
            pass  # Orthanc already dropped it (it keeps only the last QueryRetrieveSize queries)

    async def delete_queries(self) -> int:
        """Deletes the stored queries (``/queries``) Orthanc keeps for this modality; returns how many."""
        deleted = 0
        for query_id in await self.client.get_queries():
            try:
                if await self.client.get_queries_id_modality(str(query_id)) == self.name:
                    await self.client.delete_queries_id(str(query_id))
                    deleted += 1
            except NotFoundError:
                continue
        return deleted

    # --- C-MOVE / C-GET --------------------------------------------------------------------------------------

    async def start_move(
        self,
        resources: Identifier | Iterable[Identifier],
        *,
        level: str | None = None,
        target_aet: str | None = None,
        dicom_timeout: float | None = None,
    ) -> Job:
        """Starts a C-MOVE job and returns it (see ``move``)."""
        level, identifiers = retrieve_identifiers(level, _as_items(resources))
        options: dict[str, Any] = {"Asynchronous": True}
        if target_aet:
            options["TargetAet"] = target_aet
        if dicom_timeout is not None:
            options["Timeout"] = dicom_timeout_seconds(dicom_timeout)
        if parse_version(await self.client.server_version()) < _MOVE_AS_JOB_SINCE:
            return await self._move_through_query(level, identifiers, options)
        try:
            created = await self.client.post_modalities_id_move(
                self.name, {"Level": level, "Resources": identifiers, **options}
            )
        except HTTPError as error:
            raise_remote_error(self, "C-MOVE", error)
        return Job(str(created["ID"]), self.client)

    async def _move_through_query(
        self, level: str, identifiers: builtins.list[dict[str, str]], options: dict[str, Any]
    ) -> Job:
        query = query_body(level, uid_list_query(level, identifiers), options.get("Timeout"))
        query_id = await self._query(query, "C-MOVE (finding the UIDs to move)")
        try:
            started = await self.client.post_queries_id_retrieve(query_id, options)
        finally:
            # The job holds its own copy of the answers, so the stored query is no longer needed.
            await self._forget_query(query_id)
        return Job(str(started["ID"]), self.client)

    async def move(
        self,
        resources: Identifier | Iterable[Identifier],
        *,
        level: str | None = None,
        target_aet: str | None = None,
        timeout: float | None = None,
        dicom_timeout: float | None = None,
    ) -> Job:
        """C-MOVE ``resources`` to ``target_aet`` (default: this Orthanc) and waits for it; returns the
        finished ``Job``.

        ``resources``: answers from ``find()`` (their level is used), or UIDs of ``level`` (default
        ``"Study"``), or identifier dicts (``{"StudyInstanceUID": ..., "SeriesInstanceUID": ...}``).
        ``timeout`` bounds the wait (``JobTimeoutError``; the job goes on); ``dicom_timeout`` the DICOM
        association. A failure raises ``JobFailedError`` with Orthanc's reason.

        Example::

            await pacs.move(await pacs.find("Study", {"AccessionNumber": "PACS000101"}), timeout=60)
            [answer] = await pacs.find("Study", {"AccessionNumber": "PACS000102"})
            await pacs.move([answer.study_instance_uid], level="Study", target_aet="RESEARCH", timeout=60)   # an AET the PACS knows
        """
        job = await self.start_move(
            resources, level=level, target_aet=target_aet, dicom_timeout=dicom_timeout
        )
        try:
            return await job.wait(timeout=timeout)
        except JobFailedError as error:
            # The remote answers a C-MOVE it cannot deliver with a bare DIMSE status: say what to check.
            destination = f"the AET {target_aet!r}" if target_aet else "this Orthanc's AET"
            hint = (
                f"The remote {self.name!r} could not deliver to {destination}: check that it knows that AET "
                "(with its host and port, e.g. in its DicomModalities) and that it holds what was asked"
            )
            raise JobFailedError(error.job_id, error.info, hint=hint) from None

    async def start_get(
        self,
        resources: Identifier | Iterable[Identifier],
        *,
        level: str | None = None,
        dicom_timeout: float | None = None,
    ) -> Job:
        """Starts a C-GET job (Orthanc 1.12.6+: ``UnsupportedByServerError`` on older servers, before sending)."""
        level, identifiers = retrieve_identifiers(level, _as_items(resources))
        body: dict[str, Any] = {"Level": level, "Resources": identifiers, "Asynchronous": True}
        if dicom_timeout is not None:
            body["Timeout"] = dicom_timeout_seconds(dicom_timeout)
        try:
            created = await self.client.post_modalities_id_get(self.name, body)
        except HTTPError as error:
            raise_remote_error(self, "C-GET", error)
        return Job(str(created["ID"]), self.client)

    async def get(
        self,
        resources: Identifier | Iterable[Identifier],
        *,
        level: str | None = None,
        timeout: float | None = None,
        dicom_timeout: float | None = None,
    ) -> Job:
        """C-GET ``resources`` into this Orthanc (same arguments as ``move``) and waits; needs Orthanc 1.12.6+
        and a modality that allows C-GET.

        Example::

            [answer] = await pacs.find("Study", {"AccessionNumber": "PACS000101"})
            await pacs.get(await pacs.find("Series", {"StudyInstanceUID": answer.study_instance_uid}), timeout=60)
        """
        job = await self.start_get(resources, level=level, dicom_timeout=dicom_timeout)
        return await job.wait(timeout=timeout)

    # --- C-STORE ---------------------------------------------------------------------------------------------

    async def start_store(
        self,
        resources: ResourceRef | Iterable[ResourceRef],
        *,
        dicom_timeout: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Job:
        """Starts a C-STORE job sending Orthanc resources (ids or ``Patient``/``Study``/... objects)."""
        body: dict[str, Any] = {"Resources": orthanc_ids(resources), "Asynchronous": True, **(options or {})}
        if dicom_timeout is not None:
            body["Timeout"] = dicom_timeout_seconds(dicom_timeout)
        try:
            created = await self.client.post_modalities_id_store(self.name, body)
        except HTTPError as error:
            raise_remote_error(self, "C-STORE", error)
        return Job(str(created["ID"]), self.client)

    async def store(
        self,
        resources: ResourceRef | Iterable[ResourceRef],
        *,
        timeout: float | None = None,
        dicom_timeout: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Job:
        """C-STORE resources of this Orthanc to the modality and waits; returns the finished ``Job`` (its
        ``content`` has ``InstancesCount`` and ``FailedInstancesCount``).

        ``timeout`` bounds the wait (``JobTimeoutError``), ``dicom_timeout`` the association; ``options``
        adds body fields (``"LocalAet"``, ``"MoveOriginatorAet"``, ``"StorageCommitment"``...).

        Example::

            job = await pacs.store([instance.id], timeout=60)   # IDs or resources, any level
            print(job.content["InstancesCount"])
        """
        job = await self.start_store(resources, dicom_timeout=dicom_timeout, options=options)
        return await job.wait(timeout=timeout)


def _as_items(resources: Identifier | Iterable[Identifier]) -> builtins.list[Identifier]:
    # One UID (a str), one answer or one identifier dict (Mappings) are iterable too: they are one item.
    if isinstance(resources, (str, Mapping)):
        return [resources]
    return builtins.list(resources)
