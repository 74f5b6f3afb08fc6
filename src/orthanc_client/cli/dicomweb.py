"""``orthanc dicomweb search|retrieve|store|send``: DICOMweb through the server's plugin (or any DICOMweb root)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import click

from .._bulk._sync.download import Layout
from .._bulk.results import BulkResult
from .._dicomweb._sync.dicomweb import DicomWeb
from ._common import ConnectionSettings, parse_assignments, pass_settings, print_json, print_table, stdout

COLUMNS = {
    "study": ["StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "StudyDescription", "AccessionNumber"],
    "series": ["SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription"],
    "instance": ["SOPInstanceUID", "InstanceNumber", "SOPClassUID"],
}

root_option = click.option(
    "--root", default="dicom-web", show_default=True, help="The DICOMweb prefix below the server's URL."
)


def register(cli: click.Group) -> None:
    cli.add_command(dicomweb_group)


@click.group("dicomweb")
def dicomweb_group() -> None:
    """DICOMweb: QIDO-RS search, WADO-RS retrieve, STOW-RS store, and send through Orthanc's DICOMweb client.

    \b
    Examples:
      orthanc dicomweb search -q PatientID=P1 -q StudyDate=20240101-
      orthanc dicomweb retrieve 1.2.840.1 --out study/
      orthanc dicomweb store scans/
      orthanc dicomweb send pacs STUDY_ORTHANC_ID
    """


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dicomweb_group.command("search")
@click.option("--level", "-l", type=click.Choice(list(COLUMNS)), default="study", show_default=True)
@click.option("--query", "-q", multiple=True, metavar="TAG=VALUE", help="e.g. PatientName='DOE*' (repeatable).")
@click.option("--study", "study_uid", default=None, help="Search inside this study (series and instance levels).")
@click.option("--field", "fields", multiple=True, help="An extra attribute to return (repeatable; 'all').")
@click.option("--limit", type=int, default=None, help="At most this many results.")
@click.option("--json", "as_json", is_flag=True, help="The answers as DICOM JSON.")
@root_option
@pass_settings
def search_command(
    settings: ConnectionSettings,
    level: str,
    query: tuple[str, ...],
    study_uid: str | None,
    fields: tuple[str, ...],
    limit: int | None,
    as_json: bool,
    root: str,
) -> None:
    """QIDO-RS search (a table by default)."""
    filters = parse_assignments(query, "--query")
    with settings.client() as client:
        web = DicomWeb(client, root=root)
        if level == "study":
            found = web.search_for_studies(search_filters=filters, fields=list(fields), limit=limit)
        elif level == "series":
            found = web.search_for_series(study_uid, search_filters=filters, fields=list(fields), limit=limit)
        else:
            found = web.search_for_instances(study_uid, search_filters=filters, fields=list(fields), limit=limit)
    if as_json:
        print_json([dataset.to_json_dict() for dataset in found])
        return
    columns = COLUMNS[level]
    rows = [[_text(dataset.get(column)) for column in columns] for dataset in found]
    print_table(columns, rows, title=f"{len(found)} {level if len(found) == 1 else level + ' results'}")


def _report(result: BulkResult, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "stored": [item.name for item in result.stored],
                "skipped": [{"name": item.name, "reason": item.reason} for item in result.skipped],
                "failed": [{"name": item.name, "reason": item.reason} for item in result.failed],
                "bytes": result.bytes,
                "elapsed": result.elapsed,
            }
        )
    else:
        stdout.print(result.summary(), highlight=False)
        for item in result.skipped + result.failed:
            stdout.print(f"  {item.name}: {item.reason}", highlight=False)
    if result.failed:
        sys.exit(1)


@dicomweb_group.command("retrieve")
@click.argument("study_uid")
@click.option("--series", "series_uid", default=None, help="Only this series of the study.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--layout", type=click.Choice(["nested", "flat"]), default="nested", show_default=True)
@click.option("--transfer-syntax", default="*", show_default=True, help="'*' as stored, or a UID to transcode to.")
@click.option("--json", "as_json", is_flag=True, help="The outcome as JSON.")
@root_option
@pass_settings
def retrieve_command(
    settings: ConnectionSettings,
    study_uid: str,
    series_uid: str | None,
    out: Path,
    layout: str,
    transfer_syntax: str,
    as_json: bool,
    root: str,
) -> None:
    """WADO-RS: writes a study (or one series) to a folder, streamed."""
    with settings.client() as client:
        web = DicomWeb(client, root=root)
        if series_uid:
            result = web.save_series(
                study_uid, series_uid, out, layout=cast(Layout, layout), transfer_syntax=transfer_syntax
            )
        else:
            result = web.save_study(study_uid, out, layout=cast(Layout, layout), transfer_syntax=transfer_syntax)
    _report(result, as_json)


@dicomweb_group.command("store")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--study", "study_uid", default=None, help="Store into this study (instances of others fail).")
@click.option("--batch-size", type=int, default=50, show_default=True, help="Instances per STOW-RS request.")
@click.option("--json", "as_json", is_flag=True, help="The outcome as JSON.")
@root_option
@pass_settings
def store_command(
    settings: ConnectionSettings,
    paths: tuple[Path, ...],
    study_uid: str | None,
    batch_size: int,
    as_json: bool,
    root: str,
) -> None:
    """STOW-RS: stores DICOM files and folders; reports every file (exit code 1 if any failed)."""
    with settings.client() as client:
        result = DicomWeb(client, root=root).store_instances(list(paths), study_uid, batch_size=batch_size)
    _report(result, as_json)


@dicomweb_group.command("send")
@click.argument("server")
@click.argument("resources", nargs=-1, required=True)
@click.option("--timeout", "wait", type=float, default=None, help="Seconds to wait for the job.")
@click.option("--json", "as_json", is_flag=True, help="The finished job as JSON.")
@root_option
@pass_settings
def send_command(
    settings: ConnectionSettings, server: str, resources: tuple[str, ...], wait: float | None, as_json: bool, root: str
) -> None:
    """Makes Orthanc STOW resources (Orthanc IDs) to its DICOMweb server SERVER, and waits for the job."""
    with settings.client() as client:
        job = DicomWeb(client, root=root).send(server, list(resources), timeout=wait)
    if as_json:
        print_json({"id": job.id, "state": str(job.state), "content": job.content})
    else:
        count = job.content.get("InstancesCount", "?")
        stdout.print(f"sent {count} instances to {server} (job {job.id})", highlight=False)
