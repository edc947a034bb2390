"""Playback and evidence: playlists, clip URLs and media bytes of the caller's cameras, and exports.

Every path checks visibility first (a hidden camera or segment answers NOT_FOUND as a missing
one does), then the range cap (`server.max_playlist_hours`, `server.max_export_hours`:
RESOURCE_EXHAUSTED naming the setting). Long work takes `stop`, a check that turns True once the
caller has gone, and ends early. URLs are presigned here, for `storage.presign_ttl_s`; what was
played or exported goes on the audit trail (never the URLs). `open_media`/`read_media` serve the
bytes of a segment, thumbnail or export through Vigil (for clients that cannot reach the bucket),
a byte range at a time, under the same visibility rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import quote

from services.application.audit import AuditTrail, Caller
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError, OutOfRangeError, ResourceExhaustedError
from services.settings import ServerSettings
from storage.errors import ObjectNotFoundError
from storage.export import Exporter, ExportManifest
from storage.keys import is_segment_key, media_camera
from storage.object_store import ObjectInfo
from storage.playlist import gaps, hls_playlist
from storage.recordings import Recordings
from storage.timeutil import HOUR_MS, to_ms

MAX_CAMERAS_PER_EXPORT = 16
MEDIA_CHUNK = 256 * 1024  # bytes per `read_media` call (one gRPC message of ReadMedia)
MEDIA_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".json": "application/json"}
NO_MEDIA = "no such media (a segment, thumbnail or export of a camera you may see)"
Stop = Callable[[], bool]


class Presigner(Protocol):
    def presigned_get_url(self, key: str, ttl: timedelta) -> str: ...


class MediaStore(Presigner, Protocol):
    """What playback needs of the bucket: presigned URLs, and ranged reads for `read_media`."""

    def stat(self, key: str) -> ObjectInfo: ...

    def get_range(self, key: str, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class MediaRange:
    """The bytes [offset, end) of a stored object a caller may read (`PlaybackService.open_media`)."""
    key: str
    content_type: str
    total_size: int
    offset: int
    end: int


@dataclass(frozen=True)
class Playlist:
    m3u8: str
    segments: int
    gaps: list[tuple[int, int]]  # [start, end) ms without footage
    urls_expire_ms: int


@dataclass(frozen=True)
class SegmentList:
    segments: list[tuple[str, int, int]]  # (segment key, start ms, end ms), in time order
    gaps: list[tuple[int, int]]  # [start, end) ms without footage between them


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_ms: int


@dataclass(frozen=True)
class ExportedClip:
    manifest: ExportManifest
    url: str


@dataclass(frozen=True)
class Export:
    export_id: str
    clips: list[ExportedClip]


def within_cap(start_ms: int, end_ms: int, max_hours: float, setting: str) -> None:
    """RESOURCE_EXHAUSTED for a range longer than `max_hours`, naming the setting that caps it."""
    if end_ms - start_ms > max_hours * HOUR_MS:
        raise ResourceExhaustedError(f"time_range covers {(end_ms - start_ms) / HOUR_MS:.4g} h, more than "
                                     f"the {max_hours:g} h limit ({setting}); ask for shorter ranges")


def _prefixed(prefix: str) -> Callable[[str], str]:
    """URLs `prefix` + quoted key; the prefix must be a path on the caller's own origin."""
    if not prefix.startswith("/") or prefix.startswith("//") or any(c in prefix for c in ' "\'\r\n\\<>'):
        raise InvalidArgumentError(f"url_prefix {prefix[:80]!r} must be a path starting with one '/', "
                                   "without spaces or quotes (e.g. '/media/segment?key=')")
    return lambda key: prefix + quote(key, safe="/")


def valid_segment_key(key: str) -> str:
    if not is_segment_key(key):
        raise InvalidArgumentError("segment_key must name a stored segment (segments/…/….mp4)")
    return key


class _Signer:
    """Presigned GET URLs with the configured lifetime."""

    def __init__(self, store: Presigner, ttl_s: float, now: Callable[[], datetime]) -> None:
        self._store, self._ttl, self._now = store, timedelta(seconds=ttl_s), now

    def url(self, key: str) -> str:
        return self._store.presigned_get_url(key, self._ttl)

    def expires_ms(self) -> int:
        return to_ms(self._now() + self._ttl)


def utc_now() -> datetime:
    return datetime.now(UTC)


