"""The synthetic world: determinism, ground truth matching the pixels, captions that fit the model."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from indexing.world.captions import Language, caption_pair, describe
from indexing.world.layouts import paint_background
from indexing.world.photo import resident_photo
from indexing.world.random_scenes import sample_scene
from indexing.world.render import draw_frame, truth_of
from indexing.world.scenario import (
    INCIDENT_CAMERA,
    SECOND_CAMERA,
    THIEF_ID,
    demo_scenario,
    heldout_queries,
    heldout_scenarios,
)
from indexing.world.timeline import frame_truth, timeline
from indexing.world.training_pairs import render_sample
from indexing.world.training_split import HELDOUT_LAYOUTS, TRAIN_LAYOUTS, is_heldout_combo
from indexing.world.truth import Action, ActorKind, Layout

VI_MARKS = set("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")


def _all_captions(n: int) -> list[tuple[str, str]]:
    rng = random.Random(n)
    pairs = []
    for _ in range(n):
        scene, placements = sample_scene(rng, tuple(Layout), allow_heldout_combos=True)
        pairs.append(caption_pair(scene, tuple(p.label for p in placements), rng))
    for scenario in [demo_scenario(0), *heldout_scenarios(0, quick=True)]:
        pairs += [(e.caption_en, e.caption_vi) for e in timeline(scenario)]
    return pairs


@pytest.mark.unit
def test_same_seed_same_sample_and_different_seed_different() -> None:
    a, b, c = render_sample(11), render_sample(11), render_sample(12)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert (a.truth, a.caption_en, a.caption_vi) == (b.truth, b.caption_en, b.caption_vi)
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))


@pytest.mark.unit
def test_scrambled_samples_keep_truth_and_name_no_place() -> None:
    from indexing.world.phrases import LAYOUT_EN, LAYOUT_VI

    places = {p for table in (LAYOUT_EN, LAYOUT_VI) for ps in table.values() for p in ps}
    for seed in range(200):
        sample = render_sample(seed, scramble=1.0)
        assert not any(p in sample.caption_en or p in sample.caption_vi for p in places)
    a, b = render_sample(3, scramble=0.5), render_sample(3, scramble=0.5)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and a.truth == b.truth


@pytest.mark.unit
def test_scenarios_and_photo_are_deterministic() -> None:
    assert demo_scenario(5) == demo_scenario(5) and demo_scenario(5) != demo_scenario(6)
    assert heldout_scenarios(3, quick=True) == heldout_scenarios(3, quick=True)
    assert np.array_equal(np.asarray(resident_photo(2)), np.asarray(resident_photo(2)))


@pytest.mark.unit
@pytest.mark.parametrize("size", [(256, 144), (1280, 720)])
def test_pixels_change_only_inside_ground_truth_boxes(size: tuple[int, int]) -> None:
    width, height = size
    rng = random.Random(size[0])
    for _ in range(40 if width < 1000 else 6):
        scene, placements = sample_scene(rng, tuple(Layout), allow_heldout_combos=True,
                                         aspect=width / height)
        background = paint_background(scene.layout, scene.lighting, width, height, 1)
        changed = np.any(draw_frame(background, scene, placements) != background, axis=2)
        inside = np.zeros_like(changed)
        for actor in truth_of(scene, placements, width, height).actors:
            x0, y0, x1, y1 = actor.bbox.pixels(width, height)
            inside[y0:y1, x0:x1] = True
            assert changed[y0:y1, x0:x1].mean() > 0.05, f"{actor.label} barely drawn in its box"
        assert not (changed & ~inside).any(), "something was drawn outside every actor's box"


@pytest.mark.unit
def test_frame_truth_follows_the_timeline() -> None:
    scenario = demo_scenario(0)
    for event in timeline(scenario):
        mid = (event.start_s + event.end_s) / 2
        ids = {a.actor_id for a in frame_truth(scenario, event.camera_id, mid).actors}
        assert event.actor_id in ids


@pytest.mark.unit
def test_demo_thief_seen_on_two_cameras_a_minute_apart_at_night() -> None:
    events = [e for e in timeline(demo_scenario(0)) if e.actor_id == THIEF_ID
              and e.label.action in (Action.CARRIED, Action.PUSHED)]
    by_camera = {e.camera_id: e for e in events}
    assert set(by_camera) == {INCIDENT_CAMERA, SECOND_CAMERA}
    first, second = by_camera[INCIDENT_CAMERA], by_camera[SECOND_CAMERA]
    assert 50 <= second.start_s - first.start_s <= 70
    assert first.label.colour == second.label.colour and first.scene.lighting == "night"


@pytest.mark.unit
def test_training_never_sees_heldout_layouts_or_compositions() -> None:
    rng = random.Random(0)
    assert not HELDOUT_LAYOUTS & set(TRAIN_LAYOUTS)
    for _ in range(3000):
        scene, placements = sample_scene(rng)
        assert scene.layout in TRAIN_LAYOUTS
        assert not any(is_heldout_combo(p.label, scene.lighting) for p in placements)


@pytest.mark.unit
def test_kind_weights_choose_which_actors_training_draws() -> None:
    from indexing.world.random_scenes import KIND_WEIGHTS
    from indexing.world.train import main

    people_only = dict.fromkeys(KIND_WEIGHTS, 0.0) | {ActorKind.PERSON: 1.0}
    rng = random.Random(2)
    kinds = {p.label.kind for _ in range(300) for p in sample_scene(rng, kind_weights=people_only)[1]}
    assert kinds == {ActorKind.PERSON}
    for bad in ("person=-1", "person=inf", "unicorn=1", "person"):
        with pytest.raises(SystemExit):
            main(["--steps", "1", "--out", "/nonexistent", "--kind-weight", bad])
    with pytest.raises(SystemExit):
        main(["--steps", "1", "--out", "/nonexistent", *[f"--kind-weight={k.value}=0" for k in KIND_WEIGHTS]])


@pytest.mark.unit
def test_a_twin_differs_in_exactly_one_thing_and_stays_in_training_data() -> None:
    from indexing.world.twins import twin

    rng = random.Random(1)
    for _ in range(500):
        scene, placements = sample_scene(rng)
        other_scene, others = twin(scene, placements, rng)
        changed = [a.label for a, b in zip(placements, others, strict=True) if a.label != b.label]
        assert len(changed) + (other_scene.lighting != scene.lighting) == 1
        assert [p.pose for p in placements] == [p.pose for p in others]
        assert not any(is_heldout_combo(p.label, other_scene.lighting) for p in others)
    assert render_sample(5, twin=True).image.size == render_sample(5).image.size


@pytest.mark.unit
def test_every_query_has_relevant_heldout_footage_in_both_languages() -> None:
    events = [e for s in heldout_scenarios(0, quick=True) for e in timeline(s)]
    assert {e.scene.layout for e in events} == HELDOUT_LAYOUTS
    queries = heldout_queries()
    assert {q.language for q in queries} == {Language.EN, Language.VI}
    for query in queries:
        assert any(query.relevant_event(e) for e in events), query.text


@pytest.mark.unit
def test_captions_fit_the_model_context_without_truncation() -> None:
    from indexing.clip_model import new_clip
    from indexing.models.configs import vigil_tiny_model_cfg, vigil_tiny_preprocess_cfg

    tokenizer = new_clip(vigil_tiny_model_cfg(), vigil_tiny_preprocess_cfg()).tokenizer
    texts = [c for pair in _all_captions(4000) for c in pair] + [q.text for q in heldout_queries()]
    tokens = tokenizer(texts)
    assert tokens.shape[1] == vigil_tiny_model_cfg()["text_cfg"]["context_length"]
    assert (tokens[:, -1] == 0).all(), "a caption filled the whole context (truncated)"


@pytest.mark.unit
def test_vietnamese_captions_have_diacritics_and_english_is_ascii() -> None:
    for en, vi in _all_captions(1000):
        assert en.isascii() and en.strip() == en
        assert VI_MARKS & set(vi.lower()), vi


@pytest.mark.unit
def test_captions_name_the_attributes_queries_ask_about() -> None:
    scenario = demo_scenario(0)
    carried = next(e for e in timeline(scenario) if e.label.action is Action.CARRIED)
    rng = random.Random(0)
    en = {describe(carried.scene, (carried.label,), Language.EN, rng) for _ in range(60)}
    vi = {describe(carried.scene, (carried.label,), Language.VI, rng) for _ in range(60)}
    assert any("carrying" in c and "night" in c for c in en)
    assert any("vác xe đạp" in c and "đêm" in c for c in vi)
    assert len(en) > 5 and len(vi) > 5
    assert caption_pair(carried.scene, (carried.label,), random.Random(1)) == \
        caption_pair(carried.scene, (carried.label,), random.Random(1))


@pytest.mark.integration
def test_rendered_video_has_a_keyframe_every_two_seconds(tmp_path: Path) -> None:
    from dataclasses import replace

    import av

    from indexing.world.video import render_scenario

    demo = demo_scenario(0)
    cameras = demo.cameras[:2]
    short = replace(demo, duration_s=6.0, cameras=cameras,
                    events=tuple(e for e in demo.events if e.camera_id in {c.camera_id for c in cameras}))
    footage = render_scenario(short, tmp_path, width=320, height=180)
    assert set(footage.videos) == {c.camera_id for c in short.cameras}
    with av.open(str(footage.videos[INCIDENT_CAMERA])) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 180)
        frames = [(f.key_frame, float(f.pts * stream.time_base)) for f in container.decode(stream)]
    assert len(frames) == 60
    assert [t for key, t in frames if key] == pytest.approx([0.0, 2.0, 4.0])


@pytest.mark.integration
def test_rendered_footage_is_reused_only_for_the_same_scenario_size_and_world(tmp_path: Path) -> None:
    """A benchmark or the demo re-renders when the world's drawing changed, never reuses stale video."""
    from dataclasses import replace

    from indexing.world.video import rendered_once

    demo = demo_scenario(0)
    short = replace(demo, duration_s=2.0, cameras=demo.cameras[:1], events=())
    videos = rendered_once(short, tmp_path, 64, 36, workers=1)
    made = videos[short.cameras[0].camera_id].stat().st_mtime_ns
    assert rendered_once(short, tmp_path, 64, 36, workers=1) == videos
    assert videos[short.cameras[0].camera_id].stat().st_mtime_ns == made  # reused
    (tmp_path / "complete").write_text("a rendering by another version of the world\n")
    rendered_once(short, tmp_path, 64, 36, workers=1)
    assert (tmp_path / "complete").read_text() != "a rendering by another version of the world\n"
    rendered_once(replace(short, duration_s=4.0), tmp_path, 64, 36, workers=1)
    assert videos[short.cameras[0].camera_id].stat().st_mtime_ns != made  # another scenario


