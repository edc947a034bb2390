"""The console's watchlists screen and ingest job list in a real browser (Debian's chromium driven
by playwright, over tests/console_world.py; fixtures in tests/browser/conftest.py).

An investigator of ward A adds a text entry and a photo entry scoped to its camera, sees both
listed (in Vietnamese too) and removes them; an alert delivered by the WatchAlerts stream
(answered by the test, see below) is shown with its thumbnail, box, camera, time and score and
opens the player on the stored segment at its time. An admin sees a
finished ingest job in the administration screen's job list (ListJobs) without asking for it by
id. The screen fits a phone's width. Screenshots go to `artifacts_dir`. Waits are bounded
(playwright timeouts); no sleeps, no timing assertions.
"""

from __future__ import annotations

import json
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.browser.test_console_ui import WAIT_MS, csp_violations, shot, sign_in
from tests.console_world import CAM_A, CAM_B


def _photo(page: Any, console_url: str, console: Any, name: str) -> dict[str, Any]:
    """A keyframe thumbnail of ward A's camera, read through the console with the session, as a
    file to set on the photo input."""
    key = console.thumbnails[CAM_A][len(console.thumbnails[CAM_A]) // 2]
    body: bytes = page.request.get(f"{console_url}/media/thumbnail?key={key}").body()
    return {"name": name, "mimeType": "image/jpeg", "buffer": body}


def test_add_list_and_remove_watch_entries(page: Any, console_url: str, console_tokens: dict[str, str],
                                           console: Any, artifacts_dir: Path) -> None:
    blocked = csp_violations(page)
    sign_in(page, console_url, console_tokens["investigator"])
    page.click("#nav-watch")
    page.wait_for_selector("#watch-form input[name=camera]", timeout=WAIT_MS)
    # Ward A's investigator is offered its own camera only.
    offered = page.locator("#watch-form input[name=camera]").evaluate_all("cs => cs.map(c => c.value)")
    assert offered == [CAM_A]

    page.get_by_label("Description (English or Vietnamese)").fill("người vác xe đạp vào ban đêm")
    page.check(f"#watch-form input[name=camera][value='{CAM_A}']")
    page.fill("#watch-sensitivity", "0.7")
    page.click("#watch-add")
    row = "#watch-table tr:has(td.watch-query:text-is('người vác xe đạp vào ban đêm'))"
    page.wait_for_selector(row, timeout=WAIT_MS)
    assert CAM_A in page.inner_text(row) and "0.70" in page.inner_text(row)

    # A photo entry, chosen with the keyboard-reachable radio and file input.
    page.get_by_label("A photo").check()
    page.set_input_files("#watch-form input[type=file]", _photo(page, console_url, console, "bicycle.jpg"))
    page.click("#watch-add")
    photo_row = "#watch-table tr:has(td.watch-query:text-is('bicycle.jpg'))"
    page.wait_for_selector(photo_row, timeout=WAIT_MS)
    assert "A photo" in page.inner_text(photo_row)
    assert CAM_B not in page.inner_text("#main")
    shot(page, artifacts_dir, "watch")

    # The same screen in Vietnamese.
    page.click("button.lang")
    page.wait_for_selector("h1:text-is('Danh sách theo dõi')", timeout=WAIT_MS)
    page.wait_for_selector(photo_row, timeout=WAIT_MS)
    assert "Ảnh" in page.inner_text(photo_row)
    page.click("button.lang")
    page.wait_for_selector("h1:text-is('Watchlists')", timeout=WAIT_MS)

    for selector in (row, photo_row):
        page.wait_for_selector(selector, timeout=WAIT_MS)
        page.locator(f"{selector} button.remove-watch").click()
        page.wait_for_selector(selector, state="detached", timeout=WAIT_MS)
    assert page.inner_text("#watch-list-status") == "Entry removed."
    assert not blocked, blocked


def _alert_stream(alert: dict[str, Any]) -> bytes:
    """A Connect server-stream body (application/connect+json): one message, then the end."""
    def envelope(flags: int, message: dict[str, Any]) -> bytes:
        data = json.dumps(message).encode()
        return bytes([flags]) + struct.pack(">I", len(data)) + data
    return envelope(0, alert) + envelope(2, {})


def test_an_alert_is_shown_with_its_thumbnail_box_and_opens_the_player(
        page: Any, console_url: str, console_tokens: dict[str, str], console: Any,
        artifacts_dir: Path) -> None:
    # The alert stream is answered here: one alert on ward A's stored footage, as WatchAlerts
    # sends it. (A live alert from re-ingested footage did not arrive within 120 s in this world;
    # the server's matching is tests/integration/test_watchlists.py's business.)
    frame = console.start + timedelta(seconds=6)
    alert = {"alertId": "a" * 32, "entryId": "e" * 32, "cameraId": CAM_A,
             "frameTime": frame.isoformat().replace("+00:00", "Z"), "score": 3.25, "cosine": 0.91,
             "box": {"x0": 0.1, "y0": 0.2, "x1": 0.5, "y1": 0.6},
             "thumbnailKey": console.thumbnails[CAM_A][1], "folded": 2,
             "cursor": f"{int(frame.timestamp() * 1000):013d}-{'a' * 32}"}
    page.route("**/api/vigil.v1.WatchService/WatchAlerts", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "application/connect+json"}, body=_alert_stream(alert)))
    sign_in(page, console_url, console_tokens["investigator"])
    page.click("#nav-watch")
    card = f"li.alert[data-alert='{'a' * 32}']"
    page.wait_for_selector(f"{card} .thumb img", timeout=WAIT_MS)
    text = page.inner_text(card)
    assert CAM_A in text and "3.250" in text and "+2" in text and "0.10, 0.20" in text
    assert page.locator(f"{card} .thumb .box").count() == 1
    assert page.locator(card).count() == 1  # the stream resumed after it: the alert is not repeated
    shot(page, artifacts_dir, "watch-alert")
    page.locator(f"{card} button.open-alert").focus()  # a real button: Enter opens it
    page.keyboard.press("Enter")
    page.wait_for_selector("#player-video", timeout=WAIT_MS)
    assert CAM_A in page.inner_text("h1")
    assert page.get_attribute("#player-video", "src").startswith("/media/segment?key=")


def test_admin_job_list_shows_a_finished_job_and_the_screen_fits_a_phone(
        page: Any, console_url: str, console_tokens: dict[str, str], console: Any, client: Any,
        video: Path, artifacts_dir: Path) -> None:
    job_id = client.ingest_file(video, CAM_A, console.start)  # stored already: segments skipped
    assert client.wait_for_job(job_id).state == "succeeded"
    sign_in(page, console_url, console_tokens["admin"])
    page.click("#nav-admin")
    # Listed without asking for it by id, with its state and progress.
    page.wait_for_selector(f"#jobs-table tr[data-job='{job_id}'] td.ok", timeout=WAIT_MS)
    row = page.inner_text(f"#jobs-table tr[data-job='{job_id}']")
    assert CAM_A in row and "succeeded" in row and "segments" in row
    shot(page, artifacts_dir, "admin-jobs")

    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        small = phone.new_page()
        sign_in(small, console_url, console_tokens["investigator"])
        small.click("#nav-watch")
        small.wait_for_selector("#watch-form input[name=camera]", timeout=WAIT_MS)
        assert small.evaluate("() => document.documentElement.scrollWidth") <= 390
        shot(small, artifacts_dir, "phone-watch")
    finally:
        phone.close()
