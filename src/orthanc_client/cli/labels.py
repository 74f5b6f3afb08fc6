"""``orthanc labels``: list the labels in use, add and remove them (Orthanc >= 1.12)."""

from __future__ import annotations

import click

from ._common import RESOURCE_CLASSES, ConnectionSettings, level_option, pass_settings, print_json


def register(cli: click.Group) -> None:
    cli.add_command(labels)


@click.group("labels", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="As a JSON list.")
@click.pass_context
def labels(ctx: click.Context, as_json: bool) -> None:
    """Labels: with no sub-command, list every label in use."""
    if ctx.invoked_subcommand is not None:
        return
    settings = ctx.find_object(ConnectionSettings)
    assert settings is not None
    with settings.client() as client:
        names = client.get_tools_labels()  # a generated route: "needs Orthanc 1.12" on older servers
    if as_json:
        print_json(names)
    else:
        for name in names:
            click.echo(name)


@labels.command("show")
@click.argument("resource_id")
@level_option
@click.option("--json", "as_json", is_flag=True, help="As a JSON list.")
@pass_settings
def show_command(settings: ConnectionSettings, resource_id: str, level: str, as_json: bool) -> None:
    """The labels of one resource."""
    with settings.client() as client:
        names = RESOURCE_CLASSES[level](resource_id, client).get_labels()
    if as_json:
        print_json(names)
    else:
        for name in names:
            click.echo(name)


@labels.command("add")
@click.argument("resource_id")
@click.argument("names", nargs=-1, required=True)
@level_option
@pass_settings
def add_command(settings: ConnectionSettings, resource_id: str, names: tuple[str, ...], level: str) -> None:
    """Add labels to a resource."""
    with settings.client() as client:
        resource = RESOURCE_CLASSES[level](resource_id, client)
        for name in names:
            resource.add_label(name)


@labels.command("remove")
@click.argument("resource_id")
@click.argument("names", nargs=-1, required=True)
@level_option
@pass_settings
def remove_command(
    settings: ConnectionSettings, resource_id: str, names: tuple[str, ...], level: str
) -> None:
    """Remove labels from a resource."""
    with settings.client() as client:
        resource = RESOURCE_CLASSES[level](resource_id, client)
        for name in names:
            resource.remove_label(name)
