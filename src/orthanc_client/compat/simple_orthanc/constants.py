"""simple-orthanc's constants (``simple_orthanc.constants``): sort orders and Orthanc's JSON keys."""

from __future__ import annotations

ASCENDING = "ascending"
DESCENDING = "descending"
"""simple-orthanc 0.9.9.6 spelled this ``"descendig"``; ``sort_by`` accepts both spellings."""
DESCENDING_OLD_SPELLING = "descendig"

TYPE = "Type"
ID = "ID"
PARENT = "Parent"
PRIVATE = "private"

__all__ = ["ASCENDING", "DESCENDING", "DESCENDING_OLD_SPELLING", "ID", "PARENT", "PRIVATE", "TYPE"]
