"""The investigator's console in a real browser (Debian's chromium driven by playwright).

Over the console of tests/console_world.py (ward A: CAM_A, ward B: CAM_B; fixtures in
tests/browser/conftest.py): sign in, search in Vietnamese and find ward A's footage, play a hit
(the <video>'s time really advances), export and check the downloaded MP4's SHA-256 against its
manifest, photo search, the admin screens; a viewer of ward A never sees ward B's camera
anywhere; a bad token, an expired session, a permission refusal and a server error each show a
clear message; the layout holds at phone width. Every screen is saved as a PNG in
`artifacts_dir`. Waits are bounded (playwright timeouts); no sleeps, no timing assertions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.console_world import CAM_A, CAM_B, GROUP_A

QUERY_VI = "người vác xe đạp vào ban đêm"
WAIT_MS = 30_000
DROP = """({bytes, name}) => {
  const data = new DataTransfer();
  data.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/jpeg'}));
  const zone = document.getElementById('photo-drop');
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
}"""


def sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector("#signout", timeout=WAIT_MS)


def search(page: Any, text: str) -> None:
    page.fill("input[type=search]", text)
    page.click("#search-button")
    page.wait_for_selector("li.hit, #no-good-match, #no-results, #search-status.error", timeout=WAIT_MS)


def csp_violations(page: Any) -> list[str]:
    """Collects what the page's Content-Security-Policy blocks (inline style, eval, other hosts)."""
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def shot(page: Any, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"console-{name}.png"), full_page=True)


def test_sign_in_search_in_vietnamese_and_play(page: Any, console_url: str, console_tokens: dict[str, str],
                                               artifacts_dir: Path) -> None:
    blocked = csp_violations(page)
    page.goto(console_url)
    page.wait_for_selector("#token")
    shot(page, artifacts_dir, "sign-in")
    page.click("button.lang")  # the whole UI in Vietnamese
    assert page.inner_text("h1") == "Đăng nhập"
    sign_in(page, console_url, console_tokens["investigator"])
    assert page.inner_text("h1") == "Tìm kiếm video"
    search(page, QUERY_VI)
    hits = page.locator("li.hit")
    assert hits.count() > 0, page.inner_text("#search-status")
    cameras = hits.evaluate_all("els => els.map(e => e.dataset.camera)")
    assert CAM_A in cameras
    # The first thumbnail arrives through /media and decodes.
    page.wait_for_function("() => { const i = document.querySelector('li.hit img');"
                           " return i !== null && i.complete && i.naturalWidth > 0; }", timeout=WAIT_MS)
    shot(page, artifacts_dir, "results")

    hits.filter(has=page.locator(f"text={CAM_A}")).first.locator("button.play").click()
    page.wait_for_selector("#player-video")
    # The video really plays through /media: its time advances past where it started.
    page.wait_for_function("() => document.querySelector('#player-video').readyState >= 2", timeout=WAIT_MS)
    start = page.evaluate("() => document.querySelector('#player-video').currentTime")
    page.wait_for_function(f"() => document.querySelector('#player-video').currentTime > {start} + 0.5",
                           timeout=WAIT_MS)
    src = page.evaluate("() => document.querySelector('#player-video').currentSrc")
    assert "/media/segment?key=" in src and "X-Amz" not in src
    # The timeline shows the camera's recorded spans and this hit.
    page.wait_for_selector(".timeline .span", timeout=WAIT_MS)
    assert page.locator(".timeline .marker.current").count() == 1
    assert page.locator("#now-playing").inner_text().startswith("Đang phát")
    shot(page, artifacts_dir, "player")
    # The player's address names the hit: a reload opens the same footage and plays it again.
    page.reload()
    page.wait_for_function("() => document.querySelector('#player-video')?.currentTime > 0.2",
                           timeout=WAIT_MS)
    assert page.evaluate("() => document.querySelector('#player-video').currentSrc") == src
    assert not blocked, blocked


