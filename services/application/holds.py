"""Legal holds: footage of a camera the caller sees kept past its retention until released.

Holds are placed on visible cameras only, listed only for visible cameras, and released only on
visible cameras: a hold on a hidden camera answers NOT_FOUND, as one that does not exist.
"""

from __future__ import annotations

import re

from services.application.audit import AuditTrail, Caller
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError
from storage.retention import Hold, Holds

HOLD_ID = re.compile(r"[0-9a-f]{32}")  # fullmatch only
MAX_REASON_CHARS = 500


class HoldService:
    def __init__(self, visibility: Visibility, holds: Holds, audit: AuditTrail) -> None:
        self._visibility, self._holds, self._audit = visibility, holds, audit

    def place(self, caller: Caller, camera_id: str, start_ms: int, end_ms: int, reason: str) -> Hold:
        camera = self._visibility.camera(caller.principal, camera_id, f"no camera {camera_id}")
        hold = self._holds.place(camera, start_ms, end_ms, reason[:MAX_REASON_CHARS], caller.subject)
        self._audit.touched(caller, "place_hold", {"hold_id": hold.hold_id, "camera_id": camera,
                                                   "start_ms": start_ms, "end_ms": end_ms})
        return hold

    def release(self, caller: Caller, hold_id: str) -> None:
        if not HOLD_ID.fullmatch(hold_id):
            raise InvalidArgumentError("hold_id must be 32 hex characters")
        hold = self._holds.get(hold_id)
        if hold is None or not self._visibility.sees(caller.principal, hold.camera_id):
            raise NotFoundError(f"no hold {hold_id}")
        self._holds.release(hold_id)
        self._audit.touched(caller, "release_hold", {"hold_id": hold_id})

    def list(self, caller: Caller) -> list[Hold]:
        visible = self._visibility.cameras(caller.principal)
        return [h for h in self._holds.all() if visible is None or h.camera_id in visible]
