"""The gRPC server: servicers, health and reflection wired in one function.

Plaintext gRPC is served on loopback only: bearer tokens would otherwise cross the network
unencrypted. A non-loopback address needs TLS (`server.tls_cert_file`/`tls_key_file`), or
`server.insecure_plaintext` (`vigil serve --insecure`, for a TLS-terminating proxy in front),
which logs a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.api.access import AuthInterceptor
from services.api.admin import AdminServicer
from services.api.cameras import CameraServicer
from services.api.ingest import IngestServicer
from services.api.playback import PlaybackServicer
from services.api.search import SearchServicer
from services.api.watch import WatchServicer
from services.application.bundle import AppServices
from services.node.app import Vigil
from services.node.ports import grpc_listener, in_use
from services.security.auth import RateLimiter
from services.settings import ServerSettings
from storage.url_policy import Endpoint
from vigil.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    cameras_pb2,
    cameras_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    playback_pb2,
    playback_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
    watch_pb2,
    watch_pb2_grpc,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
GRACE_S = 5.0
SERVICE_NAMES = tuple(service.full_name for module in (search_pb2, ingest_pb2, cameras_pb2,
                                                        playback_pb2, admin_pb2, watch_pb2)
                      for service in module.DESCRIPTOR.services_by_name.values())


class InsecureTransportError(ValueError):
    """Plaintext gRPC was asked for on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    """True for 'localhost', 127.0.0.0/8 and ::1 (bracketed or not); a unix socket counts too."""
    host = host.strip("[]")
    if host == "localhost" or host.startswith("unix:"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name may resolve anywhere


def check_transport(s: ServerSettings, address: str) -> None:
    """Refuse plaintext off loopback unless `insecure_plaintext` is set (then warn)."""
    host = address if address.startswith("unix:") else address.rsplit(":", 1)[0]
    if s.tls_cert_file is not None or is_loopback(host):
        return
    if not s.insecure_plaintext:
        raise InsecureTransportError(
            f"refusing to serve plaintext gRPC on {address}: bearer tokens would cross the network "
            "unencrypted. Set server.tls_cert_file and server.tls_key_file, bind server.host to "
            "127.0.0.1, or, behind a TLS-terminating proxy, set server.insecure_plaintext "
            "(vigil serve --insecure)")
    logger.warning("serving plaintext gRPC on %s (server.insecure_plaintext): bearer tokens and "
                   "footage cross the network unencrypted unless a TLS proxy fronts this port", address)


async def create_server(node: Vigil, address: str) -> tuple[grpc.aio.Server, int]:
    """Build (not start) the server; returns it with the bound port (address may use port 0).

    Raises InsecureTransportError, before binding anything, for plaintext off loopback
    (`check_transport`).
    """
    check_transport(node.settings.server, address)
    limit = node.settings.server.max_message_mb * 1024 * 1024
    auth = node.settings.auth
    interceptor = AuthInterceptor(node.tokens if auth.enabled else None,
                                  RateLimiter(auth.rate_per_s, auth.burst, auth.max_tracked), node.audit,
                                  RateLimiter(auth.peer_rate_per_s, auth.peer_burst, auth.max_tracked))
    server = grpc.aio.server(interceptors=[interceptor],
                             options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit),
                                      ("grpc.so_reuseport", 0)])  # a second server on the port fails
    _add_servicers(server, node.services)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME,
                                         reflection.SERVICE_NAME), server)
    credentials = _server_credentials(node.settings.server)
    try:
        port = (server.add_secure_port(address, credentials) if credentials
                else server.add_insecure_port(address))
    except RuntimeError:  # grpcio: "Failed to bind to address"
        port = 0
    if port == 0:  # grpcio gives no reason: in use, or not an address of this host
        host, _, wanted = address.rpartition(":")
        raise in_use(grpc_listener(host, int(wanted)))
    node.own_endpoints.append(Endpoint(address.rsplit(":", 1)[0].strip("[]"), port))  # never fetched
    return server, port


def _add_servicers(server: grpc.aio.Server, app: AppServices) -> None:
    """Every servicer, each a thin transport over its application services (errors become
    statuses in the interceptor)."""
    search_pb2_grpc.add_SearchServiceServicer_to_server(SearchServicer(app.search), server)
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(app.ingest), server)
    cameras_pb2_grpc.add_CameraServiceServicer_to_server(CameraServicer(app.cameras), server)
    playback_pb2_grpc.add_PlaybackServiceServicer_to_server(
        PlaybackServicer(app.playback, app.evidence), server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(app.holds, app.tokens, app.admin), server)
    watch_pb2_grpc.add_WatchServiceServicer_to_server(WatchServicer(app.watchlists), server)


def _server_credentials(s: ServerSettings) -> grpc.ServerCredentials | None:
    if s.tls_cert_file is None:
        return None
    if s.tls_key_file is None:
        raise ValueError("server.tls_cert_file needs server.tls_key_file")
    ca = s.tls_client_ca_file.read_bytes() if s.tls_client_ca_file else None
    return grpc.ssl_server_credentials([(s.tls_key_file.read_bytes(), s.tls_cert_file.read_bytes())],
                                       root_certificates=ca, require_client_auth=ca is not None)


Beside = Callable[[int], contextlib.AbstractAsyncContextManager[None]]  # the bound gRPC port → a companion


async def serve(node: Vigil, beside: Beside | None = None) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully; `beside(port)` (the console) runs meanwhile."""
    s = node.settings.server
    server, port = await create_server(node, f"{s.host}:{s.port}")
    await server.start()
    logger.info("vigil serving gRPC on %s:%d (model %s)", s.host, port, node.model_id)
    print(f"vigil: serving on {s.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with beside(port) if beside else contextlib.nullcontext():
        await stop.wait()
    await server.stop(GRACE_S)


class BackgroundServer:
    """The gRPC server on its own event loop in a daemon thread (demo, tests, benchmarks)."""

    def __init__(self, node: Vigil, address: str = "127.0.0.1:0") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="grpc-server")
        self._thread.start()
        self.server, self.port = self._call(create_server(node, address))
        self._call(self.server.start())
        self.address = f"{address.rsplit(':', 1)[0]}:{self.port}"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def stop(self) -> None:
        self._call(self.server.stop(GRACE_S))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
