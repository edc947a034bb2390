"""Who may call what: every RPC names the roles allowed; anything unlisted is denied.

The interceptor authenticates the bearer token, applies the per-token rate
limit, checks the role, and hands the `Principal` to the servicer through a
context variable set inside the handler's own task.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from services.auth import ALL_GROUPS, Principal, RateLimiter, Role, TokenStore
from services.errors import InvalidArgumentError, VigilError, status_for

R = Role
VIEW = frozenset({R.VIEWER, R.INVESTIGATOR, R.ADMIN})
INVESTIGATE = frozenset({R.INVESTIGATOR, R.ADMIN})
INGEST = frozenset({R.INGEST, R.ADMIN})
ADMIN = frozenset({R.ADMIN})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "/vigil.v1.SearchService/Search": VIEW,
    "/vigil.v1.SearchService/SearchByImage": VIEW,
    "/vigil.v1.PlaybackService/GetPlaylist": VIEW,
    "/vigil.v1.PlaybackService/GetClipUrl": VIEW,
    "/vigil.v1.PlaybackService/ExportClip": INVESTIGATE,
    "/vigil.v1.CameraService/GetCamera": VIEW | INGEST,
    "/vigil.v1.CameraService/ListCameras": VIEW | INGEST,
    "/vigil.v1.CameraService/RegisterCamera": INGEST,
    "/vigil.v1.CameraService/StopCamera": INGEST,
    "/vigil.v1.CameraService/GetCameraStatus": INGEST,
    "/vigil.v1.IngestService/IngestFile": INGEST,
    "/vigil.v1.IngestService/IngestUri": INGEST,
    "/vigil.v1.IngestService/GetJob": INGEST,
    "/vigil.v1.IngestService/WatchJob": INGEST,
    "/vigil.v1.AdminService/PlaceHold": INVESTIGATE,
    "/vigil.v1.AdminService/ListHolds": INVESTIGATE,
    "/vigil.v1.AdminService/ReleaseHold": ADMIN,
    "/vigil.v1.AdminService/RunRetention": ADMIN,
    "/vigil.v1.AdminService/CreateToken": ADMIN,
    "/vigil.v1.AdminService/RevokeToken": ADMIN,
    "/vigil.v1.AdminService/ListTokens": ADMIN,
    "/vigil.v1.AdminService/VerifyAudit": ADMIN,
    "/vigil.v1.AdminService/GetStats": ADMIN,
    "/vigil.v1.AdminService/SwitchModel": ADMIN,
    "/vigil.v1.AdminService/GetModelStatus": ADMIN,
}
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("vigil_principal")


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    return _principal.get()


def _bearer(metadata: tuple[Any, ...] | None) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return None


ANONYMOUS = Principal("anonymous", Role.ADMIN, frozenset({ALL_GROUPS}))


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every RPC; with `tokens=None` (auth disabled) every caller is ANONYMOUS."""

    def __init__(self, tokens: TokenStore | None, limiter: RateLimiter) -> None:
        self._tokens = tokens
        self._limiter = limiter

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        if self._tokens is None:
            return _with_principal(handler, ANONYMOUS)
        token = _bearer(details.invocation_metadata)
        try:
            principal = self._tokens.authenticate(token) if token else None
        except VigilError as exc:  # an expired token: UNAUTHENTICATED, saying so
            return _deny(handler, *status_for(exc))
        if principal is None:
            return _deny(handler, grpc.StatusCode.UNAUTHENTICATED,
                         "a valid bearer token is required (metadata 'authorization: Bearer …')")
        if principal.role not in PERMISSIONS.get(method, frozenset()):
            return _deny(handler, grpc.StatusCode.PERMISSION_DENIED,
                         f"role {principal.role.value!r} may not call {method.rsplit('/', 1)[-1]}")
        if not self._limiter.allow(principal.subject):
            return _deny(handler, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         "request rate limit reached for this token; retry shortly")
        return _with_principal(handler, principal)


@dataclass(frozen=True)
class _Malformed:
    """Stands in for a request message that could not be parsed."""


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserializer(data) if deserializer else data
        except DecodeError:
            return _Malformed()
    return parse


MALFORMED = "the request is not a valid protobuf message for this method"


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Malformed):
            raise InvalidArgumentError(MALFORMED)
        yield request


def _with_principal(handler: grpc.RpcMethodHandler, principal: Principal) -> grpc.RpcMethodHandler:
    """Run the servicer with the caller set; malformed messages get INVALID_ARGUMENT."""
    parse = _tolerant(handler.request_deserializer)
    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)
            _principal.set(principal)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, parse, handler.response_serializer)
    if handler.stream_unary:
        inner_s = handler.stream_unary

        async def stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            _principal.set(principal)
            return await inner_s(_checked(requests), context)

        return grpc.stream_unary_rpc_method_handler(stream, parse, handler.response_serializer)
    if handler.unary_stream:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)
            _principal.set(principal)
            async for response in inner_us(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(unary_stream, parse, handler.response_serializer)
    raise TypeError(f"unsupported handler kind for {handler}")


def _deny(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def abort(_: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(abort, handler.request_deserializer,
                                                    handler.response_serializer)
    if handler.unary_stream:
        async def abort_stream(_: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(code, message)
            yield  # pragma: no cover - makes this an async generator

        return grpc.unary_stream_rpc_method_handler(abort_stream, handler.request_deserializer,
                                                    handler.response_serializer)
    return grpc.unary_unary_rpc_method_handler(abort, handler.request_deserializer,
                                               handler.response_serializer)
