"""`vigil doctor`'s checks on settings, tmp data folders and this machine's /proc (no server, no Ray)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import main
from services.security import doctor, listeners, ray_auth
from services.security.doctor import Verdict
from services.settings import Settings

TCP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1
   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 333 1
"""
TCP6_TABLE = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1
   1: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1
"""


def settings(tmp_path: Path, **sections: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **sections)  # type: ignore[arg-type]


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False), ("192.0.2.2", False),
    ("::ffff:192.0.2.2", False), ("camera-host.example", False)])
def test_loopback_addresses_are_told_from_the_rest(host: str, loopback: bool) -> None:
    assert listeners.is_loopback(host) is loopback


def test_proc_net_tables_decode_listening_sockets_only() -> None:
    assert listeners.parse_proc_net(TCP_TABLE, "tcp") == {111: ("127.0.0.1", 8080), 222: ("0.0.0.0", 80)}
    assert listeners.parse_proc_net(TCP6_TABLE, "tcp6") == {444: ("::1", 443), 555: ("::ffff:127.0.0.1", 81)}


def test_plaintext_grpc_off_loopback_fails_even_when_allowed(tmp_path: Path) -> None:
    assert doctor.check_grpc(settings(tmp_path).server).verdict is Verdict.OK
    for server in ({"host": "0.0.0.0"}, {"host": "0.0.0.0", "insecure_plaintext": True}):
        finding = doctor.check_grpc(settings(tmp_path, server=server).server)
        assert finding.verdict is Verdict.FAIL and "tls_cert_file" in finding.fix
    tls = settings(tmp_path, server={"host": "0.0.0.0", "tls_cert_file": tmp_path / "c.pem",
                                     "tls_key_file": tmp_path / "k.pem"}).server
    assert doctor.check_grpc(tls).verdict is Verdict.OK


def test_metrics_off_loopback_warn_and_auth_off_fails_off_loopback(tmp_path: Path) -> None:
    assert doctor.check_metrics(settings(tmp_path, server={"metrics_host": "0.0.0.0"}).server
                                ).verdict is Verdict.WARN
    disabled = settings(tmp_path, server={"metrics_port": None})
    assert doctor.check_metrics(disabled.server).verdict is Verdict.OK
    off = settings(tmp_path, auth={"enabled": False}, server={"host": "0.0.0.0"})
    assert doctor.check_auth(off.auth, off.server).verdict is Verdict.FAIL
    local = settings(tmp_path, auth={"enabled": False})
    assert doctor.check_auth(local.auth, local.server).verdict is Verdict.WARN


def test_s3_in_plaintext_fails_only_off_loopback(tmp_path: Path) -> None:
    def verdict(storage: dict[str, object]) -> Verdict:
        return doctor.check_s3(settings(tmp_path, storage=storage).storage).verdict

    assert verdict({}) is Verdict.OK  # embedded
    assert verdict({"endpoint": "127.0.0.1:9000"}) is Verdict.OK
    assert verdict({"endpoint": "minio.city.example:9000"}) is Verdict.FAIL
    assert verdict({"endpoint": "minio.city.example:9000", "secure": True}) is Verdict.OK


def test_data_folder_open_to_others_fails_with_the_chmod_to_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert doctor.check_data_dir(data).verdict is Verdict.WARN  # not created yet
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    finding = doctor.check_data_dir(data)
    assert finding.verdict is Verdict.FAIL and finding.fix == f"chmod 700 {data}"
    data.chmod(0o700)
    assert doctor.check_data_dir(data).verdict is Verdict.OK


def test_each_secret_file_others_can_read_is_one_fail(tmp_path: Path) -> None:
    s = settings(tmp_path)
    data = private_dir(s.data_dir)
    write(data / "admin-token", "t", 0o600)
    write(data / "audit-key", "k", 0o600)
    write(data / "s3" / "s3-credentials.json", "{}", 0o600)
    [ok] = doctor.check_secret_files(data, s.server, s.client)
    assert ok.verdict is Verdict.OK and "admin-token" in ok.detail and "s3-credentials.json" in ok.detail
    (data / "audit-key").chmod(0o644)
    write(data / "ray-auth-token", "r", 0o640)
    fails = doctor.check_secret_files(data, s.server, s.client)
    assert [f.verdict for f in fails] == [Verdict.FAIL, Verdict.FAIL]
    assert {f.fix for f in fails} == {f"chmod 600 {data / name}" for name in ("audit-key", "ray-auth-token")}


def test_tls_private_key_others_can_read_fails(tmp_path: Path) -> None:
    key = write(tmp_path / "server.key", "-----BEGIN PRIVATE KEY-----", 0o644)
    s = settings(tmp_path, server={"tls_cert_file": tmp_path / "server.pem", "tls_key_file": key})
    [finding] = doctor.check_secret_files(private_dir(s.data_dir), s.server, s.client)
    assert finding.verdict is Verdict.FAIL and str(key) in finding.detail


def test_seaweed_files_others_can_reach_fail_and_those_behind_a_private_folder_pass(tmp_path: Path) -> None:
    s = settings(tmp_path)
    data = private_dir(s.data_dir)
    volumes = private_dir(private_dir(data / "s3") / "seaweedfs")
    volume = write(volumes / "1.dat", "footage", 0o600)
    assert doctor.check_seaweed_data(data, s.storage).verdict is Verdict.OK
    volume.chmod(0o644)
    (data / "s3").chmod(0o755)
    volumes.chmod(0o755)
    shut = doctor.check_seaweed_data(data, s.storage)  # only the data folder's 0700 keeps others out
    assert shut.verdict is Verdict.WARN and str(volume) in shut.detail
    data.chmod(0o755)
    exposed = doctor.check_seaweed_data(data, s.storage)
    assert exposed.verdict is Verdict.FAIL and exposed.fix == f"chmod -R go-rwx {data / 's3'}"
    volumes.chmod(0o700)  # as weed keeps its 0644 .vif files
    inside = doctor.check_seaweed_data(data, s.storage)
    assert inside.verdict is Verdict.OK and "1 with open modes inside private folders" in inside.detail
    external = settings(tmp_path, storage={"endpoint": "127.0.0.1:9000"})
    assert doctor.check_seaweed_data(data, external.storage).verdict is Verdict.OK


def test_local_ray_token_must_be_private(tmp_path: Path) -> None:
    s = settings(tmp_path)
    data = private_dir(s.data_dir)
    assert doctor.check_ray(s.ray, data, {}, tmp_path).verdict is Verdict.OK  # written at start
    token = ray_auth.write_local_token(data)
    assert doctor.check_ray(s.ray, data, {}, tmp_path).verdict is Verdict.OK
    token.chmod(0o644)
    assert doctor.check_ray(s.ray, data, {}, tmp_path).verdict is Verdict.FAIL


def test_ray_cluster_needs_token_auth_and_a_private_token(tmp_path: Path) -> None:
    s = settings(tmp_path, ray={"address": "10.0.0.5:6379"})
    data, home = private_dir(s.data_dir), tmp_path / "home"

    def check(env: dict[str, str]) -> doctor.Finding:
        return doctor.check_ray(s.ray, data, env, home)

    assert check({}).verdict is Verdict.FAIL  # no token anywhere
    ray_default = write(home / ".ray" / "auth_token", "x" * 64, 0o644)  # as Ray creates it
    assert check({}).verdict is Verdict.FAIL and check({}).fix == f"chmod 600 {ray_default}"
    write(data / ray_auth.TOKEN_FILE, "x" * 64, 0o600)  # the documented place wins
    assert check({}).verdict is Verdict.OK
    assert check({"RAY_AUTH_MODE": "disabled"}).verdict is Verdict.FAIL
    assert check({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")}).verdict is Verdict.FAIL
    assert check({"RAY_AUTH_TOKEN": "x" * 64}).verdict is Verdict.OK


def test_the_ray_mode_and_environment_of_the_running_server_are_the_ones_checked(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write(proc / "4242" / "cmdline", "python\0-m\0services.cli\0serve\0--ray-address\0auto\0", 0o600)
    write(proc / "4242" / "environ", "RAY_AUTH_MODE=disabled\0VIGIL_DATA_DIR=/srv/vigil\0", 0o600)
    s = settings(tmp_path)
    served, env = doctor.as_served(s, {"RAY_AUTH_MODE": "token"}, {4242}, proc)
    assert served.ray.address == "auto" and env["RAY_AUTH_MODE"] == "disabled"
    assert doctor.check_ray(served.ray, s.data_dir, env, tmp_path).verdict is Verdict.FAIL
    assert doctor.as_served(s, {}, set(), proc) == (s, {})  # no server running: as configured


def test_local_ray_token_is_fresh_private_and_random(tmp_path: Path) -> None:
    first = ray_auth.write_local_token(tmp_path).read_text()
    path = ray_auth.write_local_token(tmp_path)
    assert path == tmp_path / "ray-auth-token" and path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text()) == 64 and path.read_text() != first
    assert ray_auth.cluster_token({}, tmp_path, tmp_path / "home") == ray_auth.TokenSource("", path)


def test_audit_anchor_missing_warns_and_unreadable_fails(tmp_path: Path) -> None:
    assert doctor.check_audit_anchor(tmp_path).verdict is Verdict.WARN
    write(tmp_path / "audit-anchor.json", "{not json", 0o600)
    assert doctor.check_audit_anchor(tmp_path).verdict is Verdict.FAIL
    write(tmp_path / "audit-anchor.json", json.dumps({"node": "n1", "seq": 7, "hash": "ab" * 32,
                                                      "time": "2026-01-01T00:00:00Z"}), 0o600)
    anchored = doctor.check_audit_anchor(tmp_path)
    assert anchored.verdict is Verdict.OK and "record 7" in anchored.detail


def test_listening_sockets_of_this_process_are_found() -> None:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        found = {(x.proto, x.host, x.port) for x in listeners.process_listeners([os.getpid()])}
        assert ("tcp", "127.0.0.1", tcp.getsockname()[1]) in found
        assert ("udp", "127.0.0.1", udp.getsockname()[1]) in found


def test_only_the_settings_and_udp_cameras_open_ports_off_loopback(tmp_path: Path) -> None:
    grpc_any = listeners.Listener(10, "python", "tcp", "0.0.0.0", 50051)
    gcs_any = listeners.Listener(11, "gcs_server", "tcp", "::", 6379)
    camera = listeners.Listener(12, "ffmpeg", "udp", "0.0.0.0", 5004)
    local = [listeners.Listener(10, "python", "tcp", "127.0.0.1", 9464)]

    def check(found: list[listeners.Listener], **sections: object) -> doctor.Finding:
        return doctor.check_listeners(found, {10}, settings(tmp_path, **sections), running=True)

    assert check(local).verdict is Verdict.OK
    assert check([*local, camera]).verdict is Verdict.OK  # a udp:// camera is received there
    assert check([*local, grpc_any], server={"host": "0.0.0.0"}).verdict is Verdict.OK  # see grpc
    unasked = check([*local, grpc_any])
    assert unasked.verdict is Verdict.FAIL and "0.0.0.0:50051" in unasked.detail
    ray = check([*local, gcs_any], server={"host": "0.0.0.0"})
    assert ray.verdict is Verdict.FAIL and "[::]:6379 (gcs_server, pid 11)" in ray.detail
    driver = listeners.Listener(10, "python", "tcp", "10.0.0.4", 40001)
    assert check([*local, driver], ray={"address": "10.0.0.5:6379"}).verdict is Verdict.WARN
    assert doctor.check_listeners([], set(), settings(tmp_path), running=False).verdict is Verdict.OK


LISTENER = """
import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)
"""


@pytest.mark.parametrize(("host", "verdict"), [("0.0.0.0", Verdict.FAIL), ("127.0.0.1", Verdict.OK)])
def test_a_process_on_the_data_folder_listening_off_loopback_fails(tmp_path: Path, host: str,
                                                                    verdict: Verdict) -> None:
    s = settings(tmp_path)
    data = private_dir(s.data_dir)
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, host, f"--dir={data}/s3"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        finding = doctor.diagnose(s)[-1]
    finally:
        proc.kill()
        proc.wait()
    assert finding.check == "listening" and finding.verdict is verdict
    if verdict is Verdict.FAIL:
        assert f"0.0.0.0:{port}" in finding.detail and f"pid {proc.pid}" in finding.detail


def test_doctor_command_prints_one_verdict_per_line_and_fails_on_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data))
    assert main(["doctor"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert all(line.split()[0] in {"OK", "WARN", "FAIL"} for line in lines[:-1])
    assert any(line.startswith("FAIL") and f"chmod 700 {data}" in line for line in lines)
    assert lines[-1].endswith("1 FAIL")
    data.chmod(0o700)
    assert main(["doctor"]) == 0
    assert "FAIL " not in capsys.readouterr().out
