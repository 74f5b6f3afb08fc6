"""Writes the low-level API reference at build time (mkdocs-gen-files): one page per route family.

One page per family (``/studies``, ``/tools``, ``/modalities``...) instead of one page of 600 methods: a reader
looks for a route by the resource it acts on. The grouping reads the generated operation table, so a new
Orthanc release's routes land on the right page with no edit here. Also copies CHANGELOG.md and
CONTRIBUTING.md into the site, so they have one source at the top of the repository.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mkdocs_gen_files

from orthanc_client._generated import operations
from orthanc_client._generated.sync_api import OrthancAPI
from orthanc_client._operation import Operation

families: dict[str, list[Operation]] = defaultdict(list)
for value in vars(operations).values():
    if isinstance(value, Operation):
        families[value.path.strip("/").split("/")[0] or "root"].append(value)

with mkdocs_gen_files.open("reference/low-level/index.md", "w") as index:
    index.write("# Low-level routes\n\n")
    index.write(
        "Every Orthanc REST route is a method of `Orthanc` (and, with `await`, of `AsyncOrthanc`), named after "
        "its verb and path. The pages below group them by the resource they act on; routes with a binary "
        "answer also have a `stream_` twin.\n\n| family | routes |\n| --- | --- |\n"
    )
    for family in sorted(families):
        index.write(f"| [/{family}]({family}.md) | {len(families[family])} |\n")

for family, ops in sorted(families.items()):
    names = []
    for op in sorted(ops, key=lambda o: (o.path, o.method)):
        names.append(op.name)
        if hasattr(OrthancAPI, f"stream_{op.name}"):
            names.append(f"stream_{op.name}")
    with mkdocs_gen_files.open(f"reference/low-level/{family}.md", "w") as page:
        page.write(f"# /{family}\n\n")
        page.write("`AsyncOrthanc` has the same methods, to be awaited (`stream_*` as `async with`).\n\n")
        page.write("::: orthanc_client._generated.sync_api.OrthancAPI\n")
        page.write("    options:\n      show_root_heading: false\n      show_bases: false\n      members:\n")
        page.writelines(f"        - {name}\n" for name in names)

for name in ("CHANGELOG.md", "CONTRIBUTING.md"):
    with mkdocs_gen_files.open(name.lower(), "w") as copy:
        copy.write(Path(name).read_text(encoding="utf-8"))
