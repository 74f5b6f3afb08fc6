"""Start a throw-away Orthanc cluster: a private PostgreSQL and N Orthanc nodes sharing its index and one storage.

This is how Orthanc scales out: every node is an ordinary Orthanc whose index lives in one PostgreSQL database
(the ``orthanc-postgresql`` plugin) and whose files live in one shared folder. Any node can read what another
stored; jobs, C-FIND query answers and configuration stay local to the node that has them.

Example::

    from orthanc_client import Orthanc, upload
    from orthanc_client.testing.cluster import OrthancCluster

    series.download_files("scans")              # some DICOM files
    with OrthancCluster("1.12", nodes=2) as cluster, Orthanc(cluster.urls, *cluster.auth) as client:
        upload(client, "scans/")                # spread over both nodes
        cluster.kill(1)                         # SIGKILL one node; the client carries on with the other
        print(len(client.get_instances()))      # 20: the nodes share one database

PostgreSQL runs from Debian's binaries (``/usr/lib/postgresql/<major>/bin``) on a free loopback port with its
own data directory, never the system service. PostgreSQL refuses to run as root, so when we are root it runs
as ``nobody`` (a data directory we hand over to it).
"""

from __future__ import annotations

import atexit
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from typing_extensions import Self

from .server import OrthancServer, _free_ports, _resolve_binary, stop_process

__all__ = ["LoadBalancer", "OrthancCluster", "PostgresServer", "find_postgres_bindir"]

_PG_START_TIMEOUT = 30.0
_UNPRIVILEGED_USER = "nobody"


