"""Sizing a partitioned deployment: for N cameras × D days at one keyframe every S seconds,
the nodes, RAM, local disk and bucket bytes the index needs (`vigil capacity`).

The per-vector constants are measured, not estimated: `benchmarks.scale` wrote them to
benchmarks/reference/scale-*.json (`MEASURED_FROM`; tests/unit/test_capacity.py checks they
agree). RAM per vector is what a shard server's process grew by per vector it loaded (its
anonymous heap under PYTHONMALLOC=malloc, as `vigil serve` runs: the FAISS IVF-PQ32 codes, ids
and centroids, the record columns and what loading them leaves behind); disk the float16 re-rank
file; bucket the index's log objects (float32 vectors and records). A partitioned front end
holds no frame, so the index's RAM is the shard servers'. Video segments and thumbnails are not
measured here: give `video_kbps` (the cameras' recorded bitrate) to count them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from storage.timeutil import DAY_S

MEASURED_FROM = "benchmarks/reference/scale-3m-2026-12-04.json"
RAM_BYTES_PER_VECTOR = 142.3  # a shard server's heap per vector held (3M in 375k shards; 76.9 of it indexes)
DISK_BYTES_PER_VECTOR = 512.0  # float16 256-d re-rank file on the node's local disk
BUCKET_BYTES_PER_VECTOR = 1320.7  # index log batch: float32 vector + its record
GIB = 1024 ** 3


@dataclass(frozen=True)
class Deployment:
    cameras: int
    days: float
    interval_s: float  # one keyframe every this many seconds per camera
    vectors_per_keyframe: float = 1.0  # 1 + regions kept (regions on: up to 6, measured 4-6)
    replicas: int = 2  # shard servers holding each shard (ray.shard_replicas)
    node_ram_gib: float = 64.0
    ram_for_index: float = 0.5  # the share of a node's RAM for its shard server (Ray, embedders beside)
    node_disk_gib: float = 500.0
    video_kbps: float = 0.0  # recorded bitrate per camera; 0: video not counted

    def __post_init__(self) -> None:
        for name in ("cameras", "days", "interval_s", "vectors_per_keyframe", "replicas",
                     "node_ram_gib", "ram_for_index", "node_disk_gib"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        if self.ram_for_index > 1 or self.video_kbps < 0:
            raise ValueError(f"ram_for_index {self.ram_for_index} must be at most 1 and video_kbps "
                             f"{self.video_kbps} at least 0")


@dataclass(frozen=True)
class Capacity:
    keyframes: int
    vectors: int
    ram_bytes: int  # every replica together
    disk_bytes: int  # every replica together
    bucket_index_bytes: int
    bucket_video_bytes: int
    nodes: int
    nodes_for_ram: int
    nodes_for_disk: int

    @property
    def bucket_bytes(self) -> int:
        return self.bucket_index_bytes + self.bucket_video_bytes


def plan(d: Deployment) -> Capacity:
    """What `d` needs: at least `replicas` nodes, and enough for the RAM and disk of every replica."""
    keyframes = math.ceil(d.cameras * d.days * DAY_S / d.interval_s)
    vectors = math.ceil(keyframes * d.vectors_per_keyframe)
    ram = math.ceil(vectors * RAM_BYTES_PER_VECTOR * d.replicas)
    disk = math.ceil(vectors * DISK_BYTES_PER_VECTOR * d.replicas)
    for_ram = math.ceil(ram / (d.node_ram_gib * d.ram_for_index * GIB))
    for_disk = math.ceil(disk / (d.node_disk_gib * GIB))
    video = math.ceil(d.cameras * d.days * DAY_S * d.video_kbps * 1000 / 8)
    return Capacity(keyframes, vectors, ram, disk, math.ceil(vectors * BUCKET_BYTES_PER_VECTOR), video,
                    max(d.replicas, for_ram, for_disk), for_ram, for_disk)


def report(d: Deployment, c: Capacity) -> list[str]:
    """The plan as lines for a terminal."""
    def gib(n: int) -> str:
        return f"{n / GIB:,.1f} GiB"
    video = (f"{gib(c.bucket_video_bytes)} at {d.video_kbps:g} kbit/s per camera" if d.video_kbps
             else "not counted (give --video-kbps)")
    return [
        f"{d.cameras:,} cameras × {d.days:g} days, a keyframe every {d.interval_s:g} s: "
        f"{c.keyframes:,} keyframes, {c.vectors:,} vectors ({d.vectors_per_keyframe:g} per keyframe)",
        f"nodes: {c.nodes} ({c.nodes_for_ram} for RAM at {d.ram_for_index:.0%} of {d.node_ram_gib:g} GiB, "
        f"{c.nodes_for_disk} for disk of {d.node_disk_gib:g} GiB, at least {d.replicas} replicas)",
        f"index RAM: {gib(c.ram_bytes)} in all, {gib(c.ram_bytes // c.nodes)} per node "
        f"({RAM_BYTES_PER_VECTOR:g} B/vector × {d.replicas} replicas)",
        f"local disk: {gib(c.disk_bytes)} in all, {gib(c.disk_bytes // c.nodes)} per node "
        f"({DISK_BYTES_PER_VECTOR:g} B/vector × {d.replicas} replicas)",
        f"bucket: index {gib(c.bucket_index_bytes)} ({BUCKET_BYTES_PER_VECTOR:g} B/vector, one copy); "
        f"video {video}",
        f"(constants measured: {MEASURED_FROM})",
    ]