@pytest.mark.unit
def test_averaged_model_is_the_mean_of_its_inputs(tmp_path: Path) -> None:
    import torch

    from indexing.clip_model import load_clip, new_clip, save_clip
    from indexing.world.average import average
    from tests.conftest import TINY_CFG

    folders = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        folders.append(tmp_path / f"m{seed}")
        save_clip(new_clip(TINY_CFG, {"size": 64, "resize_mode": "squash"}), folders[-1])
    average(folders, [3.0, 1.0], tmp_path / "avg")
    a, b, avg = (load_clip(f).model.state_dict() for f in (*folders, tmp_path / "avg"))
    key = "visual.proj"
    assert torch.allclose(avg[key], 0.75 * a[key] + 0.25 * b[key], atol=1e-3)
    other = TINY_CFG | {"embed_dim": TINY_CFG["embed_dim"] * 2}
    save_clip(new_clip(other, {"size": 64, "resize_mode": "squash"}), tmp_path / "other")
    with pytest.raises(ValueError, match="architecture"):
        average([folders[0], tmp_path / "other"], [1.0, 1.0], tmp_path / "bad")


@pytest.mark.unit
def test_wide_views_hold_small_subjects_in_crowds_with_truth_per_frame() -> None:
    from indexing.world.wide import wide_scenarios, wide_truth

    scenarios = wide_scenarios(5, quick=True)
    assert scenarios == wide_scenarios(5, quick=True) and scenarios != wide_scenarios(6, quick=True)
    assert {c.layout for s in scenarios for c in s.cameras} <= HELDOUT_LAYOUTS
    counts, areas, occluded = [], [], 0
    for s in scenarios:
        for cam in s.cameras:
            for t in np.arange(10.0, s.duration_s, 4.0):
                actors = wide_truth(s, cam.camera_id, float(t))
                counts.append(len(actors))
                occluded += sum(a.visible < 0.9 for a in actors)
                areas += [a.bbox.area for a in actors
                          if a.bbox.x0 > 0 and a.bbox.x1 < 1 and a.bbox.y1 < 1]  # not cut by an edge
    assert min(areas) >= 0.004 and max(areas) <= 0.05, "a subject outside 0.5-5 % of the frame"
    assert np.mean(counts) >= 3 and max(counts) >= 6, "wide views should hold crowds"
    assert occluded > 0, "crowds should occlude someone"


