"""Private models load: credentials by reference only, non-root fetchers, bounded disk."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import SpecError, parse_spec
from tests.operator.specs import GOLDEN_SPECS, minimal_spec

OWNER = Owner("demo", "ml", "uid-1")


def _pod(raw: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = DEPLOYMENT.build(OWNER, parse_spec(raw))["spec"]["template"]["spec"]
    return pod


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def test_secret_references_reach_fetcher_and_server_and_no_value_is_written() -> None:
    pod = _pod(GOLDEN_SPECS["triton-s3-private"])
    containers = list(_containers(pod))
    assert [c["name"] for c in containers] == ["fetch-model", "server"]
    for container in containers:
        env = _env(container)
        for name, key in (
            ("AWS_ACCESS_KEY_ID", "access-key"),
            ("AWS_SECRET_ACCESS_KEY", "secret-key"),
        ):
            assert env[name] == {
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": "s3-creds", "key": key}},
            }, container["name"]
        assert container["envFrom"] == [
            {"prefix": "TRITON_", "configMapRef": {"name": "triton-tuning"}}
        ]
        assert {"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": True} in container[
            "volumeMounts"
        ]
    assert pod["serviceAccountName"] == "model-reader"
    assert pod["imagePullSecrets"] == [{"name": "ecr-pull"}]
    assert {"name": "corp-ca", "configMap": {"name": "corp-ca-bundle"}} in pod["volumes"]


def test_hugging_face_token_comes_from_its_secret() -> None:
    pod = _pod(GOLDEN_SPECS["vllm-hf-gated"])
    (server,) = pod["containers"]
    assert _env(server)["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    }
    assert "initContainers" not in pod or pod["initContainers"] == []


FETCHED = ["triton-s3-private", "torch-gs-workload-identity", "triton-http-archive", "torch-gs"]


@pytest.mark.parametrize("case", FETCHED)
def test_fetchers_run_as_the_pods_non_root_user_with_a_writable_home(case: str) -> None:
    pod = _pod(GOLDEN_SPECS[case])
    (fetch,) = pod["initContainers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert fetch["securityContext"]["runAsNonRoot"] is True
    home = _env(fetch)["HOME"]["value"]
    mounted = {m["mountPath"]: m["name"] for m in fetch["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounted[home]], "HOME must be a writable volume"


SOURCES = [
    ("s3", "s3://b/repo", ["aws", "s3", "sync"]),
    ("gs", "gs://b/repo", ["gcloud", "storage", "rsync"]),
    ("http", "https://h/repo.tar.gz", ["/bin/sh", "-c"]),
]


@pytest.mark.parametrize(("scheme", "uri", "tool"), SOURCES)
def test_each_source_is_fetched_into_a_size_limited_volume(
    scheme: str, uri: str, tool: list[str]
) -> None:
    pod = _pod(minimal_spec(model={"name": "m", "repository": uri, "cache": {"sizeLimit": "30Gi"}}))
    (fetch,) = pod["initContainers"]
    assert fetch["command"][: len(tool)] == tool, scheme
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-repository"]["emptyDir"] == {"sizeLimit": "30Gi"}
    requests = pod["containers"][0]["resources"]["requests"]
    assert requests["ephemeral-storage"] == "30Gi"


def test_a_cache_claim_replaces_the_emptydir() -> None:
    pod = _pod(GOLDEN_SPECS["torch-gs-workload-identity"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-repository"] == {
        "name": "model-repository",
        "persistentVolumeClaim": {"claimName": "model-cache"},
    }
    assert "ephemeral-storage" not in pod["containers"][0]["resources"]["requests"]


def test_triton_sees_only_its_model_and_opens_no_model_control_api() -> None:
    pod = _pod(minimal_spec(model={"name": "resnet50", "repository": "pvc://shared/repo"}))
    (server,) = pod["containers"]
    assert "--model-control-mode=none" in server["command"]
    assert not any(arg.startswith("--load-model") for arg in server["command"])
    assert "--model-repository=/models" in server["command"]
    model_mounts = [m for m in server["volumeMounts"] if m["name"] == "model-repository"]
    assert model_mounts == [
        {
            "name": "model-repository",
            "mountPath": "/models/resnet50",
            "subPath": "repo/resnet50",
            "readOnly": True,
        }
    ]


@pytest.mark.parametrize("repository", ["s3://bucket/triton", "gs://bucket/triton/"])
def test_triton_sees_only_its_model_on_a_shared_cache_claim(repository: str) -> None:
    # The claim may hold other ModelDeployments' downloads: Triton, which loads every model
    # in its repository, must not see them.
    model = {"name": "resnet50", "repository": repository, "cache": {"claimName": "cache"}}
    pod = _pod(minimal_spec(model=model))
    (fetch,) = pod["initContainers"]
    assert fetch["command"][-1] == "/models/demo/resnet50"  # where the download lands
    (server,) = pod["containers"]
    assert "--model-repository=/models" in server["command"]
    model_mounts = [m for m in server["volumeMounts"] if m["name"] == "model-repository"]
    assert model_mounts == [
        {
            "name": "model-repository",
            "mountPath": "/models/resnet50",
            "subPath": "demo/resnet50",
            "readOnly": True,
        }
    ]


# On a claim that other ModelDeployments share: where each runtime's download lands (the
# fetcher mounts the claim's root at /models) and which directory of the claim its server
# mounts, for the ModelDeployment "demo" and for "demo-2" beside it.
CLAIM_LAYOUTS = [
    ("vllm from s3", "vllm", "s3://b/llama", "/models/{md}", "/models", "{md}"),
    ("vllm from gs", "vllm", "gs://b/llama/", "/models/{md}", "/models", "{md}"),
    ("vllm from an archive", "vllm", "https://h/llama.tar.gz", "/models/{md}", "/models", "{md}"),
    ("torch from s3", "torch", "s3://b/repo", "/models/{md}/m", "/models", "{md}"),
    ("torch from an archive", "torch", "https://h/repo.tar.gz", "/models/{md}", "/models", "{md}"),
    ("triton from gs", "triton", "gs://b/repo", "/models/{md}/m", "/models/m", "{md}/m"),
    ("triton from an archive", "triton", "https://h/a.tgz", "/models/{md}", "/models/m", "{md}/m"),
]  # fmt: skip


def _download_dir(fetch: dict[str, Any]) -> str:
    command = fetch["command"]
    if command[0] != "/bin/sh":
        return str(command[-1])
    script = command[-1]
    unpacked = re.search(r"tar -xz -C (\S+);", script)
    assert unpacked is not None, script
    # The archive's marker lies with it: another archive on the claim has its own.
    assert f"{unpacked[1]}/.gpufleet-archive-url" in script
    return unpacked[1]


@pytest.mark.parametrize(
    ("case", "runtime", "repository", "download", "mount_path", "sub_path"), CLAIM_LAYOUTS
)
def test_each_model_deployment_keeps_its_own_directory_on_a_shared_cache_claim(
    case: str, runtime: str, repository: str, download: str, mount_path: str, sub_path: str
) -> None:
    model = {"name": "m", "repository": repository, "cache": {"claimName": "cache"}}
    spec = parse_spec(minimal_spec(model=model, runtime={"type": runtime}))
    for name in ("demo", "demo-2"):
        pod = DEPLOYMENT.build(Owner(name, "ml", "uid"), spec)["spec"]["template"]["spec"]
        (fetch,) = pod["initContainers"]
        assert _download_dir(fetch) == download.format(md=name), case
        (server,) = pod["containers"]
        model_mounts = [m for m in server["volumeMounts"] if m["name"] == "model-repository"]
        assert model_mounts == [
            {
                "name": "model-repository",
                "mountPath": mount_path,
                "subPath": sub_path.format(md=name),
                "readOnly": True,
            }
        ], case


@pytest.mark.parametrize(
    "flag", ["--model-control-mode=explicit", "--load-model=other", "--port=9000"]
)
def test_users_cannot_reopen_what_the_operator_closes(flag: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(minimal_spec(runtime={"args": [flag]}))
    assert caught.value.field == "runtime.args"


BAD_PRIVATE = [
    (
        "value and valueFrom",
        {
            "runtime": {
                "env": [
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            }
        },
        "runtime.env[0]",
    ),
    (
        "two sources",
        {
            "runtime": {
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k"},
                            "fieldRef": {"fieldPath": "metadata.name"},
                        },
                    }
                ]
            }
        },
        "runtime.env[0].valueFrom",
    ),
    (
        "envFrom without a source",
        {"runtime": {"envFrom": [{"prefix": "X_"}]}},
        "runtime.envFrom[0]",
    ),
    (
        "bad secret name",
        {"runtime": {"envFrom": [{"secretRef": {"name": "Bad_Name"}}]}},
        "runtime.envFrom[0].secretRef.name",
    ),
    ("volume without a source", {"runtime": {"volumes": [{"name": "v"}]}}, "runtime.volumes[0]"),
    (
        "mount of an unknown volume",
        {"runtime": {"volumeMounts": [{"name": "v", "mountPath": "/v"}]}},
        "runtime.volumeMounts",
    ),
    (
        "mount over the model",
        {
            "runtime": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/models/x"}],
            }
        },
        "runtime.volumeMounts",
    ),
    (
        "hostPath",
        {"runtime": {"volumes": [{"name": "v", "hostPath": {"path": "/"}}]}},
        "runtime.volumes[0].hostPath",
    ),
    (
        "bad service account",
        {"runtime": {"serviceAccountName": "Reader"}},
        "runtime.serviceAccountName",
    ),
    (
        "cache for a claim",
        {"model": {"name": "m", "repository": "pvc://c/p", "cache": {"sizeLimit": "1Gi"}}},
        "model.cache",
    ),
    (
        "both cache places",
        {
            "model": {
                "name": "m",
                "repository": "s3://b/p",
                "cache": {"sizeLimit": "1Gi", "claimName": "c"},
            }
        },
        "model.cache",
    ),
    ("hf for triton", {"model": {"name": "m", "repository": "hf://org/m"}}, "model.repository"),
    (
        "token without hf",
        {"model": {"name": "m", "repository": "s3://b/p", "hfTokenSecretRef": {"name": "t"}}},
        "model.hfTokenSecretRef",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "field"), BAD_PRIVATE)
def test_bad_private_model_settings_name_the_field(
    case: str, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(minimal_spec(**overrides))
    assert caught.value.field == field, f"{case}: {caught.value}"
