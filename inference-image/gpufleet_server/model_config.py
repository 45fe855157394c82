"""A model's ``config.pbtxt``: parsed with Triton's own protobuf schema, validated into typed specs.

Triton ships the ``ModelConfig`` protobuf in ``tritonclient.grpc.model_config_pb2``; parsing
with it (rather than a hand-written parser) accepts exactly the files Triton accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import (  # type: ignore[import-untyped]  # no stubs in the venv
    descriptor,
    json_format,
    text_format,
)
from pydantic import BaseModel, ConfigDict, Field
from tritonclient.grpc import model_config_pb2

from gpufleet_server.datatypes import DataType, from_config_name

CONFIG_FILE = "config.pbtxt"
DEFAULT_PLATFORM = "pytorch_libtorch"


class ConfigError(ValueError):
    """The model's configuration cannot be served by this runtime."""


class TensorSpec(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    datatype: DataType
    dims: tuple[int, ...]  # without the batch dimension; -1 means any size


class BatchingSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_queue_delay_us: int = Field(ge=0)
    preferred_batch_sizes: tuple[int, ...] = ()


class VersionPolicy(BaseModel):
    """Which of the versions on disk to serve (Triton's ``version_policy``)."""

    model_config = ConfigDict(frozen=True)

    latest: int | None = 1  # serve the N highest versions
    specific: tuple[int, ...] = ()  # or exactly these (``latest`` is then None)
    serve_all: bool = False

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.serve_all:
            return ordered
        if self.specific:
            return [v for v in ordered if v in self.specific]
        return ordered[-(self.latest or 1) :]


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    max_batch_size: int = Field(ge=0)  # 0: the model takes no batch dimension
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batching: BatchingSpec | None  # None: each request runs alone
    version_policy: VersionPolicy
    default_model_filename: str | None

    def input_named(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output_named(self, name: str) -> TensorSpec | None:
        return next((t for t in self.outputs if t.name == name), None)


def read_config(model_dir: Path) -> model_config_pb2.ModelConfig:
    """Parse ``<model_dir>/config.pbtxt`` and fill the defaults Triton would fill."""
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"model '{model_dir.name}' has no {CONFIG_FILE}")
    try:
        config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    except text_format.ParseError as error:
        raise ConfigError(f"{path}: {error}") from error
    if not config.name:
        config.name = model_dir.name
    if config.name != model_dir.name:
        raise ConfigError(
            f"{path}: name '{config.name}' differs from its directory '{model_dir.name}'"
        )
    if not config.platform and not config.backend:
        config.platform = DEFAULT_PLATFORM
    if not config.HasField("version_policy"):
        config.version_policy.latest.num_versions = 1
    if config.HasField("dynamic_batching") and not config.dynamic_batching.preferred_batch_size:
        config.dynamic_batching.preferred_batch_size.append(config.max_batch_size)
    return config


def _tensor_spec(tensor: Any, model: str) -> TensorSpec:
    type_name = model_config_pb2.DataType.Name(tensor.data_type)
    datatype = from_config_name(type_name)
    if datatype is None:
        raise ConfigError(f"model '{model}': tensor '{tensor.name}' has unsupported {type_name}")
    if getattr(tensor, "optional", False):
        raise ConfigError(f"model '{model}': optional input '{tensor.name}' is not supported")
    if tensor.HasField("reshape"):
        raise ConfigError(f"model '{model}': tensor '{tensor.name}': reshape is not supported")
    return TensorSpec(
        name=tensor.name,
        datatype=datatype,
        dims=tuple(int(d) for d in tensor.dims),
    )


def _version_policy(config: model_config_pb2.ModelConfig) -> VersionPolicy:
    policy = config.version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy(latest=None, serve_all=True)
    if which == "specific":
        return VersionPolicy(latest=None, specific=tuple(int(v) for v in policy.specific.versions))
    return VersionPolicy(latest=max(1, int(policy.latest.num_versions)))


def to_model_spec(config: model_config_pb2.ModelConfig) -> ModelSpec:
    if config.HasField("sequence_batching") or config.HasField("ensemble_scheduling"):
        raise ConfigError(f"model '{config.name}': sequence and ensemble models are not supported")
    if not config.input or not config.output:
        raise ConfigError(f"model '{config.name}': config needs at least one input and output")
    batching = None
    if config.HasField("dynamic_batching") and config.max_batch_size > 0:
        batching = BatchingSpec(
            max_queue_delay_us=int(config.dynamic_batching.max_queue_delay_microseconds),
            preferred_batch_sizes=tuple(
                int(s) for s in config.dynamic_batching.preferred_batch_size
            ),
        )
    return ModelSpec(
        name=config.name,
        max_batch_size=int(config.max_batch_size),
        inputs=tuple(_tensor_spec(t, config.name) for t in config.input),
        outputs=tuple(_tensor_spec(t, config.name) for t in config.output),
        batching=batching,
        version_policy=_version_policy(config),
        default_model_filename=config.default_model_filename or None,
    )


def config_as_json(config: model_config_pb2.ModelConfig) -> dict[str, Any]:
    """The config as Triton's ``/v2/models/{m}/config`` returns it: field names as in the
    proto and 64-bit integers as JSON numbers (protobuf's JSON mapping would quote them)."""
    as_dict = json_format.MessageToDict(
        config, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    return _unquote_int64(as_dict, config.DESCRIPTOR)


_INT64_TYPES = (descriptor.FieldDescriptor.CPPTYPE_INT64, descriptor.FieldDescriptor.CPPTYPE_UINT64)


def _unquote_int64(value: dict[str, Any], message: descriptor.Descriptor) -> dict[str, Any]:
    for field in message.fields:
        if field.name not in value:
            continue
        if field.cpp_type in _INT64_TYPES:
            item = value[field.name]
            value[field.name] = [int(v) for v in item] if isinstance(item, list) else int(item)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            item = value[field.name]
            for child in item if isinstance(item, list) else [item]:
                _unquote_int64(child, field.message_type)
    return value
