"""``orthanc jobs``: list, wait for and cancel Orthanc's jobs."""

from __future__ import annotations

import sys
import time

import click

from .._client._sync.client import Orthanc
from .._jobs._sync.jobs import Job
from .._jobs.state import JobState
from ._common import ConnectionSettings, pass_settings, print_json, print_table, stderr


def register(cli: click.Group) -> None:
    cli.add_command(jobs)


@click.group("jobs")
def jobs() -> None:
    """List, wait for and cancel Orthanc jobs."""


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="The full job descriptions as JSON.")
@pass_settings
def list_command(settings: ConnectionSettings, as_json: bool) -> None:
    """Every job Orthanc remembers, newest first."""
    with settings.client() as client:
        infos = client.request("GET", "/jobs", params={"expand": ""})
    infos.sort(key=lambda info: info.get("CreationTime", ""), reverse=True)
    if as_json:
        print_json(infos)
        return
    print_table(
        ["ID", "Type", "State", "Progress", "Created", "Error"],
        [
            [
                i["ID"],
                i.get("Type"),
                i.get("State"),
                f"{i.get('Progress', 0)}%",
                i.get("CreationTime"),
                i.get("ErrorDescription") if i.get("State") == "Failure" else "",
            ]
            for i in infos
        ],
    )


@jobs.command("wait")
@click.argument("job_id")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds (exit code 1).")
@click.option("--json", "as_json", is_flag=True, help="The finished job's description as JSON.")
@pass_settings
def wait_command(settings: ConnectionSettings, job_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait until a job ends, showing its progress; exit code 1 if it failed."""
    with settings.client() as client:
        job = wait_with_progress(client, job_id, timeout)
    if as_json:
        print_json(job.info)
    else:
        click.echo(f"job {job_id} succeeded")


@jobs.command("cancel")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="The cancelled job's description as JSON.")
@pass_settings
def cancel_command(settings: ConnectionSettings, job_id: str, as_json: bool) -> None:
    """Cancel a pending or running job (exit code 1, saying so, when it had already finished)."""
    with settings.client() as client:
        job = Job(job_id, client).refresh()
        if job.state is not None and job.state.is_finished:
            raise click.ClickException(f"job {job_id} already finished ({job.state.value}): nothing to cancel")
        job.cancel()
        if as_json:
            print_json(job.refresh().info)
            return
    click.echo(f"cancelled {job_id}")


def wait_with_progress(client: Orthanc, job_id: str, timeout: float | None = None) -> Job:
    """Polls the job with a progress bar on stderr (when a terminal), then ``Job.wait`` for the verdict
    (which raises ``JobFailedError`` with Orthanc's details if it failed)."""
    job = Job(job_id, client)
    deadline = None if timeout is None else time.monotonic() + timeout
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(console=stderr, transient=True) as bar:
            task = bar.add_task(f"job {job_id[:8]}", total=100)
            while True:
                job.refresh()
                bar.update(task, completed=job.progress or 0, description=f"{job.type or 'job'} {job.state}")
                if job.state in (JobState.SUCCESS, JobState.FAILURE) or (
                    deadline is not None and time.monotonic() > deadline
                ):
                    break
                time.sleep(0.5)
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    job.wait(timeout=remaining)
    return job
