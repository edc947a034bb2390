"""No side door into the embedded SeaweedFS.

A local process without Vigil's secrets attacks every TCP port and unix socket the `weed`
process listens on (found through /proc, not from a list of what it should open): HTTP GET,
PUT and POST on filer, master and volume paths, plain and over TLS with and without a client
certificate of its own; raw gRPC calls to the filer (list, create), volume (read every
needle) and master (assign a write); and the `weed` binary itself (shell, download,
upload). None may return the secret object's bytes, a listing that names it, or create
anything in the bucket. Where an attack can be run with Vigil's own certificate it is, so a
probe that could never have succeeded does not pass for a locked door. The data folder and
sockets are private to this user, and no secret is on weed's command line.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from minio import Minio
from minio.error import S3Error

from storage.s3 import S3ObjectStore
from storage.seaweed import EmbeddedSeaweed, weed_exe
from storage.seaweed_security import COMMON_NAME, self_signed_certificate

pytestmark = pytest.mark.integration

BUCKET = "vigil-exposure"
PROBE_TIMEOUT_S = 3.0
TOOL_TIMEOUT_S = 12.0
TCP_LISTEN, UNIX_ACCEPTING = "0A", 0x10000
NOBODY = 65534
READS = ("ListEntries", "ReadAllNeedles")


@dataclass(frozen=True)
class Target:
    seaweed: EmbeddedSeaweed
    folder: Path
    store: S3ObjectStore
    pid: int
    key: str  # auth/tokens/<name>
    secret: bytes
    fid: str  # the secret's chunk on the volume server, as an attacker who guessed it would use
    flags: dict[str, str]  # weed's command-line flags, e.g. flags["master.port"]
    foreign_cert: Path  # an attacker's own self-signed certificate (same common name) and key
    foreign_key: Path

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A running EmbeddedSeaweed on a folder left loose by an older Vigil, one secret in it.

    The folder's parent is open to every user, so only the folder's own modes keep them out.
    """
    parent = Path(tempfile.mkdtemp(prefix="vigil-exposure-"))
    os.chmod(parent, 0o755)
    folder = parent / "s3"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    for name, text in (("seaweedfs.log", ""), ("s3-credentials.json", json.dumps(
            {"access_key": "vigil-0ld", "secret_key": secrets.token_urlsafe(30)}))):
        (folder / name).write_text(text)
        os.chmod(folder / name, 0o644)
    attacker = tmp_path_factory.mktemp("attacker")
    cert, key = self_signed_certificate(COMMON_NAME)
    (attacker / "cert.pem").write_text(cert)
    (attacker / "key.pem").write_text(key)
    seaweed = EmbeddedSeaweed(folder, bucket=BUCKET)
    endpoint = seaweed.start()
    try:
        store = S3ObjectStore(endpoint)
        object_key = f"auth/tokens/{secrets.token_hex(8)}"
        secret = b"vigil-secret-" + secrets.token_hex(16).encode()
        store.put_bytes(object_key, secret)
        pid = int((folder / "seaweedfs.pid").read_text())
        flags = _flags(pid)
        meta = _weed_shell(seaweed, flags, f"fs.meta.cat /buckets/{BUCKET}/{object_key}\n", attacker)
        fid = re.search(r'"fileId":\s*"([^"]+)"', meta)
        assert fid, f"fs.meta.cat with Vigil's certificate printed no chunk: {meta[:500]}"
        yield Target(seaweed, folder, store, pid, object_key, secret, fid.group(1), flags,
                     attacker / "cert.pem", attacker / "key.pem")
    finally:
        seaweed.stop()
        shutil.rmtree(parent, ignore_errors=True)


