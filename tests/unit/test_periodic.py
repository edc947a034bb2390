from __future__ import annotations

import threading
import time

from services.node.periodic import Periodic


def test_runs_repeatedly_survives_failures_and_stops() -> None:
    calls: list[int] = []
    enough = threading.Event()

    def task() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("transient")
        if len(calls) >= 4:
            enough.set()

    p = Periodic(0.01, task, "test").start()
    assert enough.wait(10)
    p.stop()
    count = len(calls)
    time.sleep(0.05)
    assert len(calls) == count  # nothing runs after stop
