"""``spec.model``: which model is served, where it is fetched from and where it is kept."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from gpufleet.domain.k8s_shapes import (
    DNS_SUBDOMAIN,
    QUANTITY,
    EmptyDirVolumeSource,
    ObjectName,
)
from gpufleet.domain.wire import WireModel

REPOSITORY_SCHEMES = ("s3", "gs", "pvc", "http", "https", "hf", "seed")
FETCHED_SCHEMES = frozenset({"s3", "gs", "http", "https"})


class SecretKey(WireModel):
    name: ObjectName
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")] = "token"


_ONE_CACHE_PLACE = "set sizeLimit (an emptyDir) or claimName (a claim), not both"


class ModelCacheSpec(WireModel):
    # The API server refuses both as the operator does (no ModelDeployment stuck invalid).
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.sizeLimit) && has(self.claimName))",
                    "message": _ONE_CACHE_PLACE,
                }
            ]
        }
    )

    size_limit: Annotated[
        str | None,
        Field(
            default=None,
            pattern=QUANTITY,
            description=(
                "Most the downloaded model may take on the node's disk (the emptyDir's "
                "sizeLimit, also requested as ephemeral-storage so the scheduler picks a "
                "node with room); the kubelet evicts a pod that writes more."
            ),
        ),
    ] = None
    claim_name: Annotated[
        ObjectName | None,
        Field(
            default=None,
            description=(
                "A PersistentVolumeClaim to keep the model in instead of an emptyDir, so a "
                "restarted pod re-syncs instead of downloading everything (ReadWriteMany to "
                "share it between replicas). One claim may serve many ModelDeployments of "
                "its namespace: each keeps its download in its own directory, named after "
                "the ModelDeployment, and its pods see only that one (hf:// models share "
                "the claim's Hugging Face cache, huggingface/)."
            ),
        ),
    ] = None

    @model_validator(mode="after")
    def _one_place(self) -> ModelCacheSpec:
        if self.size_limit is not None and self.claim_name is not None:
            raise ValueError(_ONE_CACHE_PLACE)
        return self

    def volume(self) -> dict[str, Any]:
        """The pod volume the model is downloaded into."""
        if self.claim_name:
            return {"persistentVolumeClaim": {"claimName": self.claim_name}}
        return {"emptyDir": EmptyDirVolumeSource(size_limit=self.size_limit).to_wire()}


_PVC_BACKSTEP = (
    "a pvc:// path may not hold a '..' segment: it is a path within the claim (the pods' "
    "subPath), which the API server refuses to leave"
)
# The claim's name holds no '/': the first one starts the path within the claim.
_PVC_BACKSTEP_RULE = "!self.matches('^pvc://[^/]*/(.*/)?[.][.](/.*)?$')"


MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""A Triton model directory name: model.name and each of model.composingModels."""
MODEL_NAME_MAX = 128
MAX_COMPOSING_MODELS = 16
"""Most models model.composingModels may list: TensorRT-LLM's ensemble has three."""
_COMPOSING_TWICE = "lists a model twice"

ModelName = Annotated[
    str, Field(min_length=1, max_length=MODEL_NAME_MAX, pattern=MODEL_NAME_PATTERN)
]


MAX_BATCH_SIZE_LIMIT = 65536
"""Largest model.maxBatchSize accepted: far beyond any server's batch, it only keeps
the model's arithmetic finite."""


