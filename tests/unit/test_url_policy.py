"""The fetch policy (storage.url_policy): which URLs the server may fetch for a caller, pinned
to the address that was checked. Names resolve through a fake resolver; nothing is contacted."""

from __future__ import annotations

import pytest

from storage.ffmpeg_input import PROTOCOLS, concat_script
from storage.url_policy import (
    AddressKind,
    Endpoint,
    Purpose,
    UrlPolicy,
    UrlRefusedError,
    address_kind,
    check_url,
    networks,
)

HOSTS = {
    "cam.lan": ["10.1.2.3"],
    "cdn.example": ["93.184.216.34"],
    "rebind.example": ["93.184.216.34", "127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "v6.example": ["2606:4700:4700::1111"],
    "s3.node": ["10.9.9.9"],
}
LOCAL = {"127.0.0.1", "0.0.0.0", "10.9.9.9"}  # this machine's addresses in these tests
INGEST, CAMERA = Purpose.INGEST, Purpose.CAMERA


def resolve(host: str, port: int) -> list[str]:
    if host in HOSTS:
        return HOSTS[host]
    try:
        return [str(networks([host])[0].network_address)]  # a literal address
    except ValueError:
        raise OSError(f"unknown host {host}") from None


def check(url: str, purpose: Purpose, policy: UrlPolicy | None = None) -> str:
    """The address `url` is pinned to, or the refusal's message."""
    try:
        return check_url(url, purpose, policy or UrlPolicy(), resolve, LOCAL.__contains__).ip
    except UrlRefusedError as exc:
        return f"refused: {exc}"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "pipe:0", "fd:3", "data:text/plain,x",
                                 "concat:a.ts|b.ts", "subfile:,start,0,end,9,:/etc/passwd",
                                 "crypto+file:///etc/passwd", "ftp://cdn.example/x", "gopher://cdn.example/",
                                 "tcp://cdn.example:80", "sftp://cdn.example/x"])
@pytest.mark.parametrize("purpose", [INGEST, CAMERA])
def test_only_network_schemes_are_fetched(url: str, purpose: Purpose) -> None:
    assert "not allowed; use one of" in check(url, purpose)


def test_ingest_uris_are_http_only_while_cameras_also_speak_rtsp_and_udp() -> None:
    assert "scheme 'rtsp' not allowed; use one of http, https" in check("rtsp://cam.lan/1", INGEST)
    for url in ("rtsp://cam.lan/1", "rtsps://cam.lan/1", "https://cam.lan/live.m3u8", "udp://cam.lan:5000",
                "rtp://cam.lan:5004"):
        assert check(url, CAMERA) == "10.1.2.3", url


