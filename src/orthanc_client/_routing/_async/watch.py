"""``ChangeWatcher``: follows Orthanc's ``/changes`` log and hands each change to your code, at least once.

How it stays correct for months:

* The cursor (the last change handled) lives in a SQLite state file and is committed only after the
  handler returned, one commit per handled change: a crash replays at most the change in flight.
* A handler that raises is retried with backoff, then recorded in the ``dead_letters`` table and skipped.
  A handler failing because the watched server cannot be reached is not its fault: that change waits for
  the server instead of being dead-lettered.
* Server gone (connection refused, 5xx): exponential backoff up to ``max_backoff`` seconds, then on.
* A reset log (a new database) is noticed once changes appear in it below our cursor (deleted resources
  also lower the log's ``Last``, but never let it grow again below the cursor); the watcher logs the
  reset, records it in the state file and starts again at the beginning of the new log.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, Union

from ..._core import async_backend as backend
from ..._core.errors import InvalidInputError, ServerError, TransportError
from ..watch_state import Change, WatchState

if TYPE_CHECKING:
    from ..._client._async.client import AsyncOrthanc

logger = logging.getLogger("orthanc_client.watch")

Handler = Callable[[Change], Union[Awaitable[Any], Any]]
CHANGE_TYPES = frozenset({
    "CompletedSeries", "Deleted", "NewChildInstance", "NewInstance", "NewPatient", "NewSeries", "NewStudy",
    "AnonymizedStudy", "AnonymizedSeries", "ModifiedStudy", "ModifiedSeries", "AnonymizedPatient",
    "ModifiedPatient", "StablePatient", "StableStudy", "StableSeries", "UpdatedAttachment", "UpdatedMetadata",
    "StableInstance", "JobSubmitted", "JobSuccess", "JobFailure",
})
RESOURCE_TYPES = frozenset({"Patient", "Study", "Series", "Instance"})
_PAGE = 1000  # Orthanc caps a page lower (100 in 1.10-1.12); "Done" tells when the log is exhausted
_TICK = 0.05  # how often a sleeping watcher looks at its stop flag


class Stoppable:
    """A loop that ``stop()`` (from any thread or a signal handler), SIGTERM or SIGINT ends cleanly."""

    _stopping = False

    def stop(self) -> None:
        """Asks ``run()`` (or the iteration) to return after the item in hand."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        """Whether ``stop()`` was asked for (the loop then returns after the item in hand)."""
        return self._stopping

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await backend.sleep(min(_TICK, left))

    @contextlib.contextmanager
    def _signals_stop_me(self, enabled: bool) -> Iterator[None]:
        """SIGTERM/SIGINT call ``stop()`` while ``run`` runs (main thread only: Python delivers signals there)."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, lambda signum, frame: self._on_signal(signum))
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _on_signal(self, signum: int) -> None:
        logger.info("%s: stopping after the item in hand", signal.Signals(signum).name)
        self.stop()


