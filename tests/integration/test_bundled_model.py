"""The committed vigil-tiny model, loaded like production loads it, finds held-out footage.

Held-out footage uses layouts (riverside, parking) and compositions ("red car at
night", ...) that training never saw. Thresholds are well below the numbers in
indexing/models/vigil-tiny/README.md so that they check correctness, not luck.
"""

from __future__ import annotations

import pytest

from indexing.models.configs import CONTEXT_LENGTH, VIGIL_TINY_DIR
from indexing.world.evaluate import embed_images, keyframes, retrieval
from indexing.world.scenario import heldout_queries, heldout_scenarios

HELDOUT_SEED = 7  # not the README's evaluation seed: a second, independent draw
MIN_RECALL_AT_5 = 0.5  # per language; this draw measures 0.86 EN, 0.90 VI; chance is about 0.17
MAX_WEIGHTS_BYTES = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def bundle():
    from indexing.clip_model import load_clip

    return load_clip(VIGIL_TINY_DIR)


@pytest.mark.integration
def test_bundled_model_is_small_and_keeps_the_whole_frame(bundle) -> None:
    assert (VIGIL_TINY_DIR / "open_clip_model.safetensors").stat().st_size <= MAX_WEIGHTS_BYTES
    assert bundle.context_length == CONTEXT_LENGTH
    assert bundle.preprocess_cfg["resize_mode"] == "squash"
    assert bundle.tokenizer(["người vác xe đạp vào ban đêm"]).shape == (1, CONTEXT_LENGTH)


@pytest.mark.integration
def test_text_finds_heldout_keyframes_in_english_and_vietnamese(bundle) -> None:
    frames = [f for s in heldout_scenarios(HELDOUT_SEED, quick=True) for f in keyframes(s)]
    report = retrieval(bundle, frames, heldout_queries())
    for language in ("en", "vi"):
        assert report[language]["n_queries"] >= 15
        assert report[language]["R@5"] >= MIN_RECALL_AT_5, (language, report[language])


@pytest.mark.integration
def test_resident_photo_finds_the_thief_on_camera(bundle) -> None:
    from indexing.world.photo import resident_photo
    from indexing.world.scenario import THIEF_ID, demo_scenario

    frames = keyframes(demo_scenario(0))
    photo = embed_images(bundle, [resident_photo(0)])
    scores = (photo @ embed_images(bundle, [f.image for f in frames]).T)[0]
    top = scores.argsort(descending=True)[:5].tolist()
    assert any(e.actor_id == THIEF_ID and e.label.kind == "bicycle"
               for i in top for e in frames[i].events)


@pytest.mark.integration
def test_resident_photo_follows_the_thief_across_wide_views_with_regions(bundle) -> None:
    """Wide 1080p-like views (rendered at 960×540, cropped from the 224-px decode like ingest): the
    photo's best keyframe per camera, scoring whole frame and motion+grid regions, shows the thief
    on each of the three cameras, in the order he passed them."""
    import numpy as np
    from PIL import Image

    from indexing.regions import RegionProposer, crop
    from indexing.world.wide import THIEF_ID, render_keyframes, wide_incident, wide_resident_photo

    scenario = wide_incident(7)
    photo = embed_images(bundle, [wide_resident_photo(7)])[0]
    proposer = RegionProposer(max_regions=5, method="motion+grid")
    best: dict[str, tuple[float, float, bool]] = {}
    for frame in render_keyframes(scenario, 960, 540):
        small = np.asarray(Image.fromarray(frame.rgb).resize((398, 224), Image.Resampling.BILINEAR))
        images = [Image.fromarray(small)] + [Image.fromarray(crop(small, b))
                                             for b in proposer.propose(frame.camera_id, small)]
        score = float((embed_images(bundle, images) @ photo).max())
        if score > best.get(frame.camera_id, (-1.0, 0.0, False))[0]:
            shows = any(a.actor_id == THIEF_ID and a.visible >= 0.5 for a in frame.actors)
            best[frame.camera_id] = (score, frame.t, shows)
    cameras = [c.camera_id for c in scenario.cameras]
    assert all(best[c][2] for c in cameras), best
    assert [best[c][1] for c in cameras] == sorted(best[c][1] for c in cameras), best
