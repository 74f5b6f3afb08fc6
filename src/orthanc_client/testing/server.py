"""Start throw-away real Orthanc servers for tests.

The test suite runs against every Orthanc release that ``tools/install-orthanc.sh`` installed: the host's
Debian package and the other release inside a chroot. Each :class:`OrthancServer` gets its own free
loopback ports, its own temporary storage, authentication switched on, and is killed at interpreter exit
if a test forgot to stop it, so parallel or crashed test runs never collide or leak processes.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from typing_extensions import Self  # typing.Self is 3.11+; pydantic depends on typing_extensions

from .._core.operation import parse_version

__all__ = [
    "DEFAULT_CHROOT_BASE",
    "HOST_BINARY",
    "OrthancBinary",
    "OrthancServer",
    "find_orthanc_binaries",
    "version_tuple",
]

HOST_BINARY = "/usr/sbin/Orthanc"
DEFAULT_CHROOT_BASE = "/var/cache/orthanc-client/chroots"
_READY_MARKER = ".orthanc-client-ready"
# Debian's plugin packages put each plugin here, on the host and in the chroot alike.
PLUGIN_DIRECTORY = "/usr/share/orthanc/plugins"
PLUGIN_FILES = {
    "dicomweb": "libOrthancDicomWeb.so",
    "postgresql-index": "libOrthancPostgreSQLIndex.so",
    "postgresql-storage": "libOrthancPostgreSQLStorage.so",
}
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


# ``"1.12.7"`` -> ``(1, 12, 7)``: the client's own version parsing, named for test code.
version_tuple = parse_version


@dataclass(frozen=True)
class OrthancBinary:
    """One installed Orthanc executable.

    ``root`` is ``/`` for the host binary, else the chroot directory; every path Orthanc sees (config,
    storage, logs) must lie under ``root`` and is written as seen from inside. ``command`` is the argv
    prefix that runs the executable (``("chroot", root, "/usr/sbin/Orthanc")`` for a chroot).
    """

    version: str
    root: Path
    command: tuple[str, ...]

    @property
    def is_chroot(self) -> bool:
        return self.root != Path("/")

    def inside(self, host_path: Path) -> str:
        """The path Orthanc sees for ``host_path`` (which must lie under :attr:`root`)."""
        return "/" + str(host_path.relative_to(self.root))

    @functools.cached_property
    def default_config_keys(self) -> frozenset[str]:
        """Top-level option names this release knows (from ``--config=-``), to skip options it lacks."""
        out = subprocess.run(
            [*self.command, "--config=-"], check=False, capture_output=True, text=True, timeout=30
        )
        return frozenset(re.findall(r'^\s*"(\w+)"\s*:', out.stdout, flags=re.MULTILINE))


def _probe(command: tuple[str, ...], root: Path) -> OrthancBinary | None:
    try:
        out = subprocess.run([*command, "--version"], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Orthanc\s+(\d+(?:\.\d+)+)", out.stdout.splitlines()[0] if out.stdout else "")
    if out.returncode != 0 or match is None:
        return None
    return OrthancBinary(version=match.group(1), root=root, command=command)


@functools.lru_cache(maxsize=1)
def _find_orthanc_binaries() -> tuple[OrthancBinary, ...]:
    found: list[OrthancBinary] = []
    if os.access(HOST_BINARY, os.X_OK):
        host = _probe((HOST_BINARY,), Path("/"))
        if host is not None:
            found.append(host)
    base = Path(os.environ.get("ORTHANC_CHROOT_BASE", DEFAULT_CHROOT_BASE))
    if base.is_dir():
        for root in sorted(p for p in base.iterdir() if (p / _READY_MARKER).is_file()):
            # `chroot` needs root privileges; without them the probe fails and the chroot is skipped.
            binary = _probe(("chroot", str(root), HOST_BINARY), root)
            if binary is not None:
                found.append(binary)
    return tuple(found)


def find_orthanc_binaries() -> dict[str, OrthancBinary]:
    """Installed Orthanc binaries keyed by full version (``"1.10.1"``), oldest version first.

    Discovery runs ``--version`` once per binary and is cached for the process. If two binaries report the
    same version, the host one wins (it needs no chroot).
    """
    result: dict[str, OrthancBinary] = {}
    for binary in _find_orthanc_binaries():
        result.setdefault(binary.version, binary)
    return dict(sorted(result.items(), key=lambda item: version_tuple(item[0])))


def _resolve_binary(version: str | None) -> OrthancBinary:
    binaries = find_orthanc_binaries()
    installed = ", ".join(binaries) or "none"
    if version is None:
        host = next((b for b in binaries.values() if not b.is_chroot), None)
        if host is None:
            raise RuntimeError(f"no host Orthanc binary at {HOST_BINARY} (installed versions: {installed})")
        return host
    # "1.12" matches "1.12.7" but not "1.120.0"; the newest match wins.
    matches = [v for v in binaries if v == version or v.startswith(version + ".")]
    if not matches:
        raise RuntimeError(
            f"Orthanc {version} is not installed (installed versions: {installed}); "
            "run tools/install-orthanc.sh"
        )
    return binaries[max(matches, key=version_tuple)]


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out for port 0; all sockets stay open until the end so they differ.

    Bound on all interfaces, as Orthanc's DICOM server binds there; a tiny race remains until Orthanc
    binds them itself, which start-up detects (Orthanc exits) rather than hangs on.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _default_aet(name: str) -> str:
    return re.sub(r"[^A-Z0-9_-]", "_", name.upper())[:16] or "ORTHANC"


_LIVE: set[OrthancServer] = set()


def stop_process(
    process: subprocess.Popen[Any] | None, stop_signal: int, timeout: float, *, whole_group: bool = False
) -> None:
    """Ends a server we started: ``stop_signal``, then SIGKILL if it has not exited after ``timeout`` seconds
    (``timeout=0``: SIGKILL at once). ``whole_group`` kills its process group (a master and its workers, started
    with ``start_new_session``). Nothing happens to a process that has already exited."""
    if process is None or process.poll() is not None:
        return
    if timeout > 0:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    if whole_group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()
    process.wait()


@atexit.register
def _cleanup_at_exit() -> None:
    """Kill servers a test never closed, so a crashed or interrupted run leaks no Orthanc processes."""
    for server in list(_LIVE):
        server.close()


class OrthancServer:
    """A real Orthanc process on free loopback ports with private, temporary storage.

    Use it as a context manager (``with OrthancServer("1.12") as srv: ...``) or call :meth:`start` and
    :meth:`close`. The ports are chosen when the object is created, so configurations that reference each
    other (``DicomModalities``, ``OrthancPeers``) can be built before either server starts; they stay the
    same across :meth:`restart`.

    :param version: full version (``"1.12.7"``) or prefix (``"1.12"``); ``None`` means the host binary.
    :param name: Orthanc's ``Name``; the default AE title is derived from it.
    :param aet: ``DicomAet`` (1 to 16 characters).
    :param extra_config: merged last, at top level, over the generated configuration.
    :param password: generated when not given; never shown by ``repr``.
    :param plugins: plugins to load, by name (a key of ``PLUGIN_FILES``: ``"dicomweb"``,
        ``"postgresql-index"``, ``"postgresql-storage"``); their settings go in ``extra_config``.
    """

    def __init__(
        self,
        version: str | None = None,
        *,
        name: str = "orthanc-test",
        aet: str | None = None,
        extra_config: dict[str, Any] | None = None,
        username: str = "orthanc",
        password: str | None = None,
        plugins: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.binary = _resolve_binary(version)
        self.plugins = tuple(plugins)
        self._plugin_paths = [self._plugin_path(plugin) for plugin in self.plugins]
        self.version = self.binary.version
        self.name = name
        self.aet = _default_aet(name) if aet is None else aet
        if not 1 <= len(self.aet) <= 16 or re.search(r"[\\\x00-\x1f]", self.aet):
            raise ValueError(f"invalid DICOM AE title {self.aet!r}: 1 to 16 characters, no backslash")
        self.extra_config = dict(extra_config or {})
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.http_port, self.dicom_port = _free_ports(2)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.workdir: Path | None = None  # host-side path of the temporary directory, once started
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<OrthancServer {self.version} {self.url} aet={self.aet!r} user={self.username!r} {state}>"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def auth(self) -> tuple[str, str]:
        """``(username, password)``, as ``httpx`` takes it."""
        return (self.username, self.password)

    @property
    def log_path(self) -> Path | None:
        return None if self.workdir is None else self.workdir / "orthanc.log"

    def config(self) -> dict[str, Any]:
        """The configuration written for Orthanc (the temporary directory must exist)."""
        assert self.workdir is not None
        storage = self.binary.inside(self.workdir / "storage")
        config: dict[str, Any] = {
            "Name": self.name,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            # Test defaults: quick stability, no persisted or throttled jobs, no result limits.
            "StableAge": 2,
            "SaveJobs": False,
            "ConcurrentJobs": 2,
            "JobsHistorySize": 100,
            "HttpThreadsCount": 50,
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "DicomScpTimeout": 10,
            "DicomAssociationCloseDelay": 0,
            "OverwriteInstances": False,
            "StorageCompression": False,
            "ExecuteLuaEnabled": False,
            "DeidentifyLogs": False,
            "Plugins": list(self._plugin_paths),
        }
        known = self.binary.default_config_keys
        if known and "DicomAssociationCloseDelay" not in known:
            del config["DicomAssociationCloseDelay"]
        config.update(self.extra_config)
        return config

    def _plugin_path(self, plugin: str) -> str:
        """The plugin's path as Orthanc sees it; refuses a name we do not know or a package not installed."""
        if plugin not in PLUGIN_FILES:
            raise ValueError(f"unknown Orthanc plugin {plugin!r}; known: {', '.join(sorted(PLUGIN_FILES))}")
        inside = f"{PLUGIN_DIRECTORY}/{PLUGIN_FILES[plugin]}"
        if not (self.binary.root / inside.lstrip("/")).exists():
            raise RuntimeError(
                f"the {plugin} plugin is not installed for Orthanc {self.version} ({inside} under "
                f"{self.binary.root}); run tools/install-orthanc.sh"
            )
        return inside

    @property
    def pid(self) -> int | None:
        """The process id of the running Orthanc (with a chroot, ``chroot`` execs Orthanc: same pid)."""
        return self._process.pid if self.is_running() and self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Orthanc and wait until ``GET /system`` answers with our credentials (at most 30 s)."""
        if self.is_running():
            return
        if self.workdir is None:
            tmp = self.binary.root / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-client-", dir=tmp))
            (self.workdir / "storage").mkdir()
        config_path = self.workdir / "orthanc.json"
        config_path.write_text(json.dumps(self.config(), indent=2))
        config_path.chmod(0o600)  # it holds the password
        assert self.log_path is not None
        command = [
            *self.binary.command,
            f"--logfile={self.binary.inside(self.log_path)}",
            self.binary.inside(config_path),
        ]
        with open(self.workdir / "console.log", "ab") as console:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop(timeout=0)
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        with httpx.Client(auth=self.auth, timeout=2.0) as client:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    code = self._process.returncode
                    raise RuntimeError(
                        f"{self!r} exited during start-up (exit code {code})\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.url}/system").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self!r} did not answer within {_START_TIMEOUT:.0f} s\n{self.log_tail()}"
                    )
                time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Orthanc's log and of its console output, for error messages."""
        parts = []
        if self.workdir is not None:
            for path in (self.workdir / "console.log", self.workdir / "orthanc.log"):
                if path.is_file() and path.stat().st_size > 0:
                    tail = path.read_text(errors="replace").splitlines()[-lines:]
                    parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log)"

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """SIGTERM the process we started, SIGKILL it if it has not exited after ``timeout`` seconds.

        Keeps the storage, for :meth:`start` again. ``timeout=0`` kills at once.
        """
        process, self._process = self._process, None
        stop_process(process, signal.SIGTERM, timeout)

    def restart(self) -> None:
        """Stop and start again on the same ports and storage."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Kill the server and delete its temporary storage, configuration and logs.

        SIGKILL rather than :meth:`stop`: the storage is discarded anyway, and Orthanc's graceful
        shutdown takes about 3 s (its HTTP and DICOM servers poll for the stop flag).
        """
        self.stop(timeout=0)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        _LIVE.discard(self)
