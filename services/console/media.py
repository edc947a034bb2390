"""Media through the console: HTTP GET (with Range) over PlaybackService.ReadMedia.

`/media/segment?key=segments/…mp4`, `/media/thumbnail?key=thumbnails/…jpg` and
`/media/export?key=exports/{export_id}/{camera}.mp4|.json` stream the object with the session's
rights (the node checks them, audits the read and answers NOT_FOUND for another group's key),
so `<video>` plays and seeks (206 Partial Content) without the browser ever reaching the bucket.
An export is sent as an attachment, under its own file name.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.console.connect import ConnectError

KIND_PREFIX = {"segment": "segments/", "thumbnail": "thumbnails/", "export": "exports/"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    """What to ask ReadMedia for: `suffix` bytes from the end, or [offset, offset+length)
    (length 0: to the end)."""
    offset: int = 0
    length: int = 0
    suffix: int = 0


def parse_range(header: str | None) -> ByteRange | None:
    """One range of a `Range: bytes=…` header; None without a header. Several ranges, or one
    that is not of bytes, is answered 416 by raising ConnectError('out_of_range')."""
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise ConnectError("out_of_range", f"unsupported Range {header[:60]!r}: give one 'bytes=a-b', "
                           "'bytes=a-' or 'bytes=-n'")
    first, last = m.group(1), m.group(2)
    if not first:
        if int(last) == 0:
            raise ConnectError("out_of_range", "the Range 'bytes=-0' asks for no bytes")
        return ByteRange(suffix=int(last))
    if last and int(last) < int(first):
        raise ConnectError("out_of_range", f"the Range {header[:60]!r} ends before it starts")
    return ByteRange(int(first), int(last) - int(first) + 1 if last else 0)


def check_kind(kind: str, key: str) -> None:
    """The key matches the path it was asked under (a thumbnail URL never serves an export)."""
    prefix = KIND_PREFIX.get(kind)
    if prefix is None:
        raise ConnectError("not_found", f"no media kind {kind[:40]!r}: use segment, thumbnail or export")
    if not key.startswith(prefix):
        raise ConnectError("invalid_argument", f"/media/{kind} serves keys under {prefix!r}")


def download_name(key: str) -> str:
    """'exports/{id}/cam-1.mp4' → 'vigil-export-{id}-cam-1.mp4' (ids and camera ids are safe)."""
    export_id, name = key.removeprefix("exports/").split("/", 1)
    return f"vigil-export-{export_id}-{name}"


@dataclass(frozen=True)
class MediaHead:
    """The first chunk's facts: what the HTTP headers say."""
    content_type: str
    total_size: int
    start: int  # first byte sent
    end: int  # one past the last byte sent


def headers(head: MediaHead, partial: bool, kind: str, key: str) -> dict[str, str]:
    out = {"Accept-Ranges": "bytes", "Content-Length": str(head.end - head.start),
           "Cache-Control": "private, max-age=300"}
    if partial:
        out["Content-Range"] = f"bytes {head.start}-{head.end - 1}/{head.total_size}"
    if kind == "export":
        out["Content-Disposition"] = f'attachment; filename="{download_name(key)}"'
    return out


async def prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for data in rest:
        yield data
