"""Console sessions: a bearer token exchanged for a random session id, kept on the server only.

The browser holds the session id in an httpOnly cookie and the CSRF token in memory; the bearer
token never leaves this store (not in a cookie, a URL, a log line or a response). A session ends
at the sooner of its token's expiry and `console.session_hours` after sign-in, on sign-out, when
the node answers UNAUTHENTICATED for its token (revoked), or when `console.max_sessions` newer
sessions push it out (oldest first). Sessions live in this process's memory: a restart signs
everyone out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.security.auth import Principal


@dataclass(frozen=True)
class Session:
    session_id: str
    csrf: str
    token: str = field(repr=False)  # the bearer token: sent only to the node's own gRPC server
    principal: Principal
    expires_at: float  # unix seconds

    def expires_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat().replace("+00:00", "Z")

    def public(self) -> dict[str, object]:
        """What the browser may know: never the token."""
        p = self.principal
        return {"csrf": self.csrf, "principal": p.subject, "role": p.role.value,
                "groups": sorted(p.groups), "expires_at": self.expires_iso()}

    def csrf_ok(self, header: str | None) -> bool:
        return header is not None and secrets.compare_digest(header.encode(), self.csrf.encode())


class SessionStore:
    """Sessions by id, at most `max_sessions` (the oldest signed out first); thread-safe."""

    def __init__(self, session_s: float, max_sessions: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._session_s, self._max, self._clock = session_s, max_sessions, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, token: str, principal: Principal, token_expires: float | None) -> Session:
        """A new session for a token already authenticated; ends with the token at the latest."""
        limit = self._clock() + self._session_s
        expires = limit if token_expires is None else min(limit, token_expires)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), token, principal, expires)
        with self._lock:
            self._sessions[session.session_id] = session
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id; None for an unknown or expired one (which is dropped)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and self._clock() >= session.expires_at:
                del self._sessions[session_id]
                return None
        return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
