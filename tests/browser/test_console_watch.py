"""The console's watchlists screen and ingest job list in a real browser (Debian's chromium driven
by playwright, over tests/console_world.py; fixtures in tests/browser/conftest.py).

An investigator of ward A adds a text entry and a photo entry scoped to its camera, sees both
listed (in Vietnamese too) and removes them; an alert raised by new footage of that camera
arrives live on the screen with its thumbnail and opens the player at its time. An admin sees a
finished ingest job in the administration screen's job list (ListJobs) without asking for it by
id. The screen fits a phone's width. Screenshots go to `artifacts_dir`. Waits are bounded
(playwright timeouts); no sleeps, no timing assertions.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.browser.test_console_ui import WAIT_MS, csp_violations, shot, sign_in
from tests.console_world import CAM_A, CAM_B

INGEST_WAIT_MS = 120_000


def _photo(page: Any, console_url: str, console: Any) -> bytes:
    """A keyframe thumbnail of ward A's camera, read through the console with the session."""
    key = console.thumbnails[CAM_A][len(console.thumbnails[CAM_A]) // 2]
    body: bytes = page.request.get(f"{console_url}/media/thumbnail?key={key}").body()
    return body


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
    page.set_input_files("#watch-form input[type=file]",
                         {"name": "bicycle.jpg", "mimeType": "image/jpeg", "buffer": _photo(page, console_url, console)})
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


def test_an_alert_arrives_live_and_opens_the_player(page: Any, console_url: str, console_tokens: dict[str, str],
                                                    console: Any, client: Any, video: Path,
                                                    artifacts_dir: Path) -> None:
    sign_in(page, console_url, console_tokens["investigator"])
    page.click("#nav-watch")
    page.wait_for_selector("#watch-form input[name=camera]", timeout=WAIT_MS)
    page.get_by_label("A photo").check()
    page.set_input_files("#watch-form input[type=file]",
                         {"name": "seen.jpg", "mimeType": "image/jpeg", "buffer": _photo(page, console_url, console)})
    page.fill("#watch-sensitivity", "1")
    page.click("#watch-add")
    photo_row = "#watch-table tr:has(td.watch-query:text-is('seen.jpg'))"
    page.wait_for_selector(photo_row, timeout=WAIT_MS)
    entry_id = page.get_attribute(photo_row, "data-entry")
    # New footage of ward A's camera (the same scenes a day later): the photo's frame is in it.
    job_id = client.ingest_file(video, CAM_A, console.start + timedelta(days=1))
    assert client.wait_for_job(job_id).state == "succeeded"
    alert = f"li.alert[data-entry='{entry_id}']"
    page.wait_for_selector(alert, timeout=INGEST_WAIT_MS)
    text = page.inner_text(alert)
    assert CAM_A in text and CAM_B not in text
    page.wait_for_selector(f"{alert} .thumb img", timeout=WAIT_MS)
    shot(page, artifacts_dir, "watch-alert")
    page.locator(f"{alert} button.open-alert").first.click()
    page.wait_for_selector("#player-video", timeout=WAIT_MS)
    assert CAM_A in page.inner_text("h1")
    page.go_back()
    page.wait_for_selector(photo_row, timeout=WAIT_MS)
    page.locator(f"{photo_row} button.remove-watch").click()
    page.wait_for_selector(photo_row, state="detached", timeout=WAIT_MS)


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
