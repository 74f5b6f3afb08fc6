"""Test helpers for code that talks to Orthanc: real throw-away servers and synthetic DICOM.

``orthanc_client.testing.dicom`` needs the optional ``dicom`` extra (pydicom, numpy); this package itself
only needs the client's own dependencies (``SyntheticFeed`` imports it when it sends).
"""

from orthanc_client.testing.cluster import OrthancCluster, PostgresServer
from orthanc_client.testing.feed import FedStudy, SyntheticFeed
from orthanc_client.testing.server import (
    OrthancBinary,
    OrthancServer,
    find_orthanc_binaries,
    version_tuple,
)

__all__ = [
    "FedStudy",
    "OrthancBinary",
    "OrthancCluster",
    "OrthancServer",
    "PostgresServer",
    "SyntheticFeed",
    "find_orthanc_binaries",
    "version_tuple",
]
