"""A camera's view, learned by one ingest pipeline, is known to the next one from its first keyframe.

Runs the real ingest pipeline (ffmpeg, SeaweedFS, PyAV, the bundled model) on a close view of the
synthetic world (its subjects are large in the frame): the first pipeline crops regions from the
camera's first keyframes until it has seen enough subjects to call it a close view, and stores
that view in the bucket; a second pipeline (a new process: a restarted live recorder, another
node) ingesting the same camera's next footage crops nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from indexing.models.configs import VIGIL_TINY_DIR
from indexing.world.script import Camera, Crossing, Scenario
from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, Gender, Layout, Lighting

CAMERA = "cam-door-1"
START_MS = 1_790_000_000_000
DURATION_S = 40.0


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from indexing.world.video import render_scenario

    colours = (Colour.RED, Colour.BLUE, Colour.GREEN, Colour.YELLOW)
    walkers = [ActorLabel(ActorKind.PERSON, Action.WALKING, colour=c, person_colour=c, gender=Gender.MAN)
               for c in colours]
    crossings = tuple(Crossing(CAMERA, f"walker-{i}", walkers[i % 4], 2.0 + 9.0 * i, 8.0, y=0.85,
                               direction=1 if i % 2 == 0 else -1) for i in range(4))
    scenario = Scenario(name="door", cameras=(Camera(CAMERA, Layout.STREET, Lighting.DAY, seed=5),),
                        duration_s=DURATION_S, fps=5, events=crossings)
    out = render_scenario(scenario, tmp_path_factory.mktemp("door"), 640, 360, workers=1)
    return out.videos[CAMERA]


def _pipeline(store: Any, embedder: Any, work: Path) -> Any:
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex
    from services.ingest.pipeline import IngestPipeline
    from services.settings import IngestSettings

    return IngestPipeline(store, FrameIndex(embedder.dim), IndexLog(store, "views-test"),
                          embedder.embed_images, IngestSettings(segment_seconds=4.0), work, batch=8,
                          same_scene=lambda: None)


@pytest.mark.integration
def test_a_close_view_learned_by_one_pipeline_gets_no_crops_in_the_next(
        footage: Path, s3_endpoint: object, tmp_path: Path) -> None:
    from indexing.embedder import ClipEmbedder, ModelSpec
    from indexing.regions import CLOSE_VIEW
    from services.ingest.pipeline import IngestRequest
    from storage.camera_views import CameraViews
    from storage.media import probe
    from storage.s3 import S3ObjectStore

    embedder = ClipEmbedder(ModelSpec(path=VIGIL_TINY_DIR))
    store = S3ObjectStore(s3_endpoint)  # type: ignore[arg-type]
    info = probe(footage)
    first = _pipeline(store, embedder, tmp_path / "a").run(IngestRequest(CAMERA, START_MS, footage, info),
                                                           lambda _: None)
    assert first.vectors > first.keyframes  # crops while the view was being learned
    subjects = sorted(CameraViews(store).get(CAMERA))
    assert len(subjects) >= 8 and subjects[len(subjects) // 2] >= CLOSE_VIEW  # stored: a close view

    later = START_MS + round(DURATION_S * 1000)
    second = _pipeline(store, embedder, tmp_path / "b").run(IngestRequest(CAMERA, later, footage, info),
                                                            lambda _: None)
    assert second.keyframes == first.keyframes and second.vectors == second.keyframes  # no crops at all
