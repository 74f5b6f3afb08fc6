"""``pyorthanc.orthanc_sdk``: the Orthanc Python plugin's ``orthanc`` module, or a stand-in outside Orthanc.

Inside Orthanc's Python plugin every name comes from the real ``orthanc`` module. Elsewhere the SDK's
enumerations are available (``ChangeType``, ``ResourceType``, ``ErrorCode``...) and every SDK function or
class name resolves to a stand-in that does nothing and returns ``None`` (so code can be imported and type
checked outside Orthanc, as with pyorthanc).
"""

from __future__ import annotations

import warnings
from typing import Any

from ._sdk_enums import *  # noqa: F403
from ._sdk_enums import ErrorCode

VERSION = "7.0"
_IN_ORTHANC = False

try:
    from orthanc import *  # type: ignore[import-not-found]  # noqa: F403

    _IN_ORTHANC = True
except ModuleNotFoundError:
    warnings.warn("Cannot import orthanc sdk. Using mock instead.", stacklevel=2)


def _stand_in(name: str) -> Any:
    def stand_in(*args: Any, **kwargs: Any) -> None:
        """Does nothing outside the Orthanc Python plugin."""
        return None

    stand_in.__name__ = stand_in.__qualname__ = name
    return stand_in


def __getattr__(name: str) -> Any:
    if name[:1].isupper():
        return _stand_in(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["VERSION", "ErrorCode"]
