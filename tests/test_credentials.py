"""Credentials never appear (issue 13, part 6): not in exceptions, reprs, logs at DEBUG or the command line's
output, whatever characters the password holds (``/`` makes a URL parser see a path, ``@`` a host, ``#`` and
``?`` a fragment or a query, ``%`` an escape, ``:`` a port).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

import orthanc_client
import orthanc_client.aio as aio
from orthanc_client import InvalidInputError, NotFoundError, OrthancError, UnauthorizedError
from orthanc_client._core.redact import redact, redact_url, secret_parts
from orthanc_client.testing import OrthancServer

# Each password's pieces are distinctive, so that finding one in a message is never a coincidence.
PASSWORDS = [
    "Qz/Sup3rS3cretPW",
    "Qz@Sup3rS3cretPW",
    "Sup3r%S3cretPW",
    "Sup3r%2FS3cretPW",
    "Sup3r:S3cretPW",
    "Sup3r S3cret PW",
    "Sup3r#S3cretPW",
    "Sup3r?S3cretPW",
    "Sup3r\\S3cretPW",
    "Sup3r/@:% #?S3cretPW",
]
PIECES = ["Sup3r", "S3cret", "Sup3rS3cretPW", "Qz"]


def assert_hidden(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, text


# --- the function -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("scheme", ["http", "https", "ftp"])
def test_a_url_is_redacted_whatever_its_password_holds(scheme: str, password: str) -> None:
    url = f"{scheme}://orthanc:{password}@host:8042/prefix"
    assert redact_url(url) == f"{scheme}://***@host:8042/prefix"
    if " " not in password:  # free text ends a URL at a space: given the secrets, they are hidden all the same
        assert redact(f"cannot reach {url}: refused") == f"cannot reach {scheme}://***@host:8042/prefix: refused"
    assert_hidden(redact(f"cannot reach {url}: refused", secret_parts(url)))


def test_the_exact_cases_of_the_issue() -> None:
    assert redact_url("http://orthanc:ab/Sup3rS3cretPW@host:8042") == "http://***@host:8042"
    assert redact_url("ftp://orthanc:ab@Sup3rS3cretPW@host") == "ftp://***@host"
    assert redact_url(httpx.URL("http://u:p%40ss@h/x")) == "http://***@h/x"
    assert redact_url("http://host:8042/studies") == "http://host:8042/studies"
    assert redact("Invalid port: 'ab'", secret_parts("http://orthanc:ab/Sup3rS3cretPW@host:8042")) == (
        "Invalid port: '***'"
    )


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("scheme", ["http", "https", "ftp"])
@pytest.mark.parametrize("client_class", [orthanc_client.Orthanc, aio.AsyncOrthanc])
def test_a_client_made_from_such_a_url_never_shows_it(client_class: Any, scheme: str, password: str) -> None:
    url = f"{scheme}://orthanc:{password}@host:8042"
    try:
        client = client_class(url)
    except InvalidInputError as exc:
        assert_hidden(str(exc))
        assert_hidden(repr(exc))
        assert "***@host" in str(exc)
        return
    assert_hidden(repr(client) + client.url + repr(client._settings))
    if hasattr(client, "close"):
        client.close()


def test_the_issue_urls_are_refused_without_the_password() -> None:
    for url in ("http://orthanc:ab/Sup3rS3cretPW@host:8042", "ftp://orthanc:ab@Sup3rS3cretPW@host"):
        with pytest.raises(InvalidInputError) as caught:
            orthanc_client.Orthanc(url)
        message = str(caught.value)
        assert "Sup3rS3cretPW" not in message and "'ab'" not in message and "ab@" not in message, message


# --- a real server whose password holds all of it -----------------------------------------------------------


SERVER_PASSWORD = "Qz/Sup3r @:%#?S3cretPW"


@pytest.fixture(scope="module")
def server(orthanc_version: str) -> Iterator[OrthancServer]:
    with OrthancServer(orthanc_version, name="orthanc-secret", password=SERVER_PASSWORD) as started:
        yield started


def _url_with_credentials(server: OrthancServer, password: str = SERVER_PASSWORD) -> str:
    return server.url.replace("://", f"://{server.username}:{quote(password, safe='')}@")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx's, httpcore's
    return caplog


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records)


def test_errors_reprs_and_debug_logs_never_hold_the_password(
    server: OrthancServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    texts: list[str] = []
    with orthanc_client.Orthanc(_url_with_credentials(server), retries=1) as client:
        assert client.get_system()["Version"] == server.version  # the URL's credentials work
        texts += [repr(client), client.url]
        with pytest.raises(NotFoundError) as not_found:
            client.get_studies_id("0" * 8 + "-00000000" * 4)
        texts += [str(not_found.value), repr(not_found.value), not_found.value.url]
    with orthanc_client.Orthanc(_url_with_credentials(server, "Sup3r wrong/S3cretPW"), retries=0) as client:
        with pytest.raises(UnauthorizedError) as unauthorized:
            client.get_system()
        texts += [str(unauthorized.value), repr(unauthorized.value)]
    dead = _url_with_credentials(server).rsplit(":", 1)[0] + ":9"  # nothing listens on port 9
    with orthanc_client.Orthanc(dead, retries=1, timeout=2) as client:
        with pytest.raises(OrthancError) as unreachable:
            client.get_system()
        texts += [str(unreachable.value), repr(unreachable.value), repr(client)]
    texts.append(repr(server))
    assert_hidden("\n".join(texts))
    assert SERVER_PASSWORD not in "\n".join(texts) and quote(SERVER_PASSWORD, safe="") not in "\n".join(texts)
    logs = _all_log_text(debug_logs)
    assert "GET /system" in logs  # DEBUG was on and requests were logged
    assert_hidden(logs)


async def test_the_async_client_never_shows_it_either(
    server: OrthancServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    async with aio.AsyncOrthanc(_url_with_credentials(server), retries=1) as client:
        assert (await client.get_system())["Version"] == server.version
        with pytest.raises(NotFoundError) as caught:
            await client.get_patients_id("0" * 8 + "-00000000" * 4)
    assert_hidden(str(caught.value) + repr(client) + _all_log_text(debug_logs))


# --- the command line ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> Any:
    from orthanc_client.cli import COMMAND_MODULES
    from orthanc_client.cli._common import cli as group

    for name in COMMAND_MODULES:
        importlib.import_module(f"orthanc_client.cli.{name}").register(group)
    return group


@pytest.mark.parametrize(
    "url",
    [
        "http://orthanc:ab/Sup3rS3cretPW@host:8042",
        "ftp://orthanc:ab@Sup3rS3cretPW@host",
        "http://orthanc:Sup3r#S3cretPW@host",
        "http://orthanc:Sup3r?S3cretPW@host",
        "http://orthanc:Sup3r S3cretPW@",
    ],
)
def test_cli_refuses_a_bad_url_without_showing_its_password(cli: Any, url: str) -> None:
    result = CliRunner().invoke(cli, ["--url", url, "system"], env={"ORTHANC_URL": None})
    assert result.exit_code == 2, result.output
    assert "***@" in result.output and "Traceback" not in result.output
    assert_hidden(result.output)


def test_cli_errors_never_show_the_password(cli: Any, server: OrthancServer) -> None:
    runner = CliRunner()
    env = {"ORTHANC_URL": None, "ORTHANC_USERNAME": None, "ORTHANC_PASSWORD": None}
    wrong = runner.invoke(
        cli, ["--url", server.url, "--username", "orthanc", "--password", "Sup3r wrong/S3cretPW", "system"], env=env
    )
    assert wrong.exit_code == 1 and "401" in wrong.output
    dead = _url_with_credentials(server).rsplit(":", 1)[0] + ":9"
    unreachable = runner.invoke(cli, ["--url", dead, "--timeout", "2", "system"], env=env)
    assert unreachable.exit_code == 1 and "cannot reach" in unreachable.output
    in_url = runner.invoke(cli, ["--url", _url_with_credentials(server), "labels", "show", ".."], env=env)
    assert in_url.exit_code == 2
    for result in (wrong, unreachable, in_url):
        assert_hidden(result.output)
        assert "Traceback" not in result.output
