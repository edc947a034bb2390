"""`vigil doctor`: what a Vigil node exposes, one verdict per line (OK, WARN, FAIL).

Checks the settings (gRPC and metrics bind addresses, TLS, S3 transport, bearer-token
authentication, Ray's mode and token), the data folder (modes of the folder, of its secret
files and of the embedded SeaweedFS data; the audit chain's anchor) and, when a server runs
on this data folder, the addresses its processes listen on (the server, SeaweedFS, and every
Ray process it started), read from /proc by `services.security.listeners`. Each check is a plain
function of its inputs; none needs a running server and none imports torch or ray, so the
command starts fast.

A FAIL is an exposure to fix now (plaintext off loopback, a secret others can read, a port
open to the network that should not be); a WARN is a weaker default or a step left to the
operator. `exit_code` is 1 when any line says FAIL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.security import ray_auth
from services.security.audit import ANCHOR_FILE, KEY_FILE
from services.security.listeners import (
    PROC,
    Listener,
    is_loopback,
    node_processes,
    process_argv,
    process_environ,
    process_listeners,
)
from services.settings import (
    AuthSettings,
    ClientSettings,
    ConsoleSettings,
    RaySettings,
    ServerSettings,
    Settings,
    StorageSettings,
)

SEAWEED_DIR = "s3"  # EmbeddedSeaweed's folder inside the data folder (services.node.app)
SECRET_FILES = ("admin-token", KEY_FILE, ANCHOR_FILE, ray_auth.TOKEN_FILE,
                f"{SEAWEED_DIR}/s3-credentials.json", "s3-credentials.json")
SHOWN = 6  # listeners or files named in one line before "and N more"


class Verdict(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, the verdict, what was seen, what to do."""
    check: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" → {self.fix}" if self.fix else ""
        return f"{self.verdict.value:<5} {self.check:<15} {self.detail}{fix}"


def _mode(path: Path) -> int:
    return path.lstat().st_mode & 0o777


# --- settings -------------------------------------------------------------------------------

def check_grpc(server: ServerSettings) -> Finding:
    where = f"{server.host}:{server.port}"
    if server.tls_cert_file is not None:
        mutual = ", client certificates required" if server.tls_client_ca_file else ""
        return Finding("grpc", Verdict.OK, f"TLS on {where}{mutual}")
    if is_loopback(server.host):
        return Finding("grpc", Verdict.OK, f"plaintext on {where}, loopback only")
    allowed = " (server.insecure_plaintext is set)" if server.insecure_plaintext else ""
    return Finding("grpc", Verdict.FAIL,
                   f"plaintext on {where}{allowed}: bearer tokens and footage cross the network unencrypted",
                   "set server.tls_cert_file and server.tls_key_file, or bind server.host to 127.0.0.1 "
                   "with the TLS-terminating proxy on this machine")


def check_auth(auth: AuthSettings, server: ServerSettings) -> Finding:
    if auth.enabled:
        return Finding("auth", Verdict.OK, "bearer tokens required on every RPC")
    if is_loopback(server.host):
        return Finding("auth", Verdict.WARN, "auth.enabled is off: every local user has full access",
                       "set auth.enabled to true")
    return Finding("auth", Verdict.FAIL, f"auth.enabled is off on {server.host}: anyone who reaches the "
                   "port has full access", "set auth.enabled to true")


def check_metrics(server: ServerSettings) -> Finding:
    if server.metrics_port is None:
        return Finding("metrics", Verdict.OK, "disabled")
    where = f"{server.metrics_host}:{server.metrics_port}"
    if is_loopback(server.metrics_host):
        return Finding("metrics", Verdict.OK, f"http://{where}/metrics, loopback only, bearer token "
                       "of role metrics or admin over every camera")
    return Finding("metrics", Verdict.WARN, f"/metrics on {where} over plain HTTP: the scrape's bearer "
                   "token crosses the network unencrypted",
                   "bind server.metrics_host to 127.0.0.1, or keep the port on a private network to the "
                   "Prometheus server")


