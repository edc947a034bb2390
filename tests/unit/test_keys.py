"""The bucket's key layout: partitioned by camera and UTC hour, ids that cannot escape it."""

from __future__ import annotations

import pytest

from storage import keys
from storage.timeutil import HOUR_MS


def test_segment_keys_partition_by_camera_and_utc_hour() -> None:
    start = 1_795_507_200_000  # 2026-11-24T08:00:00Z
    key = keys.segment_key("cam-1", start, start + 4000)
    assert key == f"segments/cam-1/2026/11/24/08/{start}-{start + 4000}.mp4"
    assert keys.manifest_key(key).endswith(f"{start}-{start + 4000}.json")
    assert keys.thumbnail_key("cam-1", start + HOUR_MS).startswith("thumbnails/cam-1/2026/11/24/09/")


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a..b", "-lead", "x" * 65, "cam\n1", "camé"])
def test_camera_ids_that_could_escape_the_layout_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="camera id"):
        keys.validate_camera_id(bad)


def test_every_record_kind_has_its_prefix() -> None:
    assert keys.camera_key("cam-1") == "cameras/cam-1.json"
    assert keys.hold_key("h1") == "holds/h1.json"
    assert keys.export_key("e1", "cam-1") == "exports/e1/cam-1.mp4"
    assert keys.export_id_of(keys.export_key("e1", "cam-1")) == "e1"
    assert keys.token_key("ab" * 32) == f"auth/tokens/{'ab' * 32}.json"
    assert keys.audit_node_prefix("node-a") == "audit/node-a/"
    assert keys.is_segment_key(keys.segment_key("cam-1", 0, 1))
    assert not keys.is_segment_key("segments/../x.mp4")
