"""Writes the low-level API reference at build time (mkdocs-gen-files): one page per route family.

One page per family (``/studies``, ``/tools``, ``/modalities``...) instead of one page of 600 methods: a reader
looks for a route by the resource it acts on. The grouping reads the generated operation table, so a new
Orthanc release's routes land on the right page with no edit here. Also copies CHANGELOG.md,
CONTRIBUTING.md and ARCHITECTURE.md into the site, so they have one source at the top of the repository.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mkdocs_gen_files

from orthanc_client._core.operation import Operation
from orthanc_client._generated import operations
from orthanc_client._generated.sync_api import OrthancAPI

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
        for name in names:
            # one directive per method: each gets its own anchor (the class itself is on no page)
            page.write(f"::: orthanc_client._generated.sync_api.OrthancAPI.{name}\n")
            page.write("    options:\n      show_root_full_path: false\n      heading_level: 2\n\n")

for name in ("CHANGELOG.md", "CONTRIBUTING.md", "ARCHITECTURE.md"):
    with mkdocs_gen_files.open(name, "w") as copy:
        copy.write(Path(name).read_text(encoding="utf-8"))


def _command_reference() -> str:
    """Every command's ``--help``, read from the command line itself, so the page cannot drift from it."""
    import importlib

    import click

    from orthanc_client import cli as cli_package
    from orthanc_client.cli._common import cli

    for name in cli_package.COMMAND_MODULES:
        importlib.import_module(f"orthanc_client.cli.{name}").register(cli)

    sections: list[str] = []

    def visit(command: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(command, info_name=path[-1], parent=parent, terminal_width=100, max_content_width=100)
        sections.append(f"## `{' '.join(path)}`\n\n```text\n{command.get_help(ctx)}\n```\n")
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(ctx):
                sub = command.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    visit(sub, [*path, sub_name], ctx)

    visit(cli, ["orthanc"], None)
    return "# Command reference\n\nThe `--help` of every command, as the installed command line prints it.\n\n" + "\n".join(
        sections
    )


with mkdocs_gen_files.open("cli-reference.md", "w") as reference:
    reference.write(_command_reference())
