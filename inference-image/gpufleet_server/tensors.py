"""Decoding request tensors from the wire (raw bytes or JSON/typed lists) into numpy arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpufleet_server.datatypes import Array, DataType, from_protocol_name
from gpufleet_server.errors import invalid


@dataclass(frozen=True)
class InputTensor:
    name: str
    datatype: str  # protocol name as sent by the client, e.g. "FP32"
    array: Array


def datatype_of(name: str, datatype: str) -> DataType:
    found = from_protocol_name(datatype)
    if found is None:
        raise invalid(f"input '{name}': unsupported data type '{datatype}'")
    return found


def checked_shape(name: str, shape: Sequence[Any]) -> tuple[int, ...]:
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise invalid(f"input '{name}': shape must be a list of non-negative integers")
    return tuple(shape)


def from_bytes(name: str, datatype: str, shape: Sequence[Any], raw: bytes) -> InputTensor:
    dtype = datatype_of(name, datatype)
    dims = checked_shape(name, shape)
    expected = math.prod(dims) * dtype.item_size
    if len(raw) != expected:
        raise invalid(
            f"input '{name}': got {len(raw)} bytes of data, expected {expected} "
            f"for shape {list(dims)} of {datatype}"
        )
    return InputTensor(name, datatype, np.frombuffer(raw, dtype=dtype.numpy_dtype).reshape(dims))


def from_values(name: str, datatype: str, shape: Sequence[Any], values: Any) -> InputTensor:
    """JSON ``data`` (flat or nested) or gRPC typed contents, in row-major order."""
    dtype = datatype_of(name, datatype)
    dims = checked_shape(name, shape)
    try:
        flat = np.asarray(values, dtype=dtype.numpy_dtype).reshape(-1)
    except (TypeError, ValueError) as error:
        raise invalid(f"input '{name}': data is not a list of {datatype} values") from error
    expected = math.prod(dims)
    if flat.size != expected:
        raise invalid(
            f"input '{name}': got {flat.size} values, expected {expected} for shape {list(dims)}"
        )
    return InputTensor(name, datatype, flat.reshape(dims))
