"""When to try a request again, and after how long.

A ``RetryPolicy`` is a decision: given what went wrong and how many attempts were made, wait this long and
retry, or give up. The default retries what is safe to retry against Orthanc:

- a connection that could not be made (nothing was sent, so any method is safe);
- a dropped connection, or a 502/503/504 from a proxy, on idempotent calls only (GET, PUT, DELETE and the
  read-only POSTs such as ``/tools/find``): a POST that creates something is never replayed blindly;
- never a 409: in Orthanc it means a revision conflict or a concurrent store, which retrying won't fix;
- never a read timeout: the server is busy with the request, and sending it again doubles the work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx

RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Retry decisions for one client. ``RetryPolicy(max_retries=0)`` turns retries off.

    Example::

        from orthanc_client import Orthanc

        with Orthanc(retries=RetryPolicy(max_retries=5, backoff=1.0)) as retrying_client:
            retrying_client.get_system()
    """

    max_retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 8.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential, with jitter."""
        base: float = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)

    def should_retry(
        self,
        *,
        attempt: int,
        idempotent: bool,
        replayable: bool,
        exception: Exception | None = None,
        status_code: int | None = None,
    ) -> bool:
        """Whether to make attempt ``attempt + 1`` after ``attempt`` attempts failed this way."""
        if attempt > self.max_retries or not replayable:
            return False
        if exception is not None:
            if isinstance(exception, (httpx.ConnectError, httpx.ConnectTimeout)):
                return True  # the request never reached the server
            if isinstance(exception, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
                return idempotent
            return False  # read/write/pool timeouts and anything else
        return status_code in self.statuses and idempotent


def as_policy(retries: int | RetryPolicy | None) -> RetryPolicy:
    if isinstance(retries, RetryPolicy):
        return retries
    return RetryPolicy(max_retries=max(0, int(retries or 0)))