def test_every_port_refuses_bucket_data_over_http(target: Target) -> None:
    tcp = listening_tcp_ports(target.pid)
    s3_port = int(target.flags["s3.port"])
    assert s3_port in tcp and len(tcp) >= 8, f"weed listens on {sorted(tcp)}"
    answers = {}
    for port in tcp:
        for mode in ("http", "https", "https+own-cert"):
            for probe in http_probes(target):
                answers[(port, mode, *probe[:2])] = (probe[3], http_request(target, mode, port, *probe[:3]))
    for path in listening_unix_sockets(target.pid):
        for probe in http_probes(target):
            answers[(path, "unix", *probe[:2])] = (probe[3], http_request(target, "unix", path, *probe[:3]))
    # an open master hands a volume-read JWT (10 s) to whoever looks a file id up: use it at once
    tokens = set()
    for port, mode in [(p, m) for p in tcp for m in ("http", "https", "https+own-cert")]:
        token = http_request(target, mode, port, "GET", f"/dir/lookup?fileId={target.fid}").authorization
        for other, other_mode in [(p, m) for p in tcp for m in ("http", "https")] if token else []:
            answers[(other, other_mode, "GET", f"/{target.fid} with a JWT from {port}")] = (
                False, http_request(target, other_mode, other, "GET", f"/{target.fid}",
                                    headers={"Authorization": token}))
        tokens |= {token} if token else set()
    leaks = [where for where, (listing, a) in answers.items()
             if target.secret in a.body or (listing and target.name.encode() in a.body)]
    assert leaks == []
    assert tokens == set(), "no port may hand out a JWT"
    s3_doors = (s3_port, target.flags["s3.localSocket"])
    served = [where for where, (_, a) in answers.items()
              if 200 <= a.status < 300 and where[0] not in s3_doors]
    assert served == [], "only the S3 port may answer anything but a refusal"
    assert_bucket_untouched(target)


def test_every_port_and_socket_refuses_grpc_without_vigils_certificate(target: Target) -> None:
    addresses = [f"127.0.0.1:{p}" for p in sorted(listening_tcp_ports(target.pid))]
    addresses += [f"unix:{p}" for p in listening_unix_sockets(target.pid)]
    answered = []
    for address in addresses:
        for creds in ("plaintext", "tls", "tls+own-cert"):
            for rpc, request in grpc_probes(target).items():
                try:
                    reply = grpc_call(target, address, creds, rpc, request)
                except grpc.RpcError:
                    continue
                answered.append((address, creds, rpc, target.secret in reply))
    assert answered == []
    reads = {rpc: request for rpc, request in grpc_probes(target).items() if rpc.endswith(READS)}
    with_vigils_cert = {rpc.rsplit("/", 1)[1]: b"".join(_try_grpc(target, a, "vigil", rpc, request)
                                                        for a in addresses) for rpc, request in reads.items()}
    assert target.name.encode() in with_vigils_cert["ListEntries"], "the probe itself is wrong"
    assert target.secret in with_vigils_cert["ReadAllNeedles"], "the probe itself is wrong"
    assert_bucket_untouched(target)


def test_the_weed_tools_get_nothing_without_vigils_certificate(target: Target, tmp_path: Path) -> None:
    b, key = BUCKET, target.key
    read = f"fs.ls -l /buckets/{b}/auth/tokens\nfs.cat /buckets/{b}/{key}\nfs.meta.cat /buckets/{b}/{key}\n"
    write = (f"fs.mkdir /buckets/{b}/auth/tokens/forged\ns3.anonymous.set -bucket={b} -access=Read,List\n"
             "s3.configure -user=intruder -access_key=AKINTRUDER0000 -secret_key=intruder-secret-0000"
             " -actions=Admin,Read,Write,List -apply\n")
    master = f"127.0.0.1:{target.flags['master.port']}.{target.flags['master.port.grpc']}"
    (tmp_path / "forged.txt").write_bytes(b"forged admin token record")
    attacks = {
        "shell read": [*_shell_args(target.flags), read],
        "shell write": [*_shell_args(target.flags), write],
        "download": [weed_exe(), "download", f"-server={master}", f"-dir={tmp_path}", target.fid, ""],
        "upload": [weed_exe(), "upload", f"-master={master}", str(tmp_path / "forged.txt"), ""],
    }
    outputs = _run_parallel(attacks, tmp_path)
    leaks = [name for name, out in outputs.items() if target.secret in out]
    leaks += [p.name for p in tmp_path.iterdir() if p.is_file() and target.secret in p.read_bytes()]
    assert leaks == []
    with_vigils_cert = _weed_shell(target.seaweed, target.flags, read, tmp_path)
    assert target.secret in with_vigils_cert.encode(), "the probe itself is wrong"
    intruder = Minio(_s3_address(target), "AKINTRUDER0000", "intruder-secret-0000", secure=False)
    with pytest.raises(S3Error):
        list(intruder.list_objects(BUCKET, prefix="auth/", recursive=True))
    anonymous = http_request(target, "http", int(target.flags["s3.port"]), "GET", f"/{BUCKET}/{key}")
    assert anonymous.status == 403 and target.secret not in anonymous.body
    assert_bucket_untouched(target)


