"""Runs every Python block of README.md and docs/ as written, and the docstring examples of the package
(``make docs-test``; ``make test`` too), with Sybil.

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
    from sybil.parsers.rest import DocTestParser
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
# The docstrings' ``Example::`` blocks run from every module under ``src/orthanc_client/`` except those in a
# directory named ``_async`` (its text is the ``_sync`` twin's: ``tools/unasync.py`` writes one from the other)
# or ``_generated``, matched by directory name so that moving modules into packages needs no change here. One
# module's examples share a namespace (the module's globals, then what earlier examples made) and a fresh
# working folder. Besides the module's globals, an example may use only these names, bound to the demo site
# (``example_names`` below; CONTRIBUTING.md lists them too), and sets up anything else itself:
#
#   client                 an ``Orthanc`` connected to the demo's ``research`` server (also ``Orthanc()``)
#   patient, study, series, instance
#                          patient DEMOCT01, its CT study (2024-03-15), its series of 20 slices, one slice
#   patient_id, study_id, series_id, instance_id
#                          their Orthanc IDs
#   uid                    the study's StudyInstanceUID
#   pacs                   ``Modality(client, "pacs")``: the other server (patient PACS0001, accession numbers
#                          PACS000101 and PACS000102), also known as the peer and DICOMweb server ``"pacs"``
#   date                   ``datetime.date``
#
# Doctests (``>>>`` lines and the output they must print, for the pure functions of the private modules) run
# too, in the module's namespace.
#
# An example leaves the site as it found it (what it creates gets a new name and is removed again; the demo's
# ``pacs`` entries are never overwritten) and takes seconds, not minutes (``_EXAMPLE_TIMEOUT``).
# ``Example (not run)::`` marks the rare example that cannot run here (a shell session, a remote PACS the demo
# does not have) and says why next to it.
_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example::[ \t]*\n(?P<body>(?:[ \t]*\n|(?P=indent)[ \t]+\S.*\n)+)", re.M)
_EXAMPLE_TIMEOUT = 60
_SOURCE = Path(__file__).parent / "src" / "orthanc_client"
_NOT_SOURCE_OF_EXAMPLES = frozenset({"_async", "_generated"})


def collects_examples_from(path: Path) -> bool:
    """Every module under ``src/orthanc_client/``, but none in an ``_async`` or ``_generated`` directory."""
    try:
        parts = path.resolve().relative_to(_SOURCE.resolve()).parts
    except ValueError:
        return False
    return path.suffix == ".py" and not _NOT_SOURCE_OF_EXAMPLES.intersection(parts[:-1])


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

    class _ModuleExamples(Sybil):
        def should_parse(self, path: Path) -> bool:
            return collects_examples_from(path)

    _docstrings = _ModuleExamples(
        parsers=[_docstring_examples, DocTestParser()],
        patterns=["*.py"],
        document_types={".py": PythonDocStringDocument},
        fixtures=["example_names"],
    )
    pytest_collect_file = (_markdown + _docstrings).pytest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Bounds each docstring example's time (the suite's own default is minutes, for whole test scenarios)."""
    for item in items:
        if item.path.suffix == ".py" and item.path.is_relative_to(_SOURCE):
            item.add_marker(pytest.mark.timeout(_EXAMPLE_TIMEOUT))
