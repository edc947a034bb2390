"""How fast does the investigator's console answer in a real browser, on the demo's data?

    python -m benchmarks.console [--quick] --out FILE.json [--data-dir DIR]

Loads the demo (`vigil demo`'s three night cameras, 90 s each, rendered once and cached under
DATA_DIR/demo-footage; ingested through gRPC into the node's embedded SeaweedFS in DATA_DIR),
serves the console in front of the node (services.console.server.BackgroundConsole) and drives
Debian's chromium with playwright, signed in as an investigator. Measured inside the page with
performance.now(), after warm-up runs:

- search → results: from pressing Search to the results list being in the DOM (the app has
  called Search through /api and rendered every card), and to every card's thumbnail loaded
  (each a GET /media/thumbnail through the node's ReadMedia);
- hit → first frame: from clicking a hit's Play to the player's <video> presenting its first
  frame (requestVideoFrameCallback; the segment comes through /media/segment with Range
  requests), and to the timeline drawn (GetPlaylist).

The demo's queries (English and Vietnamese) are asked in turn; each run plays the next hit of the
last results. p50/p95 in milliseconds. Needs the web app built (services/console/web/dist) and
`chromium` on PATH (tests/servers/install_chromium.sh).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness

# In the page: clear the results, press Search, wait for the new list and its thumbnails.
SEARCH_JS = """async (query) => {
  const area = document.getElementById('results');
  area.replaceChildren();
  const input = document.querySelector('input[type=search]');
  input.value = query;
  input.dispatchEvent(new Event('input'));
  const until = (test) => new Promise((resolve, reject) => {
    const limit = performance.now() + 60000;
    const check = () => {
      const v = test();
      if (v) resolve(v);
      else if (performance.now() > limit) reject(new Error('timed out'));
      else requestAnimationFrame(check);
    };
    check();
  });
  const t0 = performance.now();
  document.getElementById('search-button').click();
  const done = () => document.getElementById('results-title')
    || document.querySelector('#search-status.error');
  await until(done);
  const rendered = performance.now();
  const error = document.querySelector('#search-status.error');
  if (error) throw new Error(error.textContent);
  const imgs = [...document.querySelectorAll('#hits img')];
  await until(() => imgs.every((i) => i.complete));
  return {rendered_ms: rendered - t0, thumbnails_ms: performance.now() - t0, hits: imgs.length};
}"""

# In the page: click the i-th hit's Play, wait for the video's first presented frame and the timeline.
PLAY_JS = """async (i) => {
  const buttons = document.querySelectorAll('li.hit button.play');
  const button = buttons[i % buttons.length];
  let observer = null;
  let seen = null;
  let timeline = null;
  const t0 = performance.now();
  const frame = new Promise((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error('no video frame within 60 s')), 60000);
    const watch = () => {
      if (timeline === null && document.querySelector('.timeline .span')) timeline = performance.now() - t0;
      const v = document.getElementById('player-video');
      if (v && v !== seen) {
        seen = v;
        v.requestVideoFrameCallback(() => { clearTimeout(limit); resolve(performance.now() - t0); });
        v.addEventListener('error', () => reject(new Error('video error ' + (v.error && v.error.message))));
      }
    };
    observer = new MutationObserver(watch);
    observer.observe(document.body, {childList: true, subtree: true});
  });
  button.click();
  try {
    const first = await frame;
    const limit = performance.now() + 60000;
    while (timeline === null && performance.now() < limit) await new Promise((r) => setTimeout(r, 5));
    if (timeline === null) throw new Error('no timeline within 60 s');
    return {first_frame_ms: first, timeline_ms: timeline};
  } finally {
    observer.disconnect();
  }
}"""


def summary(samples: list[float]) -> dict[str, float]:
    a = np.array(samples)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "mean": float(statistics.fmean(samples)), "runs": len(samples)}


def load_demo(data_dir: Path) -> tuple[Any, ...]:
    """The demo's footage rendered (cached) and the settings of a node holding it."""
    from indexing.world.scenario import demo_scenario
    from indexing.world.video import rendered_once
    from services.demo.run import SEED
    from services.settings import Settings

    settings = Settings(data_dir=data_dir, server={"port": 0, "metrics_port": 0},  # type: ignore[arg-type]
                        console={"port": 0})  # type: ignore[arg-type]
    scenario = demo_scenario(SEED)
    return settings, rendered_once(scenario, data_dir / "demo-footage" / scenario.name)


