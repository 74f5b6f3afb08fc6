"""What the generated client may use of the hand-written code, for both APIs: its one door into the core.

``_generated/`` imports from this module and from its own API's ``_core/_async/protocol.py`` (or the sync
twin) only, so the generator never names any other hand-written module, the core can be rearranged behind
them, and neither API's generated module loads the other API's code.
"""

from __future__ import annotations

from .operation import Operation, presence
from .types import NOT_GIVEN, NotGiven, QueryParams, RawContent, TimeoutTypes

__all__ = ["NOT_GIVEN", "NotGiven", "Operation", "QueryParams", "RawContent", "TimeoutTypes", "presence"]
