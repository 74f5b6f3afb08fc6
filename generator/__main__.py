"""``python -m generator``: write ``src/orthanc_client/_generated/`` from the specs in ``openapi/``.

    python -m generator                  # every spec in openapi/ (the newest describes each route)
    python -m generator --spec FILE      # add a newer Orthanc's spec, e.g. 1.12.11
    python -m generator --check          # fail if the committed output differs from a fresh run (CI)

``since`` comes from ``openapi/history/since.json`` (every published release's spec, see ``history.py``).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from . import history
from .render import render_all
from .spec import load_spec, merge_operations

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--openapi-dir", type=Path, default=ROOT / "openapi", help="directory of pinned specs")
    parser.add_argument("--spec", type=Path, action="append", default=[], help="an extra spec file")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "orthanc_client" / "_generated")
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    parser.add_argument(
        "--history", type=Path, default=history.TABLE, help="table of what each published release documents"
    )
    args = parser.parse_args(argv)

    paths = sorted(args.openapi_dir.glob("*.json")) + list(args.spec)
    if not paths:
        parser.error(f"no spec found in {args.openapi_dir}")
    specs = [load_spec(path) for path in paths]
    by_version = {spec.version: spec for spec in specs}  # a --spec of an already pinned version replaces it
    operations = merge_operations(list(by_version.values()), history.load(args.history))
    command = "make generate"
    files = render_all(list(by_version.values()), operations, command)

    if args.check:
        stale = _stale_files(args.out, files)
        for name, diff in stale.items():
            sys.stderr.write(f"{name} differs from a fresh `{command}`:\n{diff}\n")
        if stale:
            return 1
        print(f"generated code is up to date ({len(operations)} operations)")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for stray in set(p.name for p in args.out.glob("*.py")) - set(files):
        (args.out / stray).unlink()
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    versions = ", ".join(sorted(by_version, key=lambda v: tuple(map(int, v.split(".")))))
    print(f"wrote {len(files)} files to {args.out} ({len(operations)} operations from Orthanc {versions})")
    return 0


def _stale_files(out: Path, files: dict[str, str]) -> dict[str, str]:
    stale = {}
    for name, text in files.items():
        path = out / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "fresh", lineterm="", n=1)
            stale[name] = "\n".join(list(diff)[:40])
    for stray in set(p.name for p in out.glob("*.py")) - set(files):
        stale[stray] = "(not produced by the generator)"
    return stale


if __name__ == "__main__":
    sys.exit(main())
