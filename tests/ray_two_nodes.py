"""Run by tests/integration/test_ray_cluster.py in its own process (one Ray driver per process):
a 2-node Ray cluster on this machine; Vigil's embedder pool joins it by address and spreads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import ray
from ray.cluster_utils import Cluster

from indexing.embedder import ModelSpec
from services.cluster.ray_cluster import RayCluster
from services.settings import RaySettings
from storage.s3 import S3Endpoint


def main(model_dir: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        unused = S3Endpoint("127.0.0.1:9", "", "")  # embedders never open the store
        vigil = RayCluster.start(RaySettings(address=cluster.address, embedders=2, embed_batch=4), unused)
        pool = vigil.embedder_pool(ModelSpec(path=Path(model_dir)), RaySettings(embedders=2, embed_batch=4))
        frames = [np.full((64, 64, 3), i * 20, dtype=np.uint8) for i in range(12)]
        vectors = pool.embed(frames)
        after_bulk = pool.frames_embedded()
        for i in range(4):  # ingest sends one batch per call: the calls take turns too
            pool.embed(frames[i * 3:i * 3 + 3])
        per_call = [n - m for n, m in zip(pool.frames_embedded(), after_bulk, strict=True)]
        print(json.dumps({"nodes_in_cluster": len(vigil.nodes()),
                          "actor_nodes": pool.nodes(), "vectors": list(vectors.shape),
                          "frames_per_actor_bulk": after_bulk, "frames_per_actor_one_batch_calls": per_call}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
