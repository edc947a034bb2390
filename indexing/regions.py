"""Region proposals for a keyframe, with no downloaded detector: where the small subjects are.

A wide view's subject (a person, a bicycle) is a few percent of the frame, and
all but disappears when the whole keyframe is embedded at 224 px. So each
keyframe is also embedded as a few crops (`crop`), at the boxes
`RegionProposer.propose` returns (normalised `Box`es, rounded to 1/65535ths,
which the index keeps as 4 × uint16):

- "motion": each camera keeps a background model, the per-pixel median of its
  last `history` keyframes downscaled to a coarse grid (`GRID_WIDTH` cells
  wide). A keyframe's foreground is where it differs from that background by
  more than `MIN_DIFF` grey levels above the frame's median difference (a
  global light change moves the median, not the mask); its 8-connected
  components (after one cell of dilation, which joins a subject's fragments)
  give boxes. A component whose own bounding box covers less than
  `min_fraction` of the frame is noise and dropped. Each box is padded by
  `context` of its size on every side, made square in pixels (the embedders
  centre-crop to a square: an upright person would lose head and feet) and at
  least `MIN_SIDE` of the frame's short side, then boxes that overlap mostly
  are merged; one that covers most of the frame (`MAX_AREA`) is left to the
  whole-frame vector. Largest foreground first. A camera's first keyframes
  (fewer than `MIN_HISTORY`) have no background yet, so no motion boxes.
- "grid": square tiles in rows of `grid_rows` (2 rows: tiles half the frame's
  height; 3 rows: a third), overlapping along the long side so they cover the
  frame. When the budget is smaller than the grid, each keyframe takes the
  next tiles in turn, per camera: a still subject (which the motion model
  absorbs into the background) is in some keyframe's crop within a few
  keyframes, at a bounded cost per keyframe.
- "motion+grid": motion boxes first, the grid fills the rest of the budget.
- "off": no regions.

Close views get none, or only their moving subjects' boxes (`close_view_motion`). Crops pay
where subjects are small: a camera whose moving
subjects are large in its frame already shows them to the whole-keyframe vector,
and there its crops only add vectors (≈ 5× per keyframe) and near-misses that
outrank the right keyframe (the close-up benchmark lost first places with them:
`benchmarks/reference/retrieval_quality-quick-regions-2026-12-03.json`). So each
camera keeps the areas of its last `SUBJECT_HISTORY` foreground blobs (their own
boxes, as a fraction of the frame); once it has `MIN_SUBJECTS`, a camera whose
median blob covers at least `close_view` of the frame is a close view and its
keyframes get no regions (motion or grid) until its subjects shrink again (the
camera is re-aimed, zoomed out). Those blob areas are what a camera's view is known by
(`view`); a proposer that starts without them (a new process, a restarted recorder) is given
them with `recall`, so a close view's first keyframes do not get grid tiles while it relearns.
Measured on the world's footage (keyframes every 2 s): median blob 0.03-0.10 of the frame on
the 720p close-up cameras of the demo, 0.005-0.008 on its 1080p street views (p90 ≤ 0.033);
`CLOSE_VIEW` sits between.
With `close_view_motion` a close view's keyframes keep their motion boxes (no grid tiles: 0.7
regions per keyframe on the alert replay's close-up cameras against the grid's 5): a whole
keyframe shows its subject to CLIP well enough, but not to an appearance tower
(`indexing.reid`), which tells one person or bicycle from another on the subject's own crop —
what a photo watch entry or `SearchByImage` compares.
Needs the motion model: with "grid" alone every camera gets tiles.

At most `max_regions` boxes per keyframe. The proposer is thread-safe; its
state per camera is the background history (`history` × the coarse grid, a
few kB) and the grid's turn, for the `max_cameras` most recently seen cameras.
Numpy and PIL only; no services imports.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from PIL import Image

from indexing.frame_columns import Box

GRID_WIDTH = 64  # cells across the frame for the background model and the foreground mask
MIN_DIFF = 24  # grey levels above the frame's median difference that make a cell foreground
MIN_HISTORY = 3  # keyframes of a camera before its background is trusted
MIN_SIDE = 0.15  # a padded box's side at least this fraction of the frame's short side
MAX_AREA = 0.6  # a box covering more of the frame than this is left to the whole frame
MERGE_OVERLAP = 0.6  # boxes whose intersection is this much of the smaller one are merged
MAX_FOREGROUND = 0.5  # more of the frame changed than this: a light change or a cut, not subjects
CLOSE_VIEW = 0.02  # a camera whose median moving subject covers this much of the frame: no regions
SUBJECT_HISTORY = 64  # foreground blobs per camera whose median decides a close view
MIN_SUBJECTS = 8  # blobs seen before a camera can be called a close view


class RegionMethod(StrEnum):
    OFF = "off"
    MOTION = "motion"
    GRID = "grid"
    MOTION_GRID = "motion+grid"


@dataclass
class _Camera:
    """One camera's state: its last keyframes on the coarse grid, and the grid's next tile."""

    history: deque[np.ndarray]
    turn: int = 0
    subjects: deque[float] = field(default_factory=lambda: deque(maxlen=SUBJECT_HISTORY))  # blob areas
    seen: int = 0  # blobs ever added to `subjects`


@dataclass(frozen=True)
class View:
    """What a proposer knows of a camera's view: its last blobs' areas (fractions of the frame,
    oldest first), how many blobs it has seen in all, and whether that makes it a close view."""

    subjects: tuple[float, ...]
    seen: int
    close: bool


@dataclass(frozen=True)
class Blob:
    box: Box  # the foreground's own bounding box
    cells: int  # foreground cells in it


class RegionProposer:
    """Boxes worth embedding in a camera's keyframes; `propose` them in the camera's time order."""

    def __init__(self, max_regions: int = 5, min_fraction: float = 0.002,
                 method: RegionMethod | str = RegionMethod.MOTION_GRID, *, history: int = 8,
                 grid_rows: tuple[int, ...] = (2, 3), context: float = 0.25,
                 max_cameras: int = 1024, close_view: float = CLOSE_VIEW,
                 close_view_motion: bool = False) -> None:
        """`close_view`: the median subject size (fraction of the frame) from which a camera gets
        no regions (with `close_view_motion`: its motion boxes only); 0: every camera gets them."""
        if max_regions < 0 or not 0 <= min_fraction < 1 or history < MIN_HISTORY or not 0 <= close_view < 1:
            raise ValueError(f"max_regions={max_regions}, min_fraction={min_fraction}, history={history}, "
                             f"close_view={close_view}: give max_regions >= 0, 0 <= min_fraction < 1, "
                             f"history >= {MIN_HISTORY} and 0 <= close_view < 1")
        if any(rows < 1 for rows in grid_rows):
            raise ValueError(f"grid_rows={grid_rows}: every level needs at least one row")
        self.max_regions, self.min_fraction, self.method = max_regions, min_fraction, RegionMethod(method)
        self.history, self.grid_rows, self.context = history, grid_rows, context
        self.max_cameras, self.close_view, self.close_view_motion = max_cameras, close_view, close_view_motion
        self._cameras: OrderedDict[str, _Camera] = OrderedDict()
        self._lock = threading.Lock()

    def propose(self, camera_id: str, rgb: np.ndarray) -> list[Box]:
        """The keyframe's regions (H×W×3 uint8, any size), at most `max_regions`; updates the
        camera's background with it."""
        if self.method is RegionMethod.OFF or self.max_regions == 0:
            return []
        height, width = rgb.shape[:2]
        boxes: list[Box] = []
        with self._lock:
            state = self._camera(camera_id)
            if self.method in (RegionMethod.MOTION, RegionMethod.MOTION_GRID):
                small = coarse(rgb)
                if state.history and state.history[-1].shape != small.shape:
                    state.history.clear()  # the camera's resolution changed
                if len(state.history) >= MIN_HISTORY:
                    background = np.median(np.stack(state.history), axis=0)
                    blobs = foreground_blobs(foreground(small, background), self.min_fraction)
                    state.subjects.extend(b.box.area for b in blobs)
                    state.seen += len(blobs)
                    boxes = motion_boxes(blobs, width, height, self.context)[:self.max_regions]
                state.history.append(small)
                if self._is_close_view(state):
                    return boxes if self.close_view_motion else []
            if self.method in (RegionMethod.GRID, RegionMethod.MOTION_GRID):
                tiles = grid_boxes(width, height, self.grid_rows)
                take = min(self.max_regions - len(boxes), len(tiles))
                boxes += [tiles[(state.turn + i) % len(tiles)] for i in range(take)]
                state.turn = (state.turn + take) % max(1, len(tiles))
        return boxes

    @property
    def learns_views(self) -> bool:
        """Whether it tells close views from wide ones (it watches motion and may propose)."""
        return (self.method in (RegionMethod.MOTION, RegionMethod.MOTION_GRID) and self.max_regions > 0
                and self.close_view > 0)

    def is_close_view(self, camera_id: str) -> bool:
        """Whether the camera's keyframes currently get no regions (its subjects are large)."""
        view = self.view(camera_id)
        return view is not None and view.close

    def knows(self, camera_id: str) -> bool:
        """Whether it holds state for the camera (it has met it and not forgotten it)."""
        with self._lock:
            return camera_id in self._cameras

    def view(self, camera_id: str) -> View | None:
        """The camera's view as this proposer knows it; None for a camera it has no state for."""
        with self._lock:
            state = self._cameras.get(camera_id)
            if state is None:
                return None
            return View(tuple(state.subjects), state.seen, self._is_close_view(state))

    def recall(self, camera_id: str, subjects: Sequence[float]) -> None:
        """Start the camera's view from blob areas learned before (`View.subjects`, oldest first),
        unless this proposer has seen blobs of it already (what it saw itself is newer)."""
        if any(not 0 < a <= 1 for a in subjects):
            raise ValueError(f"blob areas must be fractions of the frame in (0, 1]: {list(subjects)[:8]}")
        with self._lock:
            state = self._camera(camera_id)
            if not state.subjects:
                state.subjects.extend(float(a) for a in subjects)

    def _is_close_view(self, state: _Camera) -> bool:
        return (self.close_view > 0 and len(state.subjects) >= MIN_SUBJECTS
                and float(np.median(state.subjects)) >= self.close_view)

    def forget(self, camera_id: str) -> None:
        """Drop the camera's background (e.g. it was moved)."""
        with self._lock:
            self._cameras.pop(camera_id, None)

    def _camera(self, camera_id: str) -> _Camera:
        state = self._cameras.pop(camera_id, None) or _Camera(deque(maxlen=self.history))
        self._cameras[camera_id] = state  # most recently seen last
        while len(self._cameras) > self.max_cameras:
            self._cameras.popitem(last=False)
        return state


def crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels of an H×W×3 image (at least one pixel each way), as a contiguous copy."""
    height, width = rgb.shape[:2]
    x0, x1 = _span(box.x0, box.x1, width)
    y0, y1 = _span(box.y0, box.y1, height)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def with_crops(frames: Sequence[np.ndarray], boxes: Sequence[Sequence[Box]],
               sources: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """The frames, then each frame's crops at its boxes, in order: one embedding call for both
    (`indexing.dedup.dedup_keyframes` takes the vectors in this order). Crops are cut from
    `sources` (the same frames at a higher resolution, e.g. `Keyframe.detail`) when given."""
    sources = frames if sources is None else sources
    return [*frames, *(crop(frame, box) for frame, own in zip(sources, boxes, strict=True) for box in own)]


def _span(lo: float, hi: float, size: int) -> tuple[int, int]:
    a = min(size - 1, max(0, round(lo * size)))
    return a, max(a + 1, min(size, round(hi * size)))


def coarse(rgb: np.ndarray) -> np.ndarray:
    """The frame averaged down to `GRID_WIDTH` cells across (aspect kept), uint8."""
    height, width = rgb.shape[:2]
    size = (min(GRID_WIDTH, width), max(1, round(height * min(GRID_WIDTH, width) / width)))
    return np.asarray(Image.fromarray(rgb[..., :3]).resize(size, Image.Resampling.BOX))


def foreground(small: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Cells that differ from the background (bool, the coarse grid's shape); none when most
    of the frame changed at once."""
    diff = np.abs(small.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    mask = diff > np.median(diff) + MIN_DIFF
    return mask if mask.mean() <= MAX_FOREGROUND else np.zeros_like(mask)


def foreground_blobs(mask: np.ndarray, min_fraction: float) -> list[Blob]:
    """Connected foreground (8-connected after one cell of dilation), each with its own
    bounding box, biggest first; blobs whose box is under `min_fraction` of the frame dropped."""
    rows, cols = mask.shape
    grown = _dilate(mask)
    seen = np.zeros_like(grown)
    blobs = []
    for r0, c0 in zip(*np.nonzero(grown), strict=True):
        if seen[r0, c0]:
            continue
        seen[r0, c0] = True
        stack, cells = [(int(r0), int(c0))], []
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for rr in range(max(0, r - 1), min(rows, r + 2)):
                for cc in range(max(0, c - 1), min(cols, c + 2)):
                    if grown[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        stack.append((rr, cc))
        own = [(r, c) for r, c in cells if mask[r, c]]
        if not own:
            continue
        rs, cs = [r for r, _ in own], [c for _, c in own]
        box = Box.snapped(min(cs) / cols, min(rs) / rows, (max(cs) + 1) / cols, (max(rs) + 1) / rows)
        if box.area >= min_fraction:
            blobs.append(Blob(box, len(own)))
    return sorted(blobs, key=lambda b: -b.cells)


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    rows, cols = mask.shape
    out = np.zeros_like(mask)
    for dr in range(3):
        for dc in range(3):
            out |= padded[dr:dr + rows, dc:dc + cols]
    return out


def motion_boxes(blobs: Sequence[Blob], width: int, height: int, context: float) -> list[Box]:
    """The blobs' boxes padded with context, square in pixels, merged where they mostly overlap;
    biggest foreground first, boxes covering most of the frame left out."""
    boxes = [pad(b.box, width, height, context) for b in blobs]
    return [b for b in merge(boxes) if b.area <= MAX_AREA]


def pad(box: Box, width: int, height: int, context: float) -> Box:
    """`box` grown by `context` of its size on each side, then to a square in pixels of at least
    `MIN_SIDE` of the short side, shifted to stay inside the frame."""
    w, h = (box.x1 - box.x0) * width, (box.y1 - box.y0) * height
    side = min(max(w, h) * (1 + 2 * context), width, height)
    side = max(side, min(MIN_SIDE * min(width, height), width, height))
    cx, cy = (box.x0 + box.x1) / 2 * width, (box.y0 + box.y1) / 2 * height
    x0 = min(max(0.0, cx - side / 2), width - side)
    y0 = min(max(0.0, cy - side / 2), height - side)
    return Box.snapped(x0 / width, y0 / height, (x0 + side) / width, (y0 + side) / height)


def merge(boxes: Sequence[Box]) -> list[Box]:
    """Boxes whose intersection is most (`MERGE_OVERLAP`) of the smaller one become their union,
    in the place of the first; repeated until none do."""
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                if _overlap(out[i], out[j]) >= MERGE_OVERLAP:
                    a, b = out[i], out.pop(j)
                    out[i] = Box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))
                    merged = True
                    break
            if merged:
                break
    return out


def _overlap(a: Box, b: Box) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, w) * max(0.0, h) / min(a.area, b.area)


def grid_boxes(width: int, height: int, rows: Sequence[int]) -> list[Box]:
    """Square tiles (in pixels) in `rows` rows per level, coarse levels first, spread to cover the
    frame's long side with overlap."""
    tiles = []
    for n in rows:
        side = min(height / n, width)
        across = math.ceil(width / side - 1e-9)
        step = (width - side) / (across - 1) if across > 1 else 0.0
        down = n if side == height / n else math.ceil(height / side - 1e-9)
        vstep = (height - side) / (down - 1) if down > 1 else 0.0
        for r in range(down):
            for c in range(across):
                x0, y0 = c * step, r * vstep
                tiles.append(Box.snapped(x0 / width, y0 / height, (x0 + side) / width, (y0 + side) / height))
    return tiles
