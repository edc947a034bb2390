"""Node administration: retention sweeps, statistics, the model, the audit trail's checks.

These act on or report about every group at once, so only a token for all groups ('*') reaches
them: the transport's interceptor refuses anyone else (`services.api.access.NODE_WIDE`). What a
sweep deleted and which model a switch starts go on the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from indexing.embedder import ModelSpec
from services.application.audit import AuditTrail, Caller
from services.errors import InvalidArgumentError, NotFoundError
from services.index.model_switch import ModelStatus
from services.security.audit import AuditCheck, AuditHead
from storage.retention import SweepReport

STATS_SEGMENTS_CAP = 1_000_000  # segments counted at most (a count of a large bucket is slow)
HEAD_HASH = re.compile(r"[0-9a-f]{64}")  # fullmatch only


@dataclass(frozen=True)
class NodeStats:
    cameras: int
    segments: int  # counted up to segments_cap
    segments_cap: int
    vectors: int
    backlog_jobs: int
    model_id: str
    ray_nodes: int
    ray_cpus: float


class Sweeper(Protocol):
    def sweep(self) -> SweepReport: ...


class Trail(Protocol):
    """The node's audit log (`services.security.audit.AuditLog`)."""

    def verify(self, notarised: tuple[int, str] | None = None) -> AuditCheck: ...

    def head(self) -> AuditHead | None: ...


class AdminService:
    def __init__(self, retention: Sweeper, trail: Trail, audit: AuditTrail,
                 switch: Callable[[ModelSpec], ModelStatus], model_status: Callable[[], ModelStatus],
                 stats: Callable[[int], NodeStats]) -> None:
        self._retention, self._trail, self._audit = retention, trail, audit
        self._switch, self._model_status, self._stats = switch, model_status, stats

    def run_retention(self, caller: Caller) -> SweepReport:
        report = self._retention.sweep()
        self._audit.touched(caller, "retention", report.audit_details())
        return report

    def stats(self, caller: Caller) -> NodeStats:
        return self._stats(STATS_SEGMENTS_CAP)

    def switch_model(self, caller: Caller, spec: ModelSpec) -> ModelStatus:
        """Start building `spec`'s index version; every front end switches to it once built."""
        status = self._switch(spec)
        self._audit.touched(caller, "switch_model", {"model_id": status.progress.target_model_id,
                                                     "name": spec.name, "pretrained": spec.pretrained,
                                                     "path": str(spec.path) if spec.path else None})
        return status

    def model_status(self, caller: Caller) -> ModelStatus:
        return self._model_status()

    def verify_audit(self, caller: Caller, notarised: tuple[int, str] | None) -> AuditCheck:
        """Check every node's chain (and, given a notarised (seq, hash), that it is still on it)."""
        if notarised is not None and (notarised[0] < 0 or not HEAD_HASH.fullmatch(notarised[1])):
            raise InvalidArgumentError("head needs a seq >= 0 and a hash of 64 lowercase hex characters")
        return self._trail.verify(notarised)

    def audit_head(self, caller: Caller) -> AuditHead:
        head = self._trail.head()
        if head is None:
            raise NotFoundError("this node has written no audit record yet")
        return head
