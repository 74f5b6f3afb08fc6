"""Every public name has a docstring, and every docstring example is one the harness runs.

The examples themselves run from the root ``conftest.py`` (``pytest src/orthanc_client``, part of ``make test``)
against the demo site; this module checks what that run cannot see: a public name without a docstring, an
example written in a form the harness does not collect, and which modules the harness reads.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import orthanc_client
import orthanc_client.aio

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "orthanc_client"
# The high level's hand-written classes, whose public methods and properties are documented one by one.
HIGH_LEVEL = (
    "Resource", "Patient", "Study", "Series", "Instance", "Modality", "Peer", "Job", "DicomWeb", "AsyncDicomWeb",
    "Selection", "ChangeWatcher", "FolderWatcher", "Router",
)


def _own_doc(obj: Any) -> str:
    """The docstring written for ``obj`` (not a dataclass's or NamedTuple's generated ``Name(field, ...)``)."""
    doc = inspect.getdoc(obj) or ""
    name = getattr(obj, "__name__", "")
    return "" if inspect.isclass(obj) and doc.startswith(f"{name}(") else doc


def public_names() -> Iterator[tuple[str, Any]]:
    """``(qualified name, object)`` for every public class and function, and the high-level classes' members."""
    for module in (orthanc_client, orthanc_client.aio):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
        for class_name in HIGH_LEVEL:
            cls = getattr(module, class_name, None)
            if cls is None:
                continue
            for klass in cls.__mro__:
                if not klass.__module__.startswith("orthanc_client.") or "_generated" in klass.__module__:
                    continue
                for member, value in vars(klass).items():
                    if member.startswith("_"):
                        continue
                    if isinstance(value, (classmethod, staticmethod)):
                        value = value.__func__
                    if inspect.isfunction(value) or isinstance(value, property):
                        yield f"{module.__name__}.{class_name}.{member}", getattr(cls, member, value)


def test_every_public_name_has_a_docstring() -> None:
    names = dict(public_names())
    assert len(names) > 200  # the walk found the API, not an empty list
    missing = sorted(name for name, obj in names.items() if not _own_doc(obj).strip())
    assert not missing, f"{len(missing)} public names without a docstring: {missing}"


def test_the_check_sees_a_missing_docstring() -> None:
    class Undocumented:
        pass

    from dataclasses import dataclass

    @dataclass
    class Fields:
        x: int

    assert _own_doc(Undocumented) == "" and _own_doc(Fields) == ""
    assert _own_doc(orthanc_client.Orthanc)


_NOT_COLLECTED = [
    (re.compile(r"\bExamples?: ``"), "an inline Example: ``...``"),
    (re.compile(r"\bExamples::"), "Examples:: (the harness reads Example::)"),
]


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    """The root ``conftest.py``, which collects the examples (the tests' own ``conftest`` shadows its name)."""
    spec = importlib.util.spec_from_file_location("docs_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_examples_are_blocks_the_harness_runs(harness: ModuleType) -> None:
    """An example in another form would never run: ``Example::`` blocks and doctests (``>>>``) only."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if not harness.collects_examples_from(path):
            continue
        text = path.read_text(encoding="utf-8")
        for pattern, what in _NOT_COLLECTED:
            for match in pattern.finditer(text):
                wrong.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {what}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("relative", "collected"),
    [
        ("__init__.py", True),
        ("_sync/client.py", True),
        ("testing/demo.py", True),
        ("cli/__init__.py", True),
        ("compat/simple_orthanc/orthanc.py", True),
        ("_bulk/_sync/upload.py", True),  # a feature package, as issue 15 moves modules into
        ("_async/client.py", False),  # the _sync twin's text, with await
        ("_bulk/_async/upload.py", False),
        ("_generated/sync_api.py", False),
        ("_sync/notes.txt", False),
    ],
)
def test_the_harness_reads_every_module_but_async_and_generated_ones(
    harness: ModuleType, relative: str, collected: bool
) -> None:
    assert harness.collects_examples_from(PACKAGE / relative) is collected
    assert not harness.collects_examples_from(ROOT / "tests" / "test_docstrings.py")
