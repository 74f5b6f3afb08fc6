"""tools/unasync.py: the sync package is written from the async one on tokens, and nothing async is left."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _unasync_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_tool", ROOT / "tools" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


UNASYNC = _unasync_module()


def convert(source: str) -> str:
    return str(UNASYNC.unasync_source(textwrap.dedent(source), set()))


def test_keywords_and_names_become_their_sync_twins() -> None:
    out = convert(
        """
        from contextlib import asynccontextmanager
        async def fetch(client: AsyncOrthanc) -> AsyncIterator[bytes]:
            async with client.stream() as answer:
                async for chunk in answer.aiter_bytes():
                    yield await(chunk)
            item = await anext(aiter(things))
            await client.aclose()
        """
    )
    assert out == textwrap.dedent(
        """
        from contextlib import contextmanager
        def fetch(client: Orthanc) -> Iterator[bytes]:
            with client.stream() as answer:
                for chunk in answer.iter_bytes():
                    yield (chunk)
            item = next(iter(things))
            client.close()
        """
    )


def test_code_that_merely_mentions_async_is_left_alone() -> None:
    source = """
        body = {"Asynchronous": True, "async": "not a keyword here"}
        asynchronous_jobs = count_async_things(is_async=flag)
        prepare(is_async=True)
        """
    out = convert(source)
    assert '{"Asynchronous": True, "async": "not a keyword here"}' in out
    assert "asynchronous_jobs = count_async_things(is_async=flag)" in out
    assert "prepare(is_async=False)" in out


def test_docstring_examples_read_right_in_the_sync_api() -> None:
    out = convert(
        '''
        def f():
            """Example::

                from orthanc_client.aio import AsyncOrthanc

                async with AsyncOrthanc() as client:
                    study = await Study.get(client, study_id)
            """
        '''
    )
    assert "with Orthanc() as client:" in out and "study = Study.get(client, study_id)" in out
    assert "from orthanc_client import Orthanc" in out  # the example imports what it uses, from the sync API
    assert "await" not in out and "async" not in out


def test_leftovers_are_reported() -> None:
    problems = UNASYNC.leftovers("x.py", 'def f():\n    """Use await client.get_system()."""\n    return aread\n')
    assert any("async example left" in p for p in problems)
    assert any("'aread'" in p for p in problems)


def test_the_committed_sync_package_is_a_fresh_run_with_nothing_async_left() -> None:
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "unasync.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
