"""What every command shares: the connection options, the client, error reporting and output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .._client._sync.client import Orthanc
from .._core.errors import InvalidInputError, NotFoundError, OrthancError
from .._core.redact import redact, redact_url, secret_parts
from .._core.timeouts import as_timeout
from .._resources._sync.resources import Instance, Patient, Resource, Series, Study

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


class OrthancGroup(click.Group):
    """Turns every ``OrthancError`` (and file errors) into one readable line and exit code 1: no tracebacks.
    Messages come from the errors, which never hold credentials."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidInputError as exc:  # an argument refused before anything was sent: a usage error
            raise click.UsageError(_shown(ctx, _as_flags(str(exc))), ctx) from None
        except OrthancError as exc:
            raise click.ClickException(_shown(ctx, str(exc))) from None
        except OSError as exc:
            message = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            raise click.ClickException(_shown(ctx, message)) from None


# The library's refusals name its Python arguments; on the command line, the flag that sets each one.
_PYTHON_TO_FLAGS = (("pass force=True", "give --force"),)


def _as_flags(message: str) -> str:
    for python, flag in _PYTHON_TO_FLAGS:
        message = message.replace(python, flag)
    return message


def _shown(ctx: click.Context, message: str) -> str:
    """The message as printed: the errors never hold credentials, and this makes sure of it (a password given
    with --password or in --url is hidden wherever it appears)."""
    settings = ctx.find_object(ConnectionSettings)
    return redact(message, settings.secrets() if settings is not None else ())


@click.group(
    cls=OrthancGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--url", envvar="ORTHANC_URL", help="Orthanc's URL [env ORTHANC_URL; default http://localhost:8042]"
)
@click.option("--username", envvar="ORTHANC_USERNAME", help="HTTP user [env ORTHANC_USERNAME]")
@click.option("--password", envvar="ORTHANC_PASSWORD", help="HTTP password [env ORTHANC_PASSWORD]")
@click.option(
    "--timeout",
    type=float,
    default=None,
    callback=lambda ctx, param, value: _checked_timeout(value),
    help="Seconds for each call, its whole answer included (default: 10 s to connect, 10 minutes per read).",
)
@click.version_option(package_name="orthanc-client", prog_name="orthanc")
@click.pass_context
def cli(
    ctx: click.Context, url: str | None, username: str | None, password: str | None, timeout: float | None
) -> None:
    """Work with an Orthanc DICOM server from the shell: upload, download, find, anonymize, jobs...

    Exit code 0 when everything succeeded, 1 when anything failed, 2 for a usage error.
    """
    ctx.obj = ConnectionSettings(url, username, password, timeout)


def _checked_timeout(value: float | None) -> float | None:
    """A usage error (exit 2) for a timeout the client would refuse (``-1``, ``nan``, ``inf``, ``0``)."""
    if value is not None:
        try:
            as_timeout(value)
        except InvalidInputError as exc:
            raise click.BadParameter(str(exc), param_hint="--timeout") from None
    return value


class ConnectionSettings:
    """Where and how to connect; ``repr`` never shows the password."""

    def __init__(self, url: str | None, username: str | None, password: str | None, timeout: float | None):
        self.url = url
        self.username = username
        self._password = password
        self.timeout = timeout

    def client(self) -> Orthanc:
        options: dict[str, Any] = {} if self.timeout is None else {"timeout": self.timeout}
        return Orthanc(self.url, self.username, self._password, **options)

    def secrets(self) -> list[str]:
        """What must never be printed: the password, and the credentials written in the URL (and their pieces)."""
        return [self._password or "", *secret_parts(self.url)]

    def __repr__(self) -> str:
        url = None if self.url is None else redact_url(self.url)
        return f"ConnectionSettings(url={url!r}, username={self.username!r})"


pass_settings = click.make_pass_decorator(ConnectionSettings)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A table that never cuts a value: plain aligned columns when piped (for ``cut``/``awk``), a rich table
    that folds long values onto more lines on a terminal, however narrow."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if not stdout.is_terminal:
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
        if title:
            click.echo(title)
        for row in [list(columns), *cells]:
            click.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    stdout.print(table)


def fail(message: str) -> None:
    """A one-line error and exit code 1."""
    stderr.print(f"[red]Error:[/red] {message}", highlight=False)
    sys.exit(1)


def parse_assignments(values: Sequence[str], what: str) -> dict[str, str]:
    """``["PatientID=P1*", "StudyDate=2024"]`` -> dict; a value without ``=`` is a usage error."""
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not TAG=VALUE", param_hint=what)
        out[key.strip()] = rest
    return out


LEVELS = ("patient", "study", "series", "instance")
# Commands act through the resource layer, so they get its checks (identifiers without force, version gates).
RESOURCE_CLASSES: dict[str, type[Resource]] = {
    "patient": Patient,
    "study": Study,
    "series": Series,
    "instance": Instance,
}
level_option = click.option(
    "--level", "-l", type=click.Choice(LEVELS), default="study", show_default=True, help="Resource level."
)


def load_resource(client: Orthanc, level: str, resource_id: str) -> Resource:
    """The resource, loaded; an ID of another level is named as such (``--level series``), not a bare 404."""
    try:
        return RESOURCE_CLASSES[level](resource_id, client).load()
    except NotFoundError:
        for other, resource_class in RESOURCE_CLASSES.items():
            if other == level:
                continue
            try:
                resource_class(resource_id, client).load()
            except NotFoundError:
                continue
            raise click.UsageError(
                f"{resource_id} is {_article(other)} {other} ID, not {_article(level)} {level} ID: use --level {other}"
            ) from None
        raise


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
