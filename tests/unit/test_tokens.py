"""Token expiry, listing and revocation; strict subjects, groups and ids; plaintext refused off
loopback. TokenStore runs over the in-memory store with a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.api.server import InsecureTransportError, check_transport, create_server
from services.cli import build_parser
from services.security.auth import Role, TokenExpiredError, TokenStore, hash_token, validate_subject
from services.settings import ServerSettings, Settings
from storage.keys import JOB_ID, validate_camera_id, validate_group, validate_groups
from tests.memory_store import MemoryStore

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def tokens(clock: Clock) -> TokenStore:
    return TokenStore(MemoryStore(), cache_s=60, clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize("camera_id", ["cam-1\n", "cam-1\r", " cam-1", "cam 1", "", "-cam", "a/b",
                                       "a..b", "x" * 65])
def test_camera_ids_must_match_entirely(camera_id: str) -> None:
    with pytest.raises(ValueError, match="camera id"):
        validate_camera_id(camera_id)


def test_good_camera_ids_and_groups_pass() -> None:
    assert validate_camera_id("cam-hem-12.north_1") == "cam-hem-12.north_1"
    assert validate_group("phuong-ben-thanh") == "phuong-ben-thanh"
    assert validate_groups(["ward-b", "ward-a", "ward-a"]) == ("ward-a", "ward-b")
    assert validate_groups(["*"]) == ("*",)


@pytest.mark.parametrize("group", ["ward-a\n", "", " ", "ward a", "ward/a", "*", "ward-*", "x" * 65,
                                   "-ward"])
def test_invalid_groups_are_refused(group: str) -> None:
    with pytest.raises(ValueError, match="group"):
        validate_group(group)


@pytest.mark.parametrize("groups", [[], [""], ["ward-a", ""], ["*", "ward-a"], ["ward-a\n"],
                                    [f"g{i}" for i in range(257)]])
def test_a_tokens_groups_need_one_valid_list_with_star_only_alone(groups: list[str]) -> None:
    with pytest.raises(ValueError):
        validate_groups(groups)


@pytest.mark.parametrize("subject", ["admin\nrole=admin", "", " officer", "officer a", "x" * 101,
                                     "officer\t", "-x"])
def test_invalid_subjects_are_refused(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        validate_subject(subject)


def test_good_subjects_pass() -> None:
    for subject in ("officer-a", "nguyen.van.a@police.hcmc.gov.vn", "ward-b-nvr:01", "x" * 100):
        assert validate_subject(subject) == subject


def test_job_ids_must_match_entirely() -> None:
    assert JOB_ID.fullmatch("0" * 32) and not JOB_ID.fullmatch("0" * 32 + "\n")


def test_token_creation_validates_subject_and_groups(tokens: TokenStore) -> None:
    with pytest.raises(ValueError, match="subject"):
        tokens.create("bob\n", Role.VIEWER, ["ward-a"])
    with pytest.raises(ValueError, match="group"):
        tokens.create("bob", Role.VIEWER, ["ward-a", ""])
    assert tokens.list() == []


def test_a_token_works_until_its_expiry_then_is_refused_saying_so(tokens: TokenStore,
                                                                  clock: Clock) -> None:
    token = tokens.create("officer-a", Role.VIEWER, ["ward-a"], expires=clock.now + DAY)
    principal = tokens.authenticate(token)
    assert principal is not None and principal.subject == "officer-a"
    clock.now += DAY - 1
    assert tokens.authenticate(token) is not None
    clock.now += 1  # the cached lookup must not outlive the expiry either
    with pytest.raises(TokenExpiredError, match="expired at 2027-01-16T08:00:00Z"):
        tokens.authenticate(token)


def test_an_expiry_in_the_past_is_refused(tokens: TokenStore, clock: Clock) -> None:
    with pytest.raises(ValueError, match="not in the future"):
        tokens.create("officer-a", Role.VIEWER, ["ward-a"], expires=clock.now)


def test_tokens_without_expiry_and_old_records_never_expire(tokens: TokenStore, clock: Clock) -> None:
    token = tokens.create("nvr", Role.INGEST, ["ward-a"])
    store = tokens._store  # a record written before expiry existed has no 'expires' key
    old = "auth/tokens/" + "a" * 64 + ".json"
    store.put_bytes(old, json.dumps({"token_hash": "a" * 64, "subject": "legacy", "role": "viewer",
                                     "groups": ["ward-a"], "created": clock.now}).encode())
    clock.now += 10_000 * DAY
    assert tokens.authenticate(token) is not None
    assert sorted((r.subject, r.expires, r.expired(clock.now)) for r in tokens.list()) == [
        ("legacy", None, False), ("nvr", None, False)]


def test_list_shows_records_never_tokens_and_revoke_removes(tokens: TokenStore, clock: Clock) -> None:
    a = tokens.create("officer-a", Role.VIEWER, ["ward-a"], expires=clock.now + DAY)
    clock.now += 1
    b = tokens.create("detective-b", Role.INVESTIGATOR, ["ward-b", "ward-c"], expires=clock.now + 60)
    clock.now += 120
    records = tokens.list()
    assert [(r.token_hash, r.subject, r.role, r.groups, r.expired(clock.now)) for r in records] == [
        (hash_token(a), "officer-a", "viewer", ("ward-a",), False),
        (hash_token(b), "detective-b", "investigator", ("ward-b", "ward-c"), True)]
    assert not any(t in repr(records) for t in (a, b))
    tokens.revoke(hash_token(b))
    assert [r.subject for r in tokens.list()] == ["officer-a"]
    assert tokens.authenticate(b) is None


def test_the_bootstrap_admin_token_never_expires(tokens: TokenStore, clock: Clock, tmp_path: Path) -> None:
    path = tokens.bootstrap_admin(tmp_path)
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    clock.now += 10_000 * DAY
    principal = tokens.authenticate(path.read_text().strip())
    assert principal is not None and principal.role is Role.ADMIN


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "10.1.2.3", "vigil.example.org"])
def test_plaintext_off_loopback_is_refused_naming_host_and_fix(host: str) -> None:
    with pytest.raises(InsecureTransportError) as err:
        check_transport(ServerSettings(), f"{host}:50051")
    assert f"{host}:50051" in str(err.value)
    assert "server.tls_cert_file" in str(err.value) and "--insecure" in str(err.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_plaintext_on_loopback_is_served(host: str) -> None:
    check_transport(ServerSettings(), f"{host}:50051")


def test_tls_or_insecure_allows_other_hosts_and_insecure_warns(caplog: pytest.LogCaptureFixture,
                                                               tmp_path: Path) -> None:
    check_transport(ServerSettings(tls_cert_file=tmp_path / "c.pem", tls_key_file=tmp_path / "k.pem"),
                    "0.0.0.0:50051")
    with caplog.at_level(logging.WARNING, logger="services.api.server"):
        check_transport(ServerSettings(insecure_plaintext=True), "0.0.0.0:50051")
    assert "plaintext gRPC on 0.0.0.0:50051" in caplog.text


def test_create_server_refuses_plaintext_on_all_interfaces_before_binding() -> None:
    node = SimpleNamespace(settings=Settings(server={"host": "0.0.0.0"}))
    with pytest.raises(InsecureTransportError, match=r"0\.0\.0\.0:0"):
        asyncio.run(create_server(node, "0.0.0.0:0"))  # type: ignore[arg-type]


def test_token_create_expires_accepts_durations_and_times() -> None:
    parse = build_parser().parse_args
    base = ["token", "create", "--subject", "x", "--role", "viewer", "--group", "a", "--expires"]
    assert parse([*base, "2027-01-31T00:00Z"]).expires.isoformat() == "2027-01-31T00:00:00+00:00"
    assert parse([*base, "30d"]).expires.tzinfo is not None
    with pytest.raises(SystemExit):
        parse([*base, "30 days"])


def test_presigned_urls_live_minutes_by_default() -> None:
    assert Settings().storage.presign_ttl_s <= 300
