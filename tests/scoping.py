"""Every RPC of every `vigil.v1` service, read from the generated descriptors, and a raw caller.

The scoping matrix (tests/integration/test_scoping_matrix.py) is generated from this list, so
an RPC added to any `protos/vigil/v1/*.proto` joins the matrix without anyone listing it, and
fails there until it has a role policy and a scoping case. Calls go over a plain channel as
raw unary/streaming calls with `authorization: Bearer` metadata: no client code in between.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import vigil.v1


@dataclass(frozen=True)
class Rpc:
    path: str  # "/vigil.v1.Service/Method", as access.PERMISSIONS keys it
    name: str  # "Method"
    client_streaming: bool
    server_streaming: bool
    response: type[Message]


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str
    response: Any = None  # the message (a list of them for a server stream); None on error


def _rpc(method: MethodDescriptor) -> Rpc:
    return Rpc(f"/{method.containing_service.full_name}/{method.name}", method.name,
               method.client_streaming, method.server_streaming, GetMessageClass(method.output_type))


def vigil_rpcs() -> list[Rpc]:
    """Every method of every service in every generated `vigil.v1.*_pb2` module, in file order."""
    rpcs = []
    for module in sorted(m.name for m in pkgutil.iter_modules(vigil.v1.__path__)):
        if module.endswith("_pb2"):
            descriptor = importlib.import_module(f"vigil.v1.{module}").DESCRIPTOR
            for service in descriptor.services_by_name.values():
                rpcs += [_rpc(m) for m in service.methods]
    return rpcs


def call(channel: grpc.Channel, rpc: Rpc, request: Message | Sequence[Message], token: str,
         timeout_s: float = 120.0) -> Answer:
    """One raw call as the bearer of `token`; a client stream takes a sequence of messages."""
    metadata = (("authorization", f"Bearer {token}"),)
    kind = (channel.stream_unary if rpc.client_streaming
            else channel.unary_stream if rpc.server_streaming else channel.unary_unary)
    stub = kind(rpc.path, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=rpc.response.FromString)
    try:
        if rpc.client_streaming:
            response = stub(iter(request), metadata=metadata, timeout=timeout_s)  # type: ignore[arg-type]
        elif rpc.server_streaming:
            response = list(stub(request, metadata=metadata, timeout=timeout_s))
        else:
            response = stub(request, metadata=metadata, timeout=timeout_s)
    except grpc.RpcError as err:
        return Answer(err.code(), err.details() or "")  # type: ignore[attr-defined]
    return Answer(grpc.StatusCode.OK, "", response)
