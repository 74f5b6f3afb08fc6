"""TLS contexts from a client's ``verify`` setting (a CA bundle, an ``SSLContext``, ``True`` or ``False``).

One place for both transports: the httpx pool and the bulk fast path verify the same way.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx

from .errors import (
    InvalidInputError,
)


def ssl_context(verify: Any) -> Any:
    """What to give httpx as ``verify``: with the default (``True``), one context per process.

    Building it loads the CA bundle, 30-45 ms, which httpx does again for every client it makes, even for an
    ``http://`` server; scripts, the command line and the bulk helpers make clients often. ``SSL_CERT_FILE``
    and ``SSL_CERT_DIR`` (which httpx honours) are part of the cache key. Anything else is passed on as is.
    """
    if verify is not True:
        return verify
    return _default_ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _default_ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()


@functools.lru_cache(maxsize=1)
def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.lru_cache(maxsize=8)
def _ca_context(path: str) -> ssl.SSLContext:
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInputError(f"verify: cannot load the CA bundle {path!r} ({exc})") from None



def tls_context(verify: Any) -> ssl.SSLContext:
    """The ``ssl.SSLContext`` for a client's ``verify``: the context itself, a CA bundle (file or folder) path,
    ``True`` (the system's CAs, as httpx) or ``False`` (no verification). Anything else: ``InvalidInputError``."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        context: ssl.SSLContext = ssl_context(True)  # one per process, as httpx would build it
        return context
    if verify is False:
        return _unverified_context()
    if isinstance(verify, (str, os.PathLike)):
        return _ca_context(os.fspath(verify))
    raise InvalidInputError(
        f"verify must be True, False, a CA bundle path or an ssl.SSLContext, not {type(verify).__name__}"
    )
