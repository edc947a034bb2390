"""Every application service of a node, built once by the composition root (`services.node.app`)
and handed to each transport."""

from __future__ import annotations

from dataclasses import dataclass

from services.application.admin import AdminService
from services.application.cameras import CameraService
from services.application.holds import HoldService
from services.application.ingest import IngestService
from services.application.playback import EvidenceService, PlaybackService
from services.application.search import SearchService
from services.application.tokens import TokenService
from services.application.visibility import Visibility
from services.application.watchlists import WatchlistService


@dataclass(frozen=True)
class AppServices:
    visibility: Visibility
    search: SearchService
    playback: PlaybackService
    evidence: EvidenceService
    cameras: CameraService
    ingest: IngestService
    holds: HoldService
    tokens: TokenService
    admin: AdminService
    watchlists: WatchlistService
