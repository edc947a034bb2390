"""The Connect protocol (JSON) in front of the node's own gRPC API, generic over every method.

Every method of every `vigil.v1` service is read from the generated descriptors: nothing here
knows one RPC from another. A call's JSON (proto3 JSON mapping) becomes the request message, the
node's gRPC server is called on loopback with the session's bearer token (so its interceptor
applies the same roles, scoping, rate limits, audit and errors as for any client), and the answer
goes back as JSON, or as a Connect error `{"code", "message"}` with the HTTP status the Connect
protocol gives its code. Server-streaming methods use Connect's streaming envelope
(`application/connect+json`: 5-byte prefix, flags 0x02 on the end-of-stream message); client
streaming cannot be spoken by a browser over HTTP/1.1 and is answered `unimplemented`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import vigil.v1

END_STREAM = 0x02
# Connect's HTTP status of each code (connectrpc.com/docs/protocol#error-codes).
HTTP_STATUS = {
    "canceled": 499, "unknown": 500, "invalid_argument": 400, "deadline_exceeded": 504,
    "not_found": 404, "already_exists": 409, "permission_denied": 403, "resource_exhausted": 429,
    "failed_precondition": 400, "aborted": 409, "out_of_range": 400, "unimplemented": 501,
    "internal": 500, "unavailable": 503, "data_loss": 500, "unauthenticated": 401,
}


def connect_code(code: grpc.StatusCode) -> str:
    """gRPC's status as Connect names it (CANCELLED is spelt 'canceled')."""
    return "canceled" if code == grpc.StatusCode.CANCELLED else code.name.lower()


@dataclass(frozen=True)
class ConnectError(Exception):
    """An error answered in Connect's shape (`status`: an HTTP status other than the code's)."""
    code: str
    message: str
    status: int | None = None

    @property
    def http_status(self) -> int:
        return self.status or HTTP_STATUS.get(self.code, 500)

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Method:
    path: str  # "/vigil.v1.Service/Method", as the gRPC server routes it
    request: type[Message]
    response: type[Message]
    client_streaming: bool
    server_streaming: bool


def _method(m: MethodDescriptor) -> Method:
    return Method(f"/{m.containing_service.full_name}/{m.name}", GetMessageClass(m.input_type),
                  GetMessageClass(m.output_type), m.client_streaming, m.server_streaming)


def vigil_methods() -> dict[str, Method]:
    """Every method of every generated `vigil.v1` service, by 'vigil.v1.Service/Method'."""
    methods = {}
    for name in sorted(m.name for m in pkgutil.iter_modules(vigil.v1.__path__)):
        if name.endswith("_pb2"):
            for service in importlib.import_module(f"vigil.v1.{name}").DESCRIPTOR.services_by_name.values():
                for m in service.methods:
                    methods[f"{service.full_name}/{m.name}"] = _method(m)
    return methods


def parse_request(method: Method, body: bytes) -> Message:
    """The request message from its proto3 JSON; INVALID_ARGUMENT naming what is wrong."""
    try:
        return json_format.Parse(body.decode() if body.strip() else "{}", method.request())
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise ConnectError("invalid_argument", f"the request is not a valid "
                           f"{method.request.DESCRIPTOR.name} in JSON: {exc}") from None


def to_json(message: Message) -> bytes:
    return json.dumps(json_format.MessageToDict(message), ensure_ascii=False).encode()


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def unenvelope(body: bytes) -> bytes:
    """The one message of a streaming request's body (flags 0, JSON)."""
    if len(body) < 5:
        raise ConnectError("invalid_argument", "a streaming request needs one enveloped message")
    flags, size = struct.unpack(">BI", body[:5])
    if flags != 0 or size != len(body) - 5:
        raise ConnectError("invalid_argument", "the streaming request's envelope is malformed "
                           "(compressed, or its length does not match the body)")
    return body[5:]


def from_rpc_error(err: grpc.aio.AioRpcError) -> ConnectError:
    return ConnectError(connect_code(err.code()), err.details() or err.code().name.lower())


class Upstream:
    """Calls the node's gRPC server as the bearer of a token (one channel, made on first use inside
    the console's event loop)."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None,
                 options: list[tuple[str, Any]]) -> None:
        self._target, self._credentials, self._options = target, credentials, options
        self._channel: grpc.aio.Channel | None = None

    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = (grpc.aio.secure_channel(self._target, self._credentials, self._options)
                             if self._credentials else grpc.aio.insecure_channel(self._target, self._options))
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def unary(self, method: Method, request: Message, token: str,
                    timeout_s: float | None = None) -> Message:
        """The answer, or ConnectError with the node's status and message."""
        call = self.channel().unary_unary(method.path, request_serializer=_serialize,
                                          response_deserializer=method.response.FromString)
        try:
            response: Message = await call(request, metadata=_bearer(token), timeout=timeout_s)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return response

    def stream(self, method: Method, request: Message, token: str,
               timeout_s: float | None = None) -> AsyncIterator[Message]:
        """The answers of a server-streaming method; raises ConnectError where the node fails it."""
        call = self.channel().unary_stream(method.path, request_serializer=_serialize,
                                           response_deserializer=method.response.FromString)
        return _messages(call(request, metadata=_bearer(token), timeout=timeout_s))


async def _messages(call: Any) -> AsyncIterator[Message]:
    try:
        async for message in call:
            yield message
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err) from None
    finally:
        call.cancel()  # the browser went away: stop the node's work too (no-op once ended)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def timeout_of(header: str | None) -> float | None:
    """Connect's `Connect-Timeout-Ms` as seconds (None: no deadline)."""
    if header is None:
        return None
    if not header.isdigit() or len(header) > 10:
        raise ConnectError("invalid_argument", f"Connect-Timeout-Ms {header[:20]!r} is not a "
                           "positive integer of at most 10 digits")
    return int(header) / 1000
