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
            "priorityClassName": "inference-high",
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
    # Private models: credentials only by reference, never as literals.
    "triton-s3-private": minimal_spec(
        model={
            "name": "bert-large",
            "repository": "s3://private-models/triton/",
            "cache": {"sizeLimit": "40Gi"},
        },
        runtime={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/triton:24.08-py3",
            "serviceAccountName": "model-reader",
            "imagePullSecrets": [{"name": "ecr-pull"}],
            "env": [
                {"name": "AWS_REGION", "value": "us-east-1"},
                {
                    "name": "AWS_ACCESS_KEY_ID",
                    "valueFrom": {"secretKeyRef": {"name": "s3-creds", "key": "access-key"}},
                },
                {
                    "name": "AWS_SECRET_ACCESS_KEY",
                    "valueFrom": {"secretKeyRef": {"name": "s3-creds", "key": "secret-key"}},
                },
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "envFrom": [{"configMapRef": {"name": "triton-tuning"}, "prefix": "TRITON_"}],
            "volumes": [{"name": "corp-ca", "configMap": {"name": "corp-ca-bundle"}}],
            "volumeMounts": [{"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
        },
    ),
    "torch-gs-workload-identity": minimal_spec(
        model={
            "name": "ranker",
            "repository": "gs://team-models/repo",
            "cache": {"claimName": "model-cache"},
        },
        runtime={"type": "torch", "serviceAccountName": "ranker-gsa"},
    ),
    "triton-http-archive": minimal_spec(
        model={
            "name": "resnet50",
            "repository": "https://models.example.com/repo.tar.gz",
            "cache": {"sizeLimit": "2Gi"},
        },
        runtime={
            "envFrom": [{"secretRef": {"name": "proxy-settings"}}],
        },
    ),
    "vllm-hf-gated": minimal_spec(
        model={
            "name": "llama-3-8b",
            "repository": "hf://meta-llama/Meta-Llama-3-8B-Instruct",
            "hfTokenSecretRef": {"name": "hf-token"},
            "cache": {"claimName": "hf-cache"},
        },
        runtime={"type": "vllm", "args": ["--max-model-len=8192"], "runtimeClassName": "nvidia"},
        resources={"gpus": 2, "gpuType": "nvidia-h100-80gb", "cpu": "16", "memory": "128Gi"},
        slo={"ttftP95Ms": 800, "itlP95Ms": 60},
        cost={"maxHourlyCost": 60.0, "gpuHourlyPrice": 7.0},
    ),
    # Triton ensembles (TensorRT-LLM's repository): the models the ensemble runs reach the
    # server beside it, each as the ensemble's own directory does.
    "triton-pvc-ensemble": minimal_spec(
        model={
            "name": "ensemble",
            "repository": "pvc://llm-engines/trtllm/llama-3-8b",
            "composingModels": ["preprocessing", "tensorrt_llm", "postprocessing"],
        },
    ),
    "triton-s3-ensemble-cache-claim": minimal_spec(
        model={
            "name": "tensorrt_llm_bls",
            "repository": "s3://llm-engines/trtllm/llama-3-8b/",
            "composingModels": ["preprocessing", "tensorrt_llm", "postprocessing"],
            "cache": {"claimName": "engine-cache"},
        },
    ),
    "triton-http-ensemble": minimal_spec(
        model={
            "name": "ensemble",
            "repository": "https://models.example.com/trtllm-repo.tar.gz",
            "composingModels": ["preprocessing", "tensorrt_llm", "postprocessing"],
            "cache": {"sizeLimit": "40Gi"},
        },
    ),
    "vllm-pvc": minimal_spec(
        model={"name": "qwen-7b", "repository": "pvc://llm-weights/qwen2.5-7b-instruct"},
        runtime={"type": "vllm"},
        slo={"ttftP95Ms": 500},
    ),
    # gpufleet-server's LLM mode: weights from a seed, engine limits as server args.
    "torch-llm-seed": minimal_spec(
        model={"name": "tiny-llm", "repository": "seed://7"},
        runtime={
            "type": "torch",
            "torch": {"mode": "llm"},
            "args": ["--max-model-len=4096", "--kv-cache-tokens=32768"],
            "exitTimeoutSeconds": 120,
        },
        slo={"ttftP95Ms": 1000, "itlP95Ms": 100},
        networkPolicy={},
    ),
    "triton-network-policy": minimal_spec(
        networkPolicy={
            "clients": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "gateway"}
                    },
                    "podSelector": {"matchLabels": {"app": "inference-gateway"}},
                },
                {"podSelector": {"matchLabels": {"role": "batch-scorer"}}},
            ],
            "prometheus": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "observability"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ],
        },
    ),
    "vllm-network-policy-defaults": minimal_spec(
        model={"name": "qwen-7b", "repository": "pvc://llm-weights/qwen2.5-7b-instruct"},
        runtime={"type": "vllm"},
        slo={"itlP95Ms": 40},
        networkPolicy={},
    ),
    # A MIG slice of an A100 80GB a replica (the device plugin's mixed strategy; one: a CUDA
    # process uses one MIG device), priced by the slice; replicas spread over zones (hard)
    # and nodes (soft).
    "vllm-mig-zone-spread": minimal_spec(
        model={"name": "qwen-7b", "repository": "pvc://llm-weights/qwen2.5-7b-instruct"},
        runtime={"type": "vllm"},
        resources={
            "gpus": 1,
            "gpuType": "nvidia-a100-80gb",
            "gpuResource": "nvidia.com/mig-3g.40gb",
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "minDomains": 3,
                    "nodeTaintsPolicy": "Honor",
                    "matchLabelKeys": ["pod-template-hash"],
                },
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "matchLabelKeys": ["pod-template-hash"],
                },
            ],
        },
        slo={"ttftP95Ms": 500},
        cost={"maxHourlyCost": 20.0, "gpuHourlyPrice": 1.1},
        scaling={"minReplicas": 3, "maxReplicas": 9},
    ),
    # An AMD GPU: no GPU Feature Discovery label to select by; no spread at all ([]).
    "vllm-amd-no-spread": minimal_spec(
        model={"name": "qwen-7b", "repository": "pvc://llm-weights/qwen2.5-7b-instruct"},
        runtime={"type": "vllm", "image": "docker.io/rocm/vllm:latest"},
        resources={
            "gpuType": "amd-mi300x",
            "gpuResource": "amd.com/gpu",
            "topologySpreadConstraints": [],
        },
        slo={"ttftP95Ms": 500},
        cost={"maxHourlyCost": 20.0, "gpuHourlyPrice": 4.0},
    ),
}
