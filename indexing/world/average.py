"""Average the weights of fine-tunes that share a starting point (a "model soup").

    python -m indexing.world.average A B [C ...] --out DIR [--weights 0.5 0.5 ...]

Two fine-tunes of the same weights usually lie in one basin of the loss, where their
average keeps what each learned. Inputs are open_clip local-dir folders of the same
architecture; the average is computed in float32 and written like `train` writes a model
(fp16), with `averaged_from.json` naming each input by the SHA-256 of its weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from indexing.clip_model import load_clip, save_clip
from indexing.model_files import WEIGHTS_FILE

SOURCES_FILE = "averaged_from.json"


def average(folders: list[Path], weights: list[float], out: Path) -> None:
    if len(folders) < 2 or len(weights) != len(folders) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError("need two or more model folders and one non-negative weight per folder")
    bundles = [load_clip(folder) for folder in folders]
    if any(b.model_cfg != bundles[0].model_cfg for b in bundles):
        raise ValueError("the models differ in architecture; only fine-tunes of one model can be averaged")
    total = sum(weights)
    states = [b.model.state_dict() for b in bundles]
    mean = {key: sum(w / total * s[key].float() for w, s in zip(weights, states, strict=True))
            for key in states[0]}
    sources = [{"folder": str(folder), "weight": w,
                "sha256": hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()}
               for folder, w in zip(folders, weights, strict=True)]  # before `out` may replace one
    bundles[0].model.load_state_dict(mean)
    save_clip(bundles[0], out, fp16=True)
    (out / SOURCES_FILE).write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="open_clip local-dir model folders")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=float, nargs="+", help="one per folder (default: equal)")
    args = parser.parse_args(argv)
    try:
        average(args.folders, args.weights or [1.0] * len(args.folders), args.out)
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
