"""IngestUri: the server fetches a recording itself (here from an HTTP server on 127.0.0.3, which
the test settings allow-list in fetch.ingest_allow), and nothing the fetch policy refuses."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from services.api.client import VigilClient
from storage.media_tools import ffmpeg_exe
from storage.url_policy import Purpose, UrlRefusedError, check_url, networks

START = datetime(2026, 11, 14, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def http_url(video: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test video, moov first (Python's http.server cannot serve byte ranges), on loopback."""
    folder = tmp_path_factory.mktemp("http")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-c", "copy",
                    "-movflags", "+faststart", str(folder / "clip.mp4")], check=True, timeout=60)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.3", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.3:{httpd.server_address[1]}/clip.mp4"
    httpd.shutdown()


def test_a_recording_fetched_over_http_is_ingested(client: VigilClient, http_url: str) -> None:
    status = client.wait_for_job(client.ingest_uri(http_url, "cam-uri", START), timeout_s=300)
    assert status.state == "succeeded" and status.segments == 5


@pytest.mark.parametrize("uri, words", [
    ("file:///etc/passwd", "ingest URI scheme 'file' not allowed; use one of http, https"),
    ("rtsp://user:s3cret@127.0.0.3/ch1", "ingest URI scheme 'rtsp' not allowed"),
    ("http://user:s3cret@127.0.0.3:9/missing.mp4", "could not be fetched"),
    ("http://user:s3cret@127.0.0.1:9/missing.mp4", "ingest URI host 127.0.0.1 is loopback; allowed: "
                                                   "public addresses, fetch.ingest_allow [127.0.0.3/32]"),
    ("http://169.254.169.254/latest/meta-data/", "host 169.254.169.254 is link-local"),
])
def test_bad_uris_are_refused_without_leaking_credentials(client: VigilClient, uri: str, words: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.ingest_uri(uri, "cam-uri", START)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in err.value.details() and "s3cret" not in err.value.details()


def test_the_nodes_own_ports_are_refused_even_inside_the_allow_list(
        client: VigilClient, node: object, server: object) -> None:
    """With all of loopback allow-listed, the S3 gateway, gRPC and metrics ports stay out of reach."""
    everything = tuple(networks(["127.0.0.0/8"]))
    policy = replace(node.url_policy(), ingest_allow=everything)  # type: ignore[attr-defined]
    s3 = node.settings.storage.endpoint  # type: ignore[attr-defined]
    for url in (f"http://{s3}/vigil-test/cameras/", f"http://{server.address}/",  # type: ignore[attr-defined]
                f"http://127.0.0.1:{node.metrics_port}/metrics"):  # type: ignore[attr-defined]
        with pytest.raises(UrlRefusedError, match="is a service of this node"):
            check_url(url, Purpose.INGEST, policy)
    with pytest.raises(grpc.RpcError) as err:  # and through the API, as the policy it serves with
        client.ingest_uri(f"http://{s3}/vigil-test/cameras/", "cam-uri", START)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is a service of this node" in err.value.details()
