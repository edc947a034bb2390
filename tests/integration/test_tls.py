"""TLS with mutual authentication: the same node served over TLS with client certificates."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import grpc
import pytest

from services.api.client import Tls, VigilClient
from services.api.server import BackgroundServer


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "1", "-subj", "/CN=vigil-test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=vigil-{name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_server(node: object, pki: Path) -> object:
    tls_node = copy.copy(node)
    tls_node.settings = node.settings.model_copy(update={  # type: ignore[attr-defined]
        "server": node.settings.server.model_copy(update={  # type: ignore[attr-defined]
            "tls_cert_file": pki / "server.pem", "tls_key_file": pki / "server.key",
            "tls_client_ca_file": pki / "ca.pem"})})
    with BackgroundServer(tls_node) as running:  # type: ignore[arg-type]
        yield running


def test_mutual_tls_serves_clients_with_a_certificate(tls_server: object, pki: Path,
                                                      admin_token: str) -> None:
    tls = Tls((pki / "ca.pem").read_bytes(), (pki / "client.pem").read_bytes(),
              (pki / "client.key").read_bytes())
    with VigilClient(tls_server.address, admin_token, tls) as c:  # type: ignore[attr-defined]
        assert c.search("xe đạp", min_score=-1).model_id


def test_clients_without_a_certificate_or_without_tls_are_refused(tls_server: object, pki: Path,
                                                                  admin_token: str) -> None:
    no_cert = Tls((pki / "ca.pem").read_bytes())
    for tls in (no_cert, None):
        with VigilClient(tls_server.address, admin_token, tls, timeout_s=5) as c:  # type: ignore[attr-defined]
            with pytest.raises(grpc.RpcError) as err:
                c.search("xe đạp")
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
