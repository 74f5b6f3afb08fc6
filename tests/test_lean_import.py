"""``import orthanc_client`` loads neither click nor rich (the ``[cli]`` extra), even where they are installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

CLI_MODULES = ("click", "rich", "pygments")


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_click_and_rich_are_installed_here_so_the_next_test_means_something() -> None:
    assert importlib.util.find_spec("click") is not None and importlib.util.find_spec("rich") is not None


def test_importing_the_library_loads_no_command_line_module() -> None:
    result = run(
        """
        import sys
        import orthanc_client, orthanc_client.aio, orthanc_client.models
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in {"click", "rich", "pygments"})))
        print(orthanc_client.Orthanc.__name__, "httpx._main" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    loaded, status = result.stdout.splitlines()
    assert loaded == "" and status == "Orthanc False"


def test_httpx_command_line_stays_importable_after_the_library() -> None:
    result = run(
        """
        import sys
        import orthanc_client
        import httpx._main
        print(callable(httpx._main.main), "click" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.parametrize("missing", ["click", "rich"])
def test_the_orthanc_command_names_the_extra_when_its_dependencies_are_missing(missing: str) -> None:
    result = run(
        f"""
        import sys
        sys.modules[{missing!r}] = None  # as if not installed
        from orthanc_client.cli import main
        main(["--help"])
        """
    )
    assert result.returncode == 2
    assert "pip install 'orthanc-client[cli]'" in result.stderr and missing in result.stderr


def test_a_progress_bar_without_rich_names_the_extra() -> None:
    result = run(
        """
        import sys
        sys.modules["rich"] = None
        sys.modules["rich.progress"] = None
        from orthanc_client import InvalidInputError
        from orthanc_client._bulk.progress import progress_wanted
        assert progress_wanted(None) is False  # the default: silently no bar
        try:
            progress_wanted(True)
        except InvalidInputError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'orthanc-client[cli]'" in result.stdout
