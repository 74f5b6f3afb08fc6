"""A redirect or a login page is never an answer; errors stay in the hierarchy; a dripping answer ends at the
call's deadline. A real Orthanc behind a real (small, threaded) proxy that misbehaves on chosen routes,
sync and async."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import orthanc_client
from orthanc_client import (
    BulkError,
    ConnectError,
    OrthancError,
    RedirectError,
    RequestTimeoutError,
    UnexpectedAnswerError,
    aio as orthanc_aio,
)
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_study, to_bytes
from orthanc_client.testing.faulty_proxy import Cut, Drip, FaultyProxy, Page, Redirect

FILE_ROUTES = r"/instances/[^/]+/file$|/archive$|/media$|/tools/create-(archive|media)$"
LOGIN_REDIRECT = [(FILE_ROUTES, Redirect("/login?next=file")), (r"^/login$", Page())]


@pytest.fixture
def stored_study(clean_orthanc: OrthancServer) -> str:
    """A study of 2 series x 2 instances stored in Orthanc; returns its Orthanc ID."""
    with orthanc_client.Orthanc(clean_orthanc.url, *clean_orthanc.auth) as client:
        answers = [client.post_instances(to_bytes(ds)) for ds in make_study(2, 2, patient_id="PROXIED")]
    return str(answers[0]["ParentStudy"])


@pytest.fixture
def proxy(clean_orthanc: OrthancServer) -> Iterator[FaultyProxy]:
    with FaultyProxy(clean_orthanc.url) as running:
        yield running


class Api:
    """The sync or the async client and bulk functions behind one awaitable interface."""

    def __init__(self, kind: str, url: str, auth: tuple[str, str], **options: Any) -> None:
        self.kind = kind
        if kind == "sync":
            self.client: Any = orthanc_client.Orthanc(url, *auth, **options)
        else:
            self.client = orthanc_aio.AsyncOrthanc(url, *auth, **options)

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        return method(*args, **kwargs) if self.kind == "sync" else await method(*args, **kwargs)

    async def bulk(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return getattr(orthanc_client, name)(self.client, *args, **kwargs)
        return await getattr(orthanc_aio, name)(self.client, *args, **kwargs)

    async def stream_to(self, name: str, target: Path, *args: Any) -> int:
        if self.kind == "sync":
            with getattr(self.client, name)(*args) as answer:
                return int(answer.write_to(target))
        async with getattr(self.client, name)(*args) as answer:
            return int(await answer.write_to(target))

    async def close(self) -> None:
        if self.kind == "sync":
            self.client.close()
        else:
            await self.client.aclose()


kinds = pytest.mark.parametrize("kind", ["sync", "async"])


@pytest.fixture
async def make_api(clean_orthanc: OrthancServer) -> AsyncIterator[Any]:
    made: list[Api] = []

    def make(kind: str, url: str, **options: Any) -> Api:
        api = Api(kind, url, clean_orthanc.auth, **options)
        made.append(api)
        return api

    yield make
    for api in made:
        await api.close()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# ------------------------------------------------------------------------------------------------- redirects


@kinds
async def test_a_redirect_is_an_error_naming_where_it_pointed(
    kind: str, proxy: FaultyProxy, make_api: Any, clean_orthanc: OrthancServer
) -> None:
    proxy.rules = [(r".*", Redirect("http://sso.example:9/login?token=Sup3rS3cret", 302))]
    api = make_api(kind, proxy.url)
    with pytest.raises(RedirectError) as caught:
        await api("get_system")
    error = caught.value
    assert error.status_code == 302 and error.location is not None
    assert error.location.startswith("http://sso.example:9/login") and "Sup3rS3cret" not in str(error)
    assert "sso.example" in str(error)
    with pytest.raises(RedirectError):
        await api("post_instances", to_bytes(make_study(1, 1, patient_id="REDIRECTED")[0]))
    with orthanc_client.Orthanc(clean_orthanc.url, *clean_orthanc.auth) as direct:
        assert direct.get_instances() == []  # nothing reached Orthanc


@kinds
async def test_same_origin_redirects_are_followed_only_when_asked(
    kind: str, proxy: FaultyProxy, make_api: Any, clean_orthanc: OrthancServer
) -> None:
    proxy.rules = [(r"^/old(?P<rest>/.*)$", Redirect("{rest}", 308)), (r"^/moved(?P<rest>/.*)$", Redirect("{rest}", 302))]
    with pytest.raises(RedirectError):
        await make_api(kind, proxy.url + "/old")("get_system")
    api = make_api(kind, proxy.url + "/old", follow_redirects=True)
    assert "Version" in await api("get_system")
    stored = await api("post_instances", to_bytes(make_study(1, 1, patient_id="FOLLOWED")[0]))  # 308 keeps POST
    assert stored["Status"] == "Success"
    moved = make_api(kind, proxy.url + "/moved", follow_redirects=True)
    assert "Version" in await moved("get_system")  # a 302 on a GET is followed
    with pytest.raises(RedirectError, match="not turned into a GET"):
        await moved("post_instances", to_bytes(make_study(1, 1, patient_id="NOTFOLLOWED")[0]))
    with orthanc_client.Orthanc(clean_orthanc.url, *clean_orthanc.auth) as direct:
        assert len(direct.get_instances()) == 1


@kinds
async def test_a_redirect_to_another_origin_is_never_followed_and_gets_no_credentials(
    kind: str, proxy: FaultyProxy, make_api: Any, clean_orthanc: OrthancServer
) -> None:
    with FaultyProxy(clean_orthanc.url) as elsewhere:
        for location in (
            f"http://localhost:{elsewhere.port}/system",  # another host name
            f"http://user:pw@127.0.0.1:{elsewhere.port}/system",  # another port
            f"https://127.0.0.1:{proxy.port}/system",  # another scheme
        ):
            proxy.rules = [(r"^/system$", Redirect(location, 307))]
            with pytest.raises(RedirectError, match="another scheme, host or port") as caught:
                await make_api(kind, proxy.url, follow_redirects=True)("get_system")
            assert ":pw@" not in str(caught.value)
        assert elsewhere.requests == []


# ------------------------------------------------------------------------------------------- login pages


@kinds
async def test_a_json_route_answering_html_or_bad_json_is_an_error(kind: str, proxy: FaultyProxy, make_api: Any) -> None:
    api = make_api(kind, proxy.url)
    cases = [
        (Page(), "HTML page"),
        (Page(b"<html>ok</html>", "text/plain"), "text/plain"),
        (Page(b'{"Version": ', "application/json"), "JSONDecodeError"),
        (Page(b'\xff\xfe{"a": 1}', "application/json"), "Error"),  # not UTF-8: UnicodeDecodeError
        (Page(b'{"Version": "1"}', "application/json", content_encoding="gzip"), "Error"),  # not gzip
    ]
    for page, words in cases:
        proxy.rules = [(r"^/system$", page)]
        with pytest.raises(UnexpectedAnswerError) as caught:
            await api("get_system")
        assert words in str(caught.value) and "/system" in str(caught.value)
        assert isinstance(caught.value, OrthancError)


@kinds
@pytest.mark.parametrize(
    "rules",
    [
        LOGIN_REDIRECT,
        [(FILE_ROUTES, Page())],  # the login page itself, with a 200
        [(FILE_ROUTES, Page(b"<html>" + b" " * 400 + b"</html>", "application/dicom"))],  # lying about its type
    ],
    ids=["redirect-to-login", "login-page", "html-as-dicom"],
)
async def test_download_never_stores_a_login_page(
    kind: str, rules: Any, proxy: FaultyProxy, make_api: Any, stored_study: str, tmp_path: Path
) -> None:
    proxy.rules = rules
    api = make_api(kind, proxy.url)
    result = await api.bulk("download", [("study", stored_study)], tmp_path / "out")
    assert len(result.failed) == 4 and not result.stored
    assert files_under(tmp_path / "out") == []
    with pytest.raises(BulkError):
        await api.bulk("download_zip", [("study", stored_study)], tmp_path / "client.zip")
    for mode in ("server", "media"):
        with pytest.raises((RedirectError, UnexpectedAnswerError)):
            await api.bulk("download_zip", [("study", stored_study)], tmp_path / f"{mode}.zip", mode=mode)
    with pytest.raises((RedirectError, UnexpectedAnswerError)):
        await api.stream_to("stream_get_studies_id_archive", tmp_path / "archive.zip", stored_study)
    assert files_under(tmp_path) == []  # no zip, no .part, nothing that looks complete


@kinds
async def test_the_same_routes_work_through_an_honest_proxy(
    kind: str, proxy: FaultyProxy, make_api: Any, stored_study: str, tmp_path: Path
) -> None:
    api = make_api(kind, proxy.url)
    result = await api.bulk("download", [("study", stored_study)], tmp_path / "out")
    assert len(result.stored) == 4 and result.ok
    await api.bulk("download_zip", [("study", stored_study)], tmp_path / "server.zip", mode="server")
    with zipfile.ZipFile(tmp_path / "server.zip") as archive:
        assert len([n for n in archive.namelist() if not n.endswith("/")]) == 4
    assert await api.stream_to("stream_get_studies_id_archive", tmp_path / "archive.zip", stored_study) > 0


@pytest.mark.timeout(120)
def test_cli_download_behind_a_login_redirect_exits_non_zero(
    proxy: FaultyProxy, clean_orthanc: OrthancServer, stored_study: str, tmp_path: Path
) -> None:
    proxy.rules = LOGIN_REDIRECT
    environment = {**os.environ, "ORTHANC_URL": proxy.url, "ORTHANC_USERNAME": clean_orthanc.username,
                   "ORTHANC_PASSWORD": clean_orthanc.password}
    for extra in ([], ["--zip"], ["--zip", "--mode", "server"]):
        target = tmp_path / ("out.zip" if extra else "out")
        done = subprocess.run(
            [sys.executable, "-m", "orthanc_client.cli", "download", stored_study, "-o", str(target), *extra],
            env=environment, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 1, (extra, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert files_under(tmp_path) == []


# -------------------------------------------------------------------------- cut, dripping and gzip-lying answers


@kinds
async def test_an_answer_cut_off_is_a_connect_error_and_leaves_no_file(
    kind: str, proxy: FaultyProxy, make_api: Any, stored_study: str, tmp_path: Path
) -> None:
    proxy.rules = [(FILE_ROUTES, Cut(keep=200))]
    api = make_api(kind, proxy.url, retries=0)
    with pytest.raises(ConnectError, match="cut off"):
        await api.stream_to("stream_get_studies_id_archive", tmp_path / "a.zip", stored_study)
    instance = (await api("get_studies_id_instances", stored_study))[0]["ID"]
    with pytest.raises(ConnectError):
        await api("get_instances_id_file", instance)
    result = await api.bulk("download", [("study", stored_study)], tmp_path / "out")
    assert len(result.failed) == 4 and all(isinstance(i.error, ConnectError) for i in result.failed)
    assert files_under(tmp_path) == []


@kinds
async def test_a_body_lying_about_gzip_on_a_streamed_route_is_typed(
    kind: str, proxy: FaultyProxy, make_api: Any, stored_study: str, tmp_path: Path
) -> None:
    proxy.rules = [(FILE_ROUTES, Page(b"PK\x03\x04 not really gzip", "application/zip", content_encoding="gzip"))]
    api = make_api(kind, proxy.url)
    with pytest.raises(UnexpectedAnswerError):
        await api.stream_to("stream_get_studies_id_archive", tmp_path / "a.zip", stored_study)
    assert files_under(tmp_path) == []


@kinds
@pytest.mark.timeout(60)
async def test_a_dripping_answer_ends_at_the_deadline(
    kind: str, proxy: FaultyProxy, make_api: Any, tmp_path: Path
) -> None:
    proxy.rules = [(r"^/system$", Drip(size=10_000, interval=0.05)), (r"/preview$", Drip(10_000, 0.05, "image/png"))]
    api = make_api(kind, proxy.url, timeout=1.5)
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError, match="deadline of 1.5 s"):
        await api("get_system")
    assert time.monotonic() - started < 3.0
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        await api("get_system", timeout=0.5)  # a call's own timeout is its own deadline
    assert time.monotonic() - started < 1.5

    started = time.monotonic()
    with pytest.raises(RequestTimeoutError, match="still arriving"):
        await api.stream_to("stream_get_instances_id_preview", tmp_path / "a.png", "-".join(["0" * 8] * 5))  # streamed, too
    assert time.monotonic() - started < 3.0
    assert files_under(tmp_path) == []


# ---------------------------------------------------------------------------------------------- pickling


def test_every_error_class_survives_pickle() -> None:
    import httpx

    from orthanc_client._bulk.results import BulkItem, BulkResult
    from orthanc_client._core import errors as _exceptions

    request = httpx.Request("GET", "http://orthanc.test/system")
    samples: list[OrthancError] = []
    for status in (400, 401, 403, 404, 409, 500, 418):
        response = httpx.Response(status, json={"Message": "scripted", "Details": "d"}, request=request)
        samples.append(_exceptions.error_for_response(response))
    redirect = httpx.Response(302, headers={"Location": "/login"}, request=request)
    samples.append(RedirectError(redirect))
    samples.append(_exceptions.error_for_transport(httpx.ConnectError("refused", request=request), request))
    samples.append(_exceptions.error_for_transport(httpx.ReadTimeout("slow", request=request), request))
    samples.append(UnexpectedAnswerError("an HTML page", method="GET", url="u", expected="JSON", content_type="text/html"))
    samples.append(_exceptions.InvalidInputError("bad"))
    samples.append(_exceptions.UnsupportedByServerError("GET /x", "1.12.0", "1.10.1"))
    samples.append(_exceptions.JobFailedError("j1", {"Type": "Archive", "ErrorCode": 1, "ErrorDescription": "e"}))
    samples.append(_exceptions.JobTimeoutError("j1", 2.0, "Running", 50))
    samples.append(_exceptions.DicomNetworkError("PACS", "C-ECHO", "refused", 9))
    samples.append(_exceptions.NotLoadedError("await study.load()"))
    samples.append(_exceptions.ProtocolError("two Content-Length headers", request=request))
    unknown = httpx.Response(404, json={"OrthancStatus": 17, "Message": "Unknown resource"}, request=request)
    samples.append(_exceptions.UnknownRouteError(unknown, "1.10.1"))
    failed = BulkResult("upload")
    failed.add("failed", BulkItem.from_error("a.dcm", samples[0]))
    samples.append(BulkError(failed))
    covered = {type(sample) for sample in samples}
    everything = {c for c in vars(_exceptions).values() if isinstance(c, type) and issubclass(c, OrthancError)}
    assert everything - {OrthancError} <= covered | {_exceptions.HTTPError, _exceptions.TransportError}
    for sample in samples:
        copy = pickle.loads(pickle.dumps(sample))
        assert type(copy) is type(sample) and str(copy) == str(sample)
        assert {k: v for k, v in vars(copy).items() if isinstance(v, (str, int, type(None)))} == {
            k: v for k, v in vars(sample).items() if isinstance(v, (str, int, type(None)))
        }
        if isinstance(sample, orthanc_client.HTTPError):
            assert copy.status_code == sample.status_code and copy.details == sample.details
            assert copy.response.status_code == sample.response.status_code
        if isinstance(sample, BulkError):
            assert copy.result.failed[0].name == "a.dcm" and copy.result.summary() == sample.result.summary()


# ------------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "nan"),
        ({"timeout": float("inf")}, "inf"),
        ({"timeout": "abc"}, "'abc'"),
        ({"timeout": True}, "timeout"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_connections": -3}, "max_connections"),
        ({"max_connections": 2.5}, "max_connections"),
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"retries": "3"}, "retries"),
        ({"follow_redirects": "yes"}, "follow_redirects"),
    ],
)
@kinds
def test_bad_settings_are_refused_when_the_client_is_made(kind: str, options: dict[str, Any], words: str) -> None:
    import httpx

    from orthanc_client import InvalidInputError, RetryPolicy

    cls = orthanc_client.Orthanc if kind == "sync" else orthanc_aio.AsyncOrthanc
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(")) as caught:
        cls("http://orthanc.test", **options)
    assert repr(next(iter(options.values()))) in str(caught.value)
    with pytest.raises(InvalidInputError, match="read timeout"):
        cls("http://orthanc.test", timeout=httpx.Timeout(10, read=-1))
    with pytest.raises(InvalidInputError, match="backoff"):
        cls("http://orthanc.test", retries=RetryPolicy(backoff=float("nan")))


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0", "abc"])
def test_cli_refuses_a_bad_timeout_as_a_usage_error(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orthanc_client.cli", "--url", "http://127.0.0.1:9", "--timeout", value, "system"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--timeout" in done.stderr and "Traceback" not in done.stderr


@kinds
@pytest.mark.parametrize("status", [300, 304, 305])
async def test_other_3xx_statuses_are_errors_too(kind: str, status: int, proxy: FaultyProxy, make_api: Any) -> None:
    proxy.rules = [(r"^/system$", Page(b"", "application/json", status=status))]
    with pytest.raises(orthanc_client.HTTPError) as caught:
        await make_api(kind, proxy.url)("get_system")
    assert caught.value.status_code == status


@kinds
@pytest.mark.parametrize("action", [Redirect("/login", 302), Page()], ids=["redirect", "login-page"])
async def test_upload_behind_a_login_proxy_fails_every_file_and_stores_nothing(
    kind: str, action: Any, proxy: FaultyProxy, make_api: Any, clean_orthanc: OrthancServer, tmp_path: Path
) -> None:
    proxy.rules = [(r"^/instances$", action)]
    folder = tmp_path / "in"
    folder.mkdir()
    for i, ds in enumerate(make_study(1, 3, patient_id="LOGIN")):
        (folder / f"{i}.dcm").write_bytes(to_bytes(ds))
    result = await make_api(kind, proxy.url).bulk("upload", folder, progress=False)
    assert len(result.failed) == 3 and not result.stored and not result.already_stored
    assert all(isinstance(item.error, (RedirectError, UnexpectedAnswerError)) for item in result.failed)
    with orthanc_client.Orthanc(clean_orthanc.url, *clean_orthanc.auth) as direct:
        assert direct.get_instances() == []


def test_answer_checks_without_a_server() -> None:
    import httpx

    from orthanc_client._core import answers as _answers
    from orthanc_client._core.redact import redact_location

    assert _answers.expected_kind("GET", "/instances/{id}/file", "binary") == "dicom"
    assert _answers.expected_kind("POST", "/tools/create-archive", "mixed") == "zip"
    assert _answers.expected_kind("GET", "/instances/{id}/preview", "binary") == "binary"
    dicom = bytes(128) + b"DICM" + b"rest"
    assert _answers.problem_with_head("dicom", dicom, complete=True) is None
    assert _answers.problem_with_head("dicom", dicom[:100], complete=False) is None  # undecided yet
    assert "too short" in (_answers.problem_with_head("dicom", dicom[:100], complete=True) or "")
    assert "DICM" in (_answers.problem_with_head("dicom", b"<html>" + bytes(200), complete=True) or "")
    assert _answers.problem_with_head("zip", b"PK\x05\x06" + bytes(18), complete=True) is None  # empty archive
    assert _answers.problem_with_head("zip", b'{"ID": "job"}', complete=True, content_type="application/json") is None
    assert _answers.problem_with_headers("binary", "text/html; charset=utf-8") is not None
    assert _answers.problem_with_headers("json", "text/plain", documented=False) is None
    assert _answers.same_origin(httpx.URL("http://h/a"), httpx.URL("http://h:80/b"))
    assert not _answers.same_origin(httpx.URL("http://h/a"), httpx.URL("https://h/a"))
    for secret in ("p/w", "p@w", "p:w", "p%w", "p w"):
        quoted = secret.replace("%", "%25").replace("/", "%2F").replace("@", "%40").replace(" ", "%20")
        shown = redact_location(f"http://user:{quoted}@host:8042/login?token=abc")
        assert secret not in shown and quoted not in shown and "abc" not in shown and "host:8042/login" in shown
    assert "S3cret" not in redact_location("ftp://user:ab@S3cret@host/x")


@kinds
@pytest.mark.timeout(60)
async def test_a_read_timeout_mid_stream_is_typed(kind: str, proxy: FaultyProxy, make_api: Any, tmp_path: Path) -> None:
    import httpx

    proxy.rules = [(r"/preview$", Drip(size=100, interval=1.0, content_type="image/png"))]
    api = make_api(kind, proxy.url, timeout=httpx.Timeout(5, read=0.3))  # per read: httpx's meaning
    with pytest.raises(RequestTimeoutError, match="ReadTimeout while reading the answer"):
        await api.stream_to("stream_get_instances_id_preview", tmp_path / "a.png", "-".join(["0" * 8] * 5))
    with pytest.raises(RequestTimeoutError):
        await api("get_instances_id_preview", "-".join(["0" * 8] * 5))
    assert files_under(tmp_path) == []
