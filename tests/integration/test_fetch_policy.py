"""What ffmpeg follows inside a fetched URL obeys the fetch policy too (storage.fetch_proxy,
storage.ffmpeg_input): HLS segments on a refused address or `file://`, and redirects elsewhere,
are never fetched; the URL's password is never on a command line.

Two HTTP servers on loopback: 127.0.0.1 (allow-listed) and 127.0.0.2 (loopback, not listed:
refused). No Vigil node is started; `storage.media.fetch` runs ffmpeg as IngestUri does."""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from storage.errors import MediaError
from storage.fetch_proxy import FetchProxy
from storage.media import fetch, probe
from storage.media_tools import ffmpeg_exe
from storage.url_policy import Purpose, UrlPolicy, UrlRefusedError
from tests.processes import command_lines

POLICY = UrlPolicy.from_settings(["127.0.0.1/32"], ["127.0.0.1/32"])
PASSWORD = "Pa55w0rd-fetch"
SEGMENT_S = 2.0


@dataclass
class Served:
    """One HTTP server: its base URL and the paths it was asked for."""

    base: str
    requests: list[str] = field(default_factory=list)
    command_lines: list[str] = field(default_factory=list)  # every process's, read while a request waited




def _serve(folder: Path, host: str, redirects: dict[str, str]) -> Iterator[Served]:
    served = Served("")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            served.command_lines.extend(command_lines())  # ffmpeg is running, waiting for this answer
            if self.path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((host, 0), functools.partial(Handler, directory=str(folder)))
    served.base = f"http://{host}:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 2-second MPEG-TS segments (seg0..2.ts) and an MP4 of the same footage."""
    folder = tmp_path_factory.mktemp("hls")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=10", "-t", str(3 * SEGMENT_S), "-c:v", "libx264",
                    "-g", "10", "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_list_size", "0",
                    "-hls_segment_filename", str(folder / "seg%d.ts"), str(folder / "all.m3u8")],
                   check=True, timeout=60)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(folder / "all.m3u8"), "-c", "copy",
                    "-movflags", "+faststart", str(folder / "clip.mp4")], check=True, timeout=60)
    return folder


@pytest.fixture(scope="module")
def refused(media: Path) -> Iterator[Served]:
    yield from _serve(media, "127.0.0.2", {})


@pytest.fixture(scope="module")
def allowed(media: Path, refused: Served) -> Iterator[Served]:
    yield from _serve(media, "127.0.0.1", {"/elsewhere.mp4": f"{refused.base}/clip.mp4",
                                           "/file.mp4": f"file://{media}/clip.mp4"})


def _playlist(media: Path, name: str, *segments: str) -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_S:.0f}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for uri in segments:
        lines += [f"#EXTINF:{SEGMENT_S:.1f},", uri]
    (media / name).write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))


def _fetch(url: str, out: Path) -> Path:
    return fetch(url, POLICY, out, timeout_s=60, max_bytes=50 * 1024 * 1024)


def test_an_allowed_playlist_is_fetched_whole(media: Path, allowed: Served, tmp_path: Path) -> None:
    _playlist(media, "ok.m3u8", "seg0.ts", "seg1.ts", "seg2.ts")
    out = _fetch(f"{allowed.base}/ok.m3u8", tmp_path / "ok.mp4")
    assert probe(out).duration_s == pytest.approx(3 * SEGMENT_S, abs=0.2)


def test_a_segment_on_a_refused_address_is_not_fetched(media: Path, allowed: Served, refused: Served,
                                                       tmp_path: Path) -> None:
    _playlist(media, "mixed.m3u8", "seg0.ts", f"{refused.base}/seg1.ts", "seg2.ts")
    with pytest.raises(UrlRefusedError, match=r"ingest URI host 127\.0\.0\.2 is loopback; allowed: public "
                                              r"addresses, fetch\.ingest_allow \[127\.0\.0\.1/32\]"):
        _fetch(f"{allowed.base}/mixed.m3u8", tmp_path / "mixed.mp4")
    assert refused.requests == [] and not (tmp_path / "mixed.mp4").exists()


def test_a_file_segment_is_not_read(media: Path, allowed: Served, tmp_path: Path) -> None:
    _playlist(media, "local.m3u8", "seg0.ts", f"file://{media}/seg1.ts", f"file://{media}/seg2.ts")
    out = _fetch(f"{allowed.base}/local.m3u8", tmp_path / "local.mp4")
    assert probe(out).duration_s == pytest.approx(SEGMENT_S, abs=0.2)  # only the HTTP segment


@pytest.mark.parametrize("name", ["evil.ffconcat", "pipe.m3u8"])
def test_served_scripts_cannot_name_local_files_or_pipes(media: Path, allowed: Served, tmp_path: Path,
                                                         name: str) -> None:
    (media / "evil.ffconcat").write_text(f"ffconcat version 1.0\nfile 'seg0.ts'\n"
                                         f"file 'file://{media}/seg1.ts'\nfile 'pipe:0'\n")
    _playlist(media, "pipe.m3u8", "seg0.ts", "pipe:0", "fd:2")
    with pytest.raises(MediaError, match="could not be fetched"):
        _fetch(f"{allowed.base}/{name}", tmp_path / "evil.mp4")


@pytest.mark.parametrize("path", ["/elsewhere.mp4", "/file.mp4"])
def test_redirects_are_checked_like_the_first_request(allowed: Served, refused: Served, tmp_path: Path,
                                                      path: str) -> None:
    with pytest.raises(MediaError):
        _fetch(f"{allowed.base}{path}", tmp_path / "redirected.mp4")
    assert refused.requests == [] and not (tmp_path / "redirected.mp4").exists()


def test_the_password_is_on_no_command_line(allowed: Served, tmp_path: Path) -> None:
    allowed.command_lines.clear()
    _fetch(f"{allowed.base.replace('//', f'//viewer:{PASSWORD}@')}/clip.mp4", tmp_path / "secret.mp4")
    assert any("pipe:0" in line for line in allowed.command_lines)  # ffmpeg was seen running
    assert not [line for line in allowed.command_lines if PASSWORD in line]


def test_the_proxy_checks_https_tunnels(allowed: Served, refused: Served) -> None:
    """CONNECT (HTTPS, RTSPS) is checked like GET; an allowed tunnel carries bytes both ways."""
    with FetchProxy(POLICY, Purpose.INGEST) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        for target, status in ((refused.base.removeprefix("http://"), b"403"),
                               (allowed.base.removeprefix("http://"), b"200")):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
                assert s.recv(12).split(b" ")[1] == status
                if status == b"200":
                    s.recv(100)  # the rest of the proxy's answer
                    s.sendall(b"GET /seg0.ts HTTP/1.0\r\n\r\n")
                    assert s.recv(12).startswith(b"HTTP/1.0 200")
        assert proxy.refusals == ["ingest URI host 127.0.0.2 is loopback; allowed: public addresses, "
                                  "fetch.ingest_allow [127.0.0.1/32]"]
    assert refused.requests == []
