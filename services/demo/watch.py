"""The demo's watchlist: the resident's photo is put on a watchlist before the night's footage is
ingested, and the alerts it raised are shown afterwards.

An entry is calibrated against recent footage (`indexing.watch`), so the cameras' previous
minute (ordinary traffic, no bicycle: rendered once and cached) is ingested first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.api.client import VigilClient
from services.api.watch_client import add_watch, tail_alerts
from storage.watchlists import cursor_at

BACKGROUND_S = 60.0
FOLLOW_S = 5.0  # the alerts of the last batches reach the stream within this
# A stolen bicycle is watched at high sensitivity (2, `indexing.watch.z_threshold`): the close-up
# cameras get whole-keyframe vectors only (no regions: a close view), and there the thief's
# keyframes score 4.3 on cam-hem-12 and 3.4 on cam-cho-3 (a look-alike on cam-pho-7 scores 2.1:
# the model's limit, measured by `benchmarks.alert_rules`); `benchmarks.alerts` measures this
# sensitivity (photo@0.75)
SENSITIVITY = 0.75


@dataclass(frozen=True)
class PhotoWatch:
    entry_id: str
    cursor: str

    def show(self, client: VigilClient) -> int:
        """Print the alerts raised since the entry was added; how many."""
        alerts = list(tail_alerts(client.channel, self.cursor, [self.entry_id], follow_s=FOLLOW_S))
        print(f"  watchlist alerts for the resident's photo ({len(alerts)}):")
        for a in alerts:
            when = a.frame_time.ToDatetime(UTC)
            print(f"      ALERT {a.camera_id:<11} {when:%H:%M:%S} UTC  score {a.score:.1f}"
                  + (f"  (+{a.folded} more)" if a.folded else ""))
        return len(alerts)


def watch_photo(client: VigilClient, photo: bytes, scenario: Any, folder: Path,
                start: datetime) -> PhotoWatch:
    """Ingest the cameras' previous minute, then watch for the photo on every camera."""
    import random

    from indexing.world.script import Scenario, traffic
    from indexing.world.video import rendered_once

    rng = random.Random(1)
    background = Scenario(f"{scenario.name}-before", scenario.cameras, BACKGROUND_S, scenario.fps,
                          tuple(e for c in scenario.cameras
                                for e in traffic(rng, c.camera_id, BACKGROUND_S, f"{c.camera_id}-before")))
    videos = rendered_once(background, folder / background.name)
    for cam in scenario.cameras:
        video = videos[cam.camera_id]
        client.wait_for_job(client.ingest_file(video, cam.camera_id, start - timedelta(seconds=BACKGROUND_S)))
    cursor = cursor_at(int(datetime.now(UTC).timestamp() * 1000) - 1000)
    entry = add_watch(client.channel, image=photo, sensitivity=SENSITIVITY)
    print(f"    watchlist: the resident's photo added as {entry.entry_id}, sensitivity {SENSITIVITY} "
          f"({'calibrated' if entry.calibrated else 'not calibrated'} on the cameras' previous minute)")
    return PhotoWatch(entry.entry_id, cursor)
