"""The node's listening ports, checked before anything starts.

`vigil serve` listens on up to three ports: gRPC (`server.port`), Prometheus
metrics (`server.metrics_port`) and the console (`console.port`). A second node
started on the same host by mistake should fail at once, naming the port and the
setting to change, not after starting its object store and Ray and not with a
traceback. gRPC itself binds without SO_REUSEPORT (`services.api.server`): with
it, a second server of the same user on the same port would be accepted and the
kernel would split the clients' connections between two nodes.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from services.settings import Settings


class PortInUseError(OSError):
    """A port the node is configured to listen on cannot be bound; the message names the setting."""


@dataclass(frozen=True)
class Listener:
    what: str
    host: str
    port: int
    setting: str


def grpc_listener(host: str, port: int) -> Listener:
    return Listener("gRPC", host, port, "server.port (VIGIL_SERVER__PORT, vigil serve --port) or server.host")


def metrics_listener(host: str, port: int) -> Listener:
    return Listener("metrics", host, port, "server.metrics_port (VIGIL_SERVER__METRICS_PORT; 0: a free port)")


def console_listener(host: str, port: int) -> Listener:
    return Listener("the console", host, port,
                    "console.port (VIGIL_CONSOLE__PORT; 0: a free port), or console.enabled to false")


def listeners(settings: Settings) -> list[Listener]:
    """The fixed ports `vigil serve` will listen on (port 0 picks a free one and is left out)."""
    s = settings.server
    out = [grpc_listener(s.host, s.port)]
    if s.metrics_port is not None:
        out.append(metrics_listener(s.metrics_host, s.metrics_port))
    if settings.console.enabled:
        out.append(console_listener(settings.console.host, settings.console.port))
    return [x for x in out if x.port != 0]


def check_free(settings: Settings) -> None:
    """Raise PortInUseError for the first listener whose address cannot be bound now."""
    for listener in listeners(settings):
        host = listener.host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                sock.bind((host, listener.port))
            except OSError as exc:
                raise in_use(listener, exc) from None


def in_use(listener: Listener, exc: OSError | None = None) -> PortInUseError:
    """The error for `listener`'s failed bind (`exc`: the OS's reason, when it gave one)."""
    reason = ("in use (another vigil serve?)" if exc is None or exc.errno == errno.EADDRINUSE
              else exc.strerror)
    return PortInUseError(f"cannot listen on {listener.host}:{listener.port} for {listener.what}: "
                          f"{reason}; set {listener.setting}")