def check_console(console: ConsoleSettings, server: ServerSettings) -> Finding:
    if not console.enabled:
        return Finding("console", Verdict.OK, "disabled")
    if server.tls_cert_file is not None:
        return Finding("console", Verdict.OK, f"HTTPS on {console.host}:{console.port}")
    if is_loopback(console.host):
        return Finding("console", Verdict.OK, f"http://{console.host}:{console.port}, loopback only")
    return Finding("console", Verdict.FAIL, f"plaintext HTTP on {console.host}:{console.port}: vigil serve "
                   "refuses to start so", "set server.tls_cert_file and server.tls_key_file (the console "
                   "reuses them), or bind console.host to 127.0.0.1")


def check_s3(storage: StorageSettings) -> Finding:
    if storage.endpoint is None:
        return Finding("s3", Verdict.OK, "embedded SeaweedFS, on 127.0.0.1 only")
    host = storage.endpoint.split("://")[-1].rsplit(":", 1)[0]
    if storage.secure:
        return Finding("s3", Verdict.OK, f"TLS to {storage.endpoint}")
    if is_loopback(host):
        return Finding("s3", Verdict.OK, f"plaintext to {storage.endpoint}, loopback only")
    return Finding("s3", Verdict.FAIL, f"plaintext to {storage.endpoint}: S3 request signatures and "
                   "footage cross the network unencrypted", "serve S3 over TLS and set storage.secure")


# --- the data folder ------------------------------------------------------------------------

def check_data_dir(data_dir: Path) -> Finding:
    if not data_dir.is_dir():
        return Finding("data folder", Verdict.WARN, f"{data_dir} does not exist yet",
                       "vigil serve creates it (mode 0700); or check data_dir")
    mode = _mode(data_dir)
    if mode & 0o077:
        return Finding("data folder", Verdict.FAIL, f"{data_dir} is mode {mode:04o}: other users can "
                       "read its tokens, keys and footage", f"chmod 700 {data_dir}")
    return Finding("data folder", Verdict.OK, f"{data_dir} is mode {mode:04o}")


def check_secret_files(data_dir: Path, server: ServerSettings, client: ClientSettings) -> list[Finding]:
    """One FAIL per secret file others may read; one OK line naming the private ones."""
    paths = [data_dir / name for name in SECRET_FILES]
    paths += [p for p in (server.tls_key_file, client.tls_key_file) if p is not None]
    present = [p for p in paths if p.is_file()]
    loose = [p for p in present if _mode(p) & 0o077]
    findings = [Finding("secret file", Verdict.FAIL, f"{p} is mode {_mode(p):04o}: other users can read it",
                        f"chmod 600 {p}") for p in loose]
    if not loose:
        names = ", ".join(p.name for p in present) or "none yet"
        findings.append(Finding("secret files", Verdict.OK, f"mode 0600: {names}"))
    return findings


def check_seaweed_data(data_dir: Path, storage: StorageSettings) -> Finding:
    """Files and folders of the embedded S3 server that other users can reach and open.

    An entry with an open mode behind a shut folder of its own is out of reach (weed keeps its
    `.vif` volume-info files 0644 in 0700 folders); one shut only by the data folder's mode
    is a WARN; one nothing shuts is a FAIL.
    """
    if storage.endpoint is not None:
        return Finding("seaweedfs data", Verdict.OK, "not used (external S3)")
    folder = data_dir / SEAWEED_DIR
    if not folder.is_dir():
        return Finding("seaweedfs data", Verdict.OK, "nothing stored yet")
    reachable, shut, total = _open_entries(folder)
    fix = f"chmod -R go-rwx {folder}"
    if reachable and data_dir.is_dir() and not _mode(data_dir) & 0o011:
        return Finding("seaweedfs data", Verdict.WARN, "open to others, shut only by the data folder's "
                       f"mode: {_files(reachable)}", fix)
    if reachable:
        return Finding("seaweedfs data", Verdict.FAIL, f"other users can read footage: {_files(reachable)}",
                       fix)
    behind = f" ({len(shut)} with open modes inside private folders)" if shut else ""
    return Finding("seaweedfs data", Verdict.OK, f"{total} files, none within others' reach{behind}")


