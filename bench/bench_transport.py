"""Transport benchmarks: the bulk fast path (``_core.fastpath.connections``, on ``http.client``) against httpx tuned and
httpcore's pool, and the bulk features over TLS through a real nginx, ours against plain httpx with 8 threads.

``run(server_url, username, password)`` returns rows for the bench runner; ``python bench/bench_transport.py``
starts its own Orthanc and prints them. The contenders take turns (``best_in_turns``), best of ``REPEAT``.

Rows:
- GETs of 100 instance files of 526 KB (a 512 x 512 uint16 series) with 8 threads, and POSTs of 200 files of
  100 KB with 8 threads: the fast path vs httpx (pool of 8, keep-alive, identity encoding) and httpcore's
  ``ConnectionPool``; straight to Orthanc and through nginx with TLS.
- Through nginx with TLS and a path prefix: ``upload`` of 300 x 100 KB vs httpx with 8 threads (target ratio
  <= 0.8; ours packs the small files into ZIPs of up to 1 MiB, httpx posts each), ``download`` of the series
  to a folder vs httpx with 8 threads (GET each file, write it; target <= 0.5), ``Series.to_numpy`` vs httpx
  with 8 threads and pydicom (target <= 0.5).
- The upload again through nginx with ``client_body_buffer_size 1m`` (bodies kept in memory, as a deployment
  receiving DICOM uploads would set it; both contenders through that proxy).
"""

from __future__ import annotations

import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import httpcore
import httpx

from orthanc_client import Orthanc, Series, download, upload
from orthanc_client._core.fastpath.connections import direct_origin, post
from orthanc_client.testing.dicom import make_series, to_bytes, write
from orthanc_client.testing.proxy import NginxProxy

try:
    from .common import LoggedRequestCounter, best_in_turns, row
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import LoggedRequestCounter, best_in_turns, row  # type: ignore[no-redef]

REPEAT = 3
THREADS = 8
GET_COUNT = 100
POST_COUNT = 200
UPLOAD_COUNT = 300


def _contenders(base_url: str, auth: tuple[str, str], verify: Any) -> dict[str, Any]:
    """The three transports for one server, each as ``(get(path) -> bytes, post(path, bytes))`` plus closers."""
    context = verify if isinstance(verify, ssl.SSLContext) else None
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS, keepalive_expiry=0.5)
    tuned = httpx.Client(base_url=base_url, auth=auth, verify=verify, limits=limits, timeout=600,
                         headers={"Accept-Encoding": "identity"})
    pool = httpcore.ConnectionPool(ssl_context=context, max_connections=THREADS, keepalive_expiry=0.5)
    authorized = next(httpx.BasicAuth(*auth).sync_auth_flow(tuned.build_request("GET", "/")))
    core_headers = [(k.encode(), v.encode()) for k, v in authorized.headers.items() if k.lower() != "host"]
    origin = direct_origin(tuned, owns_transport=True, verify=verify, max_connections=THREADS)
    assert origin is not None
    prefix = base_url.rstrip("/") + "/"

    def httpx_get(path: str) -> bytes:
        answer = tuned.get(path)
        answer.raise_for_status()
        return answer.content

    def httpx_post(path: str, data: bytes) -> None:
        tuned.post(path, content=data).raise_for_status()

    def core_get(path: str) -> bytes:
        answer = pool.request("GET", prefix + path, headers=core_headers)
        assert answer.status == 200
        return answer.content

    def core_post(path: str, data: bytes) -> None:
        answer = pool.request("POST", prefix + path, headers=core_headers, content=data)
        assert answer.status == 200, answer.status

    def direct_get(path: str) -> bytes:
        with origin.connect() as connection:
            body = connection.get(path)
            buffer = bytearray(body.length)
            body.readinto(memoryview(buffer))
            return bytes(buffer)

    def direct_post(path: str, data: bytes) -> None:
        status, _, _ = post(origin, path, data, len(data), idempotent=True)
        assert status == 200, status

    def close() -> None:
        tuned.close()
        pool.close()
        origin.close()

    return {
        "httpx": (httpx_get, httpx_post),
        "httpcore": (core_get, core_post),
        "fast path": (direct_get, direct_post),
        "close": close,
    }


def _threaded(fn: Callable[[Any], Any], items: list[Any]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fn, items))


def _empty(http: httpx.Client) -> None:
    for patient in http.get("/patients").json():
        http.delete(f"/patients/{patient}")


