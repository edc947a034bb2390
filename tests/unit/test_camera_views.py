"""A camera's learned view is kept in the bucket: a new process (a restarted recorder, the node's
file jobs) starts knowing a close view, and a broken or unwritable view never fails an ingest."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from indexing.regions import RegionProposer
from services.ingest.views import SAVE_EVERY, LearnedViews
from storage import keys
from storage.camera_views import CameraViews
from storage.errors import StorageUnavailableError
from tests.memory_store import MemoryStore
from tests.unit.test_regions import _close_up, _street


def _views(store: MemoryStore) -> LearnedViews:
    return LearnedViews(RegionProposer(max_regions=5, method="motion+grid"), CameraViews(store))


def test_a_close_view_learned_by_one_process_gets_no_regions_in_the_next_from_its_first_keyframe() -> None:
    rng, store = np.random.default_rng(3), MemoryStore()
    first = _views(store)
    for i in range(14):
        first.propose("cam-door", _close_up(rng, 10 + (i * 37) % 290))
        first.save("cam-door")
    assert keys.camera_view_key("cam-door") in store.objects
    restarted = _views(store)
    assert restarted.propose("cam-door", _close_up(rng, 50)) == []
    assert _views(MemoryStore()).propose("cam-door", _close_up(rng, 50))  # nothing stored: tiles


def test_a_street_view_stays_a_street_view_and_its_view_is_written_every_few_blobs_not_every_batch() -> None:
    rng, store = np.random.default_rng(4), MemoryStore()
    writes: list[str] = []
    store.before_write = lambda op, key: writes.append(key)
    views = _views(store)
    for i in range(40):
        assert len(views.propose("cam-street", _street(rng, 10 + (i * 23) % 370))) == 5
        views.save("cam-street")
    seen = CameraViews(store).get("cam-street")
    assert seen and 1 <= len(writes) <= 1 + 40 // SAVE_EVERY
    assert len(_views(store).propose("cam-street", _street(rng, 100))) == 5


@pytest.mark.parametrize("stored", [b"not json", b'{"subjects": "big"}', b'{"subjects": [0.5, 7]}',
                                    b'{"subjects": [true]}', b'{"nothing": 1}', b"[1, 2]"])
def test_a_stored_view_that_is_not_one_is_refused_by_name_and_ingest_relearns(
        stored: bytes, caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    store.objects[keys.camera_view_key("cam-door")] = stored
    with pytest.raises(ValueError, match=r"views/cam-door\.json"):
        CameraViews(store).get("cam-door")
    with caplog.at_level(logging.WARNING):
        assert _views(store).propose("cam-door", _close_up(np.random.default_rng(5), 60))  # tiles
    assert "cam-door" in caplog.text and "relearning" in caplog.text


def test_a_view_that_cannot_be_written_is_logged_and_the_ingest_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    rng, store = np.random.default_rng(6), MemoryStore()

    def down(op: str, key: str) -> None:
        raise StorageUnavailableError("the S3 server did not answer")

    store.before_write = down
    views = _views(store)
    with caplog.at_level(logging.WARNING):
        for i in range(14):
            views.propose("cam-door", _close_up(rng, 10 + (i * 37) % 290))
            views.save("cam-door")
    assert "not stored" in caplog.text and not store.objects


def test_areas_written_are_fractions_of_the_frame() -> None:
    with pytest.raises(ValueError, match="fractions of the frame"):
        CameraViews(MemoryStore()).put("cam-a", [0.2, 1.5])
    with pytest.raises(ValueError, match="camera"):
        CameraViews(MemoryStore()).get("../etc")


def test_a_view_that_cannot_be_read_is_relearned_and_the_storage_error_s_text_is_not_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()

    def down(key: str) -> None:
        raise StorageUnavailableError("http://vigil:s3cret@10.0.0.5:9000 did not answer")

    store.before_read = down
    with caplog.at_level(logging.WARNING):
        assert _views(store).propose("cam-door", _close_up(np.random.default_rng(7), 60))
    assert "StorageUnavailableError" in caplog.text and "s3cret" not in caplog.text
