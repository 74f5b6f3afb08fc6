"""pyorthanc's own exceptions (``pyorthanc.errors``).

HTTP failures are not here: route methods raise ``orthanc_client``'s typed errors (``NotFoundError``...),
which derive from ``httpx.HTTPStatusError`` and so from the ``httpx.HTTPError`` pyorthanc raised.
"""

from __future__ import annotations

__all__ = ["ModificationError", "NotInInternalEnvironmentError", "TagDoesNotExistError"]


class TagDoesNotExistError(Exception):
    """The resource has no such tag among its main DICOM tags."""


class ModificationError(Exception):
    """A modification was refused before sending: changing an identifier needs ``force=True``."""


class NotInInternalEnvironmentError(Exception):
    """``get_internal_client()`` was called outside Orthanc's Python plugin."""
