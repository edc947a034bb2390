"""One audit record per RPC: what the interceptor knows, plus what the servicer touched.

The interceptor (`services.api.access`) opens an `RpcRecord` for every call
before anything else happens, and writes it exactly once when the call ends:
after the response is ready but before it is returned, or before an error
status is sent (`AuditedContext.abort` writes first, then aborts). The write
is `AuditLog.append`: journal plus fdatasync, so the record is durable before
the caller hears anything. An application service adds what the call touched
through `note`, the `Touched` port of the call's `Caller`
(`services.application.audit`), which changes the current record and writes
nothing.

A record names the RPC, its outcome (the gRPC status code's name), the token
id (its SHA-256; "none" without a token, "unknown" for one that is not a
token, so nothing secret is stored), the caller's subject and role when
known, the peer, the identifiers the request named (`request_ids`: camera,
job, hold, token hash, time range, a masked URI; never image bytes or
passwords) and the servicer's details.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.security.audit import AuditLog, RpcCall
from services.security.auth import NO_TOKEN, Principal
from storage.cameras import mask_url

logger = logging.getLogger(__name__)
IDS = frozenset({"camera_id", "camera_ids", "job_id", "hold_id", "token_hash", "segment_key",
                 "group", "groups", "subject", "role", "filename", "uri", "time_range",
                 "start_time", "expires"})
MAX_ID_CHARS = 200
MAX_LIST = 50
UNKNOWN_TOKEN = "unknown"

_current: contextvars.ContextVar[RpcRecord] = contextvars.ContextVar("vigil_rpc_record")


@dataclass
class RpcRecord:
    """The audit record of the RPC being handled (mutable until written)."""
    method: str
    peer: str
    log: AuditLog | None
    token_id: str = NO_TOKEN
    principal: Principal | None = None
    action: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    written: bool = False

    def open(self) -> RpcRecord:
        """Make this the current RPC's record (call inside the handler's own task)."""
        _current.set(self)
        return self

    async def write(self, outcome: grpc.StatusCode | str) -> None:
        """Append the record (once), durably, off the event loop."""
        if self.written or self.log is None:
            return
        self.written = True
        who = self.principal
        call = RpcCall(self.method, outcome if isinstance(outcome, str) else outcome.name,
                       self.token_id, who.role.value if who else "", self.peer, self.request)
        action = self.action or _snake(self.method.rsplit("/", 1)[-1])
        await asyncio.to_thread(self.log.append, who.subject if who else "", action, self.details,
                                call=call)


def note(action: str, details: dict[str, Any]) -> bool:
    """Attach what was touched to the current RPC's record; False outside an RPC.

    The first action names the record; details of a different later action go under its name.
    """
    record = _current.get(None)
    if record is None or record.written:
        return False
    if not record.action:
        record.action = action
    if action == record.action:
        record.details.update(details)
    else:
        record.details.setdefault(action, {}).update(details)
    return True


def outcome_of(exc: BaseException) -> str:
    """The status an exception leaving a handler becomes (aborts are written before they raise)."""
    return "CANCELLED" if isinstance(exc, (asyncio.CancelledError, GeneratorExit)) else "UNKNOWN"


class AuditedContext:
    """The servicer's context: `abort` writes the record first, everything else is passed on."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], record: RpcRecord) -> None:
        self._context, self._record = context, record

    async def abort(self, code: grpc.StatusCode, details: str = "", *args: Any, **kwargs: Any) -> None:
        await self._record.write(code)
        await self._context.abort(code, details, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def request_ids(message: Any, depth: int = 0) -> dict[str, Any]:
    """The identifiers a request names (top level and one message down), safe to record."""
    if not isinstance(message, Message):
        return {}
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        name = fd.name
        if name in IDS:
            out[name] = _id_value(name, value)
        elif depth == 0 and isinstance(value, Message) and not isinstance(value, Timestamp):
            out.update(request_ids(value, 1))
    return out


def _id_value(name: str, value: Any) -> Any:
    if isinstance(value, Timestamp):
        return value.ToJsonString()
    if isinstance(value, Message):  # a time range
        return {fd.name: v.ToJsonString() for fd, v in value.ListFields() if isinstance(v, Timestamp)}
    if isinstance(value, str):
        return (mask_url(value) if name == "uri" else value)[:MAX_ID_CHARS]
    if isinstance(value, (int, float, bool)):
        return value
    return [str(v)[:MAX_ID_CHARS] for v in list(value)[:MAX_LIST]]  # a repeated field


def _snake(name: str) -> str:
    """GetCamera -> get_camera: the action of a record no servicer named."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