def _open_entries(folder: Path) -> tuple[list[Path], list[Path], int]:
    """(files below `folder` others can reach and open, open files inside a shut folder, files).

    Folders count only as gates: others pass one when it grants them execute permission.
    """
    reachable: list[Path] = []
    shut: list[Path] = []
    passable = {folder: bool(_mode(folder) & 0o011)}
    total = 0
    for root, dirs, files in os.walk(folder):
        here = passable[Path(root)]
        for name in dirs:
            passable[Path(root) / name] = here and bool(_mode(Path(root) / name) & 0o011)
        for name in files:
            path, total = Path(root) / name, total + 1
            if _mode(path) & 0o077:
                (reachable if here else shut).append(path)
    return reachable, shut, total


def _files(paths: Sequence[Path]) -> str:
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return ", ".join(f"{p} ({_mode(p):04o})" for p in paths[:SHOWN]) + more


def check_ray(ray: RaySettings, data_dir: Path, env: Mapping[str, str], home: Path) -> Finding:
    if ray.address is None:
        token = data_dir / ray_auth.TOKEN_FILE
        what = "local cluster on 127.0.0.1 only, token authentication"
        if not token.is_file():
            return Finding("ray", Verdict.OK, f"{what}; vigil serve writes its token to {token} (0600)")
        if _mode(token) & 0o077:
            return Finding("ray", Verdict.FAIL, f"{what}, but {token} is mode {_mode(token):04o}",
                           f"chmod 600 {token}")
        return Finding("ray", Verdict.OK, f"{what}, token in {token} (0600)")
    return _check_ray_cluster(ray.address, data_dir, env, home)


def _check_ray_cluster(address: str, data_dir: Path, env: Mapping[str, str], home: Path) -> Finding:
    what = f"cluster at {address}"
    mode = env.get(ray_auth.AUTH_MODE_VAR)
    if mode is not None and mode.lower() != "token":
        return Finding("ray", Verdict.FAIL, f"{what} with {ray_auth.AUTH_MODE_VAR}={mode}: anyone who "
                       "reaches its ports can run code in it",
                       f"run every node with {ray_auth.AUTH_MODE_VAR}=token and one token (README, Security)")
    source = ray_auth.cluster_token(env, data_dir, home)
    if source is None:
        return Finding("ray", Verdict.FAIL, f"{what}: no auth token found", f"copy the head node's token "
                       f"to {data_dir / ray_auth.TOKEN_FILE} (chmod 600) or set {ray_auth.TOKEN_PATH_VAR}")
    if source.path is not None and not source.path.is_file():
        return Finding("ray", Verdict.FAIL, f"{what}: the token file {source.describe()} does not exist",
                       "copy the head node's token there (chmod 600)")
    if source.path is not None and _mode(source.path) & 0o077:
        return Finding("ray", Verdict.FAIL, f"{what}: the token file {source.describe()} is mode "
                       f"{_mode(source.path):04o}", f"chmod 600 {source.path}")
    return Finding("ray", Verdict.OK, f"{what}, token authentication with {source.describe()}; firewall "
                   "Ray's ports to the cluster's nodes (README, Security)")


def check_audit_anchor(data_dir: Path) -> Finding:
    path = data_dir / ANCHOR_FILE
    try:
        head = json.loads(path.read_text())
        seq, digest, node = int(head["seq"]), str(head["hash"]), str(head["node"])
    except FileNotFoundError:
        return Finding("audit anchor", Verdict.WARN, f"no {path} yet: nothing anchors the audit chain",
                       "start vigil serve; the anchor follows the first audited request")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Finding("audit anchor", Verdict.FAIL, f"{path} is unreadable ({exc.__class__.__name__})",
                       "restore it from a backup; `vigil audit verify` reports what it can")
    return Finding("audit anchor", Verdict.OK, f"node {node}, record {seq}, hash {digest[:16]}…",
                   "notarise `vigil audit head` elsewhere now and then")


# --- running processes (listeners.py reads /proc) ------------------------------------------

