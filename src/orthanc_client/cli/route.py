"""``orthanc route RULES.yaml --state FILE`` (the routing daemon) and ``orthanc route-status --state FILE``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .._resources.pseudonyms import PseudonymMint
from .._routing._sync.route import Router, route_status
from .._routing.rules import load_routes
from ._common import ConnectionSettings, pass_settings, print_json, print_table, stdout

SECRET_VARIABLE = "ORTHANC_PSEUDONYM_SECRET"


def register(cli: click.Group) -> None:
    cli.add_command(route_command)
    cli.add_command(route_status_command)


def _log_to_stderr(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # one line per request would drown what was routed where
        logging.getLogger("orthanc_client").setLevel(logging.WARNING)
        for name in ("orthanc_client.route", "orthanc_client.watch", "orthanc_client.folder"):
            logging.getLogger(name).setLevel(logging.INFO)


@click.command("route")
@click.argument("rules", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--state", "state", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite state file (created if missing): cursor, finished actions, dead letters.")
@click.option("--since", default="now", show_default=True,
              help="Where a new state starts: 'now' (end of the changes log) or a change number (0: all).")
@click.option("--poll-interval", type=float, default=1.0, show_default=True, help="Seconds between polls when idle.")
@click.option("--attempts", type=int, default=3, show_default=True, help="Tries per change before it is dead-lettered.")
@click.option("--until-idle", is_flag=True, help="Stop once the changes log is exhausted (for cron jobs and tests).")
@click.option("--verbose", "-v", is_flag=True, help="Log every request too.")
@pass_settings
def route_command(settings: ConnectionSettings, rules: Path, state: Path, since: str, poll_interval: float,
                  attempts: int, until_idle: bool, verbose: bool) -> None:
    """Route studies by RULES (YAML) as their changes appear, until SIGTERM/SIGINT.

    Pseudonyms (`anonymize: {pseudonyms: true}`) are keyed by the secret in ORTHANC_PSEUDONYM_SECRET.

    \b
    routes:
      - on: StableStudy
        where: {PatientID: "RT-*"}
        do:
          - send: {peer: B}
    """
    if since != "now" and not since.isdigit():
        raise click.BadParameter("takes 'now' or a change number", param_hint="--since")
    routes = load_routes(rules)
    mint = PseudonymMint.from_env(SECRET_VARIABLE) if any(r.needs_pseudonyms for r in routes) else None
    _log_to_stderr(verbose)
    with settings.client() as client:
        router = Router(client, routes, state=state, pseudonyms=mint, since="now" if since == "now" else int(since),
                        poll_interval=poll_interval, attempts=attempts)
        router.check()
        router.run(until_idle=until_idle)
    logging.getLogger("orthanc_client.route").info("stopped; state in %s", state)


@click.command("route-status")
@click.option("--state", "state", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The routing daemon's state file.")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def route_status_command(state: Path, as_json: bool) -> None:
    """What the routing daemon did, from its state file: passes, deliveries, dead letters (failed changes)."""
    status = route_status(state)
    if as_json:
        print_json(status)
        return
    stdout.print(f"state {status['state']}: cursor at change {status['cursor']}, {status['log_resets']} log reset(s)")
    print_table(["route", "passes"], sorted(status["passes"].items()), title="Passes")
    print_table(["destination", "sends"], sorted(status["deliveries"].items()), title="Deliveries")
    letters = status["dead_letters"]
    print_table(
        ["seq", "change", "resource", "attempts", "failed at", "error"],
        [[d["seq"], d["change_type"], d["resource_id"], d["attempts"], d["failed_at"], d["error"]] for d in letters],
        title=f"Dead letters ({len(letters)})",
    )
