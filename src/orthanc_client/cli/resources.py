"""``orthanc show``, ``delete``, ``metadata`` and ``stats``: one resource at a time, by Orthanc ID."""

from __future__ import annotations

from typing import Any

import click

from .._bulk.progress import format_bytes
from .._resources._sync.resources import Resource
from ._common import (
    RESOURCE_CLASSES,
    ConnectionSettings,
    level_option,
    load_resource,
    pass_settings,
    print_json,
    print_table,
)


def register(cli: click.Group) -> None:
    cli.add_command(show_command)
    cli.add_command(delete_command)
    cli.add_command(metadata_group)
    cli.add_command(stats_command)


def _children(resource: Resource) -> list[Resource]:
    getter = {"Patient": "get_studies", "Study": "get_series", "Series": "get_instances"}.get(resource.level)
    return list(getattr(resource, getter)()) if getter else []


@click.command("show")
@click.argument("resource_id")
@level_option
@click.option("--json", "as_json", is_flag=True, help="Orthanc's answer for the resource, and its children's.")
@pass_settings
def show_command(settings: ConnectionSettings, resource_id: str, level: str, as_json: bool) -> None:
    """A resource's main tags, and its children (studies, series or instances)."""
    with settings.client() as client:
        resource = load_resource(client, level, resource_id)
        children = _children(resource)
        if as_json:
            print_json({**resource.data, "Children": [child.data for child in children]})
            return
        tags: dict[str, Any] = {**resource.data.get("PatientMainDicomTags", {}), **resource.main_dicom_tags}
        print_table(["tag", "value"], sorted(tags.items()), title=f"{resource.level} {resource.id}")
        if children:
            child_level = children[0].level
            print_table(
                ["ID", "description"],
                [[child.id, _describe(child)] for child in children],
                title=f"{len(children)} {child_level.lower()}{'' if len(children) == 1 else 's'}",
            )


def _describe(resource: Resource) -> str:
    tags = resource.main_dicom_tags
    for keyword in ("StudyDescription", "SeriesDescription", "InstanceNumber", "PatientName"):
        if tags.get(keyword):
            return str(tags[keyword])
    return ""


@click.command("delete")
@click.argument("resource_ids", nargs=-1, required=True)
@level_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="The deleted IDs as a JSON object, once all are deleted.")
@pass_settings
def delete_command(
    settings: ConnectionSettings, resource_ids: tuple[str, ...], level: str, yes: bool, as_json: bool
) -> None:
    """Delete resources (with everything below them) from Orthanc."""
    if not yes:
        click.confirm(f"Delete {len(resource_ids)} {level}(s) and everything below them?", abort=True, err=True)
    deleted = []
    with settings.client() as client:
        for resource_id in resource_ids:
            RESOURCE_CLASSES[level](resource_id, client).delete()
            deleted.append(resource_id)
            if not as_json:
                click.echo(f"deleted {level} {resource_id}")
    if as_json:
        print_json({"level": level, "deleted": deleted})


@click.group("metadata")
def metadata_group() -> None:
    """Read and write a resource's metadata."""


@metadata_group.command("list")
@click.argument("resource_id")
@level_option
@click.option("--json", "as_json", is_flag=True, help="As a JSON object.")
@pass_settings
def metadata_list(settings: ConnectionSettings, resource_id: str, level: str, as_json: bool) -> None:
    """Every metadata entry of a resource, with its value."""
    with settings.client() as client:
        metadata = RESOURCE_CLASSES[level](resource_id, client).get_metadata()
    if as_json:
        print_json(metadata)
    else:
        print_table(["name", "value"], sorted(metadata.items()))


@metadata_group.command("get")
@click.argument("resource_id")
@click.argument("name")
@level_option
@click.option("--json", "as_json", is_flag=True, help="The value as a JSON string.")
@pass_settings
def metadata_get(settings: ConnectionSettings, resource_id: str, name: str, level: str, as_json: bool) -> None:
    """One metadata value (exit code 1 when the resource has no such entry)."""
    with settings.client() as client:
        metadata = RESOURCE_CLASSES[level](resource_id, client).get_metadata()
    if name not in metadata:
        raise click.ClickException(f"{level} {resource_id} has no metadata {name!r}")
    if as_json:
        print_json(metadata[name])
    else:
        click.echo(metadata[name])


@metadata_group.command("set")
@click.argument("resource_id")
@click.argument("name")
@click.argument("value")
@level_option
@pass_settings
def metadata_set(settings: ConnectionSettings, resource_id: str, name: str, value: str, level: str) -> None:
    """Set a metadata entry (a name from the server's UserMetadata, or a number from 1024)."""
    with settings.client() as client:
        RESOURCE_CLASSES[level](resource_id, client).set_metadata(name, value)


@metadata_group.command("delete")
@click.argument("resource_id")
@click.argument("name")
@level_option
@pass_settings
def metadata_delete(settings: ConnectionSettings, resource_id: str, name: str, level: str) -> None:
    """Delete a metadata entry."""
    with settings.client() as client:
        RESOURCE_CLASSES[level](resource_id, client).delete_metadata(name)


@click.command("stats")
@click.argument("resource_id", required=False)
@level_option
@click.option("--json", "as_json", is_flag=True, help="Orthanc's statistics answer as JSON.")
@pass_settings
def stats_command(settings: ConnectionSettings, resource_id: str | None, level: str, as_json: bool) -> None:
    """Sizes and counts of one resource, or of the whole server when no ID is given."""
    with settings.client() as client:
        if resource_id is None:
            raw = client.get_statistics()
        else:
            raw = RESOURCE_CLASSES[level](resource_id, client).get_statistics().raw
    if as_json:
        print_json(raw)
        return
    rows = []
    for key, value in raw.items():
        if key.endswith("Size") and str(value).isdigit():
            value = f"{format_bytes(int(value))} ({value} bytes)"
        rows.append([key, value])
    print_table(["", ""], rows)
