"""The first example of docs/dicomweb.md runs as written (it starts its own Orthanc with the plugin)."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "dicomweb.md"


def test_the_main_example_runs() -> None:
    # the first block: the Sync tab's (indented under its tab)
    example = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert example is not None
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(textwrap.dedent(example.group(1)), str(DOC), "exec"), {})  # noqa: S102 - our own documentation
    assert "upload: 6 stored" in output.getvalue()