def _transport_rows(label: str, contenders: dict[str, Any], ids: list[str], posts: list[bytes],
                    http: httpx.Client) -> list[dict[str, Any]]:
    names = ["httpx", "httpcore", "fast path"]
    gets = best_in_turns(REPEAT, {n: lambda n=n: _threaded(lambda i: contenders[n][0](f"instances/{i}/file"), ids)
                                  for n in names})
    sends = best_in_turns(
        REPEAT,
        {n: lambda n=n: _threaded(lambda data: contenders[n][1]("instances", data), posts) for n in names},
        before=lambda: [http.delete(f"/instances/{i}") for i in http.get("/instances").json() if i not in ids],
    )
    return [
        row(f"GET {len(ids)} x 526 KB, {THREADS} threads, {label}: fast path vs httpx tuned", gets["fast path"],
            gets["httpx"], note=f"httpcore pool {gets['httpcore']:.3f} s"),
        row(f"POST {len(posts)} x 100 KB, {THREADS} threads, {label}: fast path vs httpx tuned", sends["fast path"],
            sends["httpx"], note=f"httpcore pool {sends['httpcore']:.3f} s"),
    ]


def run(server_url: str, username: str, password: str) -> list[dict[str, Any]]:
    import numpy as np
    import pydicom

    rows: list[dict[str, Any]] = []
    auth = (username, password)
    work = Path(tempfile.mkdtemp(prefix="bench-transport-"))
    http = httpx.Client(base_url=server_url, auth=auth, timeout=600)
    try:
        _empty(http)
        big = make_series(GET_COUNT, rows=512, columns=512, patient_id="BENCHGET")
        for ds in big.datasets:
            http.post("/instances", content=to_bytes(ds)).raise_for_status()
        ids = http.get("/instances").json()
        (series_id,) = http.get("/series").json()
        posts = [to_bytes(ds) for ds in make_series(POST_COUNT, rows=224, columns=224, patient_id="BENCHPOST").datasets]
        upload_folder = work / "upload"
        upload_folder.mkdir()
        for i, ds in enumerate(make_series(UPLOAD_COUNT, rows=224, columns=224, patient_id="BENCHUP").datasets):
            write(ds, upload_folder / f"IM{i:05d}.dcm")

        plain = _contenders(server_url, auth, True)
        try:
            rows += _transport_rows("plain HTTP", plain, ids, posts, http)
        finally:
            plain["close"]()

        with NginxProxy(server_url, tls=True, path_prefix="/orthanc/", worker_processes=1) as proxy:
            context = ssl.create_default_context(cafile=str(proxy.ca_file))
            tls = _contenders(proxy.url, auth, context)
            try:
                rows += _transport_rows("TLS via nginx", tls, ids, posts, http)
            finally:
                tls["close"]()
            rows += _tls_feature_rows(proxy, auth, context, series_id, upload_folder, work, http, np, pydicom)
        # The same upload through nginx set up for DICOM uploads: bodies kept in memory, not in temporary files
        # (docs/performance.md, "Behind a reverse proxy"); both contenders use this proxy.
        with NginxProxy(server_url, tls=True, path_prefix="/orthanc/", worker_processes=1,
                        client_body_buffer_size="1m") as proxy:
            context = ssl.create_default_context(cafile=str(proxy.ca_file))
            rows += _tls_upload_rows(proxy, auth, context, upload_folder, http,
                                     label="TLS via nginx, client_body_buffer_size 1m")
    finally:
        http.close()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _tls_feature_rows(proxy: NginxProxy, auth: tuple[str, str], context: ssl.SSLContext, series_id: str,
                      upload_folder: Path, work: Path, http: httpx.Client, np: Any, pydicom: Any) -> list[dict[str, Any]]:
    rows = _tls_upload_rows(proxy, auth, context, upload_folder, http, label="TLS via nginx")
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS, keepalive_expiry=0.5)
    plain = httpx.Client(base_url=proxy.url, auth=auth, verify=context, limits=limits, timeout=600)
    # httpx asks for gzip by default, and Orthanc then compresses each file (50 ms for 526 KB): the rows
    # compare with httpx as written, and note httpx asking for identity as well.
    identity = httpx.Client(base_url=proxy.url, auth=auth, verify=context, limits=limits, timeout=600,
                            headers={"Accept-Encoding": "identity"})
    client = Orthanc(proxy.url, *auth, verify=context)
    try:
        out_ours, out_httpx = work / "down-ours", work / "down-httpx"

        def httpx_download(plain: httpx.Client) -> None:
            shutil.rmtree(out_httpx, ignore_errors=True)
            out_httpx.mkdir()
            instances = plain.get(f"/series/{series_id}/instances").json()

            def fetch(instance: dict[str, Any]) -> None:
                answer = plain.get(f"/instances/{instance['ID']}/file")
                answer.raise_for_status()
                (out_httpx / f"{instance['ID']}.dcm").write_bytes(answer.content)

            _threaded(fetch, instances)

        def ours_download() -> None:
            assert download(client, series_id, out_ours, level="series", progress=False).ok

        def clear() -> None:
            shutil.rmtree(out_ours, ignore_errors=True)
            shutil.rmtree(out_httpx, ignore_errors=True)

        timings = best_in_turns(REPEAT, {"httpx-8": lambda: httpx_download(plain),
                                         "httpx-8 identity": lambda: httpx_download(identity),
                                         "ours": ours_download}, before=clear)
        rows.append(row(f"TLS via nginx: download {GET_COUNT} x 526 KB to a folder vs httpx {THREADS} threads",
                        timings["ours"], timings["httpx-8"],
                        note=f"target ratio <= 0.5; httpx asking identity {timings['httpx-8 identity']:.3f} s"))

        def httpx_numpy(plain: httpx.Client) -> Any:
            instances = plain.get(f"/series/{series_id}/instances").json()

            def pixels(instance: dict[str, Any]) -> tuple[int, Any]:
                data = plain.get(f"/instances/{instance['ID']}/file").content
                dataset = pydicom.dcmread(BytesIO(data))
                return int(dataset.InstanceNumber), dataset.pixel_array

            with ThreadPoolExecutor(THREADS) as pool:
                slices = sorted(pool.map(pixels, instances), key=lambda pair: pair[0])
            return np.stack([array for _, array in slices])

        def ours_numpy() -> Any:
            return Series(series_id, client).to_numpy()

        timings = best_in_turns(REPEAT, {"httpx-8": lambda: httpx_numpy(plain),
                                         "httpx-8 identity": lambda: httpx_numpy(identity), "ours": ours_numpy})
        rows.append(row(f"TLS via nginx: {GET_COUNT}x512x512 series to numpy vs httpx {THREADS} threads + pydicom",
                        timings["ours"], timings["httpx-8"],
                        note=f"target ratio <= 0.5; httpx asking identity {timings['httpx-8 identity']:.3f} s"))
    finally:
        plain.close()
        identity.close()
        client.close()
    return rows