def measure(url: str, token: str, queries: tuple[str, ...], warmup: int, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed: run tests/servers/install_chromium.sh (make servers)")
    searches: dict[str, list[float]] = {"rendered_ms": [], "thumbnails_ms": []}
    plays: dict[str, list[float]] = {"first_frame_ms": [], "timeline_ms": []}
    hits: list[int] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(url)
        page.fill("#token", token)
        page.press("#token", "Enter")
        page.wait_for_selector("#search-button", timeout=60_000)
        for i in range(warmup + runs):
            query = queries[i % len(queries)]
            s = page.evaluate(SEARCH_JS, query)
            if s["hits"] == 0:
                sys.exit(f"no hits for {query!r}: nothing to play")
            v = page.evaluate(PLAY_JS, i // len(queries))
            page.evaluate("() => { location.hash = '#/search'; }")
            page.wait_for_selector("#search-button", timeout=60_000)
            if i >= warmup:
                for k in searches:
                    searches[k].append(s[k])
                for k in plays:
                    plays[k].append(v[k])
                hits.append(s["hits"])
        version = browser.version
        browser.close()
    return {"search_to_results_rendered_ms": summary(searches["rendered_ms"]),
            "search_to_thumbnails_loaded_ms": summary(searches["thumbnails_ms"]),
            "hit_click_to_first_video_frame_ms": summary(plays["first_frame_ms"]),
            "hit_click_to_timeline_drawn_ms": summary(plays["timeline_ms"]),
            "hits_per_search_mean": float(statistics.fmean(hits)), "chromium": version}


def main() -> None:
    p = _harness.parser(__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path("benchmarks/results/console-data"),
                   help="node data and the rendered demo footage (kept: a second run reuses both)")
    args = p.parse_args()
    from services.api.client import VigilClient
    from services.api.server import BackgroundServer
    from services.console.server import DIST, BackgroundConsole
    from services.demo.run import QUERIES, RECORDING_START
    from services.node.app import Vigil
    from services.security.auth import Role
    from storage.keys import ALL_GROUPS

    if not (DIST / "index.html").is_file():
        sys.exit(f"the console is not built ({DIST}): npm ci && npm run build in services/console/web")
    warmup, runs = (2, 16) if args.quick else (4, 48)
    settings, videos = load_demo(args.data_dir.resolve())
    with Vigil(settings) as node, BackgroundServer(node) as server:
        admin = node.tokens.create("bench-console-admin", Role.ADMIN, [ALL_GROUPS])
        with VigilClient(server.address, admin) as client:
            t0 = time.perf_counter()
            for camera_id, path in videos.items():
                status = client.wait_for_job(client.ingest_file(path, camera_id, RECORDING_START))
                if status.state != "succeeded":
                    sys.exit(f"ingest of {camera_id} failed: {status.error}")
            ingest_s = time.perf_counter() - t0
        token = node.tokens.create("bench-console", Role.INVESTIGATOR, [ALL_GROUPS])
        with BackgroundConsole(node, server.port, DIST, port=0) as console:
            results = measure(console.url, token, QUERIES, warmup, runs)
    results.update({"queries": list(QUERIES), "cameras": len(videos), "footage_s_per_camera": 90,
                    # a rerun on the same --data-dir skips the stored segments: seconds, not minutes
                    "ingest_s": round(ingest_s, 1), "warmup_runs": warmup,
                    "command": "python -m benchmarks.console" + (" --quick" if args.quick else "")})
    _harness.write(args.out, __doc__.split("\n\n")[0], results, args.quick)


if __name__ == "__main__":
    main()
