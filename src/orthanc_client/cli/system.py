"""``orthanc system``: version, counts and storage of the server."""

from __future__ import annotations

import click

from .._bulk.progress import format_bytes
from ._common import ConnectionSettings, pass_settings, print_json, print_table


def register(cli: click.Group) -> None:
    cli.add_command(system_command)


@click.command("system")
@click.option("--json", "as_json", is_flag=True, help="GET /system and GET /statistics as JSON.")
@pass_settings
def system_command(settings: ConnectionSettings, as_json: bool) -> None:
    """The server's name, version, resource counts and disk usage."""
    with settings.client() as client:
        system = client.get_system()
        statistics = client.get_statistics()
    if as_json:
        print_json({"system": system, "statistics": statistics})
        return
    rows = [
        ["URL", client.url],
        ["Name", system.get("Name")],
        ["Version", system.get("Version")],
        ["API version", system.get("ApiVersion")],
        ["DICOM AET / port", f"{system.get('DicomAet')} / {system.get('DicomPort')}"],
        ["Patients", statistics.get("CountPatients")],
        ["Studies", statistics.get("CountStudies")],
        ["Series", statistics.get("CountSeries")],
        ["Instances", statistics.get("CountInstances")],
        ["Storage (on disk)", format_bytes(int(statistics.get("TotalDiskSize", 0)))],
        ["Storage (uncompressed)", format_bytes(int(statistics.get("TotalUncompressedSize", 0)))],
    ]
    print_table(["", ""], rows)
