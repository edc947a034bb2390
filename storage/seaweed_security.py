"""Closes the embedded SeaweedFS's side doors with secrets only this node holds.

`weed server` runs master, volume, filer and S3 gateway in one process, each with an HTTP
and a gRPC listener on 127.0.0.1. Only the S3 gateway checks credentials of its own; by
default every other listener answers any local process (list `auth/tokens/`, read segments,
write a forged record). `write_security_config` writes the configuration that
`weed -config_dir=<folder>` reads (its `security.toml`) into a private folder:

- mutual TLS on every gRPC port (master, volume, filer, S3) and HTTPS that requires a client
  certificate on the master, volume and filer HTTP ports. The CA pool holds one self-signed
  certificate made here, so only a holder of its key (this folder, mode 600) gets past the
  handshake; weed's own components present it to each other;
- JWT signing keys for volume writes and reads and for filer writes and reads: the filer's
  plain-HTTP unix socket and a volume read by file id need a token weed itself signed;
- the volume and filer web UIs off.

Certificate and keys are made anew on every start: nothing outside the running process
depends on them, so each restart rotates them. `tighten_tree` makes an existing data folder
private (folders 700, files without group/other bits).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import secrets
import stat
import textwrap
from dataclasses import dataclass
from pathlib import Path

from Crypto.Hash import SHA256  # pycryptodome, a dependency of minio
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

COMMON_NAME = "vigil-embedded-seaweedfs"
CERT_VALID_DAYS = 3650
JWT_EXPIRES_S = 10
GRPC_COMPONENTS = ("master", "volume", "filer", "s3")
HTTPS_COMPONENTS = ("master", "volume", "filer")


@dataclass(frozen=True)
class SecurityFiles:
    """Where one start's security configuration lies (all private to this user)."""

    folder: Path  # pass to `weed -config_dir=`
    config: Path  # security.toml
    cert: Path  # the only certificate weed trusts, PEM
    key: Path  # its private key, PEM (PKCS#8)


def write_security_config(folder: Path) -> SecurityFiles:
    """Fresh certificate, key and JWT keys, and the security.toml naming them, in `folder`."""
    make_private_dir(folder)
    files = SecurityFiles(folder, folder / "security.toml", folder / "tls.crt", folder / "tls.key")
    cert_pem, key_pem = self_signed_certificate(COMMON_NAME)
    write_private(files.key, key_pem)
    write_private(files.cert, cert_pem)
    write_private(files.config, render_security_toml(files))
    return files


def render_security_toml(files: SecurityFiles) -> str:
    """The security.toml text: mTLS everywhere but S3, four fresh JWT keys, UIs off."""
    cert, key = _toml_str(str(files.cert)), _toml_str(str(files.key))
    lines = ["# Written by Vigil on every start of the embedded SeaweedFS; do not edit.", ""]
    for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"):
        lines += [f"[{section}]", f"key = {_toml_str(secrets.token_hex(32))}",
                  f"expires_after_seconds = {JWT_EXPIRES_S}", ""]
    lines += ["[access]", "ui = false", "", "[filer.expose_directory_metadata]", "enabled = false", ""]
    lines += ["[grpc]", f"ca = {cert}", ""]
    for component in GRPC_COMPONENTS:
        lines += [f"[grpc.{component}]", f"cert = {cert}", f"key = {key}",
                  f"allowed_commonNames = {_toml_str(COMMON_NAME)}", ""]
    lines += ["[grpc.client]", f"cert = {cert}", f"key = {key}", ""]
    lines += ["[https.client]", "enabled = true", f"cert = {cert}", f"key = {key}", f"ca = {cert}", ""]
    for component in HTTPS_COMPONENTS:
        lines += [f"[https.{component}]", f"cert = {cert}", f"key = {key}", f"ca = {cert}", ""]
    return "\n".join(lines)


def self_signed_certificate(common_name: str, days: int = CERT_VALID_DAYS) -> tuple[str, str]:
    """(certificate PEM, PKCS#8 key PEM): ECDSA P-256, usable as CA, server and client.

    SAN localhost and 127.0.0.1, since weed's HTTPS clients check the host they dial.
    """
    key = ECC.generate(curve="P-256")
    algorithm = _seq(_oid("1.2.840.10045.4.3.2"))  # ecdsa-with-SHA256
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    name = _seq(_tlv(0x31, _seq(_oid("2.5.4.3"), _tlv(0x0C, common_name.encode()))))
    tbs = _seq(
        _tlv(0xA0, _int(2)),  # v3
        _int(secrets.randbits(120) | 1),
        algorithm, name,
        _seq(_time(now - datetime.timedelta(hours=1)), _time(now + datetime.timedelta(days=days))),
        name,
        key.public_key().export_key(format="DER"),  # SubjectPublicKeyInfo
        _tlv(0xA3, _seq(*_extensions())),
    )
    signature = DSS.new(key, "fips-186-3", encoding="der").sign(SHA256.new(tbs))
    der = _seq(tbs, algorithm, _tlv(0x03, b"\x00" + signature))
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    cert_pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return cert_pem, key.export_key(format="PEM")


def make_private_dir(path: Path) -> None:
    """Create `path` (and parents) as needed; `path` itself ends up mode 700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def tighten_tree(root: Path) -> None:
    """Drop group and other permissions from every folder and file under `root` (links kept)."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            _drop_group_other(Path(folder) / name)
    _drop_group_other(root)


def write_private(path: Path, text: str) -> None:
    """Write `text` to a new file of mode 600 (an existing file is replaced, not reused)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _drop_group_other(path: Path) -> None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return
    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _extensions() -> list[bytes]:
    server_auth, client_auth = _oid("1.3.6.1.5.5.7.3.1"), _oid("1.3.6.1.5.5.7.3.2")
    san = _seq(_tlv(0x82, b"localhost"), _tlv(0x87, ipaddress.ip_address("127.0.0.1").packed))
    return [
        _extension("2.5.29.19", True, _seq(_tlv(0x01, b"\xff"))),  # basicConstraints CA
        _extension("2.5.29.15", True, _tlv(0x03, b"\x02\x84")),  # digitalSignature, keyCertSign
        _extension("2.5.29.37", False, _seq(server_auth, client_auth)),
        _extension("2.5.29.17", False, san),
    ]


def _extension(oid: str, critical: bool, value: bytes) -> bytes:
    flag = [_tlv(0x01, b"\xff")] if critical else []
    return _seq(_oid(oid), *flag, _tlv(0x04, value))


def _time(t: datetime.datetime) -> bytes:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5)."""
    if t.year < 2050:
        return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(p) for p in dotted.split("."))
    body = bytearray([40 * first + second])
    for n in rest:
        chunk = [n & 0x7F]
        while n := n >> 7:
            chunk.append(0x80 | (n & 0x7F))
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _int(n: int) -> bytes:
    return _tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content
