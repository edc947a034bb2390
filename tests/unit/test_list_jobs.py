"""ListJobs' rules on an in-memory bucket (no Ray, no server): a caller lists only jobs of
cameras it sees, newest first, within the page size and state asked; jobs written by another
node (only in the bucket) are listed with their stored state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.application.audit import Caller
from services.application.ingest import MAX_JOBS_PAGE, IngestService
from services.errors import InvalidArgumentError
from services.ingest.jobs import Job, JobProgress, JobRegistry, JobState
from services.security.auth import Principal, Role
from storage.cameras import Camera
from storage.keys import ALL_GROUPS
from tests.ingest_service import ingest_service
from tests.memory_store import MemoryStore

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
World = tuple[IngestService, JobRegistry, MemoryStore]


def _caller(*groups: str) -> Caller:
    return Caller(Principal("ingest-" + "-".join(groups), Role.INGEST, frozenset(groups)))


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return ingest_service(tmp_path, Camera("cam-a", "Market", "ward-a", "", "", 30),
                          Camera("cam-b", "Gate", "ward-b", "", "", 30))


def _job(n: int, camera: str, state: JobState = JobState.SUCCEEDED) -> Job:
    return Job(f"{n:032x}", camera, state, created=T0 + timedelta(minutes=n))


def test_a_ward_lists_only_its_cameras_jobs_newest_first(world: World) -> None:
    service, jobs, _ = world
    for n, camera in enumerate(["cam-a", "cam-b", "cam-a", "cam-b", "cam-a"]):
        jobs.put(_job(n, camera))
    ward_a = [j.job_id for j in service.jobs(_caller("ward-a"))]
    assert ward_a == [f"{n:032x}" for n in (4, 2, 0)]
    assert {j.camera_id for j in service.jobs(_caller("ward-b"))} == {"cam-b"}
    assert service.jobs(_caller("ward-gone")) == []
    assert len(service.jobs(_caller(ALL_GROUPS))) == 5
    assert [j.job_id for j in service.jobs(_caller("ward-a"), page_size=2)] == [f"{n:032x}" for n in (4, 2)]


def test_state_filter_and_live_progress(world: World) -> None:
    service, jobs, _ = world
    jobs.put(_job(1, "cam-a"))
    jobs.put(_job(2, "cam-a", JobState.PENDING))
    jobs.update(f"{2:032x}", state=JobState.RUNNING)
    jobs.update(f"{2:032x}", progress=JobProgress(segments=3))  # in memory only, as ingest does
    running = service.jobs(_caller("ward-a"), state=JobState.RUNNING)
    assert [(j.job_id, j.progress.segments) for j in running] == [(f"{2:032x}", 3)]
    assert [j.job_id for j in service.jobs(_caller("ward-a"), state=JobState.FAILED)] == []


def test_jobs_of_another_node_come_from_the_bucket(world: World) -> None:
    service, _, store = world
    elsewhere = JobRegistry(store)  # another node writing to the same bucket
    elsewhere.put(_job(7, "cam-a", JobState.FAILED))
    listed = service.jobs(_caller("ward-a"))
    assert [(j.job_id, j.state) for j in listed] == [(f"{7:032x}", JobState.FAILED)]
    assert service.jobs(_caller("ward-b")) == []


@pytest.mark.parametrize("size", [-1, MAX_JOBS_PAGE + 1])
def test_a_bad_page_size_is_refused_by_name(world: World, size: int) -> None:
    with pytest.raises(InvalidArgumentError, match=f"page_size must be 0-{MAX_JOBS_PAGE}.*not {size}"):
        world[0].jobs(_caller("ward-a"), page_size=size)