def _tls_upload_rows(proxy: NginxProxy, auth: tuple[str, str], context: ssl.SSLContext, upload_folder: Path,
                     http: httpx.Client, *, label: str) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS, keepalive_expiry=0.5)
    plain = httpx.Client(base_url=proxy.url, auth=auth, verify=context, limits=limits, timeout=600)
    client = Orthanc(proxy.url, *auth, verify=context)
    files = sorted(upload_folder.iterdir())
    try:
        def httpx_upload() -> None:
            _threaded(lambda path: plain.post("/instances", content=path.read_bytes()).raise_for_status(), files)

        def ours_upload() -> None:
            assert upload(client, upload_folder, progress=False).ok

        def reset() -> None:
            for patient in http.get("/patients").json():
                if http.get(f"/patients/{patient}").json()["MainDicomTags"]["PatientID"] == "BENCHUP":
                    http.delete(f"/patients/{patient}")

        timings = best_in_turns(REPEAT, {"httpx-8": httpx_upload, "ours": ours_upload}, before=reset)
        reset()
        with LoggedRequestCounter() as counter:
            ours_upload()
        return [row(f"{label}: upload {UPLOAD_COUNT} x 100 KB vs httpx {THREADS} threads",
                    timings["ours"], timings["httpx-8"], ours_requests=counter.count, peer_requests=len(files),
                    note="target ratio <= 0.8; ours packs small files into ZIPs")]
    finally:
        plain.close()
        client.close()


def main() -> None:
    from orthanc_client.testing import OrthancServer

    version = sys.argv[1] if len(sys.argv) > 1 else None
    with OrthancServer(version, name="bench-transport") as server:
        for line in run(server.url, server.username, server.password):
            print(line)


if __name__ == "__main__":
    main()
