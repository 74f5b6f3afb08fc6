"""Imports httpx without its command line, so that ``import orthanc_client`` never loads click or rich.

httpx's ``__init__`` runs ``from ._main import main`` whenever click and rich are installed (they are, with
``orthanc-client[cli]``): ``httpx._main`` imports click, rich and pygments, about a third of the time
``import orthanc_client`` takes, for a command line this library never runs. A ``None`` entry in
``sys.modules`` makes that one import fail as if they were missing; httpx then defines its stub ``main`` (which
says to install ``httpx[cli]``). The entry is removed right after, so an explicit ``import httpx._main`` later
still works, and the ``httpx`` console script, a process of its own, is untouched.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    _blocked = "httpx._main" not in sys.modules
    if _blocked:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        if _blocked and sys.modules.get("httpx._main", "") is None:
            del sys.modules["httpx._main"]
