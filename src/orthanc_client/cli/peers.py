"""``orthanc peers``: the Orthanc peers this server knows, and sending resources to one."""

from __future__ import annotations

import click

from .._network._sync.peer import Peer
from ._common import ConnectionSettings, pass_settings, print_json, print_table


def register(cli: click.Group) -> None:
    cli.add_command(peers_group)


@click.group("peers")
def peers_group() -> None:
    """Orthanc peers (OrthancPeers): list them, check them, send resources to one."""


@peers_group.command("list")
@click.option("--check", is_flag=True, help="Also ask each peer for its /system (reachable or not).")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@pass_settings
def peers_list(settings: ConnectionSettings, check: bool, as_json: bool) -> None:
    """Every peer, with its URL (never its password)."""
    with settings.client() as client:
        rows = []
        for peer in Peer.list(client):
            url = peer.configuration().get("Url")
            reachable = peer.is_reachable() if check else None
            rows.append({"name": peer.name, "url": url, "reachable": reachable})
    if as_json:
        print_json(rows)
        return
    columns = ["name", "URL"] + (["reachable"] if check else [])
    print_table(columns, [[r["name"], r["url"]] + ([r["reachable"]] if check else []) for r in rows])


@peers_group.command("send")
@click.argument("peer")
@click.argument("resource_ids", nargs=-1, required=True)
@click.option("--compress", is_flag=True, help="Gzip the transfer.")
@click.option("--transcode", default=None, metavar="UID", help="Transcode to this transfer syntax on the way.")
@click.option("--wait-timeout", type=float, default=None, help="Seconds to wait for the job.")
@click.option("--json", "as_json", is_flag=True, help="The finished job's content as JSON.")
@pass_settings
def peers_send(
    settings: ConnectionSettings,
    peer: str,
    resource_ids: tuple[str, ...],
    compress: bool,
    transcode: str | None,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """Send resources of this Orthanc (any level, by Orthanc ID) to a peer, as a job, and wait for it."""
    with settings.client() as client:
        job = Peer(client, peer).store(
            list(resource_ids), timeout=wait_timeout, compress=compress, transcode=transcode
        )
    if as_json:
        print_json(job.content)
        return
    failed = int(job.content.get("FailedInstancesCount", 0) or 0)
    click.echo(f"sent {job.content.get('InstancesCount')} instances to {peer} (job {job.id}); failed: {failed}")
    if failed:
        raise SystemExit(1)
