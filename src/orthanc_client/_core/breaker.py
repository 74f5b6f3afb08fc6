"""One retry window for a whole batch (upload, download): a circuit breaker, so that the time to give up on a
server that is down does not grow with the number of files.

Without it, each file of a batch spends its own retry budget on a dead server: 24 files took 187 s to fail,
a thousand would take hours. With it, the batch remembers since when the server has been unreachable
(connection refused, timeouts, 502/503/504 from a proxy whose Orthanc is gone); once that lasts longer than
the batch's window, the breaker opens and every remaining file fails at once, with the same cause.

The window is ``retry_for`` once the batch has seen the server answer (an Orthanc restarting mid-batch comes
back within it), and only ``first_contact`` while it never has (a server that is down from the start is
reported in seconds). Any success closes the breaker's count again. Thread-safe: shared by worker threads.

Example::

    breaker = BatchBreaker(retry_for=60.0)
    assert breaker.open_cause() is None        # closed: send the next file
    refused = TransportError("connection refused")
    assert not breaker.failed(refused)         # True once the window is over: the breaker is then open
    breaker.succeeded()                        # the server answered: the window starts again
"""

from __future__ import annotations

import threading
import time

from .errors import HTTPError, TransportError

DEFAULT_FIRST_CONTACT = 3.0
"""Seconds a batch keeps retrying a server it has not reached once (what the client's own retries take)."""
UNREACHABLE_STATUSES = frozenset({502, 503, 504})


def means_server_down(error: BaseException) -> bool:
    """Whether ``error`` says the server is unreachable (rather than that this one file was refused)."""
    if isinstance(error, TransportError):
        return True
    return isinstance(error, HTTPError) and error.status_code in UNREACHABLE_STATUSES


class BatchBreaker:
    """The shared retry window of one batch (module doc)."""

    def __init__(self, retry_for: float, first_contact: float = DEFAULT_FIRST_CONTACT) -> None:
        self.retry_for = retry_for
        self.first_contact = min(first_contact, retry_for)
        self._lock = threading.Lock()
        self._reached = False
        self._down_since: float | None = None
        self._cause: BaseException | None = None

    def succeeded(self) -> None:
        """The server answered (whatever the answer): it is up."""
        with self._lock:
            self._reached = True
            self._down_since = None

    def failed(self, error: BaseException) -> bool:
        """Records an unreachable-server failure; True when the batch's window is over (the breaker opens)."""
        with self._lock:
            if self._cause is not None:
                return True
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
            window = self.retry_for if self._reached else self.first_contact
            if now - self._down_since >= window:
                self._cause = error
                return True
            return False

    def trip(self, error: BaseException) -> None:
        """Opens the breaker now (a file already spent the client's whole retry budget on this cause)."""
        with self._lock:
            if self._cause is None:
                self._cause = error

    def open_cause(self) -> BaseException | None:
        """The failure that opened the breaker, or ``None`` while it is closed."""
        return self._cause

    def remaining(self) -> float:
        """Seconds left in the current window (0 once open)."""
        with self._lock:
            if self._cause is not None:
                return 0.0
            if self._down_since is None:
                return self.retry_for if self._reached else self.first_contact
            window = self.retry_for if self._reached else self.first_contact
            return max(0.0, self._down_since + window - time.monotonic())


def not_attempted_reason(cause: BaseException) -> str:
    """The reason given to every file a batch gave up on once its breaker opened."""
    return f"not attempted: the server is unreachable ({cause})"
