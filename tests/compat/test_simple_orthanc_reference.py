"""The same simple-orthanc script run by the genuine simple-orthanc 0.9.9.6 and by our compat layer, against
the same server: the outputs must be equal (``simple_orthanc_script.py`` has the steps where 0.9.9.6 works).

The genuine package needs pydicom < 3, so it lives in its own virtualenv: ``.venv-reference/`` (made by
``tools/install-simple-orthanc-reference.sh``, run by ``make install``), or the Python named by
``SIMPLE_ORTHANC_REFERENCE_PYTHON``. Without it the test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orthanc_client.testing import OrthancServer

from .simple_orthanc_data import CT_SLICES, populate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("simple_orthanc_script.py")


def reference_python() -> str | None:
    configured = os.environ.get("SIMPLE_ORTHANC_REFERENCE_PYTHON")
    candidate = Path(configured) if configured else ROOT / ".venv-reference" / "bin" / "python"
    if not candidate.exists():
        return None
    probe = subprocess.run([str(candidate), "-c", "import simple_orthanc"], capture_output=True, timeout=60)
    return str(candidate) if probe.returncode == 0 else None


REFERENCE = reference_python()


def run_script(python: str, kind: str, server: OrthancServer, workdir: Path) -> dict[str, Any]:
    answer = subprocess.run(
        [python, str(SCRIPT), kind, str(server.http_port), server.username, server.password, str(workdir)],
        capture_output=True, text=True, timeout=240,
    )
    assert answer.returncode == 0, f"{kind} script failed:\n{answer.stderr[-4000:]}"
    return dict(json.loads(answer.stdout))


@pytest.mark.skipif(
    REFERENCE is None,
    reason="the genuine simple-orthanc 0.9.9.6 is not installed: run `bash tools/install-simple-orthanc-reference.sh` "
    "(or set SIMPLE_ORTHANC_REFERENCE_PYTHON)",
)
def test_same_script_same_output_as_genuine_simple_orthanc(clean_orthanc: OrthancServer, tmp_path: Path) -> None:
    assert REFERENCE is not None
    populate(clean_orthanc)
    genuine = run_script(REFERENCE, "genuine", clean_orthanc, tmp_path)
    ours = run_script(sys.executable, "compat", clean_orthanc, tmp_path)
    assert ours["ct: counts"] == [1, 1, 1, CT_SLICES, 1]  # the script saw the data, not an empty server
    assert ours["ct: array"][:2] == [[CT_SLICES, 64, 64, 1], "float32"]
    differences = {step: {"genuine": genuine.get(step), "ours": ours.get(step)}
                   for step in sorted(set(genuine) | set(ours)) if genuine.get(step) != ours.get(step)}
    assert differences == {}