class PlaybackService:
    def __init__(self, visibility: Visibility, recordings: Recordings, store: MediaStore,
                 audit: AuditTrail, limits: ServerSettings, presign_ttl_s: float,
                 now: Callable[[], datetime] = utc_now) -> None:
        self._visibility, self._recordings, self._audit = visibility, recordings, audit
        self._limits, self._signer = limits, _Signer(store, presign_ttl_s, now)
        self._store = store

    def playlist(self, caller: Caller, camera_id: str, start_ms: int, end_ms: int, stop: Stop,
                 url_prefix: str = "") -> Playlist:
        """An HLS playlist of the camera's stored segments in [start, end), URLs presigned, or
        `url_prefix` + the quoted key (a path on the caller's origin that serves keys itself)."""
        url_for = _prefixed(url_prefix) if url_prefix else self._signer.url
        missing = f"camera {camera_id} has no footage in the requested range"
        camera = self._visibility.camera(caller.principal, camera_id, missing)
        within_cap(start_ms, end_ms, self._limits.max_playlist_hours, "server.max_playlist_hours")
        segments = list(self._recordings.segments(camera, start_ms, end_ms, stop))
        if not segments:
            raise NotFoundError(missing)
        expires_ms = self._signer.expires_ms() if not url_prefix else 0
        self._audit.touched(caller, "playlist", {"camera_id": camera, "start_ms": start_ms,
                                                 "end_ms": end_ms, "segments": len(segments),
                                                 "urls_presigned": 0 if url_prefix else len(segments),
                                                 "urls_expire_ms": expires_ms})
        m3u8 = hls_playlist(segments, url_for)
        return Playlist(m3u8, len(segments), gaps(segments), expires_ms)

    def segments(self, caller: Caller, camera_id: str, start_ms: int, end_ms: int, stop: Stop) -> SegmentList:
        """The camera's stored segments overlapping [start, end) and the gaps between them."""
        camera = self._visibility.camera(caller.principal, camera_id, f"no camera {camera_id}")
        within_cap(start_ms, end_ms, self._limits.max_playlist_hours, "server.max_playlist_hours")
        found = list(self._recordings.segments(camera, start_ms, end_ms, stop))
        self._audit.touched(caller, "segments_listed", {"camera_id": camera, "start_ms": start_ms,
                                                        "end_ms": end_ms, "segments": len(found)})
        return SegmentList([(m.segment_key, m.start_ms, m.end_ms) for m in found], gaps(found))

    def clip_url(self, caller: Caller, segment_key: str) -> SignedUrl:
        """A presigned URL of one stored segment of a camera the caller may see."""
        key = valid_segment_key(segment_key)
        manifest = self._recordings.manifest(key)
        if manifest is None or not self._visibility.sees(caller.principal, manifest.camera_id):
            raise NotFoundError("no such segment")
        expires_ms = self._signer.expires_ms()
        self._audit.touched(caller, "clip_view", {"segment_key": key, "urls_presigned": 1,
                                                  "urls_expire_ms": expires_ms})
        return SignedUrl(self._signer.url(key), expires_ms)

    def open_media(self, caller: Caller, key: str, offset: int, length: int) -> MediaRange:
        """The range [offset, offset+length) (length 0: to the end) of a segment, thumbnail or
        export of a camera the caller sees; NOT_FOUND for any other key, hidden or missing alike;
        OUT_OF_RANGE for an offset at or past the end. Audited as `media_read`."""
        if offset < 0 or length < 0:
            raise InvalidArgumentError(f"offset ({offset}) and length ({length}) must not be negative")
        camera = media_camera(key)
        if camera is None or not self._visibility.sees(caller.principal, camera):
            raise NotFoundError(NO_MEDIA)
        try:
            size = self._store.stat(key).size
        except ObjectNotFoundError:
            raise NotFoundError(NO_MEDIA) from None
        if offset >= size:
            raise OutOfRangeError(f"offset {offset} is at or past the end of the {size}-byte object")
        end = size if length == 0 else min(size, offset + length)
        self._audit.touched(caller, "media_read", {"key": key, "camera_id": camera, "offset": offset,
                                                   "bytes": end - offset})
        return MediaRange(key, MEDIA_TYPES[key[key.rindex("."):]], size, offset, end)

    def read_media(self, media: MediaRange, position: int) -> bytes:
        """The next chunk (at most MEDIA_CHUNK bytes) of an opened range from `position`."""
        return self._store.get_range(media.key, position, min(MEDIA_CHUNK, media.end - position))


class EvidenceService:
    """Exports: each camera's footage of [start, end) cut into one verified MP4 with a manifest."""

    def __init__(self, visibility: Visibility, exporter: Exporter, store: Presigner, audit: AuditTrail,
                 limits: ServerSettings, presign_ttl_s: float,
                 now: Callable[[], datetime] = utc_now) -> None:
        self._visibility, self._exporter, self._audit = visibility, exporter, audit
        self._limits, self._signer = limits, _Signer(store, presign_ttl_s, now)

    def export(self, caller: Caller, camera_ids: list[str], start_ms: int, end_ms: int,
               stop: Stop) -> Export:
        if not 0 < len(camera_ids) <= MAX_CAMERAS_PER_EXPORT:
            raise InvalidArgumentError(f"give 1..{MAX_CAMERAS_PER_EXPORT} camera ids")
        within_cap(start_ms, end_ms, self._limits.max_export_hours, "server.max_export_hours")
        cameras = [self._visibility.camera(caller.principal, c,
                                           f"camera {c} has no footage in the requested range")
                   for c in dict.fromkeys(camera_ids)]
        export_id = self._exporter.new_id()
        clips = []
        for camera in cameras:
            m = self._exporter.export(export_id, camera, start_ms, end_ms, caller.subject, stop)
            clips.append(ExportedClip(m, self._signer.url(m.video_key)))
        self._audit.touched(caller, "export", {"export_id": export_id, "cameras": cameras,
                                               "start_ms": start_ms, "end_ms": end_ms,
                                               "sha256": [c.manifest.sha256 for c in clips],
                                               "urls_presigned": len(clips),
                                               "urls_expire_ms": self._signer.expires_ms()})
        return Export(export_id, clips)
