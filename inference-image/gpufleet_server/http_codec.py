"""The KServe v2 JSON body and Triton's binary-tensor extension for HTTP.

A binary request is a JSON header of ``Inference-Header-Content-Length`` bytes followed by
the raw data of every input whose ``parameters.binary_data_size`` is set, in input order.
Outputs come back as raw bytes after the JSON header when the request asks for it per output
(``parameters.binary_data``) or for all (``parameters.binary_data_output``) — tritonclient's
default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpufleet_server.errors import invalid
from gpufleet_server.service import InferResult
from gpufleet_server.tensors import InputTensor, from_bytes, from_values

HEADER_LENGTH = "Inference-Header-Content-Length"


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    binary_data_size: int | None = Field(default=None, ge=0)
    binary_data: bool | None = None
    binary_data_output: bool | None = None


class _InputJson(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: _Parameters = _Parameters()
    data: Any = None


class _OutputJson(BaseModel):
    name: str
    parameters: _Parameters = _Parameters()


class _RequestJson(BaseModel):
    id: str = ""
    inputs: list[_InputJson]
    outputs: list[_OutputJson] | None = None
    parameters: _Parameters = _Parameters()


@dataclass(frozen=True)
class DecodedRequest:
    request_id: str
    inputs: list[InputTensor]
    requested_outputs: list[str] | None
    binary_outputs: dict[str, bool]  # per requested output; absent: use binary_by_default
    binary_by_default: bool


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise invalid(f"{HEADER_LENGTH} '{header_length}' is not an integer") from None
    if not 0 < length <= len(body):
        raise invalid(f"{HEADER_LENGTH} {length} does not fit a body of {len(body)} bytes")
    return body[:length], body[length:]


def decode_request(body: bytes, header_length: str | None) -> DecodedRequest:
    header, binary = _split_body(body, header_length)
    try:
        parsed = _RequestJson.model_validate(json.loads(header))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise invalid(f"malformed JSON in inference request: {error}") from None
    except RecursionError:  # json's parser recurses per level of nesting
        raise invalid("malformed JSON in inference request: nested too deeply") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise invalid(f"invalid inference request: {problems}") from None
    inputs: list[InputTensor] = []
    offset = 0
    for tensor in parsed.inputs:
        size = tensor.parameters.binary_data_size
        if size is not None:
            if offset + size > len(binary):
                raise invalid(f"input '{tensor.name}': binary data is shorter than {size} bytes")
            chunk = binary[offset : offset + size]
            offset += size
            inputs.append(from_bytes(tensor.name, tensor.datatype, tensor.shape, chunk))
        elif tensor.data is not None:
            try:
                inputs.append(from_values(tensor.name, tensor.datatype, tensor.shape, tensor.data))
            except RecursionError:  # flattening recurses per level of nesting
                raise invalid(f"input '{tensor.name}': data is nested too deeply") from None
        else:
            raise invalid(f"input '{tensor.name}' has neither data nor binary_data_size")
    if offset != len(binary):
        raise invalid(f"{len(binary) - offset} bytes of binary data are not claimed by any input")
    outputs = parsed.outputs
    return DecodedRequest(
        request_id=parsed.id,
        inputs=inputs,
        requested_outputs=[o.name for o in outputs] if outputs else None,
        binary_outputs={
            o.name: o.parameters.binary_data
            for o in outputs or []
            if o.parameters.binary_data is not None
        },
        binary_by_default=bool(parsed.parameters.binary_data_output),
    )


def encode_response(result: InferResult, request: DecodedRequest) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when binary outputs follow it."""
    outputs_json: list[dict[str, Any]] = []
    binaries: list[bytes] = []
    for spec, array in result.outputs:
        entry: dict[str, Any] = {
            "name": spec.name,
            "datatype": spec.datatype.protocol_name,
            "shape": list(array.shape),
        }
        if request.binary_outputs.get(spec.name, request.binary_by_default):
            raw = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            binaries.append(raw)
        else:
            entry["data"] = array.reshape(-1).tolist()
        outputs_json.append(entry)
    response: dict[str, Any] = {
        "model_name": result.model_name,
        "model_version": str(result.model_version),
        "outputs": outputs_json,
    }
    if result.request_id:
        response["id"] = result.request_id
    header = json.dumps(response).encode()
    if not binaries:
        return header, None
    return b"".join([header, *binaries]), len(header)
