"""The browser harness itself: Debian's Chromium loads the served console under its CSP, signs in
through the page's own fetch (the cookie is httpOnly: script cannot read it) and plays a segment
through /media; a screenshot goes to the artifacts folder. The screens are tested in
test_console_ui.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.console_world import CAM_A, ConsoleWorld

SIGN_IN = """async (token) => {
  const r = await fetch('/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                     body: JSON.stringify({token})});
  return {status: r.status, body: await r.json(), cookie: document.cookie};
}"""
PLAY = """async (src) => {
  const v = document.createElement('video');
  v.muted = true; v.src = src; document.body.appendChild(v);
  await v.play();
  const t0 = v.currentTime;
  for (let i = 0; i < 100 && v.currentTime <= t0; i++) await new Promise(r => setTimeout(r, 100));
  return {advanced: v.currentTime > t0, error: v.error && v.error.message};
}"""


def test_chromium_loads_the_console_signs_in_and_plays_a_segment(
        page: Any, console: ConsoleWorld, artifacts_dir: Path) -> None:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    response = page.goto(console.url)
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    page.screenshot(path=str(artifacts_dir / "harness-start.png"))
    signed = page.evaluate(SIGN_IN, console.tokens["viewer"])
    assert signed["status"] == 200 and signed["body"]["role"] == "viewer"
    assert "vigil_session" not in signed["cookie"]  # httpOnly
    played = page.evaluate(PLAY, f"/media/segment?key={console.segments[CAM_A][1]}")
    assert played == {"advanced": True, "error": None}
    assert not violations, violations
