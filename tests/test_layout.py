"""The package's shape holds: lazy public names that load one API only, and export lists that agree.

The import contracts between packages are checked by import-linter (``make layers``); these tests check what
import-linter cannot: what a user's ``import`` really loads, and that the ``TYPE_CHECKING`` imports type
checkers read name the same objects as the lazy tables code runs with.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import orthanc_client
import orthanc_client.aio
from orthanc_client._exports import ASYNC_ONLY, NEUTRAL, SYNC_ONLY, TWINS, exports

PACKAGE = Path(orthanc_client.__file__).parent


def loaded_after(statement: str) -> list[str]:
    code = f"""
    import sys
    {statement}
    print("\\n".join(sorted(m for m in sys.modules if m.startswith("orthanc_client"))))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    ("statement", "other_api"),
    [
        ("import orthanc_client", "._async"),
        ("from orthanc_client import Orthanc, Study, find_studies, upload, Modality, transfer", "._async"),
        ("import orthanc_client.aio", "._sync"),
        ("from orthanc_client.aio import AsyncOrthanc, Study, find_studies, upload, Modality, transfer", "._sync"),
    ],
)
def test_one_api_never_loads_the_other(statement: str, other_api: str) -> None:
    loaded = loaded_after(statement)
    assert [m for m in loaded if other_api in m] == []


def test_importing_the_package_loads_no_feature() -> None:
    loaded = loaded_after("import orthanc_client, orthanc_client.aio")
    # the package, its export table and the core's httpx set-up: nothing else until a name is used
    assert set(loaded) <= {
        "orthanc_client",
        "orthanc_client.aio",
        "orthanc_client._exports",
        "orthanc_client._core",
        "orthanc_client._core.lean_httpx",
    }


def test_a_name_loads_its_own_feature_only() -> None:
    loaded = loaded_after("from orthanc_client import PseudonymMint")
    assert "orthanc_client._resources.pseudonyms" in loaded
    assert not any(m.startswith(("orthanc_client._dicomweb", "orthanc_client._routing", "orthanc_client._bulk")) for m in loaded)


def type_checking_imports(module: Path) -> dict[str, str]:
    """``{name: module}`` of the ``if TYPE_CHECKING:`` block of a package module."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.level == 1 and statement.module
                for alias in statement.names:
                    assert alias.asname == alias.name, f"{alias.name}: re-export it as itself for type checkers"
                    names[alias.name] = statement.module
    return names


@pytest.mark.parametrize(("module", "api"), [("__init__.py", "sync"), ("aio.py", "async")])
def test_type_checkers_see_the_names_code_gets(module: str, api: str) -> None:
    assert type_checking_imports(PACKAGE / module) == exports(api)  # type: ignore[arg-type]


@pytest.mark.parametrize("package", [orthanc_client, orthanc_client.aio])
def test_every_exported_name_resolves_from_the_module_the_table_names(package: object) -> None:
    table = exports("sync" if package is orthanc_client else "async")
    assert sorted(table) == package.__all__  # type: ignore[attr-defined]
    for name, module in table.items():
        value = getattr(package, name)
        assert value is getattr(sys.modules[f"orthanc_client.{module}"], name)
        assert name in dir(package)


def test_an_unknown_name_is_an_attribute_error_that_names_it() -> None:
    with pytest.raises(AttributeError, match="'orthanc_client.aio' has no attribute 'Orthanc'"):
        orthanc_client.aio.Orthanc  # noqa: B018  (the sync client is not part of the async API)


def test_twins_exist_in_both_apis_and_neutral_names_are_the_same_object() -> None:
    for name in TWINS:
        sync_value, async_value = getattr(orthanc_client, name), getattr(orthanc_client.aio, name)
        assert sync_value is not async_value and "._sync." in sync_value.__module__ and "._async." in async_value.__module__
    for name in NEUTRAL:
        assert getattr(orthanc_client, name) is getattr(orthanc_client.aio, name)
    assert not set(SYNC_ONLY) & set(TWINS) and not set(ASYNC_ONLY) & set(TWINS)


def test_the_package_root_holds_only_public_modules_and_feature_packages() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert modules == ["__init__.py", "_exports.py", "aio.py", "models.py"]
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    for package in packages:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"{package}/__init__.py must say what the package is for"


def test_every_sync_package_has_its_async_source() -> None:
    for sync_dir in PACKAGE.rglob("_sync"):
        assert (sync_dir.parent / "_async").is_dir(), sync_dir
        assert {p.name for p in sync_dir.glob("*.py")} == {p.name for p in (sync_dir.parent / "_async").glob("*.py")}


def test_the_pyorthanc_facade_loads_one_api_too() -> None:
    loaded = loaded_after("from orthanc_client.compat.pyorthanc import Orthanc, Study, find_studies, upload, util")
    assert [m for m in loaded if "._async" in m or m.endswith("async_client")] == []
    loaded = loaded_after("from orthanc_client.compat.pyorthanc import AsyncOrthanc")
    assert "orthanc_client._client._async.client" in loaded


def test_the_old_names_of_the_bulk_results_still_import() -> None:
    from orthanc_client import BulkError, BulkItem, BulkResult, TransferError, TransferItem, TransferResult
    from orthanc_client.aio import TransferResult as AsyncTransferResult

    assert (TransferResult, TransferItem, TransferError) == (BulkResult, BulkItem, BulkError)
    assert AsyncTransferResult is BulkResult
