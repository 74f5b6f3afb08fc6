"""``orthanc modality``: C-ECHO, C-FIND, C-MOVE and a resumable bulk transfer from a DICOM modality."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TextIO

import click

from .._network._sync.modality import Modality
from .._network._sync.transfer import transfer
from .._network.bodies import DEFAULT_RETURN_TAGS
from ._common import (
    ConnectionSettings,
    fail,
    json_option,
    level_option,
    parse_assignments,
    pass_settings,
    print_json,
    print_table,
)
from .files import progress_option


def register(cli: click.Group) -> None:
    cli.add_command(modality_group)


@click.group("modality")
def modality_group() -> None:
    """Talk to a DICOM modality Orthanc knows (by its name in DicomModalities)."""


@modality_group.command("list")
@json_option
@pass_settings
def list_command(settings: ConnectionSettings, as_json: bool) -> None:
    """List the modalities with their AET, host and port."""
    with settings.client() as client:
        modalities = client.get_modalities(expand=True)
    if as_json:
        print_json(modalities)
        return
    rows = [(name, c.get("AET"), c.get("Host"), c.get("Port")) for name, c in sorted(modalities.items())]
    print_table(["Name", "AET", "Host", "Port"], rows)


@modality_group.command("echo")
@click.argument("name")
@click.option("--dicom-timeout", type=float, default=None, help="Seconds for the DICOM association.")
@json_option
@pass_settings
def echo_command(settings: ConnectionSettings, name: str, dicom_timeout: float | None, as_json: bool) -> None:
    """C-ECHO NAME: exit code 0 if it answers, 1 with Orthanc's reason if not.

    \b
    Example:
      orthanc modality echo pacs
    """
    with settings.client() as client:
        modality = Modality(client, name)
        answered = modality.echo(dicom_timeout=dicom_timeout)
    if as_json:
        print_json({"modality": name, "ok": answered, "error": None if answered else str(modality.last_error)})
        if not answered:
            sys.exit(1)
        return
    if not answered:
        fail(str(modality.last_error))
    click.echo(f"{name}: C-ECHO ok")


@modality_group.command("find")
@click.argument("name")
@level_option
@click.option("--query", "-q", multiple=True, metavar="TAG=VALUE", help="DICOM matching (repeatable).")
@json_option
@pass_settings
def find_command(
    settings: ConnectionSettings, name: str, level: str, query: tuple[str, ...], as_json: bool
) -> None:
    """C-FIND at NAME (a table by default).

    \b
    Example:
      orthanc modality find pacs -l study -q PatientID='P1*' -q StudyDate=20240101-
    """
    with settings.client() as client:
        answers = Modality(client, name).find(level, parse_assignments(query, "--query"))
    if as_json:
        print_json([dict(answer) for answer in answers])
        return
    columns = list(DEFAULT_RETURN_TAGS[answers[0].level if answers else level.capitalize()])
    print_table(columns, [[answer.get(c) for c in columns] for answer in answers])


@modality_group.command("move")
@click.argument("name")
@level_option
@click.option("--query", "-q", multiple=True, metavar="TAG=VALUE", help="Move what this C-FIND matches.")
@click.option("--uid", multiple=True, help="Move this UID of --level (repeatable).")
@click.option("--target-aet", default=None, help="Where to (default: this Orthanc).")
@click.option("--wait-timeout", type=float, default=None, help="Seconds to wait for the C-MOVE job.")
@json_option
@pass_settings
def move_command(
    settings: ConnectionSettings,
    name: str,
    level: str,
    query: tuple[str, ...],
    uid: tuple[str, ...],
    target_aet: str | None,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """C-MOVE from NAME what a query matches, or explicit UIDs; waits for the job.

    \b
    Example:
      orthanc modality move pacs -q AccessionNumber=A123
      orthanc modality move pacs -l series --uid 1.2.3.4 --target-aet WORKSTATION
    """
    if bool(query) == bool(uid):
        raise click.UsageError("give either --query or --uid")
    with settings.client() as client:
        modality = Modality(client, name)
        resources = list(uid) if uid else modality.find(level, parse_assignments(query, "--query"))
        if not resources:
            fail("nothing matches at the modality")
        job = modality.move(resources, level=level, target_aet=target_aet, timeout=wait_timeout)
    if as_json:
        print_json({"moved": len(resources), "level": level, "job": job.info})
        return
    click.echo(
        f"moved {len(resources)} {level}(s) from {name}: job {job.id} {job.state.value if job.state else ''}"
    )


@modality_group.command("transfer")
@click.argument("name")
@click.option("--accession", multiple=True, help="An accession number to transfer (repeatable).")
@click.option("--accessions-file", type=click.File("r"), help="Accession numbers, one per line.")
@click.option("--patient-id", multiple=True, help="A patient whose studies to transfer (repeatable).")
@click.option(
    "--query", "-q", multiple=True, metavar="TAG=VALUE", help="One study-level query (all -q together)."
)
@click.option(
    "--manifest", type=click.Path(path_type=Path), default="orthanc-transfer.sqlite", show_default=True
)
@click.option("--batch-size", type=int, default=10, show_default=True, help="Studies per C-MOVE.")
@click.option("--concurrency", type=int, default=2, show_default=True, help="C-MOVEs in flight.")
@click.option("--max-attempts", type=int, default=3, show_default=True)
@click.option("--target-aet", default=None, help="Where to (default: this Orthanc).")
@click.option(
    "--label",
    default=None,
    help="Label each arrived study, the anonymized copy with --anonymize (Orthanc 1.12+).",
)
@click.option(
    "--anonymize",
    is_flag=True,
    help="Anonymize each verified study at the destination (an Orthanc job) and delete the identifiable"
    " original, unless --keep-original.",
)
@click.option(
    "--anonymize-replace",
    multiple=True,
    metavar="TAG=VALUE",
    help="With --anonymize: set a tag (repeatable).",
)
@click.option(
    "--anonymize-keep", multiple=True, metavar="TAG", help="With --anonymize: keep a tag (repeatable)."
)
@click.option("--keep-original", is_flag=True, help="With --anonymize: keep the original next to its copy.")
@progress_option
@json_option
@pass_settings
def transfer_command(
    settings: ConnectionSettings,
    name: str,
    accession: tuple[str, ...],
    accessions_file: TextIO | None,
    patient_id: tuple[str, ...],
    query: tuple[str, ...],
    manifest: Path,
    batch_size: int,
    concurrency: int,
    max_attempts: int,
    target_aet: str | None,
    label: str | None,
    anonymize: bool,
    anonymize_replace: tuple[str, ...],
    anonymize_keep: tuple[str, ...],
    keep_original: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    """C-FIND then C-MOVE from NAME in batches, verified and resumable: run it again with the same
    --manifest to continue after an interruption. Exit code 1 if anything is missing (or, with --anonymize,
    not anonymized).

    \b
    Examples:
      orthanc modality transfer pacs --accessions-file list.txt --manifest pull.sqlite --concurrency 4
      orthanc modality transfer pacs --accession A1 --anonymize --anonymize-keep StudyDescription
    """
    if not anonymize and (anonymize_replace or anonymize_keep or keep_original):
        raise click.UsageError("--anonymize-replace, --anonymize-keep and --keep-original need --anonymize")
    accessions = list(accession)
    if accessions_file is not None:
        accessions += [line.strip() for line in accessions_file if line.strip()]
    queries = [parse_assignments(query, "--query")] if query else []
    with settings.client() as client:
        report = transfer(
            Modality(client, name),
            accession_numbers=accessions,
            patient_ids=list(patient_id),
            queries=queries,
            manifest=manifest,
            batch_size=batch_size,
            concurrency=concurrency,
            max_attempts=max_attempts,
            target_aet=target_aet,
            label=label,
            anonymize={
                "replace": parse_assignments(anonymize_replace, "--anonymize-replace"),
                "keep": list(anonymize_keep),
            }
            if anonymize
            else False,
            keep_original=keep_original,
            progress=progress,
        )
    if as_json:
        print_json(dataclasses.asdict(report) | {"ok": report.ok, "manifest": str(report.manifest)})
    else:
        click.echo(str(report))
    if not report.ok:
        sys.exit(1)


@modality_group.command("store")
@click.argument("name")
@click.argument("resource_ids", nargs=-1, required=True)
@click.option("--dicom-timeout", type=float, default=None, help="Seconds for the DICOM association.")
@click.option("--wait-timeout", type=float, default=None, help="Seconds to wait for the C-STORE job.")
@json_option
@pass_settings
def store_command(
    settings: ConnectionSettings,
    name: str,
    resource_ids: tuple[str, ...],
    dicom_timeout: float | None,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """C-STORE resources of this Orthanc (any level, by Orthanc ID) to the modality, as a job."""
    with settings.client() as client:
        job = Modality(client, name).store(list(resource_ids), timeout=wait_timeout, dicom_timeout=dicom_timeout)
    if as_json:
        print_json(job.content)
        return
    failed = int(job.content.get("FailedInstancesCount", 0) or 0)
    click.echo(f"stored {job.content.get('InstancesCount')} instances at {name} (job {job.id}); failed: {failed}")
    if failed:
        raise SystemExit(1)


@modality_group.command("get")
@click.argument("name")
@click.option("--level", "-l", type=click.Choice(["Patient", "Study", "Series", "Instance"]), default="Study",
              show_default=True, help="Level of the UIDs.")
@click.option("--uid", multiple=True, required=True, help="A UID of --level to retrieve (repeatable).")
@click.option("--dicom-timeout", type=float, default=None, help="Seconds for the DICOM association.")
@click.option("--wait-timeout", type=float, default=None, help="Seconds to wait for the C-GET job.")
@json_option
@pass_settings
def get_command(
    settings: ConnectionSettings,
    name: str,
    level: str,
    uid: tuple[str, ...],
    dicom_timeout: float | None,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """C-GET UIDs from the modality into this Orthanc (Orthanc 1.12.6+), as a job."""
    with settings.client() as client:
        job = Modality(client, name).get(list(uid), level=level, timeout=wait_timeout, dicom_timeout=dicom_timeout)
    if as_json:
        print_json(job.content)
    else:
        click.echo(f"C-GET from {name} finished (job {job.id})")


@modality_group.command("add")
@click.argument("name")
@click.option("--aet", required=True, help="The modality's AE title.")
@click.option("--host", required=True, help="Its host name or address.")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="Its DICOM port.")
@click.option("--manufacturer", default=None, help="Orthanc's manufacturer setting (e.g. GenericNoWildcardInDates).")
@json_option
@pass_settings
def add_command(
    settings: ConnectionSettings, name: str, aet: str, host: str, port: int, manufacturer: str | None, as_json: bool
) -> None:
    """Declare (or replace) a modality at run time (PUT /modalities/NAME)."""
    with settings.client() as client:
        modality = Modality.create(client, name, aet=aet, host=host, port=port, manufacturer=manufacturer)
        if as_json:
            print_json({"name": name, **modality.configuration()})
            return
    click.echo(f"modality {name}: {aet}@{host}:{port}")


@modality_group.command("remove")
@click.argument("name")
@json_option
@pass_settings
def remove_command(settings: ConnectionSettings, name: str, as_json: bool) -> None:
    """Forget a modality (DELETE /modalities/NAME)."""
    with settings.client() as client:
        Modality(client, name).delete()
    if as_json:
        print_json({"name": name, "removed": True})
    else:
        click.echo(f"modality {name} removed")