@pytest.mark.unit
def test_wide_identities_keep_their_appearance_across_cameras() -> None:
    from indexing.world.wide import wide_scenarios

    seen: dict[str, set[tuple[object, ...]]] = {}
    cameras: dict[str, set[str]] = {}
    for s in wide_scenarios(0, quick=True):
        for e in s.events:
            look = (e.label.kind, e.label.colour, e.label.person_colour, e.label.gender, e.label.count,
                    e.label.cargo, e.style)
            seen.setdefault(e.actor_id, set()).add(look)
            cameras.setdefault(e.actor_id, set()).add(e.camera_id)
    assert all(len(looks) == 1 for looks in seen.values())
    assert sum(len(c) >= 2 for c in cameras.values()) >= 10, "too few identities cross cameras"
    events = [e for s in wide_scenarios(0, quick=True) for e in timeline(s)]
    for query in heldout_queries():
        assert any(query.relevant_event(e) for e in events), query.text


@pytest.mark.unit
def test_wide_pixels_change_only_inside_boxes_and_occlusion_is_measured() -> None:
    from indexing.world.timeline import placements_at, scene_of
    from indexing.world.wide import render_keyframes, retimed, wide_scenarios, wide_truth

    scenario = retimed(wide_scenarios(3, quick=True)[0], 30.0)
    width, height = 960, 540  # at 480×270 a 1-px line end can round past a far subject's box
    cam = scenario.cameras[0]
    background = paint_background(cam.layout, cam.lighting, width, height, cam.seed)
    for t in (12.0, 20.0, 28.0):
        frame = draw_frame(background, scene_of(scenario, cam.camera_id),
                           placements_at(scenario, cam.camera_id, t, width / height))
        changed = np.any(frame != background, axis=2)
        inside = np.zeros_like(changed)
        for actor in wide_truth(scenario, cam.camera_id, t, width, height):
            x0, y0, x1, y1 = actor.bbox.pixels(width, height)
            inside[y0:y1, x0:x1] = True
            assert 0.0 <= actor.visible <= 1.0
        assert not (changed & ~inside).any()
    frames = render_keyframes(retimed(scenario, 4.0), 480, 270)
    assert [(f.camera_id, f.t) for f in frames][:2] == [(cam.camera_id, 0.0), (cam.camera_id, 2.0)]
    assert frames[0].rgb.shape == (270, 480, 3)


