"""``orthanc find``: query Orthanc's database by DICOM tags and labels."""

from __future__ import annotations

from typing import Any

import click

from .._client._sync.client import Orthanc
from .._resources._sync.find import iter_resources
from ._common import (
    RESOURCE_CLASSES,
    ConnectionSettings,
    level_option,
    parse_assignments,
    pass_settings,
    print_json,
    print_table,
)

# The columns shown for each level (all are main DICOM tags, so Orthanc answers without reading files).
COLUMNS = {
    "patient": ["PatientID", "PatientName", "PatientBirthDate", "PatientSex"],
    "study": [
        "PatientID",
        "PatientName",
        "StudyDate",
        "StudyDescription",
        "AccessionNumber",
        "ModalitiesInStudy",
    ],
    "series": ["Modality", "SeriesNumber", "SeriesDescription", "SeriesInstanceUID"],
    "instance": ["InstanceNumber", "SOPInstanceUID"],
}


def register(cli: click.Group) -> None:
    cli.add_command(find_command)


def find_resources(
    client: Orthanc, level: str, query: dict[str, str], labels: list[str], limit: int | None = None
) -> list[dict[str, Any]]:
    """Expanded ``/tools/find`` answers (``ID``, ``MainDicomTags``, ...) read page by page by the library's
    ``iter_resources``, with its query conversion and its version check for labels."""
    found = iter_resources(client, RESOURCE_CLASSES[level], query, labels=labels or None, limit=limit)
    return [resource.data for resource in found]


@click.command("find")
@level_option
@click.option(
    "--query",
    "-q",
    multiple=True,
    metavar="TAG=VALUE",
    help="DICOM matching, e.g. PatientID='P1*' or StudyDate=20240101-20241231 (repeatable).",
)
@click.option("--label", multiple=True, help="Only resources with this label (repeatable: all of them).")
@click.option("--limit", type=int, default=None, help="At most this many results.")
@click.option("--json", "as_json", is_flag=True, help="Orthanc's expanded answers as JSON.")
@pass_settings
def find_command(
    settings: ConnectionSettings,
    level: str,
    query: tuple[str, ...],
    label: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """Find patients, studies, series or instances (a table by default).

    \b
    Example:
      orthanc find --level study -q PatientID='P1*' -q StudyDate=2024
    """
    with settings.client() as client:
        found = find_resources(client, level, parse_assignments(query, "--query"), list(label), limit)
    if as_json:
        print_json(found)
        return
    columns = COLUMNS[level]
    rows = []
    for resource in found:
        tags = {**resource.get("PatientMainDicomTags", {}), **resource.get("MainDicomTags", {})}
        rows.append([resource["ID"], *(tags.get(column) for column in columns)])
    print_table(
        ["ID", *columns], rows, title=f"{len(found)} {level if len(found) == 1 else level + ' results'}"
    )