@pytest.mark.parametrize("url, kind", [
    ("http://127.0.0.1:8888/buckets/", "loopback"),
    ("http://localhost.:8888/", None),  # does not resolve here: refused as such
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://0.0.0.0:8888/", "unspecified"),
    ("http://metadata.example/latest/meta-data/", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 form of 169.254.169.254
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
])
@pytest.mark.parametrize("purpose", [INGEST, CAMERA])
def test_local_and_special_addresses_are_refused(url: str, kind: str | None, purpose: Purpose) -> None:
    message = check(url, purpose)
    assert message.startswith("refused: ")
    assert (f"is {kind}; allowed: public addresses" in message) if kind else "does not resolve" in message


def test_the_message_names_host_address_and_what_is_allowed() -> None:
    assert check("http://127.0.0.1:9/x", INGEST) == (
        "refused: ingest URI host 127.0.0.1 is loopback; allowed: public addresses, networks an "
        "administrator lists in fetch.ingest_allow")
    assert check("http://metadata.example/", CAMERA, UrlPolicy.from_settings([], ["127.0.0.1/32"])) == (
        "refused: camera stream host metadata.example (169.254.169.254) is link-local; allowed: public "
        "addresses, private networks, fetch.camera_allow [127.0.0.1/32]")


def test_private_networks_are_for_cameras_and_for_allow_listed_ingest() -> None:
    assert check("http://cam.lan/a.mp4", CAMERA) == "10.1.2.3"
    assert "is private" in check("http://cam.lan/a.mp4", INGEST)
    assert check("http://cam.lan/a.mp4", INGEST, UrlPolicy.from_settings(["10.1.0.0/16"], [])) == "10.1.2.3"
    assert "is private" in check("http://cam.lan/a.mp4", INGEST, UrlPolicy.from_settings(["10.2.0.0/16"], []))
    assert check("https://cdn.example/a.mp4", INGEST) == "93.184.216.34"


def test_multicast_is_for_udp_and_rtp_camera_input_only() -> None:
    assert check("udp://239.1.1.1:5000", CAMERA) == "239.1.1.1"
    assert check("rtp://239.1.1.1:5004", CAMERA) == "239.1.1.1"
    assert "is multicast" in check("http://239.1.1.1/", CAMERA)
    assert "is multicast" in check("rtsp://239.1.1.1/", CAMERA)


def test_allow_lists_admit_loopback_for_their_purpose_only() -> None:
    policy = UrlPolicy.from_settings([], ["127.0.0.0/8"])
    assert check("udp://127.0.0.1:5000", CAMERA, policy) == "127.0.0.1"
    assert "is loopback" in check("http://127.0.0.1:8000/a.mp4", INGEST, policy)


def test_the_nodes_own_services_are_refused_even_when_allow_listed() -> None:
    policy = UrlPolicy.from_settings(["0.0.0.0/0", "::/0"], ["0.0.0.0/0"],
                                     [Endpoint("127.0.0.1", 8333), Endpoint("s3.node", 9000)])
    assert "is a service of this node (port 8333)" in check("http://127.0.0.1:8333/vigil/", INGEST, policy)
    assert "is a service of this node" in check("http://127.0.0.2:8333/", INGEST, policy)  # loopback
    assert "is a service of this node" in check("http://10.9.9.9:9000/vigil/", INGEST, policy)
    assert "is a service of this node" in check("rtsp://0.0.0.0:8333/", CAMERA, policy)
    assert check("http://127.0.0.1:8334/clip.mp4", INGEST, policy) == "127.0.0.1"  # another port


def test_every_address_of_a_name_is_checked() -> None:
    message = check("https://rebind.example/a.mp4", INGEST)
    assert "host rebind.example (127.0.0.1) is loopback" in message


def test_the_checked_address_is_the_one_used() -> None:
    calls: list[str] = []

    def counting(host: str, port: int) -> list[str]:
        calls.append(host)
        return resolve(host, port)

    rtsp = check_url("rtsp://admin:Pa55w0rd@cam.lan:8554/ch1?sub=1", CAMERA, UrlPolicy(), counting,
                     LOCAL.__contains__)
    assert calls == ["cam.lan"]
    assert (rtsp.ip, rtsp.url) == ("10.1.2.3", "rtsp://admin:Pa55w0rd@10.1.2.3:8554/ch1?sub=1")
    v6 = check_url("rtsp://v6.example/ch1", CAMERA, UrlPolicy(), resolve, LOCAL.__contains__)
    assert v6.url == "rtsp://[2606:4700:4700::1111]/ch1" and v6.port == 554
    https = check_url("https://u:p@cdn.example/live.m3u8", CAMERA, UrlPolicy(), resolve, LOCAL.__contains__)
    assert https.proxied and https.url == "https://u:p@cdn.example/live.m3u8"  # Host/SNI: the proxy pins
    assert (https.host, https.port, https.ip) == ("cdn.example", 443, "93.184.216.34")


@pytest.mark.parametrize("url", ["http://cdn.example/a b.mp4", "http://cdn.example\\@127.0.0.1/",
                                 "http://cdn.example/a\n.mp4", "http://cdn.example:99999/", "http:///a.mp4",
                                 "udp://cam.lan", "", "http://cdn.example/" + "a" * 5000])
def test_malformed_urls_are_refused(url: str) -> None:
    assert check(url, CAMERA).startswith("refused: ")


@pytest.mark.parametrize("url", ["rtsp://admin:Pa55w0rd@127.0.0.1/ch1", "http://u:Pa55w0rd@cam.lan:99999/",
                                 "http://cdn.example/a b?token=Pa55w0rd", "file://u:Pa55w0rd@x/",
                                 "http://u:Pa55w0rd@nowhere.invalid/", "udp://u:Pa55w0rd@cam.lan"])
def test_refusals_never_quote_credentials(url: str) -> None:
    message = check(url, INGEST)
    assert message.startswith("refused: ") and "Pa55w0rd" not in message


def test_address_kinds() -> None:
    kinds = {ip: address_kind(networks([ip])[0].network_address) for ip in (
        "8.8.8.8", "10.0.0.1", "100.64.0.1", "fd00::1", "fe80::1", "::", "2002:7f00:1::", "255.255.255.255")}
    assert kinds == {"8.8.8.8": AddressKind.PUBLIC, "10.0.0.1": AddressKind.PRIVATE,
                     "100.64.0.1": AddressKind.PRIVATE, "fd00::1": AddressKind.PRIVATE,
                     "fe80::1": AddressKind.LINK_LOCAL, "::": AddressKind.UNSPECIFIED,
                     "2002:7f00:1::": AddressKind.LOOPBACK,  # 6to4 of 127.0.0.1
                     "255.255.255.255": AddressKind.RESERVED}


def test_allow_lists_must_be_networks() -> None:
    with pytest.raises(ValueError, match="'cameras' is not an IP network"):
        networks(["10.0.0.0/8", "cameras"])


def test_the_url_reaches_ffmpeg_quoted_in_a_script_never_as_an_argument() -> None:
    checked = check_url("http://u:it's@cdn.example/a.m3u8", CAMERA, UrlPolicy(), resolve, LOCAL.__contains__)
    assert concat_script(checked.url, {"rw_timeout": "2000000"}) == (
        b"ffconcat version 1.0\nfile 'http://u:it'\\''s@cdn.example/a.m3u8'\noption rw_timeout '2000000'\n")
    for protocols in PROTOCOLS.values():
        assert not set(protocols.split(",")) & {"file", "fd", "data", "subfile", "concat", "concatf", "unix"}
