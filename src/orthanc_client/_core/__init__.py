"""The core: everything a request needs and nothing above it.

Settings, request building (``prepare``), path checks (``paths``), answer checks and decoding (``answers``),
timeouts and deadlines, retries, the error tree (``errors``), credentials kept out of messages (``redact``),
what the client knows of a route (``operation``), the bulk fast path (``fastpath``), the nodes of a cluster,
and streamed answers (``_async``/``_sync``). The generated client imports only this package, through
``protocol``.
"""

from . import lean_httpx  # noqa: F401  (first: httpx without its command line, see the module)
