"""The ``inference.GRPCInferenceService`` front end (grpc.aio), using the service definitions
that tritonclient ships, so tritonclient.grpc talks to it unchanged."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import grpc
from google.protobuf import json_format  # type: ignore[import-untyped]  # no stubs in the venv
from tritonclient.grpc import service_pb2, service_pb2_grpc

from gpufleet_server import __version__
from gpufleet_server.datatypes import Array
from gpufleet_server.errors import ErrorKind, InferenceError, invalid
from gpufleet_server.metadata import EXTENSIONS, SERVER_NAME, model_metadata
from gpufleet_server.service import InferenceService
from gpufleet_server.statistics import statistics_response
from gpufleet_server.tensors import InputTensor, from_bytes, from_values

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
GRPC_CODE = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}
# Which InferTensorContents field holds each data type (FP16 has none: raw contents only).
TYPED_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


async def _abort(context: grpc.aio.ServicerContext, error: InferenceError) -> NoReturn:
    await context.abort(GRPC_CODE[error.kind], error.message)
    raise AssertionError("context.abort returns only by raising")


def _decode_inputs(request: Any) -> list[InputTensor]:
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise invalid(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    decoded = []
    for index, tensor in enumerate(request.inputs):
        shape = list(tensor.shape)
        if raw:
            decoded.append(from_bytes(tensor.name, tensor.datatype, shape, raw[index]))
            continue
        field = TYPED_CONTENTS.get(tensor.datatype)
        if field is None:
            raise invalid(f"input '{tensor.name}': {tensor.datatype} needs raw_input_contents")
        values = list(getattr(tensor.contents, field))
        decoded.append(from_values(tensor.name, tensor.datatype, shape, values))
    return decoded


def _encode_output(response: Any, name: str, datatype: str, array: Array) -> None:
    tensor = response.outputs.add()
    tensor.name = name
    tensor.datatype = datatype
    tensor.shape.extend(array.shape)
    response.raw_output_contents.append(array.tobytes())


class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(self, service: InferenceService) -> None:
        self.service = service

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return service_pb2.ServerReadyResponse(ready=self.service.ready)

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        ready = self.service.model_ready(request.name, request.version or None)
        return service_pb2.ModelReadyResponse(ready=ready)

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return service_pb2.ServerMetadataResponse(
            name=SERVER_NAME, version=__version__, extensions=list(EXTENSIONS)
        )

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            loaded = self.service.resolve(request.name, request.version or None)
        except InferenceError as error:
            await _abort(context, error)
        versions = [m.version for m in self.service.models() if m.spec.name == loaded.spec.name]
        platform = loaded.config.platform or loaded.config.backend
        meta = model_metadata(loaded.spec, versions, platform)
        return service_pb2.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[service_pb2.ModelMetadataResponse.TensorMetadata(**t) for t in meta["inputs"]],
            outputs=[
                service_pb2.ModelMetadataResponse.TensorMetadata(**t) for t in meta["outputs"]
            ],
        )

    async def ModelConfig(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            loaded = self.service.resolve(request.name, request.version or None)
        except InferenceError as error:
            await _abort(context, error)
        return service_pb2.ModelConfigResponse(config=loaded.config)

    async def ModelStatistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            selected = self.service.statistics(request.name, request.version)
        except InferenceError as error:
            await _abort(context, error)
        # One JSON shape for both protocols: the message's field names are the JSON keys.
        return json_format.ParseDict(
            statistics_response(selected), service_pb2.ModelStatisticsResponse()
        )

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        received_ns = time.perf_counter_ns()
        try:
            result = await self.service.infer(
                request.model_name,
                request.model_version or None,
                request.id,
                _decode_inputs(request),
                [o.name for o in request.outputs] or None,
                received_ns,
            )
        except InferenceError as error:
            await _abort(context, error)
        response = service_pb2.ModelInferResponse(
            model_name=result.model_name,
            model_version=str(result.model_version),
            id=result.request_id,
        )
        for spec, array in result.outputs:
            _encode_output(response, spec.name, spec.datatype.protocol_name, array)
        return response


def create_grpc_server(service: InferenceService, address: str) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(service), server)
    server.add_insecure_port(address)
    return server
