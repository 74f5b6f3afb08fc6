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

import ast
import asyncio
import inspect
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from sybil import Sybil
    from sybil.document import PythonDocStringDocument
    from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
    from sybil.region import Region
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


# --- docstring examples --------------------------------------------------------------------------------------
# The public API's docstrings show usage in ``Example::`` blocks. They run from the sync modules (``_sync/`` is
# written from ``_async/`` with ``await`` removed, so one docstring serves both), with the names they assume
# bound to demo data: ``client``, ``patient``, ``study``, ``series``, ``instance``, their ``*_id``s, ``uid`` (a
# StudyInstanceUID) and ``pacs`` (the demo site's modality). ``Example (not run)::`` marks the rare example that
# cannot run here (a shell session, a server named in it), and says why next to it.
_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example::[ \t]*\n(?P<body>(?:[ \t]*\n|(?P=indent)[ \t]+\S.*\n)+)", re.M)


def _docstring_examples(document: Any) -> Iterator[Any]:
    for match in _EXAMPLE.finditer(document.text):
        body = textwrap.dedent(match.group("body")).strip("\n") + "\n"
        yield Region(match.start(), match.end(), body, _run_example)


def _run_example(example: Any) -> None:
    # Sybil puts each requested fixture into the namespace under its name, just before the example
    example.namespace.update(example.namespace.pop("example_names", {}))
    # async examples (``async with AsyncOrthanc() as client: ...``) run as a top-level-await script
    code = compile(example.parsed, f"{example.path}:{example.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, example.namespace)
    if inspect.iscoroutine(result):
        asyncio.run(result)


@pytest.fixture(scope="module")
def example_names(docs_environment: Path, docs_orthanc: Any) -> Iterator[dict[str, Any]]:
    """What docstring examples may assume: a client and one resource of each level from the demo data."""
    import datetime

    from orthanc_client import Modality, Orthanc, find_studies

    with Orthanc() as client:
        study = find_studies(client, {"PatientID": "DEMOCT01"})[0]
        series = study.get_series()[0]
        instance = series.get_instances()[0]
        patient = study.get_patient()
        yield {
            "client": client,
            "patient": patient,
            "study": study,
            "series": series,
            "instance": instance,
            "patient_id": patient.id,
            "study_id": study.id,
            "series_id": series.id,
            "instance_id": instance.id,
            "uid": study.uid,
            "pacs": Modality(client, "pacs"),
            "date": datetime.date,
        }


if Sybil is not None:
    _markdown = Sybil(
        parsers=[PythonCodeBlockParser(), SkipParser()],
        patterns=["README.md", "docs/*.md", "CONTRIBUTING.md"],
        fixtures=["docs_environment"],
    )
    _docstrings = Sybil(
        parsers=[_docstring_examples],
        patterns=["_sync/*.py", "orthanc_client/*.py", "testing/*.py"],
        excludes=["_generated/*", "_async/*"],
        document_types={".py": PythonDocStringDocument},
        fixtures=["example_names"],
    )
    pytest_collect_file = (_markdown + _docstrings).pytest()
