"""An `IngestService` over an in-memory bucket with the given cameras and a job runner that
must not be called (unit tests of the service's rules: no Ray, no server)."""

from __future__ import annotations

from pathlib import Path

from services.application.ingest import IngestService
from services.application.visibility import Visibility
from services.ingest.jobs import Job, JobRegistry
from services.settings import IngestSettings
from storage.cameras import Camera, CameraRegistry
from storage.url_policy import UrlPolicy
from tests.memory_store import MemoryStore


class NoRunner:
    def submit(self, camera_id: str, start_ms: int, upload: Path, label: str) -> Job:
        raise AssertionError("this test starts no ingest job")


def ingest_service(tmp_path: Path, *cameras: Camera) -> tuple[IngestService, JobRegistry, MemoryStore]:
    store = MemoryStore()
    registry = CameraRegistry(store)
    for camera in cameras:
        registry.put(camera)
    jobs = JobRegistry(store)
    service = IngestService(Visibility(registry), NoRunner(), jobs, tmp_path, IngestSettings(),
                            lambda: UrlPolicy())
    return service, jobs, store
