"""Tensor data types: Triton's names (config ``TYPE_FP32``, protocol ``FP32``), numpy, torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class DataType:
    protocol_name: str  # as in inference requests: "FP32"
    numpy_dtype: np.dtype[np.generic]
    torch_dtype: torch.dtype

    @property
    def config_name(self) -> str:  # as in config.pbtxt: "TYPE_FP32"
        return "TYPE_" + ("STRING" if self.protocol_name == "BYTES" else self.protocol_name)

    @property
    def item_size(self) -> int:
        return int(self.numpy_dtype.itemsize)


def _entry(name: str, np_type: type[np.generic], torch_type: torch.dtype) -> DataType:
    return DataType(name, np.dtype(np_type), torch_type)


# Only numeric types: a torch model has no use for Triton's BYTES strings, and numpy has no
# bfloat16 for the wire format (``--dtype bf16`` still runs the model in bfloat16).
_SUPPORTED: tuple[DataType, ...] = (
    _entry("BOOL", np.bool_, torch.bool),
    _entry("UINT8", np.uint8, torch.uint8),
    _entry("INT8", np.int8, torch.int8),
    _entry("INT16", np.int16, torch.int16),
    _entry("INT32", np.int32, torch.int32),
    _entry("INT64", np.int64, torch.int64),
    _entry("FP16", np.float16, torch.float16),
    _entry("FP32", np.float32, torch.float32),
    _entry("FP64", np.float64, torch.float64),
)
BY_PROTOCOL_NAME: dict[str, DataType] = {t.protocol_name: t for t in _SUPPORTED}
BY_CONFIG_NAME: dict[str, DataType] = {t.config_name: t for t in _SUPPORTED}


def from_protocol_name(name: str) -> DataType | None:
    return BY_PROTOCOL_NAME.get(name)


def from_config_name(name: str) -> DataType | None:
    return BY_CONFIG_NAME.get(name)
