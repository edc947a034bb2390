"""How well does text search find the right footage, in English and in Vietnamese?

    python -m benchmarks.retrieval_quality [--quick] --out FILE.json
    python -m benchmarks.retrieval_quality --model-name ViT-B-32 --pretrained laion2b_s34b_b79k --out F.json
    python -m benchmarks.retrieval_quality --labels clips.jsonl --address HOST:PORT --out F.json
    python -m benchmarks.retrieval_quality --views wide [--quick] --out F.json

`--views wide`: wide 1080p views with small subjects in crowds, whole keyframes
against region crops side by side, per proposal method, text and appearance
search (`benchmarks/_wide_views.py` says what is measured and how).

Default: render held-out footage of the synthetic world (layouts and attribute
compositions training never saw), ingest it through the real pipeline (gRPC
upload → ffmpeg → S3 → Ray → FAISS) on a fresh embedded node, run every
evaluation query in both languages, and score the returned clips against the
ground-truth timeline. A clip is relevant when its best keyframe — the frame
the investigator sees first — lies, on the same camera, inside an event that
satisfies the query (overlap alone would reward long, vague clips). Reports R@1, R@5, R@10 and mAP@10
overall, per language and per query kind, and how many keyframes dedup stored
once (static scenes; the model's calibrated `dedup_cosine`, or `ingest.dedup_cosine`).

Your own footage: `--labels` takes a JSONL file, one relevant range per line:
  {"query": "người vác xe đạp", "language": "vi", "kind": "action",
   "camera_id": "cam-1", "start": "2026-11-20T21:40:00+07:00", "end": "2026-11-20T21:40:30+07:00"}
and `--address` names a running `vigil serve` that already holds that footage.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness
from services.api.client import Hit, VigilClient

TOP_K = 10
RECORDING_START = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    camera_id: str
    start: datetime
    end: datetime

    def shows(self, hit: Hit) -> bool:
        return hit.camera_id == self.camera_id and self.start <= hit.frame_time <= self.end


@dataclass(frozen=True)
class LabelledQuery:
    text: str
    language: str
    kind: str
    relevant: tuple[Span, ...]


def score(hits: list[Hit], relevant: tuple[Span, ...]) -> dict[str, float]:
    """R@k (a relevant clip in the top k) and AP@10 (each relevant span counted once)."""
    ranks, found, precisions = [], set(), []
    for rank, hit in enumerate(hits[:TOP_K], start=1):
        match = next((i for i, span in enumerate(relevant) if span.shows(hit) and i not in found), None)
        if match is not None:
            found.add(match)
            ranks.append(rank)
            precisions.append(len(ranks) / rank)
    first = ranks[0] if ranks else None
    ap = sum(precisions) / min(len(relevant), TOP_K)
    return {"R@1": float(first == 1), "R@5": float(first is not None and first <= 5),
            "R@10": float(first is not None), "mAP@10": ap}


def evaluate(client: VigilClient, queries: list[LabelledQuery]) -> dict[str, Any]:
    rows = []
    for q in queries:
        hits = client.search(q.text, top_k=TOP_K, min_score=-1.0).hits
        rows.append((q, score(hits, q.relevant)))
    return {"overall": _mean([s for _, s in rows]),
            "per_language": _grouped(rows, lambda q: q.language),
            "per_kind": _grouped(rows, lambda q: f"{q.language}/{q.kind}"),
            "queries": [{"text": q.text, "language": q.language, "kind": q.kind,
                         "relevant_spans": len(q.relevant), **s} for q, s in rows]}


def _mean(scores: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]} | {"queries": len(scores)}


def _grouped(rows: list[tuple[LabelledQuery, dict[str, float]]], key: Any) -> dict[str, Any]:
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for q, s in rows:
        groups[key(q)].append(s)
    return {k: _mean(v) for k, v in sorted(groups.items())}


def load_labels(path: Path) -> list[LabelledQuery]:
    spans: dict[tuple[str, str, str], list[Span]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            spans[(r["query"], r.get("language", "?"), r.get("kind", "?"))].append(Span(
                r["camera_id"], datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])))
    return [LabelledQuery(t, lang, kind, tuple(s)) for (t, lang, kind), s in spans.items()]


def synthetic_queries(events: list[Any]) -> list[LabelledQuery]:
    from indexing.world.scenario import heldout_queries

    out = []
    for q in heldout_queries():
        spans = tuple(Span(e.camera_id, RECORDING_START + timedelta(seconds=e.start_s),
                           RECORDING_START + timedelta(seconds=e.end_s))
                      for e in events if q.relevant_event(e))
        if spans:
            out.append(LabelledQuery(q.text, q.language.value, q.kind.value, spans))
    return out


def run_synthetic(args: Any) -> dict[str, Any]:
    from indexing.world.scenario import heldout_scenarios
    from indexing.world.video import render_scenario
    from services.api.server import BackgroundServer
    from services.node.app import Vigil
    from services.security.auth import Role
    from services.settings import load_settings
    from storage.keys import ALL_GROUPS

    with tempfile.TemporaryDirectory(prefix="vigil-retrieval-") as tmp:
        model = {k: v for k, v in {"name": args.model_name, "pretrained": args.pretrained,
                                   "path": args.model_path}.items() if v}
        settings = load_settings(data_dir=Path(tmp) / "data", model=model)
        videos: dict[str, Path] = {}
        events: list[Any] = []
        for scenario in heldout_scenarios(args.seed, args.quick):
            footage = render_scenario(scenario, Path(tmp) / scenario.name)
            videos.update(footage.videos)
            events.extend(footage.events)
        queries = synthetic_queries(events)
        with Vigil(settings) as node, BackgroundServer(node) as server, \
                VigilClient(server.address, node.tokens.create("bench", Role.ADMIN, [ALL_GROUPS])) as client:
            keyframes = vectors = 0
            for camera_id, path in sorted(videos.items()):
                status = client.wait_for_job(client.ingest_file(path, camera_id, RECORDING_START))
                if status.state != "succeeded":
                    raise RuntimeError(f"ingest of {camera_id} failed: {status.error}")
                keyframes, vectors = keyframes + status.keyframes, vectors + status.vectors
            result = evaluate(client, queries)
            result["model_id"] = node.model_id
            result["dedup"] = {"threshold": node.serving.current.calibration.dedup_cosine,
                               "keyframes": keyframes,
                               "vectors_stored": vectors, "reduction": 1 - vectors / max(1, keyframes)}
        result["footage"] = {"cameras": len(videos), "events": len(events), "seed": args.seed}
        return result


def main() -> None:
    p = _harness.parser(__doc__ or "")
    p.add_argument("--seed", type=int, default=1000, help="held-out world seed")
    p.add_argument("--model-name", help="open_clip architecture (default: the bundled model)")
    p.add_argument("--pretrained", help="open_clip pretrained tag or checkpoint file")
    p.add_argument("--model-path", help="local open_clip model folder")
    p.add_argument("--labels", type=Path, help="JSONL of labelled clips (with --address)")
    p.add_argument("--address", help="a running vigil server holding the labelled footage")
    p.add_argument("--token", help="bearer token for --address (viewer role is enough)")
    p.add_argument("--views", choices=("close-up", "wide"), default="close-up",
                   help="close-up: the pipeline run above; wide: whole frames vs regions on wide views")
    p.add_argument("--regions", type=int, default=6, help="wide: regions per keyframe")
    p.add_argument("--region-min-fraction", type=float, default=0.002,
                   help="wide: smallest foreground box kept, as a share of the frame")
    p.add_argument("--crop-short-side", type=int, default=1080,
                   help="wide: short side of the decoded keyframe crops are cut from (1080: full)")
    args = p.parse_args()
    if args.views == "wide":
        from benchmarks._wide_views import measure

        _harness.write(args.out, "wide views: whole keyframes vs region crops (EN, VI, appearance)",
                       measure(args), args.quick)
        return
    if args.labels:
        if not args.address:
            p.error("--labels needs --address")
        with VigilClient(args.address, args.token) as client:
            result = evaluate(client, load_labels(args.labels))
    else:
        result = run_synthetic(args)
    _harness.write(args.out, "text-to-clip retrieval quality (EN and VI)", result, args.quick)


if __name__ == "__main__":
    main()