def test_export_downloads_match_their_manifest(page: Any, console_url: str, console_tokens: dict[str, str],
                                               artifacts_dir: Path) -> None:
    sign_in(page, console_url, console_tokens["admin"])
    search(page, "a street at night")
    hits = page.locator("li.hit")
    chosen = {hits.nth(i).get_attribute("data-camera") for i in range(hits.count())}
    for i in range(hits.count()):
        hits.nth(i).locator("button.basket").click()
    assert page.inner_text("#nav-export").endswith(f"({hits.count()})")
    page.click("#nav-export")
    page.click("#export-button")
    page.wait_for_selector("#export-files", timeout=120_000)
    shot(page, artifacts_dir, "export")
    rows = page.locator("table.files tbody tr")
    assert {rows.nth(i).get_attribute("data-camera") for i in range(rows.count())} == chosen
    for i in range(rows.count()):
        row = rows.nth(i)
        with page.expect_download(timeout=WAIT_MS) as video:
            row.locator("a.download-video").click()
        with page.expect_download(timeout=WAIT_MS) as manifest:
            row.locator("a.download-manifest").click()
        data = Path(video.value.path()).read_bytes()
        record = json.loads(Path(manifest.value.path()).read_text())
        assert data[4:8] == b"ftyp"  # an MP4
        assert hashlib.sha256(data).hexdigest() == record["sha256"] == row.locator("code.sha256").inner_text()
        assert video.value.suggested_filename.endswith(".mp4")


