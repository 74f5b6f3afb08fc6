"""``orthanc anonymize`` and ``orthanc modify``: run as Orthanc jobs, with a progress display.

The bodies come from :mod:`orthanc_client._modify`, as for the resources' ``.modify``/``.anonymize``, so the
command line refuses the same identity-changing edits without ``--force``.
"""

from __future__ import annotations

from typing import Any

import click

from .._modify import anonymize_body, modify_body
from ._common import PLURAL, ConnectionSettings, level_option, parse_assignments, pass_settings, print_json
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
        ]
    ):
        function = option(function)
    return function


def _run(
    settings: ConnectionSettings,
    action: str,
    level: str,
    resource_id: str,
    body: dict[str, Any],
    wait: bool,
    as_json: bool,
) -> None:
    with settings.client() as client:
        answer = client.request("POST", f"/{PLURAL[level]}/{resource_id}/{action}", json=body)
        job_id = answer["ID"]
        if not wait:
            print_json(answer) if as_json else click.echo(job_id)
            return
        job = wait_with_progress(client, job_id)
    content = job.content
    if as_json:
        print_json({"job": job_id, **content})
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
    keep_private_tags: bool,
) -> None:
    """Anonymize a resource into a new one (an Orthanc job).

    \b
    Example:
      orthanc anonymize 6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12 -r PatientName=Anon
    """
    body = anonymize_body(
        replace=parse_assignments(replace, "--replace"),
        remove=remove,
        keep=keep,
        keep_private_tags=keep_private_tags,
        force=force,
    )
    _run(settings, "anonymize", level, resource_id, body, wait, as_json)


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
) -> None:
    """Modify tags of a resource into a new one (an Orthanc job).

    \b
    Example:
      orthanc modify 6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12 -r StudyDescription=Reviewed
    """
    if not (replace or remove):
        raise click.UsageError("nothing to modify: give --replace or --remove")
    body = modify_body(replace=parse_assignments(replace, "--replace"), remove=remove, keep=keep, force=force)
    _run(settings, "modify", level, resource_id, body, wait, as_json)
