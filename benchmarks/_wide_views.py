"""Wide views: does embedding regions find the small subject that whole keyframes lose?

    python -m benchmarks.retrieval_quality --views wide [--quick] --out FILE.json

Held-out wide footage (`indexing.world.wide.wide_scenarios`: riverside and parking
layouts training never saw, one scenario per lighting, three 1080p cameras each,
subjects at 0.5-4 % of the frame in crowds) is rendered keyframe by keyframe
(one per 2 s per camera, JPEG q70 standing in for H.264) and measured with the
model in this process, the same keyframes for every variant:

- "whole": each keyframe embedded whole (what Vigil did before regions);
- one variant per proposal method of `indexing.regions.RegionProposer`
  ("motion", "grid", "motion+grid"): the whole keyframe plus its region crops,
  proposed in each camera's time order at `--regions` per keyframe, cropped from
  the decoded keyframe at `--crop-short-side` px (1080: full resolution; 224: the
  ingest path's decode size before regions).

A keyframe's score for a query is the best of its stored vectors (whole frame or a
region), as search groups hits by keyframe. Figures:

- text → keyframe R@1 / R@5 per language, `heldout_queries()`; a keyframe is relevant
  when an actor matching the query is on it, at least half visible (occlusion) and
  covering ≥ 0.2 % of the frame;
- appearance search across cameras: for every identity seen on two or more cameras,
  one query per camera (its crop, padded and squared like a proposal, from the keyframe
  where it is largest and ≥ 70 % visible), ranked against every keyframe of the *other*
  cameras; rank-1 (the first keyframe shows that identity; its 95 % Wilson interval over the
  draw's queries; also per kind of subject) and mAP; `twinned_queries`: those whose identity
  has a twin on the other cameras, another identity drawn exactly alike
  (`indexing.world.identity_pairs.look`: same label and the same style-picked details), which
  no model can tell apart, and `rank1_untwinned`, rank-1 over the other queries;
  `box_right`: of the rank-1 hits, the share whose best region covers at least half of the identity's box;
  `appearance_cut`: what SearchSimilar and Follow keep at `search.appearance_z` = z
  (`services.index.search.appearance_cut` against a sample of the stored vectors): per query,
  the keyframes of the other cameras passing the cut (`passing`), the share of them showing
  the identity (`precision`, over queries with any) and of the identity's keyframes passing
  (`recall`), averaged;
- vectors stored per keyframe after dedup (ingest's: `indexing.dedup.dedup_keyframes` at
  the model's `dedup_cosine`, each camera's keyframes as one batch), and index
  bytes per keyframe of a `FrameIndex` holding them (RAM of the exact tier at this size,
  plus record columns);
- embedding throughput, keyframes/s with regions ÷ without: propose + crop + preprocess
  + encode vs preprocess + encode, on the same keyframes and threads. Decoding, S3 and
  FAISS are not in it, so the full pipeline's ratio is higher than this one.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from indexing.dedup import SameScene

ON_SCREEN_VISIBLE, ON_SCREEN_AREA = 0.5, 0.002
QUERY_VISIBLE = 0.7
METHODS = ("motion", "grid", "motion+grid")
BATCH = 16  # keyframes embedded together (whole frames and their crops in one call, like ingest)
APPEARANCE_Z = (2.0, 3.0, 4.0, 5.0)  # appearance cuts scored (`search.appearance_z`: SearchSimilar, Follow)


@dataclass
class Variant:
    """One way of indexing the keyframes: per keyframe its stored vectors and their boxes."""

    name: str
    vectors: list[np.ndarray] = field(default_factory=list)  # per keyframe: (n, dim)
    boxes: list[list[Any]] = field(default_factory=list)  # per keyframe: None (whole) or a Box
    stored: list[list[bool]] = field(default_factory=list)  # per keyframe: kept after dedup
    seconds: float = 0.0  # embedding time (propose + crop + preprocess + encode)


@dataclass(frozen=True)
class Frame:
    camera_id: str
    t: float
    scene: Any
    actors: tuple[Any, ...]


def on_screen(actor: Any) -> bool:
    return bool(actor.visible >= ON_SCREEN_VISIBLE and actor.bbox.area >= ON_SCREEN_AREA)


def square_crop_box(bbox: Any, width: int, height: int, context: float = 0.25) -> Any:
    """The ground-truth box padded and squared like a motion proposal (`indexing.regions.pad`)."""
    from indexing.frame_columns import Box
    from indexing.regions import pad

    return pad(Box.snapped(bbox.x0, bbox.y0, bbox.x1, bbox.y1), width, height, context)


def _covers(region: Any, bbox: Any) -> float:
    w = min(region.x1, bbox.x1) - max(region.x0, bbox.x0)
    h = min(region.y1, bbox.y1) - max(region.y0, bbox.y0)
    return 0.0 if w <= 0 or h <= 0 else w * h / max(bbox.area, 1e-9)


def _resized(rgb: np.ndarray, short_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if min(h, w) <= short_side:
        return rgb
    scale = short_side / min(h, w)
    size = (round(w * scale), round(h * scale))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def measure(args: Any) -> dict[str, Any]:
    import torch

    from indexing.embedder import ClipEmbedder, ModelSpec
    from indexing.regions import RegionProposer, crop
    from indexing.world.crop_pairs import Identity
    from indexing.world.identity_pairs import look
    from indexing.world.wide import WIDE_H, WIDE_W, render_keyframes, wide_scenarios

    torch.set_num_threads(2)
    from pathlib import Path

    # a folder as a Path: ModelSpec reads its calibration (dedup_cosine) and hashes its weights only then
    spec = ModelSpec(**{k: v for k, v in {"name": args.model_name, "pretrained": args.pretrained,
                                          "path": Path(args.model_path) if args.model_path else None
                                          }.items() if v})
    embedder = ClipEmbedder(spec, threads=2)
    cosine = spec.calibration.dedup_cosine
    rule = embedder.same_scene(cosine)
    proposers = {m: RegionProposer(max_regions=args.regions, min_fraction=args.region_min_fraction, method=m)
                 for m in METHODS}
    variants = {"whole": Variant("whole"), **{m: Variant(m) for m in METHODS}}
    frames: list[Frame] = []
    queries: dict[tuple[str, str], tuple[float, np.ndarray, int]] = {}  # (id, cam) -> (size, vec, frame)
    crops_for_queries: dict[tuple[str, str], tuple[float, np.ndarray, int]] = {}
    scenarios = wide_scenarios(args.seed, args.quick)
    multi_cam = _multi_camera_ids(scenarios)
    looks = {e.actor_id: look(Identity(label=e.label, style=e.style)) for sc in scenarios for e in sc.events}
    rendered = 0.0
    for scenario in scenarios:
        for cam in scenario.cameras:
            began = time.perf_counter()
            keyframes = render_keyframes(_one_camera(scenario, cam.camera_id), WIDE_W, WIDE_H)
            rendered += time.perf_counter() - began
            for lo in range(0, len(keyframes), BATCH):
                chunk = keyframes[lo:lo + BATCH]
                first = len(frames)
                frames += [Frame(kf.camera_id, kf.t, kf.scene, kf.actors) for kf in chunk]
                sources = _embed_chunk(chunk, variants, proposers, embedder, args.crop_short_side)
                for k, (kf, src) in enumerate(zip(chunk, sources, strict=True)):
                    for actor in kf.actors:
                        if actor.actor_id not in multi_cam or actor.visible < QUERY_VISIBLE:
                            continue
                        key = (actor.actor_id, kf.camera_id)
                        if key not in crops_for_queries or actor.bbox.area > crops_for_queries[key][0]:
                            box = square_crop_box(actor.bbox, src.shape[1], src.shape[0])
                            crops_for_queries[key] = (actor.bbox.area, crop(src, box), first + k)
    for key, (size, pixels, index) in crops_for_queries.items():
        queries[key] = (size, embedder.embed_images([pixels])[0], index)
    for variant in variants.values():
        _dedup(variant, frames, rule)
    report: dict[str, Any] = {
        "seed": args.seed, "quick": args.quick, "model_id": spec.model_id, "keyframes": len(frames),
        "frame_size": f"{WIDE_W}x{WIDE_H}", "crop_short_side": args.crop_short_side,
        "regions_per_keyframe": args.regions, "region_min_fraction": args.region_min_fraction,
        "dedup_cosine": cosine, "render_s": round(rendered, 1),
        "actors_per_keyframe": round(float(np.mean([len(f.actors) for f in frames])), 2),
        "appearance_queries": len(queries),
        "variants": {}}
    report["incident_trail"] = incident_trail(args, embedder)
    texts = _text_vectors(embedder)
    base = variants["whole"].seconds
    for name, variant in variants.items():
        report["variants"][name] = {
            "text": _text_recall(variant, frames, texts),
            "appearance": _appearance(variant, frames, queries, looks, spec.calibration.min_score),
            "vectors_per_keyframe": round(sum(map(sum, variant.stored)) / len(frames), 3),
            "index_bytes_per_keyframe": _index_bytes(variant, frames, embedder.dim),
            "keyframes_per_s": round(len(frames) / variant.seconds, 1),
            "ingest_ratio_vs_whole": round(base / variant.seconds, 3)}
    return report


def _embed_chunk(chunk: Sequence[Any], variants: dict[str, Variant], proposers: dict[str, Any],
                 embedder: Any, crop_short_side: int) -> list[np.ndarray]:
    """Embed keyframes whole ("whole") and whole + regions (each method, in one call per method,
    like ingest); returns the images crops were cut from."""
    from indexing.regions import crop

    sources = [_resized(kf.rgb, crop_short_side) for kf in chunk]
    wholes = [_resized(kf.rgb, 224) for kf in chunk]  # the ingest path's decode size
    began = time.perf_counter()
    vecs = embedder.embed_images(wholes)
    variants["whole"].seconds += time.perf_counter() - began
    for k in range(len(chunk)):
        _append(variants["whole"], vecs[k:k + 1], [None])
    for method, proposer in proposers.items():
        began = time.perf_counter()
        boxes = [proposer.propose(kf.camera_id, src) for kf, src in zip(chunk, sources, strict=True)]
        images = list(wholes)
        for src, bs in zip(sources, boxes, strict=True):
            images += [crop(src, box) for box in bs]
        vecs = embedder.embed_images(images)
        variants[method].seconds += time.perf_counter() - began
        at = len(chunk)
        for k, bs in enumerate(boxes):
            _append(variants[method], np.concatenate([vecs[k:k + 1], vecs[at:at + len(bs)]]), [None, *bs])
            at += len(bs)
    return sources


def incident_trail(args: Any, embedder: Any) -> dict[str, Any]:
    """The wide incident (`wide_incident(7)`, the demo's): the resident's photo against its three
    cameras. Per variant and camera, the best keyframe: does it show the thief (`found`), does its
    best vector's box cover him (`box_right`), and are the cameras' best times in the order the
    thief passed them (`order_right`)."""
    from indexing.regions import RegionProposer
    from indexing.world import wide

    scenario = wide.wide_incident(7)
    proposers = {m: RegionProposer(max_regions=args.regions, min_fraction=args.region_min_fraction, method=m)
                 for m in METHODS}
    variants = {"whole": Variant("whole"), **{m: Variant(m) for m in METHODS}}
    frames: list[Frame] = []
    for camera in scenario.cameras:
        keyframes = wide.render_keyframes(_one_camera(scenario, camera.camera_id), wide.WIDE_W, wide.WIDE_H)
        for lo in range(0, len(keyframes), BATCH):
            chunk = keyframes[lo:lo + BATCH]
            frames += [Frame(kf.camera_id, kf.t, kf.scene, kf.actors) for kf in chunk]
            _embed_chunk(chunk, variants, proposers, embedder, args.crop_short_side)
    query = embedder.embed_images([wide.wide_resident_photo(7)])[0]
    cameras = [c.camera_id for c in scenario.cameras]
    out: dict[str, Any] = {"cameras": cameras}
    for name, variant in variants.items():
        scores, which = _scores(variant, query)
        steps: list[dict[str, Any]] = []
        for cam in cameras:
            on_cam = [i for i, f in enumerate(frames) if f.camera_id == cam]
            best = max(on_cam, key=lambda i: float(scores[i]))
            shown = [a for a in frames[best].actors if a.actor_id == wide.THIEF_ID and on_screen(a)]
            thief = shown[0] if shown else None
            box = variant.boxes[best][int(which[best])]
            steps.append({"camera": cam, "t": frames[best].t, "score": round(float(scores[best]), 4),
                          "found": thief is not None,
                          "box_right": bool(thief is not None and box is not None
                                            and _covers(box, thief.bbox) >= 0.5)})
        times = [float(s["t"]) for s in steps]
        out[name] = {"steps": steps, "found": sum(s["found"] for s in steps),
                     "order_right": all(s["found"] for s in steps) and times == sorted(times)}
    return out


def _one_camera(scenario: Any, camera_id: str) -> Any:
    from dataclasses import replace

    return replace(scenario, cameras=tuple(c for c in scenario.cameras if c.camera_id == camera_id),
                   events=tuple(e for e in scenario.events if e.camera_id == camera_id))


def _multi_camera_ids(scenarios: Sequence[Any]) -> set[str]:
    cams: dict[str, set[str]] = defaultdict(set)
    for s in scenarios:
        for e in s.events:
            cams[e.actor_id].add(e.camera_id)
    return {a for a, c in cams.items() if len(c) >= 2}


def _append(variant: Variant, vecs: np.ndarray, boxes: list[Any]) -> None:
    variant.vectors.append(vecs)
    variant.boxes.append(boxes)
    variant.stored.append([True] * len(boxes))


def _dedup(variant: Variant, frames: list[Frame], rule: SameScene | None) -> None:
    """Mark what ingest's dedup (`indexing.dedup.dedup_keyframes`, camera by camera) would not
    store; a dropped vector is replaced by the kept one standing for it (`Deduped.stands_for`: its
    span was extended over this keyframe), so search sees that vector here."""
    if rule is None:
        return
    from indexing.dedup import dedup_keyframes
    from indexing.frame_columns import FrameRecord
    from indexing.world.wide import KEYFRAME_EVERY_S

    by_camera: dict[str, list[int]] = defaultdict(list)
    for i, frame in enumerate(frames):
        by_camera[frame.camera_id].append(i)
    for cam, order in by_camera.items():
        records = [FrameRecord(cam, round(frames[i].t * 1000), round((frames[i].t + KEYFRAME_EVERY_S) * 1000),
                               "", 0, 0, "") for i in order]
        slots = [(i, 0) for i in order] + [(i, j) for i in order for j, box in enumerate(variant.boxes[i])
                                           if box is not None]  # `with_crops`' layout: frames, then regions
        vectors = np.stack([variant.vectors[i][j] for i, j in slots])
        regions = [[b for b in variant.boxes[i] if b is not None] for i in order]
        deduped = dedup_keyframes(records, regions, vectors, rule)
        for k, (slot, standing) in enumerate(zip(slots, deduped.stands_for, strict=True)):
            if standing == k:
                continue  # kept
            i, j = slot
            variant.stored[i][j] = False
            if standing is not None:
                variant.vectors[i][j] = variant.vectors[slots[standing][0]][slots[standing][1]]


def _text_vectors(embedder: Any) -> list[tuple[Any, np.ndarray]]:
    from indexing.world.queries import heldout_queries

    queries = heldout_queries()
    vecs = embedder.embed_texts([q.text for q in queries])
    return list(zip(queries, vecs, strict=True))


def _scores(variant: Variant, query: np.ndarray, allowed: Callable[[int], bool] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per keyframe: its best score over its vectors, and which vector it was."""
    best = np.full(len(variant.vectors), -np.inf, np.float32)
    which = np.zeros(len(variant.vectors), np.int64)
    for i, vecs in enumerate(variant.vectors):
        if allowed is not None and not allowed(i):
            continue
        s = vecs @ query
        which[i] = int(np.argmax(s))
        best[i] = s[which[i]]
    return best, which


def _text_recall(variant: Variant, frames: list[Frame],
                 texts: list[tuple[Any, np.ndarray]]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for query, vec in texts:
        relevant = np.array([any(on_screen(a) and query.matches(f.scene, a.label) for a in f.actors)
                             for f in frames])
        if not relevant.any():
            continue
        scores, _ = _scores(variant, vec)
        order = np.argsort(-scores, kind="stable")
        lang = out.setdefault(query.language.value, {"per_query": {}})
        lang["per_query"][query.text] = {"R@1": float(relevant[order[0]]),
                                         "R@5": float(relevant[order[:5]].any())}
    for lang in out.values():
        rows = lang["per_query"].values()
        lang["R@1"] = round(float(np.mean([r["R@1"] for r in rows])), 4)
        lang["R@5"] = round(float(np.mean([r["R@5"] for r in rows])), 4)
        lang["queries"] = len(lang["per_query"])
    return out


def _appearance(variant: Variant, frames: list[Frame],
                queries: dict[tuple[str, str], tuple[float, np.ndarray, int]],
                looks: dict[str, int], floor: float | None) -> dict[str, Any]:
    from services.index.search import BACKGROUND, appearance_cut

    stored = np.stack([v for vecs, keep in zip(variant.vectors, variant.stored, strict=True)
                       for v, k in zip(vecs, keep, strict=True) if k]).astype(np.float32)
    background = stored[np.random.default_rng(0).permutation(len(stored))[:BACKGROUND]]
    cuts: dict[float, dict[str, list[float]]] = {z: {"precision": [], "recall": [], "passing": []}
                                                 for z in APPEARANCE_Z}
    rank1, aps, box_right, untwinned = [], [], [], []
    by_kind: dict[str, list[float]] = defaultdict(list)
    on_camera: dict[str, set[str]] = defaultdict(set)
    for frame in frames:
        on_camera[frame.camera_id] |= {a.actor_id for a in frame.actors if on_screen(a)}
    for (actor_id, camera_id), (_, vec, at) in sorted(queries.items()):
        def shows(i: int, who: str = actor_id) -> bool:
            return any(a.actor_id == who and on_screen(a) for a in frames[i].actors)

        relevant = np.array([frames[i].camera_id != camera_id and shows(i) for i in range(len(frames))])
        if not relevant.any():
            continue
        def elsewhere(i: int, cam: str = camera_id) -> bool:
            return frames[i].camera_id != cam

        scores, which = _scores(variant, vec, elsewhere)
        background_scores = background @ vec
        for z, got in cuts.items():
            cut = appearance_cut(background_scores, z, floor)
            passing = scores >= (-np.inf if cut is None else cut)
            got["passing"].append(float(passing.sum()))
            got["recall"].append(float(relevant[passing].sum() / relevant.sum()))
            if passing.any():
                got["precision"].append(float(relevant[passing].mean()))
        order = np.argsort(-scores, kind="stable")
        order = order[np.isfinite(scores[order])]
        hits = relevant[order]
        rank1.append(float(hits[0]))
        if not any(looks.get(other) == looks[actor_id] for cam, seen in on_camera.items() if cam != camera_id
                   for other in seen if other != actor_id):
            untwinned.append(rank1[-1])
        kind = next(a.label.kind.value for a in frames[at].actors if a.actor_id == actor_id)
        by_kind[kind].append(rank1[-1])
        found = np.nonzero(hits)[0]
        aps.append(float(np.mean([(k + 1) / (r + 1) for k, r in enumerate(found)])))
        if hits[0]:
            top = int(order[0])
            box = variant.boxes[top][int(which[top])]
            actor = next(a for a in frames[top].actors if a.actor_id == actor_id)
            box_right.append(float(box is not None and _covers(box, actor.bbox) >= 0.5))
    return {"queries": len(rank1), "rank1": round(float(np.mean(rank1)), 4) if rank1 else math.nan,
            "rank1_ci95": wilson_interval(int(sum(rank1)), len(rank1)),
            "mAP": round(float(np.mean(aps)), 4) if aps else math.nan,
            "twinned_queries": len(rank1) - len(untwinned),
            "rank1_untwinned": round(float(np.mean(untwinned)), 4) if untwinned else math.nan,
            "box_right_at_rank1": round(float(np.mean(box_right)), 4) if box_right else math.nan,
            "rank1_by_kind": {kind: {"queries": len(got), "rank1": round(float(np.mean(got)), 4)}
                              for kind, got in sorted(by_kind.items())},
            "appearance_cut": {str(z): {k: round(float(np.mean(v)), 4) if v else math.nan
                                        for k, v in got.items()} for z, got in cuts.items()}}


def wilson_interval(hits: int, n: int, z: float = 1.96) -> list[float]:
    """The 95 % Wilson score interval of a proportion `hits / n` ([0, 1] when n is 0): how far a
    rank-1 over a draw's queries may lie from the model's rank-1 over every draw."""
    if n == 0:
        return [0.0, 1.0]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def _index_bytes(variant: Variant, frames: list[Frame], dim: int) -> dict[str, float | str]:
    """A FrameIndex holding the stored vectors: RAM (index + records) per keyframe."""
    from indexing.frame_columns import FrameRecord
    from storage import keys

    try:
        from indexing.vector_index import FrameIndex

        index = FrameIndex(dim)
        day0 = 1_764_547_200_000  # 2025-12-01 UTC
        records, vecs = [], []
        for i, frame in enumerate(frames):
            t = day0 + round(frame.t * 1000)
            seg = keys.segment_key(frame.camera_id, t, t + 2000)
            thumb = keys.thumbnail_key(frame.camera_id, t)
            for j, box in enumerate(variant.boxes[i]):
                if variant.stored[i][j]:
                    records.append(FrameRecord(frame.camera_id, t, t + 2000, seg, t, t + 2000, thumb, box))
                    vecs.append(variant.vectors[i][j])
        index.add(records, np.stack(vecs).astype(np.float32))
        stats = index.shard_stats()
        ram = sum(s.bytes for s in stats)
        rec = sum(s.record_bytes for s in stats)
        index.close()
        n = len(frames)
        return {"index_ram": round(ram / n, 1), "records_ram": round(rec / n, 1),
                "float16_vectors": round(len(vecs) * dim * 2 / n, 1)}
    except Exception as e:  # noqa: BLE001 — the figure is reported as missing, with why
        return {"error": f"{type(e).__name__}: {e}"}
