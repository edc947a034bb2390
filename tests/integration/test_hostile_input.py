"""Hostile and broken input, generated here: each gets a clear error, nothing is stored,
and the server keeps answering."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from services.api.client import VigilClient
from storage.media_tools import ffmpeg_exe

START = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, video: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    files = {
        "random-bytes.mp4": os.urandom(200_000),
        "truncated.mp4": video.read_bytes()[: video.stat().st_size // 3],
        "text.mp4": "Xin chào, đây không phải video\n".encode() * 100,
        "zeros.mp4": bytes(100_000),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", str(d / "audio-only.m4a"))
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1", str(d / "still.png"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "1", "-c:v", "libx264",
            "-output_ts_offset", "900000000", str(d / "absurd-timestamps.mp4"))
    _ffmpeg("-i", str(video), "-c", "copy", "-movflags", "+faststart", str(d / "faststart.mp4"))
    whole = (d / "faststart.mp4").read_bytes()  # its index first: a cut copy still opens
    (d / "truncated-faststart.mp4").write_bytes(whole[: len(whole) * 6 // 10])
    (d / "faststart.mp4").unlink()
    return {p.name: p for p in d.iterdir()}


def _keys(node: object) -> list[str]:
    return sorted(o.key for o in node.store.list("segments/"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name, words", [
    ("random-bytes.mp4", "not a readable video"),
    ("truncated.mp4", "an MP4 without its index, the moov box"),  # cut before its index
    ("truncated-faststart.mp4", "the file is truncated: its index lists"),  # its index promises more
    ("text.mp4", "not a readable video"), ("zeros.mp4", "not a readable video"),
    ("audio-only.m4a", "no video stream"), ("still.png", "a single still image")])
def test_unreadable_or_absurd_files_are_refused_and_nothing_is_stored(
        name: str, words: str, corpus: dict[str, Path], client: VigilClient, node: object) -> None:
    before, spooled = _keys(node), set(node.upload_dir.iterdir())  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as err:
        client.ingest_file(corpus[name], "cam-hostile", START)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert name in err.value.details() and words in err.value.details()
    assert "/tmp" not in err.value.details()
    assert _keys(node) == before
    # the refused upload's spool file is gone (another test's job may still hold its own)
    assert set(node.upload_dir.iterdir()) <= spooled  # type: ignore[attr-defined]


def test_a_file_with_far_future_timestamps_is_stored_at_its_wall_clock(
        corpus: dict[str, Path], client: VigilClient, node: object) -> None:
    """Container timestamps are relative to the file; the caller's start time anchors them."""
    job = client.wait_for_job(client.ingest_file(corpus["absurd-timestamps.mp4"], "cam-offset", START),
                              timeout_s=120)
    assert job.state == "succeeded"
    start = int(START.timestamp() * 1000)
    assert [k for k in _keys(node) if k.startswith("segments/cam-offset/")] == [
        f"segments/cam-offset/2026/11/17/12/{start}-{start + 1000}.json",
        f"segments/cam-offset/2026/11/17/12/{start}-{start + 1000}.mp4"]


@pytest.mark.parametrize("text", ["'; DROP TABLE cameras; --", "../../../../etc/passwd",
                                  "\u202eevil\u0000null", "🚲" * 200, "xe đạp " * 100])
def test_strange_queries_are_answered_not_crashed(text: str, client: VigilClient) -> None:
    result = client.search(text, top_k=5, min_score=-1)
    assert len(result.hits) <= 5


def test_malformed_protobuf_is_rejected_and_the_server_stays_up(server: object, admin_token: str,
                                                                client: VigilClient) -> None:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        raw = c.channel.unary_unary("/vigil.v1.SearchService/Search",
                                    request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\xff\xff\xff\xff\x0f garbage that is not a SearchRequest", timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf" in err.value.details()
    assert client.search("still up", min_score=-1).hits is not None


def test_an_oversized_message_is_refused(client: VigilClient) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.search_by_image(b"\x89PNG" + os.urandom(9 * 1024 * 1024))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
