"""The console's protocol pieces without a server: Connect codes, envelopes, the method table read
from the descriptors, HTTP Range parsing, and the session store's expiry and bounds."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from services.console.connect import (
    HTTP_STATUS,
    ConnectError,
    connect_code,
    envelope,
    parse_request,
    timeout_of,
    unenvelope,
    vigil_methods,
)
from services.console.media import ByteRange, check_kind, download_name, parse_range
from services.console.sessions import SessionStore
from services.security.auth import Principal, Role

pytestmark = pytest.mark.unit


def test_every_grpc_code_has_a_connect_code_and_http_status() -> None:
    for code in grpc.StatusCode:
        if code != grpc.StatusCode.OK:
            assert connect_code(code) in HTTP_STATUS, code
    assert connect_code(grpc.StatusCode.CANCELLED) == "canceled"
    assert ConnectError("unauthenticated", "x").http_status == 401
    assert ConnectError("resource_exhausted", "x").http_status == 429
    assert ConnectError("resource_exhausted", "too big", 413).http_status == 413


def test_the_method_table_holds_every_rpc_with_its_streaming_kind() -> None:
    methods = vigil_methods()
    read = methods["vigil.v1.PlaybackService/ReadMedia"]
    assert read.server_streaming and not read.client_streaming
    assert read.path == "/vigil.v1.PlaybackService/ReadMedia"
    assert methods["vigil.v1.IngestService/IngestFile"].client_streaming
    assert not methods["vigil.v1.SearchService/Search"].server_streaming
    search = parse_request(methods["vigil.v1.SearchService/Search"], b'{"text": "xe m\xc3\xa1y", "topK": 5}')
    assert (search.text, search.top_k) == ("xe máy", 5)  # type: ignore[attr-defined]
    with pytest.raises(ConnectError, match="not a valid SearchRequest") as err:
        parse_request(methods["vigil.v1.SearchService/Search"], b'{"nope": 1}')
    assert err.value.code == "invalid_argument"


def test_envelopes_round_trip_and_a_malformed_one_is_refused() -> None:
    assert unenvelope(envelope(b'{"a":1}')) == b'{"a":1}'
    assert envelope(b"{}", 2)[:5] == b"\x02\x00\x00\x00\x02"
    for bad in (b"", b"\x00\x00\x00\x00\x09{}", b"\x01\x00\x00\x00\x02{}"):
        with pytest.raises(ConnectError):
            unenvelope(bad)
    assert timeout_of(None) is None and timeout_of("1500") == 1.5
    with pytest.raises(ConnectError, match="Connect-Timeout-Ms"):
        timeout_of("-1")


def test_ranges_are_read_as_http_says() -> None:
    assert parse_range(None) is None
    assert parse_range("bytes=0-99") == ByteRange(0, 100)
    assert parse_range("bytes=100-") == ByteRange(100, 0)
    assert parse_range("bytes=-500") == ByteRange(suffix=500)
    for bad in ("bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=-", "bytes=-0"):
        with pytest.raises(ConnectError) as err:
            parse_range(bad)
        assert err.value.code == "out_of_range", bad


def test_a_media_path_serves_only_its_own_kind_of_key() -> None:
    check_kind("segment", "segments/cam/2026/01/01/00/0-4000.mp4")
    with pytest.raises(ConnectError, match="serves keys under 'thumbnails/'"):
        check_kind("thumbnail", "segments/cam/2026/01/01/00/0-4000.mp4")
    with pytest.raises(ConnectError, match="no media kind"):
        check_kind("tokens", "auth/tokens/x.json")
    assert download_name("exports/abc/cam-1.mp4") == "vigil-export-abc-cam-1.mp4"


def test_sessions_end_with_their_token_or_their_hours_and_the_oldest_go_first() -> None:
    now = [1000.0]
    store = SessionStore(session_s=3600, max_sessions=2, clock=lambda: now[0])
    who = Principal("v", Role.VIEWER, frozenset({"ward-a"}))
    short = store.create("secret-token-1", who, token_expires=1010.0)
    long = store.create("secret-token-2", who, token_expires=None)
    assert short.expires_at == 1010.0 and long.expires_at == 4600.0
    assert "secret-token" not in repr(short) and "secret-token" not in str(short.public())
    assert short.public()["csrf"] == short.csrf and short.csrf_ok(short.csrf) and not short.csrf_ok(None)
    now[0] = 1010.0
    assert store.get(short.session_id) is None and store.get(long.session_id) == long
    a, b = store.create("t3", who, None), store.create("t4", who, None)
    assert store.get(long.session_id) is None  # pushed out: max_sessions
    assert store.get(a.session_id) == a and store.get(b.session_id) == b
    store.end(a.session_id)
    assert store.get(a.session_id) is None and store.get(None) is None


def test_doctor_fails_a_plaintext_console_off_loopback_only() -> None:
    from services.security.doctor import Verdict, check_console
    from services.settings import ConsoleSettings, ServerSettings

    plain, tls = ServerSettings(), ServerSettings(tls_cert_file=Path("c.pem"), tls_key_file=Path("k.pem"))
    assert check_console(ConsoleSettings(), plain).verdict is Verdict.OK
    assert check_console(ConsoleSettings(host="0.0.0.0"), tls).verdict is Verdict.OK
    assert check_console(ConsoleSettings(host="0.0.0.0", enabled=False), plain).verdict is Verdict.OK
    finding = check_console(ConsoleSettings(host="0.0.0.0"), plain)
    assert finding.verdict is Verdict.FAIL and "console.host" in finding.fix
