"""The ``orthanc`` command line: ``orthanc --help``.

Each command group lives in its own module of this package and registers itself on :data:`cli` when
imported; to add a group, write a module with a ``register(cli)`` function and list it in
:data:`COMMAND_MODULES`.

Example (not run)::

    # a shell session, not Python: the harness runs Python examples only
    export ORTHANC_URL=http://localhost:8042 ORTHANC_USERNAME=orthanc ORTHANC_PASSWORD=orthanc
    orthanc upload scans/ --skip-existing
    orthanc find --level study -q PatientID='P1*' --json
"""

from __future__ import annotations

import importlib
import sys

COMMAND_MODULES = [
    "files", "modality", "find", "modify", "labels", "jobs", "system", "resources", "peers", "route",
    "watch_folder", "dicomweb",
]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``orthanc`` console script."""
    try:
        from ._common import cli
    except ImportError as exc:  # installed without the [cli] extra
        print(
            f"orthanc: the command line needs click and rich: pip install 'orthanc-client[cli]' ({exc})",
            file=sys.stderr,
        )
        sys.exit(2)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(cli)
    cli.main(args=argv, prog_name="orthanc")