class ModelSpec(WireModel):
    name: Annotated[
        ModelName,
        Field(
            description=(
                "Model name as served (the Triton model directory name). For a Triton "
                "ensemble or BLS model, the model clients call (the ensemble); list the "
                "models it runs in composingModels."
            ),
        ),
    ]
    composing_models: Annotated[
        list[ModelName],
        Field(
            default_factory=list,
            max_length=MAX_COMPOSING_MODELS,
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(m, self.exists_one(n, n == m))",
                        "message": _COMPOSING_TWICE,
                    }
                ]
            },
            description=(
                "The other models of the repository that model.name runs, loaded beside "
                "it: the steps of a Triton ensemble, or the models a BLS model calls (their "
                "model directory names; runtime.type triton only). Triton is given "
                "model.name's directory alone (with model control off it loads every model "
                "it finds), so without them an ensemble fails to load and its pods never "
                "become ready. TensorRT-LLM's repository: name: ensemble (or "
                "tensorrt_llm_bls) with composingModels: [preprocessing, tensorrt_llm, "
                "postprocessing]. Each directory comes from the repository as model.name's "
                "does (a subPath of the pvc:// claim, <uri>/<name> fetched from s3:// or "
                "gs://, a directory of the unpacked archive). Metrics and status are read "
                "from model.name."
            ),
        ),
    ]
    repository: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            # A bucket or host is named, without spaces, and an hf:// id is a Hub repo id
            # (org/name): a typo fails here, not as a crash-looping download at start. A
            # pvc:// claim is a claim's name: the pods' volume would not be valid without.
            pattern=(
                r"^((s3|gs|https?)://[^/\s]+(/.*)?"
                r"|hf://[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?/?"
                rf"|pvc://{DNS_SUBDOMAIN[1:-1]}(/.*)?|seed://[0-9]{{1,18}})$"
            ),
            json_schema_extra={
                "x-kubernetes-validations": [{"rule": _PVC_BACKSTEP_RULE, "message": _PVC_BACKSTEP}]
            },
            description=(
                "Where the model is: s3://bucket/path, gs://bucket/path, pvc://claim/sub/path, "
                "http(s)://host/archive.tar.gz (Triton's repository layout for triton and "
                "torch; a Hugging Face model directory for vllm), hf://org/model (vllm "
                "only: downloaded by vLLM from the Hugging Face Hub), or seed://<n> (torch "
                "in mode llm only: a small transformer whose weights are drawn from seed n, "
                "nothing is downloaded)."
            ),
        ),
    ]
    version: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[0-9]+$",
            description=(
                "Triton model version to serve (triton and torch); all versions in the "
                "repository when unset."
            ),
        ),
    ] = None
    max_batch_size: Annotated[
        int | None,
        Field(
            default=None,
            ge=1,
            le=MAX_BATCH_SIZE_LIMIT,
            description=(
                "The model's largest batch: max_batch_size in its config.pbtxt (triton and "
                "torch; 1 for a model that does not batch). The metrics show mean batches "
                "only; the operator reads the bound from a ready pod's model configuration "
                "(GET /v2/models/{name}/config; status.configuredMaxBatch), which wins over "
                "this field. Set it for when the operator cannot reach the pods' HTTP port "
                "(a NetworkPolicy that keeps it out): unset and unread, the operator believes "
                "batches can grow to twice the largest mean it has measured, until requests "
                "are seen waiting behind full ones."
            ),
        ),
    ] = None
    hf_token_secret_ref: Annotated[
        SecretKey | None,
        Field(
            default=None,
            description=(
                "Secret key holding a Hugging Face token for gated or private hf:// models "
                "(passed as HF_TOKEN from the Secret, never as a literal)."
            ),
        ),
    ] = None
    cache: Annotated[
        ModelCacheSpec | None,
        Field(
            default=None,
            description=(
                "Where a downloaded model is kept in the pod (s3/gs/http fetched by an init "
                "container, hf:// by vLLM): an emptyDir of at most sizeLimit, or a claim."
            ),
        ),
    ] = None

    @field_validator("repository")
    @classmethod
    def _stays_in_the_claim(cls, repository: str) -> str:
        scheme, _, rest = repository.partition("://")
        if scheme == "pvc" and ".." in rest.split("/")[1:]:
            raise ValueError(_PVC_BACKSTEP)
        return repository

    @field_validator("composing_models")
    @classmethod
    def _each_once(cls, models: list[str]) -> list[str]:
        twice = sorted({m for m in models if models.count(m) > 1})
        if twice:
            raise ValueError(f"{_COMPOSING_TWICE}: {', '.join(twice)}")
        return models

    @property
    def served_models(self) -> tuple[str, ...]:
        """The model's directories the server is given: model.name's, then the models it
        runs (model.composingModels)."""
        return (self.name, *self.composing_models)

    @property
    def scheme(self) -> str:
        return self.repository.split("://", 1)[0]

    @property
    def hf_id(self) -> str | None:
        """The Hugging Face model id of an ``hf://org/model`` repository."""
        if self.scheme != "hf":
            return None
        return self.repository.split("://", 1)[1].strip("/")

    @property
    def seed(self) -> int | None:
        """The seed of a ``seed://n`` repository (weights drawn, not loaded)."""
        if self.scheme != "seed":
            return None
        return int(self.repository.split("://", 1)[1])

    @property
    def effective_cache(self) -> ModelCacheSpec:
        return self.cache or ModelCacheSpec()

    @property
    def pvc_claim(self) -> str | None:
        """The claim name of a ``pvc://claim/path`` repository."""
        if self.scheme != "pvc":
            return None
        return self.repository.split("://", 1)[1].split("/", 1)[0]

    @property
    def pvc_sub_path(self) -> str:
        rest = self.repository.split("://", 1)[1]
        return rest.split("/", 1)[1] if "/" in rest else ""
