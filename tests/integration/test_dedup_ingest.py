"""A static camera's footage is indexed as a few spans, not one vector per keyframe.

Runs the real ingest pipeline (ffmpeg, SeaweedFS, PyAV) with the bundled model
and its calibrated dedup threshold on synthetic footage: an empty street for 40 s,
then a person crossing it. Regions are on (the default): the street's grid tiles
are stored once, the crossing gets motion regions.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexing.models.configs import VIGIL_TINY_DIR
from indexing.world.script import Camera, Crossing, Scenario
from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, Gender, Layout, Lighting

CAMERA = "cam-static-1"
START_MS = 1_790_000_000_000
WALK_START_S, WALK_S, DURATION_S = 40.0, 12.0, 60.0


def _same_scene(embedder: Any) -> Any:
    """The bundled model's calibrated dedup rule (`indexing.dedup.SameScene`)."""
    return embedder.same_scene(embedder.spec.calibration.dedup_cosine)


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from indexing.world.video import render_scenario

    walker = ActorLabel(ActorKind.PERSON, Action.WALKING, colour=Colour.RED,
                        person_colour=Colour.RED, gender=Gender.MAN)
    scenario = Scenario(
        name="static", cameras=(Camera(CAMERA, Layout.STREET, Lighting.DAY, seed=3),),
        duration_s=DURATION_S, fps=5,
        events=(Crossing(CAMERA, "walker", walker, WALK_START_S, WALK_S, y=0.9, direction=1),))
    out = render_scenario(scenario, tmp_path_factory.mktemp("static"), 640, 360, workers=1)
    return out.videos[CAMERA]


@pytest.fixture(scope="module")
def ingested(footage: Path, s3_endpoint: object, tmp_path_factory: pytest.TempPathFactory):
    from indexing.embedder import ClipEmbedder, ModelSpec
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex
    from services.ingest.pipeline import IngestPipeline, IngestRequest
    from services.settings import IngestSettings
    from storage.media import probe
    from storage.s3 import S3ObjectStore

    embedder = ClipEmbedder(ModelSpec(path=VIGIL_TINY_DIR))
    store = S3ObjectStore(s3_endpoint)  # type: ignore[arg-type]
    index = FrameIndex(embedder.dim)
    pipeline = IngestPipeline(store, index, IndexLog(store, "dedup-test"), embedder.embed_images,
                              IngestSettings(segment_seconds=4.0), tmp_path_factory.mktemp("work"),
                              batch=32, same_scene=lambda: _same_scene(embedder))
    request = IngestRequest(CAMERA, START_MS, footage, probe(footage))
    first = pipeline.run(request, lambda _: None)
    again = pipeline.run(request, lambda _: None)
    return embedder, index, first, again


@pytest.mark.integration
def test_an_empty_static_scene_is_stored_once_per_run(ingested) -> None:
    _, index, first, _ = ingested
    assert first.keyframes == DURATION_S // 2  # a keyframe every 2 s
    assert first.vectors == len(index)
    records = sorted((r for r in index.records() if r.box is None), key=lambda r: r.time_ms)  # whole
    assert len(records) <= first.keyframes // 3
    covered = [(r.time_ms, r.end_ms) for r in records]
    assert covered[0][0] == START_MS and covered[-1][1] == START_MS + DURATION_S * 1000
    assert all(a_end == b_start for (_, a_end), (b_start, _) in itertools.pairwise(covered))


@pytest.mark.integration
def test_the_person_crossing_keeps_its_own_keyframes_and_is_found(ingested) -> None:
    from indexing.vector_index import SearchFilter

    embedder, index, _, _ = ingested
    query = embedder.embed_texts(["a man in a red shirt walking"])[0]
    best = index.search(np.asarray(query), 1, SearchFilter())[0].record
    walk = (START_MS + WALK_START_S * 1000, START_MS + (WALK_START_S + WALK_S) * 1000)
    assert walk[0] <= best.time_ms < walk[1]
    assert best.end_ms - best.time_ms <= 4000  # not swallowed into the empty street's span


@pytest.mark.integration
def test_the_crossing_gets_motion_regions_and_the_still_street_few_regions(ingested) -> None:
    from indexing.keyframes import EMBED_SHORT_SIDE
    from indexing.regions import grid_boxes

    _, index, first, _ = ingested
    regions = [r for r in index.records() if r.box is not None]
    assert len(regions) <= 2 * first.keyframes  # the grid once per batch, then only what changed
    tiles = set(grid_boxes(round(640 * EMBED_SHORT_SIDE / 360), EMBED_SHORT_SIDE, (2, 3)))
    moving = {(r.time_ms - START_MS) // 1000 for r in regions if r.box not in tiles}
    assert len(moving) >= 4  # the walker, keyframe after keyframe
    assert all(WALK_START_S <= t < WALK_START_S + WALK_S + 2 for t in moving)  # and nothing else


@pytest.mark.integration
def test_reingesting_the_same_file_adds_nothing(ingested) -> None:
    _, index, first, again = ingested
    assert again.vectors == 0 and len(index) == first.vectors


@pytest.mark.integration
def test_several_batches_in_flight_index_exactly_what_one_at_a_time_does(
        footage: Path, s3_endpoint: object, tmp_path: Path) -> None:
    """Ingest keeps one batch in flight per embedder actor; the batches are still indexed in order."""
    from indexing.embedder import ClipEmbedder, ModelSpec
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex
    from services.ingest.pipeline import IngestPipeline, IngestRequest
    from services.settings import IngestSettings
    from storage.media import probe
    from storage.s3 import S3ObjectStore

    embedder = ClipEmbedder(ModelSpec(path=VIGIL_TINY_DIR))
    store = S3ObjectStore(s3_endpoint)  # type: ignore[arg-type]
    request = IngestRequest(CAMERA, START_MS, footage, probe(footage))
    indexed = []
    for in_flight in (1, 3):
        index = FrameIndex(embedder.dim)
        pipeline = IngestPipeline(store, index, IndexLog(store, f"in-flight-{in_flight}"),
                                  embedder.embed_images, IngestSettings(segment_seconds=4.0),
                                  tmp_path / str(in_flight), batch=4, in_flight=in_flight,
                                  same_scene=lambda: _same_scene(embedder))
        pipeline.run(request, lambda _: None)
        indexed.append(list(index.records()))
    assert len(indexed[0]) > 3 and indexed[0] == indexed[1]
