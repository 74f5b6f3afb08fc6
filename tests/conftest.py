"""Root fixtures: real Orthanc servers, one set per installed Orthanc version.

Choose versions with ``--orthanc-versions=1.10,1.12.7`` or ``ORTHANC_VERSIONS`` (comma-separated full
versions or prefixes; default: every installed version). Tests that request ``orthanc_server`` (directly
or through another fixture) run once per version, with ids like ``[orthanc-1.12.7]``; pytest groups them by
version, so each session-scoped server starts once.

Only ``orthanc_client.testing`` is imported here: the fixtures must not depend on the client under test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from orthanc_client.testing import OrthancServer, find_orthanc_binaries, version_tuple

_VERSIONS = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--orthanc-versions",
        default=os.environ.get("ORTHANC_VERSIONS", ""),
        help="comma-separated Orthanc versions or prefixes to test against (env ORTHANC_VERSIONS; "
        "default: all installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "orthanc_min(version): skip unless the Orthanc server under test is at least `version`"
    )
    installed = list(find_orthanc_binaries())
    wanted = [v.strip() for v in str(config.getoption("--orthanc-versions")).split(",") if v.strip()]
    if not wanted:
        config.stash[_VERSIONS] = installed
        return
    selected: list[str] = []
    for prefix in wanted:
        matches = [v for v in installed if v == prefix or v.startswith(prefix + ".")]
        if not matches:
            raise pytest.UsageError(
                f"Orthanc {prefix} is not installed (installed: {', '.join(installed) or 'none'}); "
                "run tools/install-orthanc.sh"
            )
        selected += [v for v in matches if v not in selected]
    config.stash[_VERSIONS] = selected


def pytest_report_header(config: pytest.Config) -> str:
    versions: list[str] = config.stash[_VERSIONS]
    return f"orthanc versions: {', '.join(versions) or 'none installed'}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "orthanc_version" not in metafunc.fixturenames:
        return
    versions = metafunc.config.stash[_VERSIONS]
    params = [pytest.param(v, id=f"orthanc-{v}") for v in versions] or [
        pytest.param(None, id="no-orthanc", marks=pytest.mark.skip(reason="no Orthanc binary installed"))
    ]
    metafunc.parametrize("orthanc_version", params, indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``orthanc_min`` tests at collection time, before any server starts for them.

    ``orthanc112`` (declared in pyproject.toml) is treated as ``orthanc_min("1.12")``.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        version = callspec.params.get("orthanc_version") if callspec is not None else None
        if version is None:
            continue
        minimums = [str(m.args[0]) for m in item.iter_markers("orthanc_min")]
        if item.get_closest_marker("orthanc112") is not None:
            minimums.append("1.12")
        for minimum in minimums:
            if version_tuple(version) < version_tuple(minimum):
                item.add_marker(pytest.mark.skip(reason=f"needs Orthanc >= {minimum}, server is {version}"))


@pytest.fixture(scope="session")
def orthanc_version(request: pytest.FixtureRequest) -> str:
    """The full Orthanc version of this test's parametrization (set by ``pytest_generate_tests``)."""
    return str(request.param)


@pytest.fixture(scope="session")
def orthanc_server(orthanc_version: str) -> Iterator[OrthancServer]:
    """A started Orthanc shared by the whole session for this version; see ``clean_orthanc``."""
    with OrthancServer(orthanc_version, name="orthanc-test") as server:
        yield server


@pytest.fixture(scope="session")
def second_orthanc_server(orthanc_version: str) -> Iterator[OrthancServer]:
    """Another Orthanc of the same version, for peer / DICOM networking tests."""
    with OrthancServer(orthanc_version, name="orthanc-second") as server:
        yield server


@pytest.fixture
def clean_orthanc(orthanc_server: OrthancServer) -> OrthancServer:
    """``orthanc_server`` emptied of all patients (hence all studies, series, instances) before the test."""
    if not orthanc_server.is_running():  # a previous test stopped or crashed it
        orthanc_server.start()
    with httpx.Client(base_url=orthanc_server.url, auth=orthanc_server.auth, timeout=60) as client:
        for patient in client.get("/patients").raise_for_status().json():
            client.delete(f"/patients/{patient}").raise_for_status()
    return orthanc_server


@pytest.fixture
def orthanc_url(orthanc_server: OrthancServer) -> str:
    return orthanc_server.url


@pytest.fixture
def orthanc_credentials(orthanc_server: OrthancServer) -> tuple[str, str]:
    """``(username, password)``."""
    return orthanc_server.auth
