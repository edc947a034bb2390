"""What a servicer tells the application about the RPC it serves: who calls (with the RPC's audit
record as the place to note what the call touched) and whether the caller is still there."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from services.api.access import current_principal
from services.api.rpc_audit import note
from services.application.audit import Caller

Context = grpc.aio.ServicerContext[Any, Any]  # a servicer's context, whatever its messages


def caller() -> Caller:
    """The authenticated caller of this RPC; what it touches goes on the RPC's audit record."""
    return Caller(current_principal(), note)


def caller_gone(context: Context) -> Callable[[], bool]:
    """A check, safe to call from worker threads, that turns True once the RPC's deadline has
    passed or the RPC has ended (the client cancelled or disconnected): long work passes it down
    and stops early instead of running on for nobody."""
    ended = threading.Event()

    def end(_: object) -> None:
        ended.set()

    context.add_done_callback(end)  # type: ignore[arg-type]  # the stub wants its own class
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    return lambda: ended.is_set() or (deadline is not None and time.monotonic() >= deadline)
