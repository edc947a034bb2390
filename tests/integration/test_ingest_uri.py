"""IngestUri: the server fetches a recording itself (here from an HTTP server on loopback)."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from services.api.client import VigilClient
from storage.media_tools import ffmpeg_exe

START = datetime(2026, 11, 14, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def http_url(video: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test video, moov first (Python's http.server cannot serve byte ranges), on loopback."""
    folder = tmp_path_factory.mktemp("http")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-c", "copy",
                    "-movflags", "+faststart", str(folder / "clip.mp4")], check=True, timeout=60)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/clip.mp4"
    httpd.shutdown()


def test_a_recording_fetched_over_http_is_ingested(client: VigilClient, http_url: str) -> None:
    status = client.wait_for_job(client.ingest_uri(http_url, "cam-uri", START), timeout_s=300)
    assert status.state == "succeeded" and status.segments == 5


@pytest.mark.parametrize("uri, words", [
    ("file:///etc/passwd", "scheme not allowed"),
    ("http://user:s3cret@127.0.0.1:9/missing.mp4", "could not be fetched"),
])
def test_bad_uris_are_refused_without_leaking_credentials(client: VigilClient, uri: str, words: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.ingest_uri(uri, "cam-uri", START)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in err.value.details() and "s3cret" not in err.value.details()
