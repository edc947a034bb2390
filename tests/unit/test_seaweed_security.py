"""The embedded SeaweedFS's security files: a certificate that works for mutual TLS, a
security.toml that locks every component, private modes, and tightening of an old folder."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
import tomllib
from pathlib import Path

import pytest

from storage.seaweed_security import (
    COMMON_NAME,
    GRPC_COMPONENTS,
    HTTPS_COMPONENTS,
    SecurityFiles,
    self_signed_certificate,
    tighten_tree,
    write_security_config,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _handshake(server_files: tuple[Path, Path], client_files: tuple[Path, Path] | None) -> str:
    """Mutual TLS over a socket pair; the server trusts only its own certificate. '' on success."""
    cert, key = server_files
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    server.load_verify_locations(cert)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    if client_files:
        client.load_cert_chain(*client_files)
    left, right = socket.socketpair()
    left.settimeout(5)
    right.settimeout(5)
    errors: list[str] = []

    def serve() -> None:
        try:
            with server.wrap_socket(left, server_side=True) as s:
                s.sendall(b"ok")
        except (ssl.SSLError, OSError) as e:
            errors.append(f"server: {e}")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(right, server_hostname="localhost") as c:
            c.recv(2)
    except (ssl.SSLError, OSError) as e:
        errors.append(f"client: {e}")
    thread.join()
    return "; ".join(errors)


@pytest.fixture()
def files(tmp_path: Path) -> SecurityFiles:
    return write_security_config(tmp_path / "conf")


def test_the_certificate_names_loopback_and_opens_mutual_tls(files: SecurityFiles) -> None:
    decoded = ssl._ssl._test_decode_cert(str(files.cert))  # type: ignore[attr-defined]
    assert decoded["subject"] == (((("commonName", COMMON_NAME),),))
    assert ("DNS", "localhost") in decoded["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in decoded["subjectAltName"]
    assert _handshake((files.cert, files.key), (files.cert, files.key)) == ""


def test_a_certificate_made_elsewhere_is_refused_even_with_the_same_name(files: SecurityFiles,
                                                                          tmp_path: Path) -> None:
    cert, key = self_signed_certificate(COMMON_NAME)
    (tmp_path / "other.crt").write_text(cert)
    (tmp_path / "other.key").write_text(key)
    assert _handshake((files.cert, files.key), (tmp_path / "other.crt", tmp_path / "other.key")) != ""
    assert _handshake((files.cert, files.key), None) != ""


def test_security_toml_locks_every_component(files: SecurityFiles) -> None:
    conf = tomllib.loads(files.config.read_text())
    cert, key = str(files.cert), str(files.key)
    assert conf["grpc"]["ca"] == cert
    for component in (*GRPC_COMPONENTS, "client"):
        assert (conf["grpc"][component]["cert"], conf["grpc"][component]["key"]) == (cert, key)
    for component in HTTPS_COMPONENTS:
        assert conf["https"][component] == {"cert": cert, "key": key, "ca": cert}
    assert conf["https"]["client"]["enabled"] is True
    keys = [conf["jwt"]["signing"]["key"], conf["jwt"]["signing"]["read"]["key"],
            conf["jwt"]["filer_signing"]["key"], conf["jwt"]["filer_signing"]["read"]["key"]]
    assert len(set(keys)) == 4 and all(len(k) == 64 for k in keys)
    assert conf["access"]["ui"] is False


def test_files_are_private_and_every_start_rotates_the_secrets(files: SecurityFiles) -> None:
    folder = files.folder
    assert _mode(folder) == 0o700
    assert {p.name: _mode(p) for p in folder.iterdir()} == {
        "security.toml": 0o600, "tls.crt": 0o600, "tls.key": 0o600}
    before = (files.config.read_text(), files.key.read_text())
    again = write_security_config(folder)
    assert (again.config.read_text(), again.key.read_text()) != before
    assert {p.name: _mode(p) for p in folder.iterdir()}["tls.key"] == 0o600


def test_an_old_loose_folder_is_tightened(tmp_path: Path) -> None:
    root, outside = tmp_path / "s3", tmp_path / "elsewhere.txt"
    (root / "seaweedfs" / "filerldb2").mkdir(parents=True)
    outside.write_text("not ours")
    for path, mode in ((root / "s3-credentials.json", 0o644), (root / "seaweedfs" / "vigil_1.dat", 0o666),
                       (root / "seaweedfs" / "filerldb2" / "CURRENT", 0o644), (root / "run.sh", 0o755)):
        path.write_text("x")
        os.chmod(path, mode)
    for folder in (root, root / "seaweedfs", root / "seaweedfs" / "filerldb2"):
        os.chmod(folder, 0o755)
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    tighten_tree(root)
    modes = {str(p.relative_to(root)): _mode(p) for p in root.rglob("*") if not p.is_symlink()}
    assert modes == {"s3-credentials.json": 0o600, "seaweedfs": 0o700, "seaweedfs/vigil_1.dat": 0o600,
                     "seaweedfs/filerldb2": 0o700, "seaweedfs/filerldb2/CURRENT": 0o600, "run.sh": 0o700}
    assert _mode(root) == 0o700
    assert _mode(outside) == 0o644, "a link is not followed"
