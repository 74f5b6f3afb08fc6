"""``openapi/history/since.json`` (what each published Orthanc release documents) and the ``since`` it gives.

The table is checked three ways: against the history README's own table (spot checks), against an independent
recomputation from the published specs when they are present (``../shared/orthanc-openapi-history`` or
``$ORTHANC_OPENAPI_HISTORY``), and against the generated operations.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from generator import overrides
from generator.history import TABLE, build_table, dump, load
from orthanc_client._generated import operations as ops

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(os.environ.get("ORTHANC_OPENAPI_HISTORY") or ROOT.parent / "shared" / "orthanc-openapi-history")
COMMITTED: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))

needs_source = pytest.mark.skipif(
    not (SOURCE / "orthanc-1.12.7.json").exists(), reason=f"the published specs are not at {SOURCE}"
)


def key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def first_documented(method: str, path: str) -> str:
    return str(COMMITTED["routes"][f"{method} {path}"])


def test_every_release_from_1_9_0_to_1_12_11_is_recorded_with_its_hash() -> None:
    releases = list(COMMITTED["releases"])
    assert releases[0] == "1.9.0" and releases[-1] == "1.12.11" and len(releases) == 25
    assert "1.9.2" not in releases  # published no spec of its own
    assert releases == sorted(releases, key=key)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in COMMITTED["releases"].values())


def test_spot_checks_from_the_history_readme() -> None:
    assert first_documented("POST", "/peers/{id}/store-straight") == "1.9.1"
    new_in = {}
    for route, version in COMMITTED["routes"].items():
        new_in.setdefault(version, set()).add(route)
    assert len(new_in["1.9.0"]) == 262
    assert len(new_in["1.12.0"]) == 17 and all("label" in route for route in new_in["1.12.0"])
    assert {r.split(" ")[1] for r in new_in["1.9.4"]} == {
        "/tools/bulk-anonymize",
        "/tools/bulk-content",
        "/tools/bulk-delete",
        "/tools/bulk-modify",
    }
    assert len(new_in["1.10.0"]) == 7
    assert new_in["1.12.1"] == {"DELETE /jobs/{id}/{key}"}
    assert "GET /instances/{id}/content/{path}" in new_in["1.12.2"] and "GET /tools/create-archive" in new_in["1.12.2"]
    assert new_in["1.12.5"] == {"POST /tools/count-resources"}
    assert new_in["1.12.6"] == {"POST /modalities/{id}/get", "GET /tools/accepted-sop-classes"}
    find = COMMITTED["body"]["POST /tools/find"]
    assert (find["Labels"], find["LabelsConstraint"], find["ResponseContent"], find["OrderBy"]) == (
        "1.12.0",
        "1.12.0",
        "1.12.5",
        "1.12.5",
    )


@needs_source
def test_the_readme_table_matches_the_specs() -> None:
    readme = (SOURCE / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (1\.\d+\.\d+) \| (\d+) \|", readme, re.MULTILINE)
    assert len(rows) >= 9
    for version, count in rows:
        document = json.loads((SOURCE / f"orthanc-{version}.json").read_text(encoding="utf-8"))
        operations = sum(1 for item in document["paths"].values() for m in item if m in ("get", "post", "put", "delete"))
        assert operations == int(count), version
        # routes documented by then = those whose first release is this one or older
        assert sum(1 for v in COMMITTED["routes"].values() if key(v) <= key(version)) >= operations


@needs_source
def test_the_committed_table_is_a_fresh_derivation_of_the_published_specs() -> None:
    assert dump(build_table(SOURCE)) == TABLE.read_text(encoding="utf-8")


@needs_source
def test_an_independent_recomputation_agrees_on_every_entry() -> None:
    files = {m.group(1): p for p in SOURCE.iterdir() if (m := re.fullmatch(r"orthanc-([\d.]+)\.json", p.name))}
    assert sorted(files, key=key) == list(COMMITTED["releases"])
    routes: dict[str, str] = {}
    query: dict[tuple[str, str], str] = {}
    body: dict[tuple[str, str], str] = {}
    for version in sorted(files, key=key, reverse=True):  # newest first: the oldest overwrites
        raw = files[version].read_bytes()
        assert hashlib.sha256(raw).hexdigest() == COMMITTED["releases"][version]
        for path, item in json.loads(raw)["paths"].items():
            for method, operation in item.items():
                if method not in ("get", "post", "put", "delete"):
                    continue
                route = f"{method.upper()} {path}"
                routes[route] = version
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "query":
                        query[(route, parameter["name"])] = version
                schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                for name in schema.get("schema", {}).get("properties", {}):
                    body[(route, name)] = version
    assert routes == COMMITTED["routes"]
    assert query == {(r, n): v for r, names in COMMITTED["query"].items() for n, v in names.items()}
    assert body == {(r, n): v for r, names in COMMITTED["body"].items() for n, v in names.items()}


def test_generated_since_and_absent_through_follow_the_table() -> None:
    history = load()
    for op in ops.ALL:
        route = f"{op.method} {op.path}"
        documented = COMMITTED["routes"][route]
        if (op.method, op.path) in overrides.SERVED_SINCE:
            assert key(op.since) < key(documented) and op.absent_through == "", op
            continue
        assert op.since == documented, op
        assert op.absent_through == history.absent_through(documented), op
        for table, entries in ((COMMITTED["query"], op.query_since), (COMMITTED["body"], op.body_since)):
            for name, since, absent in entries:
                assert since == table[route][name] and absent == history.absent_through(since), (op, name)
                assert key(since) > key(op.since)
    # releases with no spec are never "proven": 1.9.2 sits between 1.9.1 and 1.9.3
    assert history.absent_through("1.9.3") == "1.9.1"
    assert history.absent_through("1.9.0") == ""


def test_the_gate_refuses_only_what_a_published_spec_proves_absent() -> None:
    labels = ops.GET_TOOLS_LABELS
    assert labels.missing_on("1.11.3") == ("GET /tools/labels", "1.12.0")
    assert labels.missing_on("1.12.0") is None and labels.missing_on("1.12.4") is None
    assert labels.missing_on("mainline") is None  # a development build sorts as the newest
    assert ops.POST_MODALITIES_ID_GET.missing_on("1.12.5") == ("POST /modalities/{id}/get", "1.12.6")
    assert ops.POST_MODALITIES_ID_GET.missing_on("1.12.6", body_names=["Level", "Resources"]) is None
    assert ops.GET_SYSTEM.missing_on("1.8.0") is None  # older than every published spec: not proven
    find = ops.POST_TOOLS_FIND
    assert find.missing_on("1.11.0", body_names=["Level", "Query"]) is None
    assert find.missing_on("1.11.0", body_names=["Level", "Labels"]) == (
        "POST /tools/find with the body field 'Labels'",
        "1.12.0",
    )
    assert not find.may_be_refused(body_names=["Level", "Query", "Expand"])  # no version needed
    # from the oldest release the client is tested with (1.10.1), routes 1.9.x lacked need no version either
    assert ops.GET_SERIES_ID_NUMPY.may_be_refused() and not ops.GET_SERIES_ID_NUMPY.may_be_refused(floor="1.10.1")
    assert find.may_be_refused(body_names=["RequestedTags"], floor="1.10.1")  # 1.10.1 lacks it
    assert not find.may_be_refused(body_names=["Full"], floor="1.10.1")  # 1.9.4
    series = ops.GET_STUDIES_ID_SERIES
    assert series.missing_on("1.11.0", [("expand", "true")]) is None
    assert series.missing_on("1.11.0", [("expand", "false")]) == (
        "GET /studies/{id}/series with the query argument 'expand'",
        "1.12.2",
    )


def test_request_models_carry_the_since_of_their_newer_fields() -> None:
    from orthanc_client.models import PostModalitiesIdGetBody, PostToolsFindBody

    assert PostToolsFindBody.model_fields["labels"].json_schema_extra == {"since": "1.12.0"}
    assert PostToolsFindBody.model_fields["response_content"].json_schema_extra == {"since": "1.12.5"}
    assert PostToolsFindBody.model_fields["level"].json_schema_extra is None  # as old as the route
    assert PostModalitiesIdGetBody.model_fields["level"].json_schema_extra is None  # overrides.py