def test_data_folder_and_sockets_are_private(target: Target) -> None:
    assert stat.S_IMODE(target.folder.stat().st_mode) == 0o700
    loose = []
    for folder, dirs, files in os.walk(target.folder):
        for name in dirs + files:
            path = Path(folder) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077 and not (name.endswith(".vif") and path.is_file()):
                loose.append(f"{path.relative_to(target.folder)} {mode:o}")
            if path.is_dir():
                assert mode == 0o700, path
    assert loose == []  # .vif files (volume info, no object data): weed sets 644 itself
    assert (target.folder / "seaweedfs.log").stat().st_size > 0, "the old log file is still weed's log"
    for path in listening_unix_sockets(target.pid):
        assert not stat.S_IMODE(os.stat(path).st_mode) & 0o077, path
        assert path.startswith("/tmp/seaweedfs-") or stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").is_file(),
                    reason="acting as another local user needs root and a system python3")
def test_another_local_user_opens_no_file_folder_or_socket(target: Target) -> None:
    kinds = {"dir": stat.S_ISDIR, "socket": stat.S_ISSOCK, "file": stat.S_ISREG}
    paths = [target.folder, *target.folder.rglob("*"), *map(Path, listening_unix_sockets(target.pid))]
    items = [(str(p), kind) for p in paths for kind, test in kinds.items() if test(p.lstat().st_mode)]
    assert len(items) > 20 and any(kind == "socket" for _, kind in items)
    done = subprocess.run(["/usr/bin/python3", "-c", _OPEN_EACH], input=json.dumps(items), text=True,
                          capture_output=True, timeout=60, cwd="/", user=NOBODY, group=NOBODY,
                          extra_groups=[], env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


_OPEN_EACH = """
import json, os, socket, sys
opened = []
for path, kind in json.load(sys.stdin):
    try:
        if kind == "dir":
            os.listdir(path)
        elif kind == "socket":
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(path)
        else:
            open(path, "rb").close()
        opened.append(path)
    except OSError:
        pass
print(json.dumps(opened))
"""


def test_no_secret_is_on_weeds_command_line(target: Target) -> None:
    cmdline = Path(f"/proc/{target.pid}/cmdline").read_bytes()
    security = target.seaweed.security
    assert security is not None
    secrets_held = re.findall(r'key = "([0-9a-f]{64})"', security.config.read_text())
    assert target.seaweed.endpoint is not None
    secrets_held += [target.seaweed.endpoint.secret_key, security.key.read_text().split("\n")[1]]
    assert len(secrets_held) == 6
    assert [s for s in secrets_held if s.encode() in cmdline] == []


# --- what the attacker tries ---------------------------------------------------------------

def http_probes(t: Target) -> list[tuple[str, str, bytes | None, bool]]:
    """(method, path, body, is a listing whose answer must not name the object)."""
    b, key, vid = BUCKET, t.key, t.fid.split(",")[0]
    forged = f"auth/tokens/forged-{secrets.token_hex(4)}"
    gets = [(f"/buckets/{b}/{key}", False), (f"/buckets/{b}/auth/tokens/", True),
            (f"/buckets/{b}/auth/tokens/?pretty=y", True), (f"/buckets/{b}/", True), ("/?pretty=y", True),
            (f"/{b}/{key}", False), (f"/{b}?list-type=2&prefix=auth/", True), (f"/{t.fid}", False),
            (f"/{vid}/{t.fid.split(',')[1]}", False), ("/dir/assign", False),
            (f"/dir/lookup?volumeId={vid}&fileId={t.fid}", False), ("/vol/status", True),
            ("/cluster/status", False), ("/dir/status", True), ("/status", True), ("/ui/index.html", True)]
    writes = [("PUT", f"/buckets/{b}/{forged}"), ("POST", f"/buckets/{b}/{forged}"),
              ("PUT", f"/{b}/{forged}"), ("POST", "/submit"), ("POST", f"/{t.fid.split(',')[0]},99deadbeef")]
    return ([("GET", path, None, listing) for path, listing in gets]
            + [(method, path, b"forged admin token record", False) for method, path in writes])


def grpc_probes(t: Target) -> dict[str, bytes]:
    """Hand-encoded protobuf requests (field numbers from SeaweedFS's .proto files)."""
    tokens = f"/buckets/{BUCKET}/auth/tokens".encode()
    forged_entry = _pb(1, b"forged-" + secrets.token_hex(4).encode()) + _pb(9, b"forged admin token record")
    return {
        "/filer_pb.SeaweedFiler/ListEntries": _pb(1, tokens) + b"\x28\x64",  # directory, limit 100
        "/filer_pb.SeaweedFiler/CreateEntry": _pb(1, tokens) + _pb(2, forged_entry),
        "/volume_server_pb.VolumeServer/ReadAllNeedles": b"\x08" + bytes([int(t.fid.split(",")[0])]),
        "/master_pb.Seaweed/Assign": b"\x08\x01",  # count 1
    }


@dataclass(frozen=True)
class Answer:
    status: int  # 0: connection or handshake refused
    body: bytes = b""
    authorization: str | None = None  # a JWT the server handed out


def http_request(t: Target, mode: str, where: int | str, method: str, path: str,
                 body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One request over plain HTTP, HTTPS (no client certificate, or the attacker's own), or a unix socket."""
    if mode == "unix":
        conn: http.client.HTTPConnection = _UnixHTTPConnection(str(where))
    elif mode == "http":
        conn = http.client.HTTPConnection("127.0.0.1", int(where), timeout=PROBE_TIMEOUT_S)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if mode == "https+own-cert":
            ctx.load_cert_chain(t.foreign_cert, t.foreign_key)
        conn = http.client.HTTPSConnection("127.0.0.1", int(where), timeout=PROBE_TIMEOUT_S, context=ctx)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.read(), response.getheader("Authorization"))
    except (OSError, http.client.HTTPException):
        return Answer(0)
    finally:
        conn.close()


def grpc_call(t: Target, address: str, creds: str, rpc: str, request: bytes) -> bytes:
    """All replies of one gRPC call, concatenated (raises grpc.RpcError when refused)."""
    with _channel(t, address, creds) as channel:
        if rpc.endswith(READS):  # server-streaming
            return b"".join(channel.unary_stream(rpc)(request, timeout=PROBE_TIMEOUT_S))
        return channel.unary_unary(rpc)(request, timeout=PROBE_TIMEOUT_S)


def _try_grpc(t: Target, address: str, creds: str, rpc: str, request: bytes) -> bytes:
    try:
        return grpc_call(t, address, creds, rpc, request)
    except grpc.RpcError:
        return b""


def _channel(t: Target, address: str, creds: str) -> grpc.Channel:
    if creds == "plaintext":
        return grpc.insecure_channel(address)
    security = t.seaweed.security
    assert security is not None
    root = security.cert.read_bytes()  # trust the server, so a refusal is about the client
    client = {"tls": (None, None), "tls+own-cert": (t.foreign_key.read_bytes(), t.foreign_cert.read_bytes()),
              "vigil": (security.key.read_bytes(), security.cert.read_bytes())}[creds]
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(root, *client),
                               options=[("grpc.ssl_target_name_override", "localhost")])


def assert_bucket_untouched(t: Target) -> None:
    """Seen through S3 and, with Vigil's certificate, through the filer: only the secret is there."""
    assert [o.key for o in t.store.list("")] == [t.key]
    assert t.store.get_bytes(t.key) == t.secret
    filer = f"127.0.0.1:{t.flags['filer.port.grpc']}"
    listing = grpc_call(t, filer, "vigil", "/filer_pb.SeaweedFiler/ListEntries",
                        grpc_probes(t)["/filer_pb.SeaweedFiler/ListEntries"])
    assert t.name.encode() in listing and b"forged" not in listing


# --- where weed listens ----------------------------------------------------------------------

def listening_tcp_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state held by `pid` or its descendants (/proc/net/tcp{,6})."""
    inodes, ports = _socket_inodes(pid), set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == TCP_LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_unix_sockets(pid: int) -> list[str]:
    """Paths of the unix sockets `pid` or its descendants accept connections on."""
    inodes, paths = _socket_inodes(pid), []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes and int(fields[3], 16) & UNIX_ACCEPTING:
            paths.append(fields[7])
    return sorted(set(paths))


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for p in _with_descendants(pid):
        for fd in Path(f"/proc/{p}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes


def _with_descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        for task in Path(f"/proc/{p}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return found


# --- small helpers ---------------------------------------------------------------------------

class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=PROBE_TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(PROBE_TIMEOUT_S)
        self.sock.connect(self._path)


def _pb(field: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (values here are under 128 bytes)."""
    assert len(value) < 128
    return bytes([field << 3 | 2, len(value)]) + value


def _flags(pid: int) -> dict[str, str]:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return dict(a[1:].split("=", 1) for a in args if a.startswith("-") and "=" in a)


def _shell_args(flags: dict[str, str]) -> list[str]:
    return [weed_exe(), "shell", f"-master=127.0.0.1:{flags['master.port']}.{flags['master.port.grpc']}",
            f"-filer=127.0.0.1:{flags['filer.port']}.{flags['filer.port.grpc']}"]


def _weed_shell(seaweed: EmbeddedSeaweed, flags: dict[str, str], commands: str, cwd: Path) -> str:
    """`weed shell` run the way an operator of this account would: with Vigil's certificate."""
    assert seaweed.security is not None
    args = _shell_args(flags)
    args.insert(1, f"-config_dir={seaweed.security.folder}")
    done = subprocess.run(args, input=commands.encode(), capture_output=True, cwd=cwd,
                          timeout=TOOL_TIMEOUT_S, env=_clean_env(cwd))
    return (done.stdout + done.stderr).decode(errors="replace")


def _run_parallel(attacks: dict[str, list[str]], cwd: Path) -> dict[str, bytes]:
    """Each attack's output; the last element of each argv is its standard input."""
    procs = {name: subprocess.Popen(argv[:-1], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, cwd=cwd, env=_clean_env(cwd))
             for name, argv in attacks.items()}
    outputs = {}
    for name, proc in procs.items():
        try:
            outputs[name] = proc.communicate(attacks[name][-1].encode(), timeout=TOOL_TIMEOUT_S)[0]
        except subprocess.TimeoutExpired:  # a tool that keeps retrying a refused connection
            proc.kill()
            outputs[name] = proc.communicate()[0]
    return outputs


def _clean_env(home: Path) -> dict[str, str]:
    """No WEED_* variables, and a HOME without a .seaweedfs/security.toml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEED_")}
    env["HOME"] = str(home)
    return env


def _s3_address(t: Target) -> str:
    return f"127.0.0.1:{t.flags['s3.port']}"


def test_a_start_that_fails_leaves_no_weed_running(tmp_path: Path) -> None:
    """weed ignores SIGTERM from a dying parent: a start refused after weed began (here the SDK
    refuses the bucket's name) must stop it, or it serves on, orphaned."""
    with pytest.raises(ValueError, match="invalid bucket name"), EmbeddedSeaweed(tmp_path, bucket="b"):
        pass
    running = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, timeout=10)
    assert running.stdout.split() == []
