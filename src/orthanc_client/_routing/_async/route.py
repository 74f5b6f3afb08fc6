"""``Router``: the routing daemon behind ``orthanc route``: a ``ChangeWatcher`` whose handler runs the rules.

Each matching change starts a *pass*: the route's actions in order on the changed resource (an
``anonymize`` or ``modify`` hands its new resource to the actions after it). Every finished action is
committed to the state file with its result before the next one starts, and the pass itself once all are
done, so a SIGKILL at any point resumes the pass at the first unfinished action (at worst that one runs
again: a send whose completion was not yet recorded sends the same instances again, which the receiver
stores once). Resources the router made itself (anonymized or modified copies) are never routed again,
whatever the rules say, so that no rule can feed itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..._core.errors import InvalidInputError, NotFoundError
from ..._core.operation import parse_version
from ..._jobs._async.jobs import Job
from ..._network._async.modality import Modality
from ..._network._async.peer import Peer
from ..._resources._async.resources import LEVELS, Resource
from ..._resources.pseudonyms import PseudonymMint
from ..rules import Action, Route, load_routes, main_tags_match, parse_routes
from ..watch_state import Change, WatchState, utc_now
from .watch import ChangeWatcher

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

logger = logging.getLogger("orthanc_client.route")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS route_steps (
    seq INTEGER NOT NULL, route INTEGER NOT NULL, step INTEGER NOT NULL, source TEXT NOT NULL,
    result TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (seq, route, step)
);
CREATE TABLE IF NOT EXISTS route_passes (
    seq INTEGER NOT NULL, route INTEGER NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL,
    outcome TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (seq, route)
);
CREATE TABLE IF NOT EXISTS route_created (resource_id TEXT PRIMARY KEY);
"""


