"""An HTTP proxy on loopback through which one ffmpeg run makes all of its HTTP(S) connections.

ffmpeg follows URLs inside what it fetches: HTTP redirects, HLS playlists and
their segments, AES keys. `-protocol_whitelist` limits the protocols of those
(never `file`, `data`, …) but not their hosts. So each run that fetches over
HTTP(S) gets its own `FetchProxy`, named in ffmpeg's `http_proxy` environment
variable (which every nested HTTP and TLS connection of ffmpeg honours, with
`no_proxy` removed), and the proxy checks each connection with the same
`storage.url_policy` before making it:

- `CONNECT host:port` (HTTPS): the host is resolved once, checked as an
  `https` URL and the tunnel opened to that address; TLS, and with it the
  certificate name and SNI, stays between ffmpeg and the server.
- `GET http://host:port/path` (plain HTTP): checked as an `http` URL and
  forwarded to that address in origin form with `Connection: close`; the
  Host header is ffmpeg's.

A refused connection gets a 403 and its reason is kept (`refusals`) for the
caller's error message. Every request opens its own upstream connection, so
a redirect to another host is checked like the first request. The first
request's host can be pinned to the address the caller already checked, so
a name that resolves differently a moment later changes nothing.

The proxy listens on 127.0.0.1 on a random port only while its run lasts; it
forwards only what the policy allows anyway.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Mapping
from types import TracebackType
from urllib.parse import urlsplit

from storage.url_policy import (
    DEFAULT_PORTS,
    LocalCheck,
    Purpose,
    Resolver,
    UrlPolicy,
    UrlRefusedError,
    check_host,
)

logger = logging.getLogger(__name__)
MAX_HEAD_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 15.0
IDLE_TIMEOUT_S = 60.0  # no bytes either way for this long ends a connection
_HOP_HEADERS = (b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
                b"proxy-authenticate", b"te", b"trailer", b"upgrade")


class FetchProxy:
    """`with FetchProxy(policy, purpose) as proxy:` … ffmpeg with `proxy.environment()` …"""

    def __init__(self, policy: UrlPolicy, purpose: Purpose,
                 pins: Mapping[tuple[str, int], str] | None = None,
                 resolve: Resolver | None = None, is_local: LocalCheck | None = None) -> None:
        self._policy, self._purpose = policy, purpose
        self._pins = dict(pins or {})
        self._resolve, self._is_local = resolve, is_local
        self._lock = threading.Lock()
        self.refusals: list[str] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fetch-proxy",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with every HTTP(S) connection sent here and no host exempt from it."""
        env = {k: v for k, v in base.items() if k.lower() not in ("http_proxy", "https_proxy",
                                                                   "no_proxy", "all_proxy")}
        env["http_proxy"] = self.url
        return env

    def start(self) -> FetchProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FetchProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def check(self, scheme: str, host: str, port: int) -> str:
        """The address to connect to for `scheme://host:port`; UrlRefusedError if refused."""
        if (pinned := self._pins.get((host.lower(), port))) is not None:
            return pinned
        try:
            return check_host(self._purpose, scheme, host, port, self._policy,
                              self._resolve, self._is_local)
        except UrlRefusedError as exc:
            with self._lock:
                self.refusals.append(str(exc))
            raise


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FetchProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(CONNECT_TIMEOUT_S)
        try:
            head, rest = _read_head(client)
            method, target, head_lines = _parse_head(head)
            if method == b"CONNECT":
                self._tunnel(client, target.decode("ascii", "replace"), rest)
            else:
                self._forward(client, method, target.decode("ascii", "replace"), head_lines, rest)
        except UrlRefusedError as exc:
            _reply(client, 403, str(exc))
        except (OSError, ValueError) as exc:
            logger.debug("fetch proxy: %s", exc)
            _reply(client, 502, "the proxy could not complete the request")

    def _tunnel(self, client: socket.socket, authority: str, rest: bytes) -> None:
        host, _, port_text = authority.rpartition(":")
        host = host.strip("[]")
        if not host or not port_text.isdigit():
            raise ValueError(f"bad CONNECT target {authority[:100]!r}")
        ip = self.server.proxy.check("https", host, int(port_text))
        upstream = socket.create_connection((ip, int(port_text)), timeout=CONNECT_TIMEOUT_S)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _relay(client, upstream, rest)

    def _forward(self, client: socket.socket, method: bytes, target: str, lines: list[bytes],
                 rest: bytes) -> None:
        parts = urlsplit(target)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise UrlRefusedError(f"the proxy only forwards http:// URLs, not {target[:20]!r}…")
        port = parts.port or DEFAULT_PORTS["http"]
        ip = self.server.proxy.check("http", parts.hostname, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [h for h in lines if h.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
        head = b"\r\n".join([method + b" " + path.encode("ascii") + b" HTTP/1.1", *headers,
                             b"Connection: close", b"", b""])
        upstream = socket.create_connection((ip, port), timeout=CONNECT_TIMEOUT_S)
        upstream.sendall(head)
        _relay(client, upstream, rest)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD_BYTES:
            raise ValueError("request head too long")
        chunk = sock.recv(8192)
        if not chunk:
            raise ValueError("connection closed before the request head ended")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[bytes, bytes, list[bytes]]:
    request_line, *lines = head.split(b"\r\n")
    method, target, _version = request_line.split(b" ", 2)
    return method.upper(), target, lines


def _reply(client: socket.socket, status: int, reason: str) -> None:
    body = reason.encode("utf-8", "replace")
    title = {403: "Forbidden", 502: "Bad Gateway"}[status]
    with contextlib.suppress(OSError):
        client.sendall(f"HTTP/1.1 {status} {title}\r\nContent-Type: text/plain\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def _relay(client: socket.socket, upstream: socket.socket, pending: bytes) -> None:
    """Copy bytes both ways until the upstream closes (or either side idles out)."""
    with upstream, selectors.DefaultSelector() as sel:
        client.settimeout(IDLE_TIMEOUT_S)
        upstream.settimeout(IDLE_TIMEOUT_S)
        if pending:
            upstream.sendall(pending)
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        while True:
            events = sel.select(IDLE_TIMEOUT_S)
            if not events:
                return
            for key, _ in events:
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                data = src.recv(65536)
                if not data:
                    if src is upstream:
                        return
                    sel.unregister(client)  # the client is done sending; let the answer finish
                    upstream.shutdown(socket.SHUT_WR)
                    continue
                key.data.sendall(data)