class ChangeWatcher(Stoppable):
    """Reads Orthanc's changes log in pages and hands each change on as a ``Change``.

    ``state``: the SQLite state file (``None``: in memory, nothing survives the process). ``since``: where a
    new state starts: ``"now"`` (the end of the log, the default) or a sequence number (``0``: the whole
    log); a state that already holds a cursor ignores it. ``change_types``/``resource_types``: only these
    are handed on (the others only move the cursor). ``poll_interval``: seconds between polls of an idle
    log. ``attempts``/``retry_delay``: a failing handler runs ``attempts`` times, waiting ``retry_delay``,
    then twice that..., before its change is dead-lettered.

    Example::

        watcher = ChangeWatcher(client, state="watch.sqlite", since=0, change_types=["NewStudy"])

        def on_change(change):
            print(change.seq, change.change_type, change.path)

        await watcher.run(on_change, until_idle=True)   # without until_idle: until watcher.stop(), SIGTERM or SIGINT

        async for change in watcher.changes(until_idle=True):   # or iterate (async for change in watcher: forever)
            print(change.id)                                     # the cursor moves when you ask for the next one
        watcher.close()
    """

    def __init__(
        self,
        client: AsyncOrthanc,
        *,
        state: str | os.PathLike[str] | WatchState | None = None,
        since: int | Literal["now"] = "now",
        change_types: Iterable[str] | None = None,
        resource_types: Iterable[str] | None = None,
        poll_interval: float = 1.0,
        attempts: int = 3,
        retry_delay: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        if not (since == "now" or (isinstance(since, int) and not isinstance(since, bool) and since >= 0)):
            raise InvalidInputError(f"since takes 'now' or a change number >= 0, not {since!r}")
        self.change_types = _checked("change_types", change_types, CHANGE_TYPES)
        self.resource_types = _checked("resource_types", resource_types, RESOURCE_TYPES)
        if poll_interval <= 0 or attempts < 1 or retry_delay < 0 or max_backoff <= 0:
            raise InvalidInputError("poll_interval and max_backoff must be > 0, attempts >= 1, retry_delay >= 0")
        self.client = client
        self._owns_state = not isinstance(state, WatchState)
        self.state = state if isinstance(state, WatchState) else WatchState(state)
        self.since = since
        self.poll_interval = poll_interval
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.max_backoff = max_backoff
        self.handled = 0
        """Changes handed on (and, for ``run``, handled or dead-lettered) since this object was made."""

    def __repr__(self) -> str:
        return f"ChangeWatcher({self.client!r}, state={self.state.path!r}, cursor={self.state.cursor()})"

    def close(self) -> None:
        """Closes the state file (a watcher given a ``WatchState`` object leaves it open)."""
        if self._owns_state:
            self.state.close()

    @property
    def cursor(self) -> int | None:
        """The last change committed to the state (``None`` before the first poll of a new state)."""
        return self.state.cursor()

    # --- the loop ----------------------------------------------------------------------------------------------

    async def changes(self, *, until_idle: bool = False) -> AsyncIterator[Change]:
        """The changes, as they come; the cursor moves past a change when the next one is asked for (so one
        that was being handled when the process died comes again). ``until_idle``: end once the log is
        exhausted instead of waiting for more.

        Example::

            watcher = ChangeWatcher(client, since=0, change_types=["NewSeries"])   # state=None: in memory
            async for change in watcher.changes(until_idle=True):
                print(change.change_type, change.id)
        """
        try:
            async for change in self._poll(until_idle):
                yield change
        finally:
            self._stopping = False  # a stop() before the start is honoured; the next run starts afresh

    async def _poll(self, until_idle: bool) -> AsyncIterator[Change]:
        start = await self._start_cursor()
        if start is None:
            return  # stopped before the server ever answered
        cursor = start
        backoff = 0.0
        # The log's last change can fall below our cursor for two reasons: the resources of the latest changes
        # were deleted (Orthanc drops their changes), or the server has a new database. Change numbers are
        # never reused within a database, so only a new one can make its last change grow while staying
        # below our cursor: that is when we call it a reset. ``lowest_last`` remembers the lowest such value.
        lowest_last: int | None = None
        while not self._stopping:
            try:
                page = await self.client.get_changes(since=cursor, limit=_PAGE)
                if not page.get("Changes"):
                    last = int((await self.client.get_changes(last=True)).get("Last", 0))
                    if last >= cursor:
                        lowest_last = None
                    elif lowest_last is not None and last > lowest_last:
                        cursor = self._log_reset(cursor, last)
                        lowest_last = None
                        continue
                    else:
                        lowest_last = last if lowest_last is None else min(lowest_last, last)
            except (TransportError, ServerError) as error:
                backoff = min(self.max_backoff, max(self.poll_interval, backoff * 2))
                logger.warning("cannot read %s/changes (%s); again in %.1f s", self.client.url, error, backoff)
                await self._pause(backoff)
                continue
            if backoff:
                logger.info("%s answers again; watching from change %d", self.client.url, cursor)
                backoff = 0.0
            for entry in page["Changes"]:
                change = Change.from_json(entry)
                if self._wanted(change):
                    self.handled += 1
                    yield change
                    self.state.set_cursor(change.seq)  # the consumer came back: that change is done
                cursor = change.seq
                if self._stopping:
                    break
            if page["Changes"] and not self._stopping:
                cursor = max(cursor, int(page.get("Last", cursor)))
            if page["Changes"]:
                self.state.set_cursor(cursor)  # past the changes nobody wanted, too
            if page.get("Done", True):
                if until_idle:
                    return
                await self._pause(self.poll_interval)

    def __aiter__(self) -> AsyncIterator[Change]:
        return self.changes()

    async def run(self, handler: Handler, *, until_idle: bool = False, handle_signals: bool = True) -> None:
        """Calls ``handler(change)`` (a coroutine function too, in the async API) for every change until
        ``stop()``, SIGTERM or SIGINT (then returns normally), or, with ``until_idle``, the end of the log.
        A handler that keeps raising has its change dead-lettered (see the class)."""
        with self._signals_stop_me(handle_signals):
            changes = self.changes(until_idle=until_idle)
            # closed on the way out, not at garbage collection: its cursor bookkeeping ends here
            async with contextlib.aclosing(changes):  # type: ignore[type-var]  # an async generator
                async for change in changes:
                    if not await self._handle(handler, change):
                        return  # stopped while the change was being retried: it is replayed next time

    async def _handle(self, handler: Handler, change: Change) -> bool:
        """True when the change is done with (handled or dead-lettered), False if we were stopped first."""
        failures = 0
        delay = self.retry_delay
        while True:
            try:
                result = handler(change)
                if inspect.isawaitable(result):
                    await result
                return True
            except (TransportError, ServerError) as error:
                if not await self._server_is_down():
                    failures += 1
                    if failures >= self.attempts:
                        self._dead_letter(change, error, failures)
                        return True
                logger.warning("change %d: %s; waiting for %s", change.seq, error, self.client.url)
            except Exception as error:  # noqa: BLE001 - any handler error is retried, then dead-lettered
                failures += 1
                if failures >= self.attempts:
                    self._dead_letter(change, error, failures)
                    return True
                logger.warning("change %d (%s %s): handler failed (%s: %s); retry %d in %.1f s", change.seq,
                               change.change_type, change.id, type(error).__name__, error, failures, delay)
            await self._pause(delay)
            delay = min(self.max_backoff, max(delay * 2, 0.05))
            if self._stopping:
                return False

    async def _server_is_down(self) -> bool:
        try:
            await self.client.get_changes(last=True)
        except (TransportError, ServerError):
            return True
        return False

    def _dead_letter(self, change: Change, error: BaseException, attempts: int) -> None:
        logger.error("change %d (%s %s) dead-lettered after %d attempts: %s: %s", change.seq,
                     change.change_type, change.id, attempts, type(error).__name__, error)
        self.state.transaction([self.state.dead_letter_statement(change, error, attempts)])

    # --- helpers --------------------------------------------------------------------------------------------

    async def _start_cursor(self) -> int | None:
        stored = self.state.cursor()
        if stored is not None:
            return stored
        start = int(self.since) if self.since != "now" else await self._last_seq()
        if start is not None:
            self.state.set_cursor(start)
        return start

    async def _last_seq(self) -> int | None:
        backoff = 0.0
        while not self._stopping:
            try:
                return int((await self.client.get_changes(last=True)).get("Last", 0))
            except (TransportError, ServerError) as error:
                backoff = min(self.max_backoff, max(self.poll_interval, backoff * 2))
                logger.warning("cannot reach %s (%s); again in %.1f s", self.client.url, error, backoff)
                await self._pause(backoff)
        return None

    def _log_reset(self, cursor: int, last: int) -> int:
        message = f"{self.client.url}: the changes log was reset (last change {last}, our cursor {cursor}); " \
                  "starting again at its beginning"
        logger.warning(message)
        self.state.record_event("log-reset", message)
        self.state.set_cursor(0)
        return 0

    def _wanted(self, change: Change) -> bool:
        return (self.change_types is None or change.change_type in self.change_types) and (
            self.resource_types is None or change.resource_type in self.resource_types
        )

def _checked(name: str, values: Iterable[str] | None, known: frozenset[str]) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise InvalidInputError(f"{name} takes a list, not one string ({values!r}): write [{values!r}]")
    chosen = frozenset(values)
    unknown = sorted(chosen - known)
    if unknown:
        raise InvalidInputError(f"{name}: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return chosen
