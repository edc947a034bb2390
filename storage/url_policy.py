"""One policy for every fetch the server makes on a caller's behalf.

Three purposes reach the network from the node: ingest URIs (`IngestUri`, a
recording copied once), camera streams (a registered camera's stream URL,
recorded for as long as it is registered) and watchlist webhooks (alerts POSTed
to an entry's URL: `http`/`https`, like ingest URIs, with `fetch.webhook_allow`).
A caller chooses those URLs, so without a policy an ingest token could make the server read its own bucket
through the loopback filer, or a camera URL could record `file:///etc/…`.

The rules (`check_url`):
- Schemes: ingest URIs `http`, `https`; camera streams `rtsp`, `rtsps`,
  `http`, `https` (HLS too), `udp`, `rtp` (MPEG-TS or RTP pushed to the
  node). Never `file`, `pipe`, `fd`, `concat`, `data`, `subfile`, `crypto`
  or anything else ffmpeg could open.
- The host is resolved once (getaddrinfo) and every address it resolves to
  is checked; one refused address refuses the URL. Refused: loopback,
  link-local (cloud metadata lives there), unspecified, multicast (except
  `udp`/`rtp` camera input, which is how multicast cameras are received),
  reserved and other non-global ranges, and any port of the node's own
  services (S3, gRPC, metrics) on an address of this machine. Private ranges
  (RFC 1918, CGNAT 100.64/10, IPv6 ULA) are allowed for camera streams, where
  cameras live; for ingest URIs only when inside the admin's allow-list.
- Allow-lists (`fetch.ingest_allow`, `fetch.camera_allow`: CIDRs) admit any
  address inside them, loopback included (tests and demos stream from
  127.0.0.1), but never the node's own services.
- The checked address is the one used: `CheckedUrl.ip` is the pinned
  address. For RTSP/UDP/RTP, `CheckedUrl.url` names it instead of the host.
  HTTP(S) and RTSPS keep the host name (it is the Host header, the TLS SNI
  and the name ffmpeg verifies the certificate against) and are fetched
  through `storage.fetch_proxy`, which connects to the pinned address and
  checks every further connection (redirects, HLS segments and keys) with
  this same policy. Plain RTSP cannot be proxied: ffmpeg follows an RTSP
  server's redirect without asking (over `tcp` only; the protocol whitelist
  holds), so a camera server can make the node send RTSP requests elsewhere,
  though nothing it gets back is recorded unless it is an RTSP stream.
  `udp`/`rtp` input fetches nothing: ffmpeg listens on the port (a unicast
  host is checked but ffmpeg binds every interface; a multicast one is
  joined) and records whatever arrives there.

Errors (`UrlRefusedError`, a `MediaError`: INVALID_ARGUMENT over gRPC) name
the host, the address and the rule, never the URL's credentials.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, urlsplit

from storage.cameras import mask_url
from storage.errors import MediaError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # host, port -> every address it resolves to
LocalCheck = Callable[[str], bool]  # is this address one of this machine's?

MAX_URL_CHARS = 4096
_URL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "-._~:/?#[]@!$&'()*+,;=%")  # RFC 3986; no spaces, quotes, backslashes


class Purpose(StrEnum):
    INGEST = "ingest URI"
    CAMERA = "camera stream"
    WEBHOOK = "webhook"


SCHEMES: dict[Purpose, tuple[str, ...]] = {
    Purpose.INGEST: ("http", "https"),
    Purpose.CAMERA: ("rtsp", "rtsps", "http", "https", "udp", "rtp"),
    Purpose.WEBHOOK: ("http", "https"),
}
DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}
PROXIED_SCHEMES = ("http", "https", "rtsps")  # fetched through storage.fetch_proxy (TLS: CONNECT)
_MULTICAST_SCHEMES = ("udp", "rtp")
_ALLOW_SETTING = {Purpose.INGEST: "fetch.ingest_allow", Purpose.CAMERA: "fetch.camera_allow",
                  Purpose.WEBHOOK: "fetch.webhook_allow"}


class UrlRefusedError(MediaError):
    """A URL the fetch policy does not allow; the message is safe to show (no credentials)."""


class AddressKind(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"


_PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


@dataclass(frozen=True)
class Endpoint:
    """A service of this node (host as it binds or is reached, port)."""

    host: str
    port: int


@dataclass(frozen=True)
class UrlPolicy:
    ingest_allow: tuple[IpNetwork, ...] = ()
    camera_allow: tuple[IpNetwork, ...] = ()
    own_services: tuple[Endpoint, ...] = ()
    webhook_allow: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_settings(cls, ingest_allow: Iterable[str], camera_allow: Iterable[str],
                      own_services: Iterable[Endpoint] = (), webhook_allow: Iterable[str] = ()) -> UrlPolicy:
        return cls(tuple(networks(ingest_allow)), tuple(networks(camera_allow)), tuple(own_services),
                   tuple(networks(webhook_allow)))

    def allowed(self, purpose: Purpose) -> tuple[IpNetwork, ...]:
        return {Purpose.INGEST: self.ingest_allow, Purpose.CAMERA: self.camera_allow,
                Purpose.WEBHOOK: self.webhook_allow}[purpose]


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the policy, pinned to the address that was checked."""

    purpose: Purpose
    scheme: str
    host: str  # as written: the Host header and TLS SNI of HTTP(S)
    port: int
    ip: str  # the checked address; the only one connected to
    url: str = ""  # what ffmpeg opens: the host replaced by `ip`, unless `proxied`

    @property
    def proxied(self) -> bool:
        return self.scheme in PROXIED_SCHEMES

    @property
    def shown(self) -> str:
        """The URL for logs and errors, credentials masked."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"CheckedUrl({self.purpose.value}, {self.shown!r}, ip={self.ip})"


def networks(cidrs: Iterable[str]) -> list[IpNetwork]:
    """Parse CIDRs ('10.0.0.0/8', '127.0.0.1'); ValueError names a bad one."""
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not an IP network (write it as CIDR, e.g. 10.0.0.0/8)") from None
    return out


def address_kind(ip: IpAddress) -> AddressKind:
    """What kind of address `ip` is, judging IPv6 forms that embed IPv4 by the IPv4 address."""
    ip = _embedded_v4(ip)
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return AddressKind.UNSPECIFIED
    if ip.is_loopback:
        return AddressKind.LOOPBACK
    if ip.is_link_local:
        return AddressKind.LINK_LOCAL
    if ip.is_multicast:
        return AddressKind.MULTICAST
    if any(ip in n for n in _PRIVATE if n.version == ip.version):
        return AddressKind.PRIVATE
    if ip.is_reserved or not ip.is_global:
        return AddressKind.RESERVED
    return AddressKind.PUBLIC


def _embedded_v4(ip: IpAddress) -> IpAddress:
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def check_url(url: str, purpose: Purpose, policy: UrlPolicy,
              resolve: Resolver | None = None, is_local: LocalCheck | None = None) -> CheckedUrl:
    """Check `url` for `purpose`; the pinned `CheckedUrl`, or `UrlRefusedError` saying why."""
    parts = _parse(url, purpose)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = _port(parts, scheme, purpose)
    ip = check_host(purpose, scheme, host, port, policy, resolve, is_local)
    target = url if scheme in PROXIED_SCHEMES else _with_host(parts, ip)
    return CheckedUrl(purpose, scheme, host, port, ip, target)


def check_host(purpose: Purpose, scheme: str, host: str, port: int, policy: UrlPolicy,
               resolve: Resolver | None = None, is_local: LocalCheck | None = None) -> str:
    """Resolve `host` once and check every address; the first, to connect to."""
    _check_scheme(scheme, purpose)
    resolve, is_local = resolve or resolve_host, is_local or is_local_address
    try:
        addresses = [ipaddress.ip_address(a) for a in resolve(host, port)]
    except (OSError, ValueError) as exc:
        raise UrlRefusedError(f"{purpose} host {host} does not resolve ({exc})") from None
    if not addresses:
        raise UrlRefusedError(f"{purpose} host {host} does not resolve")
    for ip in addresses:
        if (reason := refusal(purpose, scheme, ip, port, policy, resolve, is_local)) is not None:
            named = host if host == str(ip) else f"{host} ({ip})"
            raise UrlRefusedError(f"{purpose} host {named} is {reason}; allowed: "
                                  f"{allowed_text(purpose, scheme, policy)}")
    return str(addresses[0])


def refusal(purpose: Purpose, scheme: str, ip: IpAddress, port: int, policy: UrlPolicy,
            resolve: Resolver, is_local: LocalCheck) -> str | None:
    """Why `ip:port` may not be fetched for `purpose`, or None if it may."""
    if _is_own_service(ip, port, policy.own_services, resolve, is_local):
        return f"a service of this node (port {port})"
    if any(ip in n for n in policy.allowed(purpose) if n.version == ip.version):
        return None
    kind = address_kind(ip)
    if kind is AddressKind.PUBLIC:
        return None
    if kind is AddressKind.PRIVATE and purpose is Purpose.CAMERA:
        return None
    if kind is AddressKind.MULTICAST and purpose is Purpose.CAMERA and scheme in _MULTICAST_SCHEMES:
        return None
    return kind.value


def allowed_text(purpose: Purpose, scheme: str, policy: UrlPolicy) -> str:
    """What `purpose` may reach, for error messages."""
    kinds = ["public addresses"]
    if purpose is Purpose.CAMERA:
        kinds.append("private networks")
        if scheme in _MULTICAST_SCHEMES:
            kinds.append("multicast")
    listed = ", ".join(str(n) for n in policy.allowed(purpose))
    kinds.append(f"{_ALLOW_SETTING[purpose]} [{listed}]" if listed
                 else f"networks an administrator lists in {_ALLOW_SETTING[purpose]}")
    return ", ".join(kinds)


def _is_own_service(ip: IpAddress, port: int, services: Sequence[Endpoint],
                    resolve: Resolver, is_local: LocalCheck) -> bool:
    matching = [s for s in services if s.port == port]
    if not matching:
        return False
    if is_local(str(ip)) or address_kind(ip) in (AddressKind.LOOPBACK, AddressKind.UNSPECIFIED):
        return True
    for service in matching:
        try:
            if str(ip) in resolve(service.host, service.port):
                return True
        except OSError:
            continue
    return False


def _check_scheme(scheme: str, purpose: Purpose) -> None:
    if scheme not in SCHEMES[purpose]:
        raise UrlRefusedError(f"{purpose} scheme {scheme!r} not allowed; use one of "
                              f"{', '.join(SCHEMES[purpose])}")


def _parse(url: str, purpose: Purpose) -> SplitResult:
    if not url or len(url) > MAX_URL_CHARS:
        raise UrlRefusedError(f"{purpose} must be 1-{MAX_URL_CHARS} characters")
    _check_scheme(url.partition(":")[0].lower() if ":" in url else "", purpose)
    if not set(url) <= _URL_CHARS:
        raise UrlRefusedError(f"{purpose} {mask_url(url)[:200]!r} has characters a URL may not "
                              "hold (spaces, quotes, control characters); percent-encode them")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise UrlRefusedError(f"{purpose} {mask_url(url)[:200]!r} is not a valid URL") from None
    if not parts.hostname:
        raise UrlRefusedError(f"{purpose} {mask_url(url)[:200]!r} has no host; "
                              f"write it as {SCHEMES[purpose][0]}://host/…")
    return parts


def _port(parts: SplitResult, scheme: str, purpose: Purpose) -> int:
    if parts.port is not None:
        return parts.port
    if scheme in DEFAULT_PORTS:
        return DEFAULT_PORTS[scheme]
    raise UrlRefusedError(f"{purpose} {mask_url(parts.geturl())[:200]!r} needs a port")


def _with_host(parts: SplitResult, ip: str) -> str:
    """The URL with its host replaced by `ip`; user, port, path and query kept as written."""
    userinfo = parts.netloc.rpartition("@")[0]
    host = f"[{ip}]" if ":" in ip else ip
    netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo), in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def is_local_address(ip: str) -> bool:
    """Whether `ip` belongs to this machine: binding a socket to it succeeds only then."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
            return True
    except OSError:
        return False