def find_postgres_bindir() -> Path:
    """The newest installed PostgreSQL's ``bin`` directory (Debian's layout), or a clear ``RuntimeError``."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")]
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); run tools/install-orthanc.sh")
    return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _unprivileged_ids() -> tuple[int, int] | None:
    """``(uid, gid)`` to run PostgreSQL as when we are root, else ``None`` (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam(_UNPRIVILEGED_USER)
    return entry.pw_uid, entry.pw_gid


_LIVE_PG: set[PostgresServer] = set()


@atexit.register
def _stop_leftover_postgres() -> None:
    for server in list(_LIVE_PG):
        server.close()


class PostgresServer:
    """A private PostgreSQL on a free loopback port, with a temporary data directory; one database ``orthanc``.

    Example::

        with PostgresServer() as pg:
            print(pg.port, pg.orthanc_config()["Database"])
    """

    def __init__(self, *, database: str = "orthanc", username: str = "orthanc") -> None:
        self.bindir = find_postgres_bindir()
        self.database = database
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.port = _free_ports(1)[0]
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ids = _unprivileged_ids()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<PostgresServer 127.0.0.1:{self.port} db={self.database!r} {state}>"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _run_kwargs(self) -> dict[str, Any]:
        if self._ids is None:
            return {}
        uid, gid = self._ids
        return {"user": uid, "group": gid, "extra_groups": []}

    def _run(self, *argv: str) -> None:
        out = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=60, cwd="/", **self._run_kwargs(),
            env={**os.environ, "PGPASSWORD": self.password, "LC_ALL": "C"},
        )
        if out.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")

    def start(self) -> None:
        """initdb (first time), start ``postgres`` and create the database; waits until it accepts connections."""
        if self.is_running():
            return
        first = self.workdir is None
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-client-pg-"))
            if self._ids is not None:
                os.chown(self.workdir, *self._ids)
            password_file = self.workdir / "pwfile"
            password_file.write_text(self.password + "\n")
            if self._ids is not None:
                os.chown(password_file, *self._ids)
            password_file.chmod(0o600)
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.workdir / "data"), "-U", self.username,
                f"--pwfile={password_file}", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                "-E", "UTF8", "--no-sync",
            )
            password_file.unlink()
        command = [
            str(self.bindir / "postgres"), "-D", str(self.workdir / "data"), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.workdir}",
            "-c", "max_connections=300",
            # A test database: durability is not wanted, speed is.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]
        with open(self.workdir / "postgres.log", "ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd="/", **self._run_kwargs(),
            )
        _LIVE_PG.add(self)
        try:
            self._wait_until_ready()
            if first:
                self._run(
                    str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.username,
                    self.database,
                )
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _PG_START_TIMEOUT
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self!r} exited during start-up\n{self.log_tail()}")
            probe = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
            )
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self!r} did not accept connections within {_PG_START_TIMEOUT:.0f} s\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        if self.workdir is None or not (self.workdir / "postgres.log").is_file():
            return "(no log)"
        return "\n".join((self.workdir / "postgres.log").read_text(errors="replace").splitlines()[-lines:])

    def orthanc_config(self) -> dict[str, Any]:
        """The ``"PostgreSQL"`` section of an Orthanc node's configuration (index only, no locking)."""
        return {
            "EnableIndex": True,
            "EnableStorage": False,
            "Host": "127.0.0.1",
            "Port": self.port,
            "Database": self.database,
            "Username": self.username,
            "Password": self.password,
            # Several nodes write to one database: the plugin's exclusive lock (default before 5.0) would
            # stop every node but the first.
            "Lock": False,
            "EnableSsl": False,
        }

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT: abort sessions, no checkpoint wait); SIGKILL after ``timeout`` seconds."""
        process, self._process = self._process, None
        stop_process(process, signal.SIGINT, timeout, whole_group=True)

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        _LIVE_PG.discard(self)


_NGINX = "/usr/sbin/nginx"


class LoadBalancer:
    """nginx on a free loopback port, sending each request to the next of ``upstreams`` (round-robin), as a
    production load balancer in front of Orthanc nodes would. Started by ``OrthancCluster(balancer=True)``.

    Example::

        with LoadBalancer(["127.0.0.1:8042", "127.0.0.1:8043"]) as balancer:
            print(balancer.url)
    """

    def __init__(self, upstreams: list[str]) -> None:
        if not os.access(_NGINX, os.X_OK):
            raise RuntimeError(f"nginx is not installed ({_NGINX}); run tools/install-orthanc.sh")
        self.upstreams = list(upstreams)
        self.port = _free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<LoadBalancer {self.url} -> {self.upstreams}>"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-client-nginx-"))
        self.workdir.chmod(0o755)
        ids = _unprivileged_ids()
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.workdir / name).mkdir()
            if ids is not None:  # nginx's workers run as nobody when the master is root
                os.chown(self.workdir / name, *ids)
        servers = "".join(f"    server {upstream} max_fails=0;\n" for upstream in self.upstreams)
        temp = "".join(f"  {name}_temp_path {self.workdir / name};\n" for name in ("fastcgi", "uwsgi", "scgi"))
        (self.workdir / "nginx.conf").write_text(
            f"worker_processes 1;\npid {self.workdir / 'nginx.pid'};\nerror_log {self.workdir / 'error.log'};\n"
            "events { worker_connections 512; }\n"
            "http {\n  access_log off;\n  client_max_body_size 0;\n"
            f"  client_body_temp_path {self.workdir / 'body'};\n  proxy_temp_path {self.workdir / 'proxy'};\n{temp}"
            f"  upstream orthanc {{\n{servers}    keepalive 16;\n  }}\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    location / {{\n"
            "      proxy_pass http://orthanc;\n      proxy_http_version 1.1;\n"
            '      proxy_set_header Connection "";\n      proxy_request_buffering off;\n      proxy_buffering off;\n'
            "    }\n  }\n}\n"
        )
        self._process = subprocess.Popen(
            [_NGINX, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            if self._process.poll() is not None:
                log = (self.workdir / "error.log").read_text(errors="replace") if (self.workdir / "error.log").is_file() else ""
                raise RuntimeError(f"{self!r} exited during start-up\n{log}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{self!r} did not listen within 10 s")
            time.sleep(0.05)

    def close(self) -> None:
        process, self._process = self._process, None
        stop_process(process, signal.SIGKILL, 0, whole_group=True)  # master and workers: nothing to flush
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


class OrthancCluster:
    """N Orthanc nodes of one release sharing a private PostgreSQL index and one storage folder.

    Nodes share credentials (``auth``), and each has its own ``Name`` (``<name>-0``, ``<name>-1``...), ports and
    logs. Nodes start one after the other: the first creates the database schema.

    Example::

        with OrthancCluster("1.10", nodes=3) as cluster:
            print(cluster.urls)        # ['http://127.0.0.1:...', ...]
            cluster.kill(2)            # SIGKILL, as a crash would
            cluster.nodes[2].start()   # back, on the same port and storage

    :param version: full version or prefix, as for :class:`OrthancServer` (``None``: the host binary).
    :param nodes: how many Orthanc nodes (at least 1).
    :param extra_config: merged into every node's configuration.
    :param balancer: also start nginx in front of the nodes, round-robin (``cluster.balancer.url``).
    """

    def __init__(
        self,
        version: str | None = None,
        nodes: int = 2,
        *,
        name: str = "orthanc-node",
        username: str = "orthanc",
        password: str | None = None,
        extra_config: dict[str, Any] | None = None,
        plugins: tuple[str, ...] = (),
        balancer: bool = False,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, got {nodes}")
        self.binary = _resolve_binary(version)
        self.version = self.binary.version
        self.node_count = nodes
        self.name = name
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.extra_config = dict(extra_config or {})
        self.plugins = ("postgresql-index", *plugins)
        self.postgres = PostgresServer()
        self.nodes: list[OrthancServer] = []
        self.storage: Path | None = None
        self.balancer: LoadBalancer | None = None
        self._want_balancer = balancer

    def __repr__(self) -> str:
        return f"<OrthancCluster {self.version} nodes={self.node_count} running={sum(n.is_running() for n in self.nodes)}>"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def auth(self) -> tuple[str, str]:
        """``(username, password)``, the same on every node."""
        return (self.username, self.password)

    @property
    def urls(self) -> list[str]:
        """Every node's base URL, running or not, in node order."""
        return [node.url for node in self.nodes]

    def start(self) -> None:
        """Start PostgreSQL, then every node (one at a time)."""
        try:
            self.postgres.start()
            if self.storage is None:
                tmp = self.binary.root / "tmp"
                tmp.mkdir(parents=True, exist_ok=True)
                self.storage = Path(tempfile.mkdtemp(prefix="orthanc-client-cluster-storage-", dir=tmp))
            if not self.nodes:
                for index in range(self.node_count):
                    config = {
                        "PostgreSQL": self.postgres.orthanc_config(),
                        "StorageDirectory": self.binary.inside(self.storage),
                        **self.extra_config,
                    }
                    self.nodes.append(
                        OrthancServer(
                            self.version, name=f"{self.name}-{index}", username=self.username,
                            password=self.password, plugins=self.plugins, extra_config=config,
                        )
                    )
            for node in self.nodes:
                node.start()
            if self._want_balancer and self.balancer is None:
                self.balancer = LoadBalancer([f"127.0.0.1:{node.http_port}" for node in self.nodes])
                self.balancer.start()
        except BaseException:
            self.close()
            raise

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (no clean shutdown, as in a crash); ``nodes[index].start()`` brings it back."""
        self.nodes[index].stop(timeout=0)

    def clear(self) -> None:
        """Delete every patient (hence everything stored), through the first running node."""
        import httpx

        node = next(n for n in self.nodes if n.is_running())
        with httpx.Client(base_url=node.url, auth=self.auth, timeout=120) as client:
            for patient in client.get("/patients").raise_for_status().json():
                client.delete(f"/patients/{patient}").raise_for_status()

    def close(self) -> None:
        """Kill every node, stop PostgreSQL, delete the storage, the database and the logs."""
        if self.balancer is not None:
            self.balancer.close()
            self.balancer = None
        for node in self.nodes:
            node.close()
        self.postgres.close()
        if self.storage is not None:
            shutil.rmtree(self.storage, ignore_errors=True)
            self.storage = None

