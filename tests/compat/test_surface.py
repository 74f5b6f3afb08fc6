"""The facade exposes pyorthanc 1.23.0's names, submodules and signatures (no server needed)."""

from __future__ import annotations

import importlib
import inspect

import httpx
import pytest

from orthanc_client.compat.pyorthanc._make_tables import signatures

from .conftest import facade, real_pyorthanc

SUBMODULES = ["client", "async_client", "errors", "util", "jobs", "retrieve", "orthanc_sdk"]


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_every_top_level_name_of_pyorthanc_exists() -> None:
    missing = set(real_pyorthanc.__all__) - _public(facade)
    assert not missing
    assert facade.RemoteModality is facade.Modality


@pytest.mark.parametrize("name", SUBMODULES)
@pytest.mark.filterwarnings("ignore:Cannot import orthanc sdk:UserWarning")  # genuine pyorthanc, outside a plugin
def test_submodules_map_one_to_one(name: str) -> None:
    theirs = importlib.import_module(f"pyorthanc.{name}")
    ours = importlib.import_module(f"orthanc_client.compat.pyorthanc.{name}")
    # Public functions and classes defined by pyorthanc in that module (not what it merely imported).
    defined = {
        n for n, v in vars(theirs).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("pyorthanc")
    }
    if name == "orthanc_sdk":
        defined = {n for n in defined if isinstance(vars(theirs)[n], type) and issubclass(vars(theirs)[n], object)}
    missing = {n for n in defined if not hasattr(ours, n)}
    assert not missing


def test_route_table_matches_installed_pyorthanc() -> None:
    from orthanc_client.compat.pyorthanc._signatures import SIGNATURES

    assert SIGNATURES == signatures(real_pyorthanc.Orthanc)


@pytest.mark.parametrize("cls_name", ["Orthanc", "AsyncOrthanc"])
def test_route_methods_have_pyorthancs_parameters_in_order(cls_name: str) -> None:
    theirs = getattr(real_pyorthanc, cls_name)
    ours = getattr(facade, cls_name)
    assert issubclass(ours, httpx.Client if cls_name == "Orthanc" else httpx.AsyncClient)
    routes = signatures(theirs)
    assert len(routes) > 250
    for name in routes:
        expected = list(inspect.signature(getattr(theirs, name)).parameters)
        got = list(inspect.signature(getattr(ours, name)).parameters)
        assert got[: len(expected)] == expected, name
        assert inspect.iscoroutinefunction(getattr(ours, name)) == (cls_name == "AsyncOrthanc")
    for name in ("setup_credentials", "_get", "_post", "_put", "_delete"):
        assert callable(getattr(ours, name))


@pytest.mark.parametrize("cls_name", ["Patient", "Study", "Series", "Instance", "Modality", "Job"])
def test_classes_have_every_public_member_and_parameter(cls_name: str) -> None:
    theirs = getattr(real_pyorthanc, cls_name)
    ours = getattr(facade, cls_name)
    for name in _public(theirs):
        assert hasattr(ours, name), f"{cls_name}.{name}"
        ref = inspect.getattr_static(theirs, name)
        mine = inspect.getattr_static(ours, name)
        assert isinstance(mine, property) == isinstance(ref, property), f"{cls_name}.{name}"
        if isinstance(ref, property):
            assert (mine.fset is not None) == (ref.fset is not None), f"{cls_name}.{name} setter"
        elif callable(ref):
            expected = list(inspect.signature(getattr(theirs, name)).parameters)
            assert list(inspect.signature(getattr(ours, name)).parameters) == expected, f"{cls_name}.{name}"
    assert list(inspect.signature(ours.__init__).parameters) == list(inspect.signature(theirs.__init__).parameters)


def test_enums_match() -> None:
    from pyorthanc import jobs as their_jobs

    from orthanc_client.compat.pyorthanc import jobs as our_jobs

    assert {m.name: m.value for m in our_jobs.State} == {m.name: m.value for m in their_jobs.State}
    assert {m.name: m.value for m in our_jobs.ErrorCode} == {m.name: m.value for m in their_jobs.ErrorCode}
    assert our_jobs.ErrorCode(0).name == "SUCCESS"


def test_errors_are_plain_exceptions_with_pyorthancs_names() -> None:
    for name in ("TagDoesNotExistError", "ModificationError", "NotInInternalEnvironmentError"):
        assert issubclass(getattr(facade.errors, name), Exception)


def test_util_identifiers_and_dates() -> None:
    u, ref = facade.util, real_pyorthanc.util
    assert u.to_orthanc_patient_id("PAT0001") == ref.to_orthanc_patient_id("PAT0001")
    assert u.to_orthanc_study_id("P", "1.2") == ref.to_orthanc_study_id("P", "1.2")
    assert u.to_orthanc_series_id("P", "1.2", "1.3") == ref.to_orthanc_series_id("P", "1.2", "1.3")
    assert u.to_orthanc_instance_id("P", "1.2", "1.3", "1.4") == ref.to_orthanc_instance_id("P", "1.2", "1.3", "1.4")
    for args in [("20240102",), ("20240102", "123456"), ("20240102", "12"), ("2024", None), ("", None),
                 ("20240102", "123456.789")]:
        assert u.make_datetime_from_dicom_date(*args) == ref.make_datetime_from_dicom_date(*args), args


def test_get_internal_client_outside_orthanc_raises() -> None:
    with pytest.raises(facade.errors.NotInInternalEnvironmentError):
        facade.get_internal_client()


def test_orthanc_sdk_stands_in_outside_orthanc() -> None:
    sdk = facade.orthanc_sdk
    assert sdk.ResourceType.STUDY.value == real_pyorthanc.orthanc_sdk.ResourceType.STUDY.value
    assert sdk.RegisterRestCallback("/x", lambda *a: None) is None
    assert sdk.GetConfiguration() is None


def test_repr_hides_credentials() -> None:
    client = facade.Orthanc("http://localhost:8042", "orthanc", "s3cret-pass")
    assert "s3cret" not in repr(client)
    assert repr(client) == "Orthanc(url='http://localhost:8042')"
    client.close()