@pytest.mark.unit
def test_visible_share_drops_behind_a_nearer_actor() -> None:
    from indexing.world.truth import BBox
    from indexing.world.wide import _visible_shares

    far, near = BBox(0.1, 0.1, 0.3, 0.3), BBox(0.2, 0.1, 0.4, 0.3)
    shares = _visible_shares([far, near], [0.6, 0.8], 400, 400)
    assert shares[0] == pytest.approx(0.5, abs=0.05) and shares[1] == 1.0


@pytest.mark.unit
def test_wide_incident_thief_passes_camera_one_then_two_then_three() -> None:
    from indexing.world.wide import INCIDENT_CAMERAS, THIEF_ID, wide_incident, wide_resident_photo, wide_truth

    scenario = wide_incident(7)
    thief = sorted((e for e in timeline(scenario) if e.actor_id == THIEF_ID), key=lambda e: e.start_s)
    assert [e.camera_id for e in thief] == [c for c, _ in INCIDENT_CAMERAS]
    assert all(a.end_s < b.start_s for a, b in itertools.pairwise(thief))
    assert len({(e.label.colour, e.label.person_colour) for e in thief}) == 1
    mid = (thief[1].start_s + thief[1].end_s) / 2
    box = next(a.bbox for a in wide_truth(scenario, thief[1].camera_id, mid) if a.actor_id == THIEF_ID)
    assert 0.005 <= box.area <= 0.05
    assert np.array_equal(np.asarray(wide_resident_photo(7)), np.asarray(wide_resident_photo(7)))


@pytest.mark.integration
def test_wide_incident_renders_as_h264(tmp_path: Path) -> None:
    import av

    from indexing.world.video import render_scenario
    from indexing.world.wide import retimed, wide_incident

    footage = render_scenario(retimed(wide_incident(7), 4.0), tmp_path, width=384, height=216, workers=1)
    assert len(footage.videos) == 3
    with av.open(str(next(iter(footage.videos.values())))) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (384, 216)


@pytest.mark.unit
def test_crop_samples_show_their_first_actor_on_training_layouts() -> None:
    from indexing.world.crop_pairs import render_crop_sample

    a, b = render_crop_sample(4), render_crop_sample(4)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and a.caption_vi == b.caption_vi
    for seed in range(30):
        sample = render_crop_sample(seed)
        w, h = sample.image.size
        assert abs(w - h) <= 1 and 20 <= w <= 224, "a proposal-like square crop of a 224-px decode"
        assert sample.truth.scene.layout in TRAIN_LAYOUTS
        assert not any(is_heldout_combo(a.label, sample.truth.scene.lighting) for a in sample.truth.actors)
        places = ("street", "alley", "intersection", "market", "crossroads", "road")
        assert not any(p in sample.caption_en for p in places)
