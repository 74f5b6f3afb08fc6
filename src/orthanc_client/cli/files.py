"""``orthanc upload`` and ``orthanc download``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import click

from .._bulk._sync.download import DEFAULT_DOWNLOAD_CONCURRENCY, Layout, ZipMode, download, download_zip
from .._bulk._sync.upload import DEFAULT_UPLOAD_CONCURRENCY, upload
from .._bulk.results import BulkResult
from ._common import (
    ConnectionSettings,
    json_option,
    level_option,
    parse_assignments,
    pass_settings,
    print_json,
    stderr,
)
from .find import find_resources


def register(cli: click.Group) -> None:
    cli.add_command(upload_command)
    cli.add_command(download_command)


progress_option = click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal)."
)
@click.command("upload")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Descend into sub-folders.")
@click.option(
    "--skip-existing", is_flag=True, help="Send only what Orthanc lacks (IDs computed from headers)."
)
@click.option(
    "--concurrency",
    "-j",
    type=click.IntRange(1, 64),
    default=DEFAULT_UPLOAD_CONCURRENCY,
    show_default=True,
    help="Files in flight at once.",
)
@click.option("--stop-on-error", is_flag=True, help="Stop at the first failed file.")
@click.option(
    "--pack/--no-pack",
    default=True,
    show_default=True,
    help="Send files of up to 512 KB up to 32 at a time in one ZIP (Orthanc 1.8.2+; each file still reported).",
)
@click.option(
    "--strict", is_flag=True, help="Exit 1 when any file is skipped as not DICOM (not only files named here)."
)
@progress_option
@json_option
@pass_settings
def upload_command(
    settings: ConnectionSettings,
    paths: tuple[Path, ...],
    recursive: bool,
    skip_existing: bool,
    concurrency: int,
    stop_on_error: bool,
    pack: bool,
    strict: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Upload DICOM files, folders or zips (recognised by content; other files are skipped).

    Exit code 1 when a file failed, or when a file named on the command line is not DICOM; a folder that merely
    holds other files too exits 0 unless --strict.

    \b
    Example:
      orthanc upload scans/ extra.dcm.gz --skip-existing
    """
    with settings.client() as client:
        result = upload(
            client,
            list(paths),
            recursive=recursive,
            skip_existing=skip_existing,
            concurrency=concurrency,
            stop_on_error=stop_on_error,
            progress=progress,
            pack=pack,
        )
    named_files = {path.resolve() for path in paths if path.is_file()}
    refused = [
        item for item in result.skipped
        if strict or (item.path is not None and Path(item.path).resolve() in named_files)
    ]
    report(result, as_json)
    if refused:
        what = "skipped (--strict)" if strict else "named on the command line but not DICOM"
        click.echo(f"{len(refused)} file(s) {what}: {', '.join(item.name for item in refused[:5])}", err=True)
        sys.exit(1)


@click.command("download")
@click.argument("ids", nargs=-1)
@level_option
@click.option("--query", "-q", multiple=True, metavar="TAG=VALUE", help="Download what matches (as `find`).")
@click.option("--label", multiple=True, help="Download resources with this label (as `find`).")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write into, or a .zip file with --zip.",
)
@click.option("--zip", "as_zip", is_flag=True, help="Write one zip archive instead of a folder.")
@click.option(
    "--mode",
    type=click.Choice(["client", "server", "media"]),
    default="client",
    show_default=True,
    help="For --zip: assembled here, Orthanc's archive, or DICOMDIR media.",
)
@click.option(
    "--layout",
    type=click.Choice(["nested", "flat"]),
    default="nested",
    show_default=True,
    help="patient/study/series folders, or all files in one folder.",
)
@click.option(
    "--concurrency",
    "-j",
    type=click.IntRange(1, 64),
    default=DEFAULT_DOWNLOAD_CONCURRENCY,
    show_default=True,
    help="Instances fetched at once.",
)
@progress_option
@json_option
@pass_settings
def download_command(
    settings: ConnectionSettings,
    ids: tuple[str, ...],
    level: str,
    query: tuple[str, ...],
    label: tuple[str, ...],
    output: Path,
    as_zip: bool,
    mode: str,
    layout: str,
    concurrency: int,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Download resources by Orthanc ID (or by --query/--label) into a folder or a zip.

    \b
    Examples:
      orthanc download 6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12 -o out/
      orthanc download --level study -q PatientID=P1 --zip -o p1.zip
    """
    if not ids and not query and not label:
        raise click.UsageError("give Orthanc IDs, or --query/--label to select what to download")
    with settings.client() as client:
        targets: list[Any] = [(level, resource_id) for resource_id in ids]
        if query or label:
            targets += [
                (level, r["ID"])
                for r in find_resources(client, level, parse_assignments(query, "--query"), list(label))
            ]
        if not targets:
            stderr.print("nothing matches")
            return
        if as_zip:
            result = download_zip(
                client,
                targets,
                output,
                mode=cast(ZipMode, mode),
                layout=cast(Layout, layout),
                concurrency=concurrency,
                progress=progress,
            )
        else:
            result = download(
                client,
                targets,
                output,
                layout=cast(Layout, layout),
                concurrency=concurrency,
                progress=progress,
            )
    report(result, as_json)


def report(result: BulkResult, as_json: bool) -> None:
    """The summary (and each skipped or failed file) on stdout; exit code 1 if anything failed."""
    if as_json:
        print_json(
            {
                "summary": {
                    "stored": len(result.stored),
                    "already_stored": len(result.already_stored),
                    "skipped": len(result.skipped),
                    "failed": len(result.failed),
                    "bytes": result.bytes,
                    "elapsed": round(result.elapsed, 3),
                    "instances_per_second": round(result.instances_per_second, 1),
                },
                **{
                    name: [
                        {
                            "name": i.name,
                            "instance_id": i.instance_id,
                            "size": i.size,
                            "reason": i.reason,
                            "details": i.details,
                        }
                        for i in getattr(result, name)
                    ]
                    for name in ("stored", "already_stored", "skipped", "failed")
                },
            }
        )
    else:
        for item in result.skipped:
            click.echo(f"skipped  {item.name}: {item.reason}")
        for item in result.failed:
            details = f" ({item.details})" if item.details and item.details not in (item.reason or "") else ""
            click.echo(f"FAILED   {item.name}: {item.reason}{details}")
        click.echo(result.summary())
    if result.failed:
        sys.exit(1)
