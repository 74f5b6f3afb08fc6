"""Runs every Python block of README.md and docs/ as written (``make docs-test``), with Sybil.

The blocks run against a real Orthanc started here with the demo data loaded
(``orthanc_client.testing.demo.DemoSite``: the newest installed release, whose modality and peer
``pacs`` is a second server); ``ORTHANC_URL``, ``ORTHANC_USERNAME`` and ``ORTHANC_PASSWORD`` point at it, so
``Orthanc()`` with no arguments connects, as the docs say. Each document runs in a fresh empty folder, its
blocks in order and sharing one namespace (an example may use what an earlier one of the same page made). A
block that cannot run standalone is preceded by ``<!-- skip: next -->`` and says why.

The unit and integration tests (``tests/``) have their own fixtures and do not use this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from sybil import Sybil
    from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
except ImportError:  # the docs tests need the dev extra; the library's own tests do not
    Sybil = None


@pytest.fixture(scope="session")
def docs_orthanc() -> Iterator[Any]:
    """The ``research`` server of a ``DemoSite`` (its modality and peer ``pacs`` is the other server)."""
    from orthanc_client.testing.demo import DemoSite

    with DemoSite() as site:
        yield site.research


@pytest.fixture(scope="module")
def docs_environment(docs_orthanc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Per document: the server's settings in the environment, and a fresh empty working folder."""
    folder = tmp_path_factory.mktemp("docs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORTHANC_URL", docs_orthanc.url)
        patch.setenv("ORTHANC_USERNAME", docs_orthanc.username)
        patch.setenv("ORTHANC_PASSWORD", docs_orthanc.password)
        patch.delenv("ORTHANC_TOKEN", raising=False)
        patch.chdir(folder)
        yield folder


if Sybil is not None:
    pytest_collect_file = Sybil(
        parsers=[PythonCodeBlockParser(), SkipParser()],
        patterns=["README.md", "docs/*.md", "CONTRIBUTING.md"],
        fixtures=["docs_environment"],
    ).pytest()
