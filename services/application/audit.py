"""What an application call touched, on the audit trail.

The transport records every call it serves (for gRPC one record per RPC: `services.api.rpc_audit`).
A service adds what the call touched through the caller's `Touched` port, which the transport
implements (`rpc_audit.note`); the application never imports the transport. A call no transport
records (a unit test, an in-process tool) gets a record of its own. System events (a scheduled
retention sweep) are appended to the `AuditLog` directly by who runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.security.auth import Principal


class Touched(Protocol):
    """Adds `details` to the record of the call being served; False when no record is open."""

    def __call__(self, action: str, details: dict[str, Any]) -> bool: ...


class Appender(Protocol):
    """The audit log's append (`services.security.audit.AuditLog.append`)."""

    def append(self, caller: str, action: str, details: dict[str, Any]) -> object: ...


def unrecorded(action: str, details: dict[str, Any]) -> bool:
    """The `Touched` of a call no transport records."""
    return False


@dataclass(frozen=True)
class Caller:
    """Who asks (the authenticated principal) and where what the call touches is noted."""

    principal: Principal
    touched: Touched = unrecorded

    @property
    def subject(self) -> str:
        return self.principal.subject


class AuditTrail:
    """Notes what a call touched on its transport's record, else appends a record of its own."""

    def __init__(self, log: Appender) -> None:
        self._log = log

    def touched(self, caller: Caller, action: str, details: dict[str, Any]) -> None:
        if not caller.touched(action, details):
            self._log.append(caller.subject, action, details)
