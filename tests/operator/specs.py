"""Example ModelDeployment specs shared by the operator tests."""

from __future__ import annotations

from typing import Any


def minimal_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": "resnet50", "repository": "pvc://models/triton"},
        "slo": {"latencyP95Ms": 250},
        "cost": {"maxHourlyCost": 10.0},
    }
    for key, value in overrides.items():
        spec[key] = value
    return spec


GOLDEN_SPECS: dict[str, dict[str, Any]] = {
    "triton-pvc": minimal_spec(),
    "triton-s3-tolerations": minimal_spec(
        model={"name": "bert-large", "repository": "s3://ml-models/triton", "version": "3"},
        runtime={
            "type": "triton",
            "args": ["--log-verbose=1"],
            "env": [{"name": "AWS_REGION", "value": "us-east-1"}],
        },
        resources={
            "gpus": 2,
            "gpuType": "nvidia-a100",
            "cpu": "8",
            "memory": "32Gi",
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
            ],
        },
        scaling={"minReplicas": 2, "maxReplicas": 8, "coldStartSeconds": 300},
        cost={"maxHourlyCost": 60.0},
    ),
    "torch-http-cpu": minimal_spec(
        model={"name": "tiny-mlp", "repository": "https://models.example.com/tiny.tar.gz"},
        runtime={"type": "torch", "exitTimeoutSeconds": 10},
        resources={
            "gpus": 0,
            "gpuType": "cpu",
            "cpu": "1",
            "memory": "2Gi",
            "nodeSelector": {"pool": "cpu"},
        },
    ),
    "torch-gs": minimal_spec(
        model={"name": "llama-small", "repository": "gs://bucket/repo"},
        runtime={"type": "torch", "image": "registry.example.com/gpufleet-server:dev"},
    ),
}