class Router:
    """Runs routing ``routes`` (a YAML rules file, the same rules as a dict, or ``parse_routes``'s result) on
    the changes of ``client``'s Orthanc, with its progress in the SQLite ``state`` file.

    ``pseudonyms``: the ``PseudonymMint`` for ``anonymize: {pseudonyms: true}`` actions. Other options as
    for ``ChangeWatcher`` (``since``, ``poll_interval``, ``attempts``, ``retry_delay``). ``send_timeout``:
    seconds a send may take.

    Example::

        rules = {"routes": [{"on": "NewStudy", "where": {"PatientID": "DEMOCT*"}, "do": [{"send": {"peer": "pacs"}}]}]}
        router = Router(client, rules, state="route.sqlite", since=0)   # or a YAML file of the same rules
        await router.check()                 # destinations exist, plugins loaded: fails now rather than at 3 a.m.
        await router.run(until_idle=True)    # without until_idle: until router.stop(), SIGTERM or SIGINT
    """

    def __init__(
        self,
        client: AsyncOrthanc,
        routes: Sequence[Route] | Mapping[str, Any] | str | os.PathLike[str],
        *,
        state: str | os.PathLike[str] | WatchState | None,
        pseudonyms: PseudonymMint | None = None,
        since: int | Literal["now"] = "now",
        poll_interval: float = 1.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
        send_timeout: float | None = 3600,
    ) -> None:
        if isinstance(routes, (str, os.PathLike)):
            self.routes = load_routes(routes)
        elif isinstance(routes, Mapping):
            self.routes = parse_routes(routes)
        else:
            self.routes = list(routes)
        if not self.routes or not all(isinstance(r, Route) for r in self.routes):
            raise InvalidInputError("Router takes a rules file, the rules as a dict ({'routes': [...]}) or parsed routes")
        needing = [r.name for r in self.routes if r.needs_pseudonyms]
        if needing and pseudonyms is None:
            raise InvalidInputError(
                f"route(s) {', '.join(needing)} anonymize with pseudonyms: give a PseudonymMint (the CLI reads "
                "the secret from ORTHANC_PSEUDONYM_SECRET)"
            )
        self.client = client
        self.pseudonyms = pseudonyms
        self.send_timeout = send_timeout
        self.state = state if isinstance(state, WatchState) else WatchState(state)
        self.state.executescript(_SCHEMA)
        change_types = sorted(set().union(*(r.on for r in self.routes)))
        self.watcher = ChangeWatcher(
            client, state=self.state, since=since, change_types=change_types, poll_interval=poll_interval,
            attempts=attempts, retry_delay=retry_delay,
        )

    def __repr__(self) -> str:
        return f"Router({self.client!r}, routes={[r.name for r in self.routes]}, state={self.state.path!r})"

    async def check(self) -> None:
        """Checks that every destination exists on the server and that the server can run every action
        (``InvalidInputError`` naming the first problem)."""
        peers = set(await self.client.get_peers())
        modalities = set(await self.client.get_modalities())
        actions = [(route, action) for route in self.routes for action in route.actions]
        if any("dicomweb" in a.options for _, a in actions):
            plugins = set(await self.client.get_plugins())
            if "dicom-web" not in plugins:
                raise InvalidInputError(
                    f"sending to a DICOMweb server needs Orthanc's DICOMweb plugin, which {self.client.url} has "
                    "not loaded (send to a peer or a modality instead, or load the plugin)"
                )
            servers = set(await self.client.request("GET", "/dicom-web/servers"))
        version = parse_version(await self.client.server_version())
        for route, action in actions:
            target = action.options
            if "peer" in target and target["peer"] not in peers:
                raise InvalidInputError(f"route {route.name!r}: {self.client.url} has no peer {target['peer']!r} (known: {sorted(peers)})")
            if "modality" in target and target["modality"] not in modalities:
                raise InvalidInputError(f"route {route.name!r}: {self.client.url} has no modality {target['modality']!r} (known: {sorted(modalities)})")
            if "dicomweb" in target and target["dicomweb"] not in servers:
                raise InvalidInputError(f"route {route.name!r}: {self.client.url} has no DICOMweb server {target['dicomweb']!r} (known: {sorted(servers)})")
            if action.kind == "label" and version < (1, 12, 0):
                raise InvalidInputError(f"route {route.name!r}: labels need Orthanc 1.12 or newer (server: {'.'.join(map(str, version))})")

    def stop(self) -> None:
        """Returns from ``run()`` after the change in hand (the rest of its pass resumes at the next start)."""
        self.watcher.stop()

    async def run(self, *, until_idle: bool = False, handle_signals: bool = True) -> None:
        """Routes changes until ``stop()``, SIGTERM or SIGINT (or, with ``until_idle``, the end of the log)."""
        logger.info("routing %s from change %s", self.client.url, self.watcher.cursor)
        await self.watcher.run(self.handle, until_idle=until_idle, handle_signals=handle_signals)

    async def handle(self, change: Change) -> None:
        """Runs every route that applies to ``change`` (the watcher's handler)."""
        routes = [r for r in self.routes if change.change_type in r.on]
        if not routes or self._made_by_us(change.id):
            return
        tags: dict[str, Any] | None = None
        for route in routes:
            if self._pass_done(change.seq, route):
                continue
            if tags is None:
                try:
                    tags = await self._main_tags(change)
                except NotFoundError:
                    logger.info("change %d: %s is gone, nothing to route", change.seq, change.path)
                    return
            if not main_tags_match(route.where, tags):
                continue
            await self._run_pass(change, route, tags)

    async def _run_pass(self, change: Change, route: Route, tags: dict[str, Any]) -> None:
        level = LEVELS[change.resource_type]
        source: Resource = level(change.id, self.client)
        current = source
        done = {int(step): result for step, result in self.state.execute(
            "SELECT step, result FROM route_steps WHERE seq = ? AND route = ?", (change.seq, route.index))}
        label = f"{change.resource_type.lower()} {change.id} ({_summary(tags)})"
        for step, action in enumerate(route.actions):
            if step in done:
                if action.kind in ("anonymize", "modify"):
                    current = level(done[step], self.client)
                continue
            result = await self._act(action, source, current, route)
            statements: list[tuple[str, tuple[Any, ...]]] = [(
                "INSERT OR REPLACE INTO route_steps VALUES (?, ?, ?, ?, ?, ?)",
                (change.seq, route.index, step, change.id, result, utc_now()),
            )]
            if action.kind in ("anonymize", "modify"):
                statements.append(("INSERT OR IGNORE INTO route_created VALUES (?)", (result,)))
                current = level(result, self.client)
            self.state.transaction(statements)
            logger.info("route %r: %s: %s -> %s", route.name, label, action.describe(), result)
        self.state.transaction([(
            "INSERT OR REPLACE INTO route_passes VALUES (?, ?, ?, ?, ?, ?)",
            (change.seq, route.index, route.name, change.id, "done", utc_now()),
        )])
        logger.info("route %r: %s routed (%s)", route.name, label, ", ".join(a.describe() for a in route.actions))

    async def _act(self, action: Action, source: Resource, current: Resource, route: Route) -> str:
        """Runs one action; returns what the state records: the new resource's ID for anonymize/modify,
        the destination for a send."""
        options = dict(action.options)
        if action.kind == "send":
            return await self._send(current, options)
        if action.kind == "label":
            for name in options["labels"]:
                await current.add_label(name)
            return ",".join(options["labels"])
        if action.kind == "delete":
            await source.delete()
            return "deleted"
        if current.level == "Instance":
            raise InvalidInputError(f"route {route.name!r}: {action.kind} needs a patient, study or series, not an instance")
        if action.kind == "anonymize":
            if options.pop("pseudonyms", False):
                made = await current.anonymize(pseudonyms=self.pseudonyms, **options)  # type: ignore[attr-defined]
            else:
                made = await current.anonymize(force=True, **options)  # type: ignore[attr-defined]
        else:
            made = await current.modify(**options)  # type: ignore[attr-defined]
        return str(made.id)

    async def _send(self, resource: Resource, options: dict[str, Any]) -> str:
        timeout = options.get("timeout", self.send_timeout)
        if "peer" in options:
            await Peer(self.client, options["peer"]).store(resource.id, timeout=timeout, compress=bool(options.get("compress")))
            return f"peer:{options['peer']}"
        if "modality" in options:
            await Modality(self.client, options["modality"]).store(resource.id, timeout=timeout)
            return f"modality:{options['modality']}"
        name = options["dicomweb"]
        try:
            answer = await self.client.request(
                "POST", f"/dicom-web/servers/{name}/stow", json={"Resources": [resource.id], "Synchronous": False}
            )
        except NotFoundError:
            raise InvalidInputError(
                f"cannot send to DICOMweb server {name!r}: {self.client.url} has no DICOMweb plugin or no such server"
            ) from None
        await Job(str(answer["ID"]), self.client).wait(timeout=timeout)
        return f"dicomweb:{name}"

    async def _main_tags(self, change: Change) -> dict[str, Any]:
        """The main tags of the resource and of its ancestors (a study's include its patient's)."""
        data = await self.client.request("GET", change.path)
        tags: dict[str, Any] = {}
        for group in ("PatientMainDicomTags", "MainDicomTags"):
            tags.update(data.get(group) or {})
        if change.resource_type in ("Series", "Instance"):
            study = await self.client.request("GET", f"{change.path}/study")
            tags = {**study.get("PatientMainDicomTags", {}), **study.get("MainDicomTags", {}), **tags}
        if change.resource_type == "Instance":
            series = await self.client.request("GET", f"{change.path}/series")
            tags = {**tags, **series.get("MainDicomTags", {}), **(data.get("MainDicomTags") or {})}
        if change.resource_type == "Study" and any("ModalitiesInStudy" in r.where for r in self.routes):
            # not a stored tag of the study: Orthanc's find computes it from the series, and so do we
            answer = await self.client.request("GET", f"{change.path}/series", params={"expand": True})
            modalities = {str(s.get("MainDicomTags", {}).get("Modality", "")) for s in answer} - {""}
            tags["ModalitiesInStudy"] = "\\".join(sorted(modalities))
        return tags

    def _pass_done(self, seq: int, route: Route) -> bool:
        return bool(self.state.execute("SELECT 1 FROM route_passes WHERE seq = ? AND route = ?", (seq, route.index)))

    def _made_by_us(self, resource_id: str) -> bool:
        return bool(self.state.execute("SELECT 1 FROM route_created WHERE resource_id = ?", (resource_id,)))


