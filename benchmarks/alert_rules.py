"""Is a watchlist entry's precision limited by the alert rule, or by the model?

`python -m benchmarks.alert_rules --out F.json [--model-path DIR] [--seed N] [--quick]`

The offline companion of `benchmarks.alerts`, in minutes instead of its 12: the same held-out
footage (rendered once and shared with it), the same entries, the same scoring, no node and no
live streams. Each video's frames are picked, decoded, proposed regions for and embedded as file
ingest does (`services.ingest.pipeline.planned_keyframes` and `images_to_embed`, `RegionProposer`
with the ingest settings, the served model: `VIGIL_MODEL__*`, or `--model-path`); what differs
from the live run: no deduplication of static frames and no cutting into live segments. Entries
are calibrated as a node calibrates them (`indexing.watch.calibrate` on the background minute's
vectors) and every replay vector is scored with `indexing.watch.calibrated_score`.

Rules, each with the live run's fold window (an alert, then nothing from that entry on that
camera for `fold_s`):
- `any frame`: an alert at the first frame (whole or region) scoring at or above the threshold:
  the node's rule;
- `2 frames within 4.5 s`: an alert once two frames at or above it lie within 4.5 s of each other
  (with the live run's 2 s GOP: consecutive keyframes).
For each entry and rule: recall and precision at the thresholds of the sensitivities the live run
uses (`indexing.watch.z_threshold`), and the best precision any threshold reaches with recall ≥
0.9 (an oracle threshold: no calibration of this model does better with this rule). An entry
whose oracle precision misses a goal under every rule is limited by the model, not the rule.
`--regions-everywhere` also gives close-view cameras regions (their proposer's `close_view` 0).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness
from benchmarks.alerts import FOLD_S, QUERIES, SEED, SENSITIVITIES, Visit, rendered, scenarios, score

TARGET_RECALL = 0.9
THRESHOLDS = np.round(np.arange(0.5, 6.0, 0.05), 2)
RULES = {"any frame": (1, 0.0), "2 frames within 4.5 s": (2, 4.5)}  # name → (frames, window s)
EMBED_BATCH = 16


@dataclass(frozen=True)
class Vectors:
    """One video's embedded frames and regions: rows of `vectors`, each at `seconds`."""

    vectors: np.ndarray
    seconds: np.ndarray
    is_region: np.ndarray


def embedded(video: Path, camera_id: str, embedder: Any, proposer: Any, ingest: Any) -> Vectors:
    from services.ingest.pipeline import images_to_embed, planned_keyframes
    from storage.media import probe

    _, keyframes = planned_keyframes(video, probe(video), ingest)
    frames = list(keyframes)
    parts, seconds, regions = [], [], []
    for i in range(0, len(frames), EMBED_BATCH):
        batch = frames[i:i + EMBED_BATCH]
        boxes = [proposer.propose(camera_id, kf.rgb) for kf in batch]
        parts.append(embedder.embed_images(images_to_embed(batch, boxes)))
        seconds += [kf.offset_s for kf in batch] + [kf.offset_s for kf, own in zip(batch, boxes, strict=True)
                                                       for _ in own]
        regions += [False] * len(batch) + [True] * sum(len(own) for own in boxes)
    return Vectors(np.concatenate(parts).astype(np.float32), np.array(seconds), np.array(regions))


def alerts_of(z: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float, frames: int, window_s: float,
              fold_s: float) -> list[tuple[str, float]]:
    """(camera, seconds) of the alerts a rule raises; `z`: camera → (seconds, calibrated scores)."""
    out = []
    for camera_id, (seconds, scores) in z.items():
        hot = np.unique(seconds[scores >= threshold])  # frame times with a vector at or above it
        opened = None
        for t in hot:
            if np.count_nonzero((hot >= t - window_s) & (hot <= t)) < frames:
                continue
            if opened is not None and 0 <= t - opened < fold_s:
                continue
            opened = t
            out.append((camera_id, float(t)))
    return out


