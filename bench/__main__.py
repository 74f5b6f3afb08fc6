"""``python -m bench [NAME ...]`` (``make bench``): runs every ``bench/bench_*.py`` and prints one table.

Each module exposes ``run(...) -> list[row]``. A module whose ``run`` takes ``server_url, username, password``
gets a fresh Orthanc of its own; one whose ``run`` takes nothing starts what it needs itself.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from orthanc_client.testing import OrthancServer

HERE = Path(__file__).resolve().parent


def _modules(selected: list[str]) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected or n in selected]
    return names


def _format(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    # the peer is what users would pick instead: pyorthanc, dicomweb-client, simple-orthanc, plain httpx (see note)
    headers = ["benchmark", "ours (s)", "peer (s)", "ratio", "ours req", "peer req", "note"]
    table = [
        [r["name"], _format(r["ours_s"]), _format(r.get("peer_s")), _format(r.get("ratio"), 2),
         _format(r.get("ours_requests")), _format(r.get("peer_requests")), r.get("note", "")]
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [headers, *table]) for i in range(len(headers) - 1)]
    def render(line: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=True)) + "  " + str(line[-1])
    print(render(headers))
    print(render(["-" * w for w in widths] + ["-" * 4]))
    for line in table:
        print(render(line))


def main(argv: list[str] | None = None) -> int:
    selected = list(sys.argv[1:] if argv is None else argv)
    rows: list[dict[str, Any]] = []
    failed = []
    for name in _modules(selected):
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            if "server_url" in inspect.signature(module.run).parameters:
                with OrthancServer(name=f"bench-{name.removeprefix('bench_')}"[:30]) as server:
                    print(f"  on Orthanc {server.version}", file=sys.stderr, flush=True)
                    rows += module.run(server.url, server.username, server.password)
            else:
                rows += module.run()
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            failed.append(name)
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print()
    print_table(rows)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
