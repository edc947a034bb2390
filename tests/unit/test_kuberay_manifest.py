"""The KubeRay manifest an operator applies: a RayCluster with a head group (vigil serve) and a
shard worker group, resources on every container, the gRPC and console ports on the head and
its Service as the settings have them, and no secret written inline (every key and token comes
from a Secret)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.settings import ConsoleSettings, ServerSettings

MANIFEST = Path(__file__).resolve().parents[2] / "services" / "cluster" / "deploy" / "kuberay.yaml"
SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD")


def _docs() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def _containers(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    spec = cluster["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def test_a_raycluster_with_a_head_and_a_worker_group_each_with_resources() -> None:
    docs = _docs()
    cluster = docs["RayCluster/vigil"]
    assert cluster["apiVersion"] == "ray.io/v1"
    workers = cluster["spec"]["workerGroupSpecs"]
    assert workers and all(w["minReplicas"] >= 2 for w in workers)  # ray.shard_replicas 2 needs 2 nodes
    for container in _containers(cluster):
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), container["name"]
    env = {e["name"]: e.get("value") for e in _containers(cluster)[0]["env"]}
    assert env["VIGIL_RAY__SHARD_SERVERS"] == "true" and env["VIGIL_RAY__SHARD_REPLICAS"] == "2"


def test_the_grpc_and_console_ports_are_the_settings_and_reach_a_service() -> None:
    docs = _docs()
    head = docs["RayCluster/vigil"]["spec"]["headGroupSpec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in head["spec"]["containers"][0]["ports"]}
    assert ports["grpc"] == ServerSettings().port and ports["console"] == ConsoleSettings().port
    service = docs["Service/vigil-api"]["spec"]
    assert {p["targetPort"] for p in service["ports"]} == {"grpc", "console"}
    assert {p["port"] for p in service["ports"]} == {ports["grpc"], ports["console"]}
    assert service["selector"].items() <= head["metadata"]["labels"].items()


def test_no_secret_is_written_inline() -> None:
    cluster = _docs()["RayCluster/vigil"]
    for container in _containers(cluster):
        for e in container["env"]:
            if any(w in e["name"] for w in SECRET_WORDS) and not e["name"].endswith("_PATH"):
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], e["name"]
    volumes = cluster["spec"]["headGroupSpec"]["template"]["spec"]["volumes"]
    assert any(v.get("secret", {}).get("secretName") == "vigil-secrets" for v in volumes)
    text = MANIFEST.read_text()
    assert "BEGIN" not in text and "kind: Secret\n" not in text  # no key material, no Secret object
