"""Browser tests of the console: a served node with two wards' footage, and Debian's Chromium
driven by Playwright (never a browser Playwright downloads).

Fixtures (the UI tests in this folder use these names):
- `console_url`: the console of a test node (tests/console_world.py: ward A's camera CAM_A and
  ward B's CAM_B, each with H.264 fMP4 footage from START; the test model has random weights and
  search.min_score -1, so any query, Vietnamese included, returns the footage a caller may see);
- `console_tokens`: "admin" ('*'), "investigator" (ward A), "viewer" (ward A), "viewer_b" (ward B);
- `make_token(role, groups, expires_in_s=None)`: a new token (a few seconds' expiry: an expired
  session);
- `browser` (one Chromium per session: `executable_path=shutil.which("chromium")`,
  `--no-sandbox` as everything runs as root, autoplay without a gesture) and `page` (a fresh
  context per test: 1280×800, downloads accepted);
- `artifacts_dir`: where screenshots go — `test-artifacts/browser/` at the repository root
  (gitignored), or $TEST_ARTIFACTS_DIR/browser.
A server error for one call: intercept it with Playwright's `page.route`.

Chromium comes from `make servers` (tests/servers/install_chromium.sh), the app's dist from
`make install` (npm ci && npm run build in services/console/web). Without either the tests skip
saying what to run, and fail instead under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.console.server import DIST
from tests.console_world import ConsoleWorld, console_world

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 800}


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(what)
    pytest.skip(what)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run real servers: they are integration tests (`make integration`)."""
    for item in items:
        if "browser" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def built_app() -> Path:
    if not (DIST / "index.html").is_file():
        _missing(f"the console's web app is not built ({DIST}): run `make install` "
                 "(npm ci && npm run build in services/console/web)")
    return DIST


@pytest.fixture(scope="session")
def console(node: Any, server: Any, admin_token: str, video: Path, built_app: Path) -> Iterator[ConsoleWorld]:
    with console_world(node, server, admin_token, video, built_app) as world:
        yield world


@pytest.fixture(scope="session")
def console_url(console: ConsoleWorld) -> str:
    return console.url


@pytest.fixture(scope="session")
def console_tokens(console: ConsoleWorld) -> dict[str, str]:
    return console.tokens


@pytest.fixture(scope="session")
def make_token(console: ConsoleWorld) -> Callable[..., str]:
    return console.make_token


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    base = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
    path = base / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package-scoped: Playwright's sync API runs an event loop in this thread until it stops,
    and tests after tests/browser (asyncio.run in unit tests) need it gone."""
    chromium = shutil.which("chromium")
    if chromium is None:
        _missing("Debian's chromium is not installed: run `make servers` as root "
                 "(tests/servers/install_chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium,
                                     args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()
