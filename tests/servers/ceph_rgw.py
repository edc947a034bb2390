"""A throwaway single-node Ceph cluster with the RADOS Gateway (S3) on 127.0.0.1.

For tests only: one mon (msgr2), one memstore osd and one radosgw, every file
(config, mon store, logs, sockets) inside `workdir`, no cephx. All daemons run
in one process group, so `stop()` ends every one of them.

    with CephRgw(tmp_path) as endpoint:
        S3ObjectStore(endpoint).ensure_bucket()
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from storage.errors import StorageError
from storage.s3 import S3Endpoint, S3ObjectStore
from storage.seaweed import free_ports

HOST = "127.0.0.1"
BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
RGW_POOLS = (".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
             "default.rgw.buckets.index", "default.rgw.buckets.data",
             "default.rgw.buckets.non-ec")
STEP_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0
LOG_TAIL_LINES = 30


class CephStartError(RuntimeError):
    """The throwaway Ceph cluster did not come up; the message carries the log tail."""


def missing_binaries() -> list[str]:
    """The Ceph programs this launcher needs that are not on PATH."""
    return [b for b in BINARIES if shutil.which(b) is None]


class CephRgw:
    """Starts and stops mon + osd + radosgw on loopback with all state in `workdir`."""

    def __init__(self, workdir: Path, bucket: str = "vigil") -> None:
        self._dir = workdir
        self._bucket = bucket
        self._procs: list[subprocess.Popen[bytes]] = []
        self._pgid: int | None = None
        self._fsid = str(uuid.uuid4())
        self.endpoint: S3Endpoint | None = None

    def start(self) -> S3Endpoint:
        missing = missing_binaries()
        if missing:
            raise CephStartError(f"Ceph programs not installed: {', '.join(missing)}; "
                                 "run tests/servers/install_ceph.sh as root")
        mon_port, rgw_port = free_ports(2)
        try:
            self._write_config(mon_port, rgw_port)
            self._start_mon(mon_port)
            self._start_osd()
            self.endpoint = self._create_user(rgw_port)
            self._spawn("rgw", ["radosgw", "-f", "-n", "client.rgw"])
            self._wait_s3(self.endpoint)
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def stop(self) -> None:
        """SIGKILL the daemons' process group: the cluster is throwaway, nothing to flush."""
        procs, self._procs = self._procs, []
        pgid, self._pgid = self._pgid, None
        if pgid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for proc in procs:
            proc.wait()

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- steps ---------------------------------------------------------------

    @property
    def _conf(self) -> Path:
        return self._dir / "ceph.conf"

    def _write_config(self, mon_port: int, rgw_port: int) -> None:
        for sub in ("mon", "osd", "run", "log"):
            (self._dir / sub).mkdir(parents=True, exist_ok=True)
        self._conf.write_text(_config(self._dir, self._fsid, mon_port, rgw_port))

    def _start_mon(self, mon_port: int) -> None:
        monmap = self._dir / "monmap"
        self._run(["monmaptool", "--create", "--fsid", self._fsid,
                   "--addv", "a", f"[v2:{HOST}:{mon_port}]", "--clobber", str(monmap)])
        self._run(["ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap)])
        self._spawn("mon", ["ceph-mon", "-f", "-i", "a"])

    def _start_osd(self) -> None:
        osd_uuid = str(uuid.uuid4())
        self._run(["ceph-osd", "--mkfs", "-i", "0", "--osd-uuid", osd_uuid, "--no-mon-config"])
        commands = [f"osd new {osd_uuid} 0"]
        for pool in RGW_POOLS:
            commands += [f"osd pool create {pool} 8 8 replicated --size 1",
                         f"osd pool application enable {pool} rgw"]
        # One `ceph` process reading commands on stdin: much faster than one per command.
        self._run(["ceph"], stdin="\n".join(commands) + "\n")
        self._spawn("osd", ["ceph-osd", "-f", "-i", "0"])

    def _create_user(self, rgw_port: int) -> S3Endpoint:
        access = "vigil" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(30)
        self._run(["radosgw-admin", "-n", "client.rgw", "user", "create", "--uid", "vigil",
                   "--display-name", "Vigil tests", "--access-key", access, "--secret-key", secret])
        return S3Endpoint(f"{HOST}:{rgw_port}", access, secret, bucket=self._bucket)

    def _wait_s3(self, endpoint: S3Endpoint) -> None:
        store = S3ObjectStore(endpoint)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                store.ensure_bucket()
                return
            except StorageError:  # beast not listening yet, or rgw still initialising
                time.sleep(0.2)
        raise CephStartError(f"radosgw did not answer within {START_TIMEOUT_S:.0f} s\n"
                             + self._log_tail("rgw"))

    # -- processes -----------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        # The first daemon leads a new process group; the others join it (same session).
        with open(self._dir / "log" / f"{name}.out", "ab") as out:
            proc = subprocess.Popen([*args, "-c", str(self._conf)], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=_die_with_parent, process_group=self._pgid or 0)
        self._pgid = proc.pid if self._pgid is None else self._pgid
        self._procs.append(proc)

    def _run(self, args: list[str], stdin: str | None = None) -> None:
        """Run one setup command to completion, bounded; fail with its output and the logs."""
        self._check_alive()
        try:
            done = subprocess.run([*args, "-c", str(self._conf)], input=stdin, text=True,
                                  capture_output=True, timeout=STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise CephStartError(f"`{args[0]}` did not finish within {STEP_TIMEOUT_S:.0f} s\n"
                                 + self._log_tail("mon", "osd")) from exc
        if done.returncode != 0:
            raise CephStartError(f"`{' '.join(args[:3])}` exited {done.returncode}: "
                                 f"{done.stderr.strip()[-2000:]}\n" + self._log_tail("mon", "osd"))

    def _check_alive(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None:
                raise CephStartError(f"`{proc.args[0]}` exited with code {proc.returncode}\n"
                                     + self._log_tail("mon", "osd", "rgw"))

    def _log_tail(self, *names: str) -> str:
        parts = []
        for name in names:
            for path in sorted((self._dir / "log").glob(f"{name}*")):
                lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                parts.append(f"--- {path} ---\n" + "\n".join(lines))
        return "\n".join(parts)


def _config(workdir: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    return f"""\
[global]
fsid = {fsid}
mon_host = [v2:{HOST}:{mon_port}]
public_addr = {HOST}
cluster_addr = {HOST}
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = {workdir}/keyring
run_dir = {workdir}/run
admin_socket = {workdir}/run/$name.asok
pid_file = {workdir}/run/$name.pid
log_file = {workdir}/log/$name.log
log_to_stderr = false
err_to_stderr = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[mon]
mon_data = {workdir}/mon
paxos_propose_interval = 0.1

[osd]
osd_data = {workdir}/osd
osd_objectstore = memstore
memstore_device_bytes = 2147483648

[client]
ms_mon_client_mode = crc
# A client that finds the osd still booting asks for a newer osdmap on this tick
# (default 5 s): the first radosgw-admin call would sit out most of it.
objecter_tick_interval = 0.5

[client.rgw]
rgw_frontends = beast endpoint={HOST}:{rgw_port}
rgw_thread_pool_size = 32
rgw_init_timeout = 60
rgw_enable_usage_log = false
"""


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, even by SIGKILL (Linux prctl).

    SIGKILL, not SIGTERM: an osd whose mon is gone can hang in its shutdown."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
