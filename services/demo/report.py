"""The demo's outputs for a person: a contact sheet (PNG) and an HTML page of the top hits."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from services.api.client import Hit

THUMB_W, THUMB_H = 240, 135
LABEL_W = 330
ROW_H = THUMB_H + 30
FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)  # has Vietnamese glyphs


@dataclass(frozen=True)
class QueryResult:
    query: str
    hits: list[Hit]
    thumbnails: list[bytes]  # JPEG of each hit's best keyframe
    relevant: list[bool]  # per hit: overlaps the scripted incident (each hit's `box` is drawn)


def contact_sheet(results: list[QueryResult], path: Path) -> None:
    per_row = max((len(r.hits) for r in results), default=1)
    sheet = Image.new("RGB", (LABEL_W + per_row * (THUMB_W + 10), ROW_H * len(results) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for row, result in enumerate(results):
        y = 10 + row * ROW_H
        draw.text((10, y + THUMB_H // 2 - 6), result.query[:44], fill="black", font=font)
        shown = zip(result.hits, result.thumbnails, result.relevant, strict=True)
        for col, (hit, jpeg, ok) in enumerate(shown):
            x = LABEL_W + col * (THUMB_W + 10)
            thumb = Image.open(io.BytesIO(jpeg)).convert("RGB").resize((THUMB_W, THUMB_H))
            sheet.paste(thumb, (x, y))
            if hit.box is not None:  # the region that matched
                x0, y0, x1, y1 = hit.box
                draw.rectangle((x + x0 * THUMB_W, y + y0 * THUMB_H, x + x1 * THUMB_W, y + y1 * THUMB_H),
                               outline="yellow", width=2)
            draw.rectangle((x, y, x + THUMB_W - 1, y + THUMB_H - 1),
                           outline="limegreen" if ok else "grey", width=3 if ok else 1)
            draw.text((x, y + THUMB_H + 4),
                      f"{hit.camera_id} {hit.start:%H:%M:%S}-{hit.end:%H:%M:%S} {hit.score:.2f}",
                      fill="black", font=font)
    sheet.save(path)


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font with Vietnamese diacritics when the system has one (else Pillow's default)."""
    for name in FONT_FILES:
        if Path(name).is_file():
            return ImageFont.truetype(name, 13)
    return ImageFont.load_default(size=13)


def html_page(results: list[QueryResult], out_dir: Path, verdict: str) -> Path:
    thumbs = out_dir / "thumbnails"
    thumbs.mkdir(parents=True, exist_ok=True)
    rows = []
    for qi, result in enumerate(results):
        cells = []
        shown = zip(result.hits, result.thumbnails, result.relevant, strict=True)
        for hi, (hit, jpeg, ok) in enumerate(shown):
            name = f"q{qi}-h{hi}.jpg"
            (thumbs / name).write_bytes(jpeg)
            mark = " ✔ incident" if ok else ""
            cells.append(
                f'<td><img src="thumbnails/{name}" width="{THUMB_W}"><br>'
                f"{html.escape(hit.camera_id)} {hit.start:%H:%M:%S}–{hit.end:%H:%M:%S} UTC<br>"
                f"score {hit.score:.3f}{mark}</td>")
        rows.append(f"<tr><th>{html.escape(result.query)}</th>{''.join(cells)}</tr>")
    page = out_dir / "index.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'><title>Vigil demo</title>"
        "<style>body{font-family:sans-serif}td,th{padding:6px;vertical-align:top;text-align:left}"
        "</style><h1>Vigil — investigator demo</h1>"
        f"<p>{html.escape(verdict)}</p><table>{''.join(rows)}</table>", encoding="utf-8")
    return page
