"""What a resource property does when the data it shows is not loaded yet: the resources' one sync/async difference.

Sans I/O. A property cannot await, so the async resources call ``not_loaded``, which raises ``NotLoadedError``
naming the method to await. ``tools/unasync.py`` rewrites that name to ``load_now`` in the sync twin, which
calls the method instead (pyorthanc-style lazy loading). Both sides share every other line of the property.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .._core.errors import NotLoadedError

_PRIVATE_LOADERS = {"_fetch_data": "load"}
"""Loaders that are not public API, by the public call that runs them (for the message)."""


def not_loaded(resource: Any, method: str) -> NoReturn:
    """Async API: raises ``NotLoadedError`` saying which ``await resource.<method>()`` loads what was asked."""
    call = _PRIVATE_LOADERS.get(method, method)
    raise NotLoadedError(
        f"{type(resource).__name__} {resource.id}: not loaded yet; call `await resource.{call}()` first "
        "(async properties cannot do I/O)"
    )


def load_now(resource: Any, method: str) -> Any:
    """Sync API: loads what was asked by calling ``resource.<method>()`` and returns its result."""
    return getattr(resource, method)()
