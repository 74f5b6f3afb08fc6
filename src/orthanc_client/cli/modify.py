"""``orthanc anonymize`` and ``orthanc modify``: run as Orthanc jobs, with a progress display.

They go through the resources' ``modify_as_job``/``anonymize_as_job``, so the command line refuses the same
identity-changing edits without ``--force``. At instance level Orthanc answers with the modified file and
stores nothing: ``--output FILE`` says where to write it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._common import (
    ConnectionSettings,
    level_option,
    load_resource,
    parse_assignments,
    pass_settings,
    print_json,
)
from .jobs import wait_with_progress


def register(cli: click.Group) -> None:
    cli.add_command(anonymize_command)
    cli.add_command(modify_command)


def _common_options(function: Any) -> Any:
    for option in reversed(
        [
            click.argument("resource_id"),
            level_option,
            click.option(
                "--replace", "-r", multiple=True, metavar="TAG=VALUE", help="Set a tag (repeatable)."
            ),
            click.option("--remove", multiple=True, metavar="TAG", help="Remove a tag (repeatable)."),
            click.option("--keep", multiple=True, metavar="TAG", help="Keep a tag unchanged (repeatable)."),
            click.option("--force", is_flag=True, help="Allow changing identifiers (PatientID, UIDs)."),
            click.option(
                "--wait/--no-wait",
                default=True,
                show_default=True,
                help="Wait for the job and print the new resource, or print the job ID at once.",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print the job's outcome as JSON."),
            click.option(
                "--output",
                "-o",
                type=click.Path(dir_okay=False, writable=True),
                help="With --level instance: where to write the modified file (Orthanc does not store it).",
            ),
        ]
    ):
        function = option(function)
    return function


def _run(
    settings: ConnectionSettings,
    action: str,
    level: str,
    resource_id: str,
    options: dict[str, Any],
    wait: bool,
    as_json: bool,
    output: str | None,
) -> None:
    if output is not None and level != "instance":
        raise click.UsageError(f"--output is for --level instance (a {level} is modified into a new {level} in Orthanc)")
    with settings.client() as client:
        # the ID must be of the level asked: a study action on an instance ID names the instance level
        resource: Any = load_resource(client, level, resource_id)
        if level == "instance":
            if output is None:
                raise click.UsageError(
                    f"{action} of an instance answers with the new file and stores nothing: give --output FILE"
                )
            data = getattr(resource, action)(**options)
            Path(output).write_bytes(data)
            click.echo(f"wrote {output} ({len(data)} bytes)")
            return
        job = getattr(resource, f"{action}_as_job")(**options)
        if not wait:
            print_json({"ID": job.id}) if as_json else click.echo(job.id)
            return
        job = wait_with_progress(client, job.id)
    content = job.content
    if as_json:
        print_json({"job": job.id, **content})
    else:
        click.echo(f"new {level}: {content.get('ID')}  (Orthanc path {content.get('Path')})")


@click.command("anonymize")
@_common_options
@click.option("--keep-private-tags", is_flag=True, help="Keep private tags (removed by default).")
@pass_settings
def anonymize_command(
    settings: ConnectionSettings,
    resource_id: str,
    level: str,
    replace: tuple[str, ...],
    remove: tuple[str, ...],
    keep: tuple[str, ...],
    force: bool,
    wait: bool,
    as_json: bool,
    output: str | None,
    keep_private_tags: bool,
) -> None:
    """Anonymize a resource into a new one (an Orthanc job).

    \b
    Example:
      orthanc anonymize 6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12 -r PatientName=Anon
    """
    options = {
        "replace": parse_assignments(replace, "--replace"),
        "remove": remove,
        "keep": keep,
        "keep_private_tags": keep_private_tags,
        "force": force,
    }
    _run(settings, "anonymize", level, resource_id, options, wait, as_json, output)


@click.command("modify")
@_common_options
@pass_settings
def modify_command(
    settings: ConnectionSettings,
    resource_id: str,
    level: str,
    replace: tuple[str, ...],
    remove: tuple[str, ...],
    keep: tuple[str, ...],
    force: bool,
    wait: bool,
    as_json: bool,
    output: str | None,
) -> None:
    """Modify tags of a resource into a new one (an Orthanc job).

    \b
    Example:
      orthanc modify 6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12 -r StudyDescription=Reviewed
    """
    if not (replace or remove):
        raise click.UsageError("nothing to modify: give --replace or --remove")
    options = {"replace": parse_assignments(replace, "--replace"), "remove": remove, "keep": keep, "force": force}
    _run(settings, "modify", level, resource_id, options, wait, as_json, output)
