"""What every published Orthanc release documents: the table behind each route's ``since``.

The Orthanc project publishes one OpenAPI spec per release (1.9.0 to 1.12.11 at the time of writing; see
``openapi/history/README.md`` for provenance and licence). Together they are 17 MB; the generator needs only,
per route, per query argument and per JSON body field, the first release that documents it. That table is
``openapi/history/since.json``, derived by this module and committed with the sha256 of every source spec::

    python -m generator.history ../shared/orthanc-openapi-history           # (re)write openapi/history/since.json
    python -m generator.history ../shared/orthanc-openapi-history --check   # fail if it differs (make history-check)

``make generate`` reads only the committed table, so it stays reproducible without the 17 MB of sources.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "openapi" / "history" / "since.json"
HTTP_METHODS = ("get", "post", "put", "delete")
_SPEC_NAME = re.compile(r"orthanc-(\d+\.\d+\.\d+)\.json")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def build_table(source: Path) -> dict[str, Any]:
    """The table computed from every ``orthanc-X.Y.Z.json`` in ``source`` (oldest release first)."""
    found = sorted(
        ((match.group(1), path) for path in source.glob("orthanc-*.json") if (match := _SPEC_NAME.fullmatch(path.name))),
        key=lambda item: version_key(item[0]),
    )
    if not found:
        raise ValueError(f"{source}: no orthanc-X.Y.Z.json spec found")
    releases: dict[str, str] = {}
    routes: dict[str, str] = {}
    query: dict[str, dict[str, str]] = {}
    body: dict[str, dict[str, str]] = {}
    for version, path in found:
        raw = path.read_bytes()
        document = json.loads(raw)
        declared = str(document.get("info", {}).get("version", "")).strip()
        if declared != version:
            raise ValueError(f"{path}: info.version is {declared!r}, the file name says {version}")
        releases[version] = hashlib.sha256(raw).hexdigest()
        for route, item in document["paths"].items():
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    continue
                key = f"{method.upper()} {route}"
                routes.setdefault(key, version)
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "query":
                        query.setdefault(key, {}).setdefault(parameter["name"], version)
                content = (operation.get("requestBody") or {}).get("content", {})
                properties = content.get("application/json", {}).get("schema", {}).get("properties", {})
                for name in properties:
                    body.setdefault(key, {}).setdefault(name, version)
    return {
        "about": "First Orthanc release whose published OpenAPI spec documents each route, query argument and "
        "JSON body field. Derived by `python -m generator.history` from the specs listed in `releases` "
        "(sha256 of each); see README.md beside this file.",
        "releases": releases,
        "routes": dict(sorted(routes.items())),
        "query": {key: dict(sorted(names.items())) for key, names in sorted(query.items())},
        "body": {key: dict(sorted(names.items())) for key, names in sorted(body.items())},
    }


def dump(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class History:
    """The committed table, with the one question the generator asks of it."""

    releases: tuple[str, ...]
    routes: dict[str, str]
    query: dict[str, dict[str, str]]
    body: dict[str, dict[str, str]]

    def absent_through(self, since: str) -> str:
        """The newest published release older than ``since`` ("" if none): its spec proves the thing absent."""
        older = [v for v in self.releases if version_key(v) < version_key(since)]
        return older[-1] if older else ""


def load(path: Path = TABLE) -> History:
    table = json.loads(path.read_text(encoding="utf-8"))
    releases = tuple(sorted(table["releases"], key=version_key))
    return History(releases, table["routes"], table["query"], table["body"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.history", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="directory of orthanc-X.Y.Z.json published specs")
    parser.add_argument("--out", type=Path, default=TABLE)
    parser.add_argument("--check", action="store_true", help="compare with the committed table, write nothing")
    args = parser.parse_args(argv)
    text = dump(build_table(args.source))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.out} differs from a fresh `python -m generator.history {args.source}`\n")
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    table = json.loads(text)
    print(f"wrote {args.out}: {len(table['releases'])} releases, {len(table['routes'])} routes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