def test_viewer_of_one_ward_never_sees_the_other(page: Any, console_url: str, console_tokens: dict[str, str],
                                                 artifacts_dir: Path) -> None:
    answers: list[Any] = []  # every API answer the page got (read once the page is done)
    page.on("response", lambda r: answers.append(r) if "/api/" in r.url and r.ok else None)
    sign_in(page, console_url, console_tokens["viewer"])
    # Viewers have no export or administration screens.
    assert page.locator("#nav-export").count() == 0 and page.locator("#nav-admin").count() == 0
    page.click("details.filters summary")
    page.wait_for_selector(f"#cam-{CAM_A}", timeout=WAIT_MS)
    assert page.locator(f"#cam-{CAM_B}").count() == 0
    groups = page.locator("#filter-group option").all_inner_texts()
    assert [g for g in groups if g != "All groups"] == [GROUP_A]
    screens = []
    for query in (QUERY_VI, "a street", "smpte bars"):
        search(page, query)
        assert page.locator(f"li.hit[data-camera='{CAM_B}']").count() == 0
        screens.append(page.content())
    page.locator("li.hit button.play").first.click()
    page.wait_for_selector(".timeline .span", timeout=WAIT_MS)
    screens.append(page.content())
    shot(page, artifacts_dir, "viewer-player")
    if page.locator("li.hit button.similar").count() == 0:
        page.click("a.back")
    page.locator("li.hit button.similar").first.click()
    page.wait_for_selector("#results-title", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    screens.append(page.content())
    for html in screens + [a.text() for a in answers]:
        assert CAM_B not in html and "console-ward-b" not in html


def test_bad_token_is_refused_with_a_message(page: Any, console_url: str, artifacts_dir: Path) -> None:
    sign_in_page = page.goto(console_url)
    assert sign_in_page is not None
    page.fill("#token", "not-a-real-token")
    page.click("form.signin button[type=submit]")
    message = page.locator("#signin-message.error")
    message.wait_for(timeout=WAIT_MS)
    assert message.inner_text().startswith("The token was refused")
    assert page.locator("#signout").count() == 0
    shot(page, artifacts_dir, "bad-token")


def test_expired_session_goes_back_to_sign_in(page: Any, console_url: str,
                                              make_token: Callable[..., str], artifacts_dir: Path) -> None:
    token = make_token("viewer", [GROUP_A], expires_in_s=8)  # time to sign in on a busy machine
    sign_in(page, console_url, token)
    # No action needed: when the session's time is up the console says so and asks again.
    message = page.locator("#signin-message.error")
    message.wait_for(timeout=WAIT_MS)
    assert "expired" in message.inner_text()
    shot(page, artifacts_dir, "expired")
    # And the old session is gone on the server too: reloading stays on sign-in.
    page.reload()
    page.wait_for_selector("#token", timeout=WAIT_MS)
    assert page.locator("#signout").count() == 0


def test_server_error_and_refusals_show_clear_messages(
        page: Any, console_url: str, console_tokens: dict[str, str], artifacts_dir: Path) -> None:
    sign_in(page, console_url, console_tokens["investigator"])

    def fail(status: int, code: str, message: str) -> Callable[[Any], None]:
        return lambda route: route.fulfill(status=status, content_type="application/json",
                                           body=json.dumps({"code": code, "message": message}))

    page.route("**/api/vigil.v1.SearchService/Search", fail(500, "internal", "the index is unreachable"))
    search(page, "anything")
    status = page.locator("#search-status.error")
    assert status.inner_text() == "Server error: the index is unreachable"
    shot(page, artifacts_dir, "server-error")
    page.unroute("**/api/vigil.v1.SearchService/Search")
    page.route("**/api/vigil.v1.SearchService/Search",
               fail(403, "permission_denied", "role 'x' may not call Search"))
    search(page, "anything")
    assert status.inner_text() == "Not allowed: role 'x' may not call Search"
    page.unroute("**/api/vigil.v1.SearchService/Search")
    # Footage searched but nothing above the model's threshold: said so, not "nothing found".
    page.route("**/api/vigil.v1.SearchService/Search",
               lambda route: route.fulfill(status=200, content_type="application/json",
                                           body=json.dumps({"modelId": "m", "noGoodMatch": True})))
    search(page, "a purple elephant")
    assert page.inner_text("#no-good-match").startswith("No good match")
    assert page.locator("li.hit").count() == 0
    shot(page, artifacts_dir, "no-good-match")
    page.unroute("**/api/vigil.v1.SearchService/Search")
    # A real refusal from the server: a range longer than the server allows for an export.
    search(page, "a street")
    page.locator("li.hit button.basket").first.click()
    page.click("#nav-export")
    page.fill("#export-from", "2000-01-01T00:00:00")
    page.click("#export-button")
    error = page.locator("#export-status.error")
    error.wait_for(timeout=WAIT_MS)
    assert error.inner_text().startswith("Over a limit: ")
    assert "max_export_hours" in error.inner_text()
    shot(page, artifacts_dir, "refused")


def test_photo_search_admin_screens_and_phone_width(
        page: Any, console_url: str, console_tokens: dict[str, str], artifacts_dir: Path,
        client: Any, video: Path, console: Any) -> None:
    blocked = csp_violations(page)
    sign_in(page, console_url, console_tokens["admin"])
    with page.expect_response("**/api/vigil.v1.SearchService/Search") as answer:
        search(page, "a street")
    # Every hit the API gave a region has that box drawn over its thumbnail, and no other.
    boxed = sum(1 for hit in answer.value.json().get("hits", []) if "box" in hit)
    assert page.locator("li.hit .thumb .box").count() == boxed
    thumb = page.locator("li.hit img").first.get_attribute("src")
    photo = page.request.get(console_url + thumb).body()  # the session's cookie rides along
    page.set_input_files("#photo-drop input[type=file]",
                         {"name": "witness.jpg", "mimeType": "image/jpeg", "buffer": photo})
    page.wait_for_selector("#results-title:has-text('witness.jpg')", timeout=WAIT_MS)
    assert page.locator("li.hit").count() > 0
    shot(page, artifacts_dir, "photo-search")
    # The same photo dropped on the drop zone (a real drop event carrying the file), then followed.
    page.evaluate(DROP, {"bytes": list(photo), "name": "dropped.jpg"})
    page.wait_for_selector("#results-title:has-text('dropped.jpg')", timeout=WAIT_MS)
    page.click("#follow-photo")
    page.wait_for_selector("ol.hits.trail, #no-good-match", timeout=WAIT_MS)
    # Follow from a hit: a numbered trail of visits in time order.
    page.locator("li.hit button.follow").first.click()
    page.wait_for_selector("ol.hits.trail, #no-good-match", timeout=WAIT_MS)
    times = page.locator("li.hit time").evaluate_all("ts => ts.map(t => t.getAttribute('datetime'))")
    assert times == sorted(times)
    shot(page, artifacts_dir, "follow")

    page.click("#nav-admin")
    page.wait_for_selector("#cameras-table tbody tr", timeout=WAIT_MS)
    cameras = page.locator("#cameras-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.camera)")
    assert {CAM_A, CAM_B} <= set(cameras)
    page.wait_for_selector("#stats dd", timeout=WAIT_MS)
    # An ingest job followed by its id (WatchJob streamed through the console) until it ends.
    job_id = client.ingest_file(video, CAM_A, console.start)  # stored already: segments skipped
    page.fill("#jobs-title ~ form input", job_id)
    page.press("#jobs-title ~ form input", "Enter")
    page.wait_for_selector(f"#jobs-table tr[data-job='{job_id}'] td.ok", timeout=120_000)
    assert page.inner_text(f"#jobs-table tr[data-job='{job_id}']").count(CAM_A) == 1
    page.select_option("#hold-camera", CAM_A)
    page.fill("#hold-from", "2026-01-01T00:00:00")
    page.fill("#hold-to", "2026-01-02T00:00:00")
    page.fill("#hold-reason", "case 42 (browser test)")
    page.click("form.hold-form button[type=submit]")
    page.wait_for_selector("#holds-table td:has-text('case 42 (browser test)')", timeout=WAIT_MS)
    page.click("#verify-audit")
    page.wait_for_selector("#audit-result p.ok", timeout=120_000)
    assert page.inner_text("#audit-result p").startswith("The audit trail is intact")
    shot(page, artifacts_dir, "admin")
    assert not blocked, blocked  # photo previews (blob:), boxes and timelines (CSSOM) included
    page.locator("#holds-table tr:has-text('case 42 (browser test)') button.release").click()
    page.wait_for_selector("#holds-table td:has-text('case 42 (browser test)')", state="detached",
                           timeout=WAIT_MS)

    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        small = phone.new_page()
        sign_in(small, console_url, console_tokens["investigator"])
        search(small, QUERY_VI)
        # Nothing sticks out sideways: the page fits the phone's width.
        assert small.evaluate("() => document.documentElement.scrollWidth") <= 390
        shot(small, artifacts_dir, "phone-results")
        small.locator("li.hit button.play").first.click()
        small.wait_for_selector(".timeline .span", timeout=WAIT_MS)
        assert small.evaluate("() => document.documentElement.scrollWidth") <= 390
        shot(small, artifacts_dir, "phone-player")
        for screen, ready in (("export", "#basket-empty, #basket"), ("admin", "#holds-title")):
            small.click(f"#nav-{screen}")
            small.wait_for_selector(ready, timeout=WAIT_MS)
            assert small.evaluate("() => document.documentElement.scrollWidth") <= 390, screen
        shot(small, artifacts_dir, "phone-holds")
    finally:
        phone.close()


def test_keyboard_only_sign_in_and_search(page: Any, console_url: str,
                                          console_tokens: dict[str, str]) -> None:
    page.goto(console_url)
    page.wait_for_selector("#token:focus", timeout=WAIT_MS)  # focus starts in the token field
    page.keyboard.type(console_tokens["investigator"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#signout", timeout=WAIT_MS)
    page.focus("input[type=search]")
    page.keyboard.type("một con đường")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.hit", timeout=WAIT_MS)
    # Tab reaches the first hit's Play button; Enter opens the player.
    play = page.locator("li.hit button.play").first
    for _ in range(60):
        if play.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    assert play.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    page.wait_for_selector("#player-video", timeout=WAIT_MS)
    # Sign-out by keyboard too.
    page.focus("#signout")
    page.keyboard.press("Enter")
    page.wait_for_selector("#signin-message.info", timeout=WAIT_MS)
