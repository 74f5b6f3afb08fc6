"""The examples of docs/migrating-from-simple-orthanc.md run as they are (they start their own server)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from orthanc_client.testing import find_orthanc_binaries

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-simple-orthanc.md"


@pytest.mark.skipif(not list(find_orthanc_binaries()), reason="no Orthanc binary installed")
def test_the_migration_guide_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(printed):
            for block in blocks:
                exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    finally:
        server = namespace.get("server")
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
        os.chdir(cwd)
    output = printed.getvalue()
    assert "[39.0, 38.0, 37.0]" in output and "(40, 128, 128, 1)" in output
    assert "array() needs exactly one series, 0 are selected" in output
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 40