def as_served(settings: Settings, env: Mapping[str, str], serve: set[int],
              proc: Path = PROC) -> tuple[Settings, Mapping[str, str]]:
    """The Ray address and environment a running `vigil serve` uses, where readable (the
    address may be its `--ray-address` flag; RAY_AUTH_* live in its environment)."""
    if not serve:
        return settings, env
    pid = min(serve)
    argv, served_env = process_argv(pid, proc), process_environ(pid, proc)
    address = served_env.get("VIGIL_RAY__ADDRESS", settings.ray.address)
    for i, arg in enumerate(argv):
        if arg.startswith("--ray-address="):
            address = arg.split("=", 1)[1]
        elif arg == "--ray-address" and i + 1 < len(argv):
            address = argv[i + 1]
    if address in (None, "", "null"):
        address = None
    ray = settings.ray.model_copy(update={"address": address})
    return settings.model_copy(update={"ray": ray}), served_env or env


def check_listeners(listeners: Sequence[Listener], serve: set[int], settings: Settings,
                    running: bool) -> Finding:
    """No port of the node off loopback but those the settings open: gRPC and metrics, the Ray
    driver in cluster mode, and the UDP ports ffmpeg receives udp:// and rtp:// cameras on."""
    if not running:
        return Finding("listening", Verdict.OK, "no server running on this data folder")
    server, cluster = settings.server, settings.ray.address is not None
    opened = (not is_loopback(server.host)
              or (server.metrics_port is not None and not is_loopback(server.metrics_host))
              or (settings.console.enabled and not is_loopback(settings.console.host)))
    outside = [x for x in listeners if not x.loopback]
    cameras = [x for x in outside if x.proto == "udp" and x.process == "ffmpeg"]
    unexpected = [x for x in outside if x not in cameras and not (x.pid in serve and (opened or cluster))]
    if unexpected:
        return Finding("listening", Verdict.FAIL, "open to the network: " + _names(unexpected),
                       "report it: Vigil's own servers and the local Ray cluster listen on loopback only")
    by_settings = [x for x in outside if x not in cameras]
    if by_settings and cluster:
        return Finding("listening", Verdict.WARN, "open to the network by the settings (gRPC, metrics, "
                       "the Ray driver): " + _names(by_settings),
                       "firewall Ray's ports to the cluster's nodes")
    extra = f"; {len(by_settings)} open by the settings (see grpc, metrics)" if by_settings else ""
    extra += f"; {len(cameras)} UDP camera inputs (ffmpeg)" if cameras else ""
    loopback = len(listeners) - len(outside)
    return Finding("listening", Verdict.OK, f"{loopback} sockets on loopback only{extra}")


def _names(listeners: Sequence[Listener]) -> str:
    more = f" and {len(listeners) - SHOWN} more" if len(listeners) > SHOWN else ""
    return ", ".join(str(x) for x in listeners[:SHOWN]) + more


# --- the runner -----------------------------------------------------------------------------

def diagnose(settings: Settings, env: Mapping[str, str] | None = None, proc: Path = PROC,
             home: Path | None = None) -> list[Finding]:
    """Every check, in report order."""
    env = os.environ if env is None else env
    data_dir = settings.data_dir.resolve()
    serve, pids = node_processes(data_dir, proc)
    settings, env = as_served(settings, env, serve, proc)
    return [
        check_grpc(settings.server),
        check_auth(settings.auth, settings.server),
        check_metrics(settings.server),
        check_console(settings.console, settings.server),
        check_s3(settings.storage),
        check_data_dir(data_dir),
        *check_secret_files(data_dir, settings.server, settings.client),
        check_seaweed_data(data_dir, settings.storage),
        check_ray(settings.ray, data_dir, env, Path.home() if home is None else home),
        check_audit_anchor(data_dir),
        check_listeners(process_listeners(pids, proc), serve, settings, running=bool(pids)),
    ]


def report(findings: Sequence[Finding]) -> str:
    counts = {v: sum(f.verdict is v for f in findings) for v in Verdict}
    summary = ", ".join(f"{n} {v.value}" for v, n in counts.items())
    return "\n".join([*(f.line() for f in findings), summary])


def exit_code(findings: Sequence[Finding]) -> int:
    return 1 if any(f.verdict is Verdict.FAIL for f in findings) else 0