def rule_report(name: str, z: dict[str, tuple[np.ndarray, np.ndarray]], visits: list[Visit],
                frames: int, window_s: float, fold_s: float) -> dict[str, Any]:
    from indexing.watch import z_threshold

    def at(threshold: float) -> dict[str, Any]:
        return {"z": float(threshold),
                **score(name, alerts_of(z, threshold, frames, window_s, fold_s), visits)}

    sweep = [at(t) for t in THRESHOLDS]
    reaching = [s for s in sweep if (s["recall"] or 0) >= TARGET_RECALL and s["precision"] is not None]
    best = max(reaching, key=lambda s: (s["precision"], s["recall"]), default=None)
    return {"at_sensitivity": {str(s): at(z_threshold(s)) for s in SENSITIVITIES},
            f"best_precision_at_recall_{TARGET_RECALL}": best}


def calibrated(query: np.ndarray, background: Sequence[Vectors],
               replay: dict[str, Vectors]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from indexing.watch import calibrate, calibrated_score

    vectors = np.concatenate([b.vectors for b in background])
    regions = np.concatenate([b.is_region for b in background])
    entry = calibrate("offline", "offline", query, vectors[~regions], vectors[regions])
    return {cam: (v.seconds, np.array([calibrated_score(entry, float(c), bool(r))
                                       for c, r in zip(v.vectors @ entry.vector, v.is_region, strict=True)]))
            for cam, v in replay.items()}


def run(duration_s: float, footage: Path, model_path: Path | None,
        regions_everywhere: bool, seed: int = SEED) -> dict[str, Any]:
    from indexing.embedder import ClipEmbedder
    from indexing.world.photo import resident_photo
    from services.index.search import decode_image
    from services.node.app import model_spec
    from services.settings import load_settings

    settings = load_settings(**({"model": {"path": model_path}} if model_path else {}))
    ingest, spec = settings.ingest, model_spec(settings)
    embedder = ClipEmbedder(spec)
    proposer = (ingest.model_copy(update={"region_close_view": 0.0}) if regions_everywhere else ingest
                ).region_proposer()
    replay, background, visits = scenarios(duration_s, seed)
    bg = [embedded(video, cam, embedder, proposer, ingest)
          for cam, video in rendered(background, footage).items()]
    live = {cam: embedded(video, cam, embedder, proposer, ingest)
            for cam, video in rendered(replay, footage).items()}
    photo = io.BytesIO()
    resident_photo(seed).save(photo, format="JPEG", quality=85)
    entries = {}
    for name, (kind, language, text) in QUERIES.items():
        query = (embedder.embed_texts([text]) if text
                 else embedder.embed_images([decode_image(photo.getvalue())]))[0]
        z = calibrated(query, bg, live)
        entries[name] = {"kind": kind, "language": language, "text": text,
                         "rules": {rule: rule_report(name, z, visits, frames, window_s, FOLD_S)
                                   for rule, (frames, window_s) in RULES.items()}}
    return {"model_id": spec.model_id, "seed": seed, "duration_s": duration_s, "fold_s": FOLD_S,
            "regions_everywhere": regions_everywhere,
            "vectors": {cam: {"frames": int((~v.is_region).sum()), "regions": int(v.is_region.sum())}
                        for cam, v in live.items()},
            "entries": entries}


def main() -> None:
    p = _harness.parser(__doc__.splitlines()[0])
    p.add_argument("--footage", type=Path, default=Path(tempfile.gettempdir()) / "vigil-bench-alerts-footage",
                   help="where the rendered footage is kept and reused (shared with benchmarks.alerts)")
    p.add_argument("--model-path", type=Path,
                   help="a local open_clip model folder (default: the served model)")
    p.add_argument("--regions-everywhere", action="store_true", help="regions on close-view cameras too")
    p.add_argument("--seed", type=int, default=SEED,
                   help=f"draw of cameras, thief and traffic (default {SEED}: the live run's footage)")
    args = p.parse_args()
    results = run(120.0 if args.quick else 600.0, args.footage, args.model_path, args.regions_everywhere,
                  args.seed)
    _harness.write(args.out, __doc__.splitlines()[0], results, args.quick)


if __name__ == "__main__":
    main()