def route_status(state: str | os.PathLike[str] | WatchState) -> dict[str, Any]:
    """What a state file says (no server needed): the cursor, passes per route, deliveries per destination,
    log resets and dead letters.

    Example::

        status = route_status("route.sqlite")
        print(status["passes"], status["deliveries"], len(status["dead_letters"]))
    """
    if not isinstance(state, WatchState) and not os.path.isfile(state):
        raise InvalidInputError(f"no state file at {os.fspath(state)!r}")
    db = state if isinstance(state, WatchState) else WatchState(state)
    db.executescript(_SCHEMA)
    passes = dict(db.execute("SELECT name, COUNT(*) FROM route_passes WHERE outcome = 'done' GROUP BY name"))
    deliveries = dict(db.execute(
        "SELECT result, COUNT(*) FROM route_steps WHERE result LIKE 'peer:%' OR result LIKE 'modality:%' "
        "OR result LIKE 'dicomweb:%' GROUP BY result"
    ))
    return {
        "state": db.path,
        "cursor": db.cursor(),
        "passes": {str(k): int(v) for k, v in passes.items()},
        "deliveries": {str(k): int(v) for k, v in deliveries.items()},
        "log_resets": len(db.events("log-reset")),
        "dead_letters": [dataclasses.asdict(letter) for letter in db.dead_letters()],
    }


def _summary(tags: dict[str, Any], keys: Iterable[str] = ("StudyDate", "Modality")) -> str:
    return ", ".join(f"{k}={tags[k]}" for k in keys if tags.get(k))
