"""Start a throw-away nginx reverse proxy in front of a server, with TLS and a path prefix, for tests and
benchmarks: Orthanc is mostly deployed this way (Debian's Orthanc builds do not serve HTTPS themselves).

Example::

    from orthanc_client import Orthanc
    from orthanc_client.testing import OrthancServer

    with OrthancServer() as orthanc, NginxProxy(orthanc.url, tls=True, path_prefix="/orthanc/") as proxy:
        with Orthanc(proxy.url, *orthanc.auth, verify=proxy.ca_file) as client:
            client.get_system()

Each proxy has its own temporary directory (configuration, certificates, pid file, error log, nginx's
temporary files), a free loopback port, and is stopped at interpreter exit if a test forgot to. Certificates
come from the ``openssl`` command line: a throw-away CA (``ca_file``) and a certificate for ``127.0.0.1`` and
``localhost`` signed by it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
from typing_extensions import Self

from .server import stop_process

__all__ = ["NGINX_BINARY", "NginxProxy", "make_certificates"]

NGINX_BINARY = "/usr/sbin/nginx"
_START_TIMEOUT = 15.0
_LIVE: set[NginxProxy] = set()


@atexit.register
def _stop_all() -> None:
    for proxy in list(_LIVE):
        proxy.close()


def make_certificates(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """``(ca_file, certificate, key)`` in ``directory``: a throw-away CA and a server certificate it signed,
    valid for ``host``, ``127.0.0.1`` and ``localhost`` (two days). Needs the ``openssl`` command."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_file = directory / "ca.key", directory / "ca.pem"
    key, request, certificate = directory / "server.key", directory / "server.csr", directory / "server.pem"
    extensions = directory / "server.ext"
    names = {f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}", "IP:127.0.0.1", "DNS:localhost"}
    extensions.write_text(
        f"subjectAltName={','.join(sorted(names))}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_file, "-days", "2",
         "-subj", "/CN=orthanc-client test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", *ec, "-keyout", key, "-out", request, "-subj", f"/CN={host}"],
        ["openssl", "x509", "-req", "-in", request, "-CA", ca_file, "-CAkey", ca_key, "-CAcreateserial",
         "-out", certificate, "-days", "2", "-extfile", extensions],
    ]
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True)
    return ca_file, certificate, key


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


class NginxProxy:
    """An nginx reverse proxy on a free loopback port, passing ``path_prefix`` to ``upstream_url``.

    :param upstream_url: the server behind it, e.g. an ``OrthancServer``'s ``url``.
    :param tls: serve HTTPS with a certificate signed by a throw-away CA (``ca_file``: give it as ``verify``).
    :param path_prefix: where the upstream appears (``"/orthanc/"``: ``https://127.0.0.1:port/orthanc/``).
    :param request_buffering: nginx reads a whole request body before passing it on (its default), or
        streams it.
    :param max_body_size: ``client_max_body_size`` (``"0"``: no limit): beyond it nginx answers ``413``.
    :param worker_processes: nginx workers.
    :param client_body_buffer_size: nginx's ``client_body_buffer_size`` (``None``: nginx's default, 16 KB):
        with request buffering, a body larger than this goes through a temporary file (``"1m"`` keeps
        typical DICOM uploads in memory, as a deployment receiving them would set it).
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        tls: bool = True,
        path_prefix: str = "/orthanc/",
        request_buffering: bool = True,
        max_body_size: str = "0",
        worker_processes: int = 1,
        client_body_buffer_size: str | None = None,
    ) -> None:
        if not path_prefix.startswith("/") or not path_prefix.endswith("/"):
            raise ValueError(f"path_prefix must start and end with '/', not {path_prefix!r}")
        self.upstream = httpx.URL(upstream_url)
        self.tls = tls
        self.path_prefix = path_prefix
        self.request_buffering = request_buffering
        self.max_body_size = max_body_size
        self.worker_processes = worker_processes
        if client_body_buffer_size is not None and not client_body_buffer_size.rstrip("kKmM").isdigit():
            raise ValueError(f"client_body_buffer_size must be like '16k' or '1m', not {client_body_buffer_size!r}")
        self.client_body_buffer_size = client_body_buffer_size
        self.port = 0
        self.workdir: Path | None = None
        self.ca_file: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxied upstream's URL, e.g. ``https://127.0.0.1:40123/orthanc`` (no trailing slash)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.path_prefix.rstrip('/')}"

    def __repr__(self) -> str:
        return f"<NginxProxy {self.url} -> {self.upstream} buffering={self.request_buffering}>"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def error_log(self) -> Path | None:
        return None if self.workdir is None else self.workdir / "error.log"

    def _config(self) -> str:
        assert self.workdir is not None
        work = self.workdir
        upstream_host = self.upstream.host
        upstream_port = self.upstream.port or 80
        listen = f"127.0.0.1:{self.port}" + (" ssl" if self.tls else "")
        tls = (
            f"ssl_certificate {work / 'server.pem'};\n        ssl_certificate_key {work / 'server.key'};\n"
            "        ssl_session_cache shared:tls:1m;"
            if self.tls
            else ""
        )
        user = "user root root;" if os.geteuid() == 0 else ""  # workers must read the files written here
        upstream_path = self.upstream.raw_path.decode("ascii").rstrip("/") + "/"
        return f"""
daemon off;
{user}
worker_processes {self.worker_processes};
pid {work / 'nginx.pid'};
error_log {work / 'error.log'} warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {work / 'client_body'};
    proxy_temp_path {work / 'proxy'};
    fastcgi_temp_path {work / 'fastcgi'};
    uwsgi_temp_path {work / 'uwsgi'};
    scgi_temp_path {work / 'scgi'};
    client_max_body_size {self.max_body_size};
    {f"client_body_buffer_size {self.client_body_buffer_size};" if self.client_body_buffer_size else ""}
    upstream backend {{
        server {upstream_host}:{upstream_port};
        keepalive 32;
        keepalive_timeout 500ms;  # Orthanc closes idle connections after 1 s
    }}
    server {{
        listen {listen};
        {tls}
        location {self.path_prefix} {{
            proxy_pass http://backend{upstream_path};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering {'on' if self.request_buffering else 'off'};
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Writes the configuration (and certificates), starts nginx and waits until its port answers."""
        if self.is_running():
            return
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-client-nginx-"))
            if self.tls:
                self.ca_file, _, _ = make_certificates(self.workdir)
        last_error = ""
        for _ in range(3):  # a free port can be taken between the probe and nginx's bind: try another
            self.port = _free_port()
            config = self.workdir / "nginx.conf"
            config.write_text(self._config())
            with open(self.workdir / "console.log", "ab") as console:
                self._process = subprocess.Popen(
                    [NGINX_BINARY, "-p", str(self.workdir), "-c", str(config), "-e", str(self.error_log)],
                    stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
                )
            _LIVE.add(self)
            if self._wait_until_listening():
                return
            last_error = self.log_tail()
            self.stop()
        raise RuntimeError(f"nginx did not start\n{last_error}")

    def _wait_until_listening(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        if self.workdir is not None:
            for path in (self.workdir / "console.log", self.workdir / "error.log"):
                if path.is_file():
                    parts.append(f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts) or "(no log)"

    def stop(self, timeout: float = 5.0) -> None:
        """Stops nginx (SIGTERM, then SIGKILL after ``timeout`` s); keeps its directory for ``start``."""
        process, self._process = self._process, None
        stop_process(process, signal.SIGTERM, timeout, whole_group=True)  # its own session: master and workers

    def close(self) -> None:
        """Stops nginx and deletes its directory."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        _LIVE.discard(self)
