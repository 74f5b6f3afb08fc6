"""The client's settings, resolved once when a client is made: URL, credentials, timeouts, retries, pool size.

A bad setting raises ``InvalidInputError`` here, before anything is sent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import (
    InvalidInputError,
)
from .redact import redact, redact_url, secret_parts
from .retry import RetryPolicy, as_policy
from .timeouts import _is_number, as_timeout, call_deadline
from .types import TimeoutTypes

DEFAULT_URL = "http://localhost:8042"
# Orthanc answers most calls in milliseconds, but archives, anonymizations and C-MOVEs can legitimately take
# minutes: a short connect timeout finds a dead server fast, a long read timeout lets slow answers arrive.
DEFAULT_MAX_CONNECTIONS = 32
CHUNK_SIZE = 1 << 20


@dataclass(frozen=True)
class ClientSettings:
    """The resolved connection settings of one client. ``repr`` never shows credentials."""

    base_url: httpx.URL
    auth: httpx.BasicAuth | None
    headers: dict[str, str]
    timeout: httpx.Timeout
    retry: RetryPolicy
    deadline: float | None = None
    """Seconds for a whole call (every attempt, and the whole answer), when ``timeout`` was given in seconds."""

    @property
    def url(self) -> str:
        return str(self.base_url).rstrip("/")

    def __repr__(self) -> str:
        return f"ClientSettings(url={self.url!r}, auth={'basic' if self.auth else None})"


def resolve_settings(
    url: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    headers: Mapping[str, str] | None,
    timeout: TimeoutTypes,
    retries: int | RetryPolicy | None,
) -> ClientSettings:
    """Arguments first, then ``ORTHANC_URL``/``ORTHANC_USERNAME``/``ORTHANC_PASSWORD``/``ORTHANC_TOKEN``."""
    raw_url = url or os.environ.get("ORTHANC_URL") or DEFAULT_URL
    try:
        parsed = httpx.URL(raw_url)
    except Exception as exc:  # noqa: BLE001 - httpx raises several kinds
        # httpx quotes pieces of what it could not parse: with a '/', '#' or '?' in a password, a piece of it
        hint = "; characters such as / @ # ? in credentials must be percent-encoded, or pass username= and password="
        reason = redact(str(exc), secret_parts(raw_url))
        raise InvalidInputError(
            f"not a valid Orthanc URL: {redact_url(raw_url)!r} ({reason}){hint if secret_parts(raw_url) else ''}"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInputError(f"the Orthanc URL must be http(s)://host[:port][/prefix], got {redact_url(raw_url)!r}")
    # Credentials written into the URL move to the Authorization header, so the URL can be shown in messages.
    if parsed.username and username is None:
        username, password = parsed.username, parsed.password
    parsed = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    path = parsed.path if parsed.path.endswith("/") else parsed.path + "/"
    base_url = parsed.copy_with(path=path)

    if username is None:
        username = os.environ.get("ORTHANC_USERNAME")
    if password is None:
        password = os.environ.get("ORTHANC_PASSWORD")
    if token is None:
        token = os.environ.get("ORTHANC_TOKEN")
    all_headers = dict(headers or {})
    auth = None
    if token:
        all_headers.setdefault("Authorization", f"Bearer {token}")
    elif username is not None:
        auth = httpx.BasicAuth(username, password or "")
    return ClientSettings(
        base_url, auth, all_headers, as_timeout(timeout), checked_retries(retries), call_deadline(timeout)
    )


def checked_retries(retries: Any) -> RetryPolicy:
    """``retries`` as a ``RetryPolicy``; a negative, fractional or non-numeric count is refused."""
    if isinstance(retries, RetryPolicy) or retries is None:
        policy = as_policy(retries)
    elif isinstance(retries, bool) or not isinstance(retries, int):
        raise InvalidInputError(f"retries must be a whole number of retries or a RetryPolicy, got {retries!r}")
    elif retries < 0:
        raise InvalidInputError(f"retries must be 0 or more, got {retries!r}")
    else:
        policy = as_policy(retries)
    for name in ("backoff", "max_backoff"):
        value = getattr(policy, name)
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"RetryPolicy.{name} must be a finite number of seconds >= 0, got {value!r}")
    if policy.max_retries < 0:
        raise InvalidInputError(f"RetryPolicy.max_retries must be 0 or more, got {policy.max_retries!r}")
    return policy


def checked_max_connections(max_connections: Any) -> int:
    """A pool of at least one connection (``0`` would make every request wait for a slot forever)."""
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise InvalidInputError(f"max_connections must be a whole number >= 1, got {max_connections!r}")
    return max_connections
