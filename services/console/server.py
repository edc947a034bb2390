"""Running the console beside a node's gRPC server (`vigil serve`, `vigil demo --serve`, tests).

The console is a transport like gRPC, and its API calls go through the node's own gRPC server on
loopback (so they are authorised, limited, audited and mapped exactly as gRPC's). Sign-in checks
the token with the node's token store, and is rate limited per client address and audited.
`console.host` off loopback needs the server's TLS (`server.tls_cert_file`/`tls_key_file`, reused
for HTTPS): bearer tokens and footage would otherwise cross the network in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import uvicorn

from services.api.access import ANONYMOUS
from services.api.server import is_loopback
from services.console.app import ConsoleConfig, Identity, create_app
from services.console.connect import ConnectError, Upstream
from services.console.sessions import SessionStore
from services.node.app import Vigil
from services.node.ports import console_listener, in_use
from services.security.auth import RateLimiter, TokenExpiredError, hash_token
from services.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")
DIST = Path(__file__).resolve().parent / "web" / "dist"
SIGN_IN_RATE_PER_S, SIGN_IN_BURST = 1.0, 30  # per client address
START_TIMEOUT_S = 30.0
BAD_TOKEN = "this token is not valid (unknown or revoked): check it, or ask an admin for a new one"


class ConsoleTransportError(ValueError):
    """The console was asked to serve plaintext HTTP on an address other machines can reach."""


def check_console_transport(s: Settings) -> None:
    if s.console.enabled and not is_loopback(s.console.host) and s.server.tls_cert_file is None:
        raise ConsoleTransportError(
            f"refusing to serve the console on {s.console.host} over plaintext HTTP: bearer tokens, "
            "session cookies and footage would cross the network unencrypted. Set server.tls_cert_file "
            "and server.tls_key_file (the console reuses them), bind console.host to 127.0.0.1, or set "
            "console.enabled to false")


def _upstream(s: Settings, grpc_port: int) -> Upstream:
    host = s.server.host.strip("[]")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    target = f"[{host}]:{grpc_port}" if ":" in host else f"{host}:{grpc_port}"
    limit = s.server.max_message_mb * 1024 * 1024
    options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit)]
    if s.server.tls_cert_file is None:
        return Upstream(target, None, options)
    c = s.client
    ca = (c.tls_ca_file or s.server.tls_cert_file).read_bytes()
    credentials = grpc.ssl_channel_credentials(
        ca, c.tls_key_file.read_bytes() if c.tls_key_file else None,
        c.tls_cert_file.read_bytes() if c.tls_cert_file else None)
    return Upstream(target, credentials, [*options, ("grpc.ssl_target_name_override",
                                                     s.console.upstream_tls_name)])


def console_config(node: Vigil, grpc_port: int, dist: Path = DIST) -> ConsoleConfig:
    """The console's wiring over a running node whose gRPC server listens on `grpc_port`."""
    s = node.settings
    limiter = RateLimiter(SIGN_IN_RATE_PER_S, SIGN_IN_BURST, s.auth.max_tracked)

    async def audit(subject: str, action: str, details: dict[str, object]) -> None:
        await asyncio.to_thread(node.audit.append, subject, action, dict(details))

    async def identify(token: str) -> Identity:
        if not s.auth.enabled:
            return Identity(ANONYMOUS, None)
        try:
            principal = await asyncio.to_thread(node.tokens.authenticate, token)
        except TokenExpiredError as exc:
            message = str(exc)
        else:
            if principal is not None:
                record = await asyncio.to_thread(node.tokens.get, principal.token_id)
                return Identity(principal, record.expires if record else None)
            message = BAD_TOKEN
        await audit("", "console_sign_in_refused", {"token_id": hash_token(token), "reason": message})
        raise ConnectError("unauthenticated", message)

    return ConsoleConfig(dist=dist, secure=s.server.tls_cert_file is not None,
                         max_body=s.console.max_body_kb * 1024,
                         sessions=SessionStore(s.console.session_hours * 3600, s.console.max_sessions),
                         upstream=_upstream(s, grpc_port), identify=identify, audit=audit,
                         allow_sign_in=limiter.allow)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the node's serve() owns SIGINT and SIGTERM


class ConsoleServer:
    """uvicorn serving the console app on `console.host:console.port`, inside the running loop."""

    def __init__(self, node: Vigil, grpc_port: int, dist: Path = DIST, port: int | None = None) -> None:
        s = node.settings
        check_console_transport(s)
        self.config = console_config(node, grpc_port, dist)
        tls = s.server.tls_cert_file is not None
        self._uvicorn = _Server(uvicorn.Config(
            create_app(self.config), log_level="warning", access_log=False, server_header=False,
            lifespan="off", ssl_certfile=s.server.tls_cert_file if tls else None,
            ssl_keyfile=s.server.tls_key_file if tls else None, h11_max_incomplete_event_size=64 * 1024))
        self._host, self._scheme = s.console.host, "https" if tls else "http"
        self._port = s.console.port if port is None else port
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "::") else self._host
        return f"{self._scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def start(self) -> str:
        """Bind and serve; the console's URL once it accepts connections."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host.strip("[]"), self._port))
        except OSError as exc:
            sock.close()
            raise in_use(console_listener(self._host, self._port), exc) from None
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        for _ in range(int(START_TIMEOUT_S / 0.05)):
            if self._uvicorn.started or self._task.done():
                break
            await asyncio.sleep(0.05)
        if not self._uvicorn.started:
            await self.stop()
            raise RuntimeError(f"the console did not start on {self.url}")
        return self.url

    async def stop(self) -> None:
        self._uvicorn.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.config.upstream.close()


@contextlib.asynccontextmanager
async def console_beside(node: Vigil, grpc_port: int) -> AsyncIterator[None]:
    """While inside: the console (when `console.enabled`), its URL printed for the operator."""
    if not node.settings.console.enabled:
        yield
        return
    console = ConsoleServer(node, grpc_port)
    url = await console.start()
    logger.info("console on %s", url)
    print(f"vigil: console on {url}", flush=True)
    try:
        yield
    finally:
        await console.stop()


class BackgroundConsole:
    """The console on its own event loop in a daemon thread (demo, tests); `port` overrides
    console.port (0: a free one)."""

    def __init__(self, node: Vigil, grpc_port: int, dist: Path = DIST, port: int | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="console")
        self._thread.start()
        self.console = self._call(self._make(node, grpc_port, dist, port))
        self.url = self._call(self.console.start())

    @staticmethod
    async def _make(node: Vigil, grpc_port: int, dist: Path, port: int | None) -> ConsoleServer:
        return ConsoleServer(node, grpc_port, dist, port)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def stop(self) -> None:
        self._call(self.console.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> BackgroundConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
