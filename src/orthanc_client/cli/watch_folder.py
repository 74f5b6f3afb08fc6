"""``orthanc watch-folder DIR``: upload what lands in a folder, once each file has stopped growing."""

from __future__ import annotations

from pathlib import Path

import click

from .._routing._sync.folder_watch import FolderWatcher
from ._common import ConnectionSettings, pass_settings, print_json
from .route import _log_to_stderr


def register(cli: click.Group) -> None:
    cli.add_command(watch_folder_command)


@click.command("watch-folder")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--recursive", "-r", is_flag=True, help="Watch sub-folders too.")
@click.option("--done-dir", type=click.Path(file_okay=False, path_type=Path), help="Where stored files are moved.")
@click.option("--delete", is_flag=True, help="Delete stored files instead of moving them.")
@click.option("--failed-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where non-DICOM and refused files are moved [default: DIRECTORY/failed].")
@click.option("--settle", type=float, default=2.0, show_default=True,
              help="Seconds a file must stay unchanged before it is sent.")
@click.option("--until-idle", is_flag=True, help="Stop once the folder holds nothing to send.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON when stopping.")
@pass_settings
def watch_folder_command(settings: ConnectionSettings, directory: Path, recursive: bool, done_dir: Path | None,
                         delete: bool, failed_dir: Path | None, settle: float, until_idle: bool,
                         as_json: bool) -> None:
    """Upload files dropped into DIRECTORY until SIGTERM/SIGINT; stored files go to --done-dir (or are
    deleted with --delete), others to --failed-dir with the reason logged. While the server is down,
    files wait."""
    if (done_dir is None) == (not delete):
        raise click.UsageError("give --done-dir DIR or --delete (one of them)")
    _log_to_stderr(verbose=False)
    with settings.client() as client:
        watcher = FolderWatcher(client, directory, recursive=recursive, done_dir=done_dir, delete=delete,
                                failed_dir=failed_dir, settle=settle)
        report = watcher.run(until_idle=until_idle)
    if as_json:
        print_json({"stored": report.stored, "failed": report.failed})
