"""Credentials never appear in a message, a repr, a log line or the command line's output.

One rule serves every place a URL can reach text: the credentials of ``scheme://user:password@host`` run up to
the *last* ``@`` of the URL, because a host cannot hold ``@`` while a password can hold anything (``/``,
``@``, ``:``, ``%``, spaces...). ``http://orthanc:ab/Sup3rS3cretPW@host:8042`` must not be read as the host
``orthanc`` with the path ``/Sup3rS3cretPW@host:8042``, which is what a URL parser does (and then quotes
``'ab'`` in its error). When in doubt, more is hidden, never less.

Example::

    assert redact_url("http://orthanc:ab/Sup3rS3cretPW@host:8042/studies") == "http://***@host:8042/studies"
    message = redact("Invalid port: 'ab'", secret_parts("http://orthanc:ab/Sup3rS3cretPW@host:8042"))
    assert message == "Invalid port: '***'"
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

HIDDEN = "***"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _userinfo_end(rest: str) -> int:
    """Where the credentials of ``rest`` (a URL after ``scheme://``) end: its last ``@``, or -1."""
    return rest.rfind("@")


def redact_url(url: str | httpx.URL) -> str:
    """``url`` with its credentials, whatever characters they hold, replaced by ``***``."""
    if isinstance(url, httpx.URL):
        if not url.userinfo:
            return str(url)
        url = str(url)
    match = _SCHEME.match(url)
    start = match.end() if match else 0
    if not match and "@" not in url:
        return url
    rest = url[start:]
    at = _userinfo_end(rest)
    return url if at < 0 else f"{url[:start]}{HIDDEN}{rest[at:]}"


def redact_location(url: str | httpx.URL) -> str:
    """A redirect's target for messages: credentials hidden, and the query string too (it can carry tokens)."""
    base, sep, _ = redact_url(url).partition("?")
    return base + ("?***" if sep else "")


def secret_parts(url: str | None) -> list[str]:
    """The credentials written in ``url``, their password, and each piece of it between ``:``, ``/``, ``?``,
    ``#``, ``@``: a URL parser that fails on them quotes such pieces (``Invalid port: 'ab'``)."""
    if not url:
        return []
    match = _SCHEME.match(url)
    rest = url[match.end() :] if match else url
    at = _userinfo_end(rest)
    if at < 0:
        return []
    userinfo = rest[:at]
    # the user name (before the first ':') is no secret, and hiding it everywhere would garble messages
    password = userinfo.partition(":")[2]
    return [userinfo, password, *(piece for piece in re.split(r"[:/?#@]", password) if piece)]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Free text with every URL's credentials hidden (each whitespace-free URL, up to its last ``@``) and every
    known secret (a password, a token, the pieces of a URL's credentials) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://\S*", lambda m: redact_url(m.group(0)), text)
