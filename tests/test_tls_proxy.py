"""A real nginx (``testing.proxy.NginxProxy``) in front of a real Orthanc: HTTPS with a throw-away CA, a path
prefix (``/orthanc/``), request buffering on and off. Every feature works through it, the bulk fast path
(``_core.fastpath``) included and used; TLS verification is on by default and refuses the self-signed
certificate with a typed error unless its CA is given."""

from __future__ import annotations

import hashlib
import ssl
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import orthanc_client.aio as aio
from orthanc_client import ConnectError, Orthanc, Series, download, download_zip, find_studies, upload
from orthanc_client._core.fastpath import connections as _direct_http, posts as _bulk_post
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_series, to_bytes
from orthanc_client.testing.proxy import NginxProxy

PROXIES = {
    "https buffered": {"tls": True, "request_buffering": True},
    "https streamed": {"tls": True, "request_buffering": False},
    "http prefix streamed": {"tls": False, "request_buffering": False},
}


@pytest.fixture(scope="module", params=list(PROXIES))
def proxy(request: pytest.FixtureRequest, orthanc_server: OrthancServer) -> Iterator[NginxProxy]:
    with NginxProxy(orthanc_server.url, path_prefix="/orthanc/", **PROXIES[request.param]) as started:
        yield started


@pytest.fixture
def fast_path(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many POSTs and GETs went through the fast path (the calls still happen)."""
    counts = {"posts": 0, "gets": 0}
    post, get = _bulk_post.post, _direct_http.DirectConnection.get

    def counting_post(*args: Any, **kwargs: Any) -> Any:
        counts["posts"] += 1
        return post(*args, **kwargs)

    def counting_get(*args: Any) -> Any:
        counts["gets"] += 1
        return get(*args)

    monkeypatch.setattr(_bulk_post, "post", counting_post)
    monkeypatch.setattr(_direct_http.DirectConnection, "get", counting_get)
    return counts


def _verify(proxy: NginxProxy) -> Any:
    return str(proxy.ca_file) if proxy.tls else True


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_every_feature_through_the_proxy(
    kind: str, proxy: NginxProxy, clean_orthanc: OrthancServer, fast_path: dict[str, int], tmp_path: Path
) -> None:
    synthetic = make_series(6, rows=32, columns=24, slice_spacing=2.0, patient_id="PROXIED")
    files = [to_bytes(ds) for ds in synthetic.datasets]
    hashes = {str(ds.SOPInstanceUID): hashlib.sha256(data).hexdigest() for ds, data in zip(synthetic.datasets, files, strict=True)}
    options = {"verify": _verify(proxy)}
    if kind == "sync":
        with Orthanc(proxy.url, *clean_orthanc.auth, **options) as client:
            assert client.get_system()["Version"] == clean_orthanc.version
            result = upload(client, files, progress=False)
            (study,) = find_studies(client, {"PatientID": "PROXIED"})
            (series,) = client.get_studies_id_series(study.id)
            volume = Series(series["ID"], client).to_numpy()
            folder = download(client, study.id, tmp_path / "folder", level="study", progress=False)
            archive = download_zip(client, study.id, tmp_path / "study.zip", level="study", progress=False)
            client.delete_studies_id(study.id)
            assert client.get_studies() == []
    else:
        async with aio.AsyncOrthanc(proxy.url, *clean_orthanc.auth, **options) as client:
            assert (await client.get_system())["Version"] == clean_orthanc.version
            result = await aio.upload(client, files, progress=False)
            (study,) = await aio.find_studies(client, {"PatientID": "PROXIED"})
            (series,) = await client.get_studies_id_series(study.id)
            volume = await aio.Series(series["ID"], client).to_numpy()
            folder = await aio.download(client, study.id, tmp_path / "folder", level="study", progress=False)
            archive = await aio.download_zip(client, study.id, tmp_path / "study.zip", level="study", progress=False)
            await client.delete_studies_id(study.id)
            assert await client.get_studies() == []
    assert len(result.stored) == 6 and result.ok
    assert fast_path["posts"] == 1  # the upload kept the fast path, over TLS too (6 small files, one ZIP)
    assert fast_path["gets"] == 12  # so did the numpy read and the folder download, each file once
    np.testing.assert_array_equal(volume, synthetic.volume)
    assert folder.ok and len(folder.stored) == 6
    written = {path.stem: hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "folder").rglob("*.dcm")}
    assert written == hashes
    assert archive.ok
    with zipfile.ZipFile(tmp_path / "study.zip") as opened:
        assert sorted(hashlib.sha256(opened.read(name)).hexdigest() for name in opened.namelist()) == sorted(
            hashes.values()
        )


def test_verification_is_on_by_default(proxy: NginxProxy, orthanc_server: OrthancServer) -> None:
    if not proxy.tls:
        pytest.skip("plain HTTP: nothing to verify")
    data = to_bytes(make_series(1, rows=8, columns=8, patient_id="UNVERIFIED").datasets[0])
    with Orthanc(proxy.url, *orthanc_server.auth) as client:
        with pytest.raises(ConnectError, match="certificate verify failed"):
            client.get_system()
        result = upload(client, [data], progress=False, retry_for=0)
        (failed,) = result.failed
        assert "certificate" in (failed.reason or "") and failed.attempts == 1
        poster = client._direct_poster()
        assert poster is not None
        with pytest.raises(ConnectError, match="certificate verification failed"):
            poster.post("instances", data, len(data))
        poster.close()
    context = ssl.create_default_context(cafile=str(proxy.ca_file))
    for verify in (context, str(proxy.ca_file), False):
        with Orthanc(proxy.url, *orthanc_server.auth, verify=verify) as client:
            assert upload(client, [data], progress=False).ok


def test_an_early_413_from_nginx_is_reported_once(orthanc_server: OrthancServer, fast_path: dict[str, int]) -> None:
    data = to_bytes(make_series(1, rows=256, columns=256, patient_id="TOOBIG").datasets[0])
    assert len(data) > 100 << 10
    with NginxProxy(orthanc_server.url, tls=True, max_body_size="64k") as small:
        with Orthanc(small.url, *orthanc_server.auth, verify=str(small.ca_file)) as client:
            result = upload(client, [data], progress=False, retry_for=5)
    (failed,) = result.failed
    assert "413" in (failed.reason or "") and failed.attempts == 1 and fast_path["posts"] == 1


def test_a_body_buffer_as_large_as_the_files_keeps_uploads_off_nginx_disk(
    clean_orthanc: OrthancServer, fast_path: dict[str, int]
) -> None:
    files = [to_bytes(ds) for ds in make_series(4, rows=224, columns=224, patient_id="BUFFERED").datasets]
    assert all(len(data) > 64 << 10 for data in files)
    logs = {}
    for size in (None, "1m"):
        with NginxProxy(clean_orthanc.url, tls=True, client_body_buffer_size=size) as proxy:
            with Orthanc(proxy.url, *clean_orthanc.auth, verify=str(proxy.ca_file)) as client:
                result = upload(client, files, progress=False)
                assert result.ok and len(result.stored) + len(result.already_stored) == 4
            assert proxy.error_log is not None
            logs[size] = proxy.error_log.read_text()
    assert "buffered to a temporary file" in logs[None]  # nginx's default: every body over 16 KB hits the disk
    assert "buffered to a temporary file" not in logs["1m"]
    assert fast_path["posts"] == 2  # the 4 files in one ZIP of 400 KB, through each proxy
    with pytest.raises(ValueError, match="client_body_buffer_size"):
        NginxProxy(clean_orthanc.url, client_body_buffer_size="1m; evil")
