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


def _flattened(values: Any) -> list[Any]:
    if not isinstance(values, list):
        return [values]
    if all(not isinstance(value, list) for value in values):
        return values
    return [item for value in values for item in _flattened(value)]


def _json_kind_fits(value: Any, kind: str) -> bool:
    """Whether one value is of the JSON kind the datatype takes, as Triton parses it: numbers
    for floats (no null, string or bool), integers for integer types, true/false for BOOL."""
    if kind == "b":
        return type(value) is bool
    if kind in "iu":
        return type(value) is int
    return type(value) in (int, float)


def _plainly_fitting(dtype: DataType, values: Any) -> Array | None:
    """The values as the datatype when numpy's own reading of them shows every one of the
    kind it takes and in its range, with no bool among numbers (numpy would read it as one):
    the common case, checked in numpy rather than value by value. ``None``: let
    ``_checked_values`` judge them one by one, and word what is wrong."""
    numpy_dtype = dtype.numpy_dtype
    try:
        read = np.asarray(values)
    except ValueError:  # ragged nesting
        return None
    if numpy_dtype.kind == "b":
        return read.reshape(-1) if read.dtype.kind == "b" else None
    if read.dtype.kind not in ("iu" if numpy_dtype.kind in "iu" else "iuf"):
        return None
    # The values as they came (a nested list's too: read has made its bools numbers).
    items = values if read.ndim <= 1 else np.asarray(values, dtype=object).reshape(-1)
    if bool in map(type, items if isinstance(items, list | np.ndarray) else [items]):
        return None
    if read.size:
        if numpy_dtype.kind in "iu":
            limits = np.iinfo(numpy_dtype.str)
            if read.min() < limits.min or read.max() > limits.max:
                return None
        elif float(np.max(np.abs(read))) > float(np.finfo(numpy_dtype.str).max):
            return None  # finite and too large: overflows the type (infinity stays)
    return read.astype(numpy_dtype).reshape(-1)


def _checked_values(name: str, dtype: DataType, values: Any) -> Array:
    """The values as the datatype, refusing what numpy would convert silently: null as NaN,
    "1.5" as 1.5, 1.7 as 1, 2 as True, and an integer out of the type's range wrapped."""
    fitting = _plainly_fitting(dtype, values)
    if fitting is not None:
        return fitting
    numpy_dtype = dtype.numpy_dtype
    flat = _flattened(values)
    if not all(_json_kind_fits(value, numpy_dtype.kind) for value in flat):
        raise invalid(f"input '{name}': data is not a list of {dtype.protocol_name} values")
    if numpy_dtype.kind in "iu" and flat:
        limits = np.iinfo(numpy_dtype.str)
        least, most = int(limits.min), int(limits.max)
        low, high = min(flat), max(flat)
        if low < least or high > most:
            raise invalid(
                f"input '{name}': value {low if low < least else high} is out of the "
                f"range of {dtype.protocol_name} [{least}, {most}]"
            )
    if numpy_dtype.kind == "f" and flat:
        largest = float(np.max(np.abs(np.asarray(flat, dtype=np.float64))))
        if math.isfinite(largest) and largest > float(np.finfo(numpy_dtype.str).max):
            raise invalid(f"input '{name}': value {largest} overflows {dtype.protocol_name}")
    return np.asarray(flat, dtype=numpy_dtype)


def from_values(name: str, datatype: str, shape: Sequence[Any], values: Any) -> InputTensor:
    """JSON ``data`` (flat or nested) or gRPC typed contents, in row-major order."""
    dtype = datatype_of(name, datatype)
    dims = checked_shape(name, shape)
    flat = _checked_values(name, dtype, values)
    expected = math.prod(dims)
    if flat.size != expected:
        raise invalid(
            f"input '{name}': got {flat.size} values, expected {expected} for shape {list(dims)}"
        )
    return InputTensor(name, datatype, flat.reshape(dims))
