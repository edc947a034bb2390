"""Who may call what: every RPC names the roles allowed; anything unlisted is denied.

The interceptor limits each client address, authenticates the bearer token,
checks the role, applies the per-token rate limit, and hands the `Principal`
to the servicer through a context variable set inside the handler's own task;
every call, allowed or refused, leaves one audit record (`rpc_audit`). It is also the one
place exceptions become statuses: whatever a servicer raises is mapped with
`services.errors.status_for` (caller-safe messages; INTERNAL is logged with its traceback).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError

from services.api.rpc_audit import (
    UNKNOWN_TOKEN,
    AuditedContext,
    RpcRecord,
    outcome_of,
    request_ids,
)
from services.errors import InvalidArgumentError, VigilError, status_for
from services.security.audit import AuditLog
from services.security.auth import NO_TOKEN, Principal, RateLimiter, Role, TokenStore, hash_token
from storage.keys import ALL_GROUPS

logger = logging.getLogger(__name__)
R = Role
VIEW = frozenset({R.VIEWER, R.INVESTIGATOR, R.ADMIN})
INVESTIGATE = frozenset({R.INVESTIGATOR, R.ADMIN})
INGEST = frozenset({R.INGEST, R.ADMIN})
ADMIN = frozenset({R.ADMIN})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "/vigil.v1.SearchService/Search": VIEW,
    "/vigil.v1.SearchService/SearchByImage": VIEW,
    "/vigil.v1.SearchService/SearchSimilar": VIEW,
    "/vigil.v1.SearchService/Follow": VIEW,
    "/vigil.v1.PlaybackService/GetPlaylist": VIEW,
    "/vigil.v1.PlaybackService/GetClipUrl": VIEW,
    "/vigil.v1.PlaybackService/ExportClip": INVESTIGATE,
    # Bytes of a visible camera's segment, thumbnail or export (the console's video and downloads).
    "/vigil.v1.PlaybackService/ReadMedia": VIEW,
    "/vigil.v1.PlaybackService/ListSegments": VIEW,
    "/vigil.v1.CameraService/GetCamera": VIEW | INGEST,
    "/vigil.v1.CameraService/ListCameras": VIEW | INGEST,
    "/vigil.v1.CameraService/RegisterCamera": INGEST,
    "/vigil.v1.CameraService/StopCamera": INGEST,
    "/vigil.v1.CameraService/GetCameraStatus": INGEST,
    "/vigil.v1.IngestService/IngestFile": INGEST,
    "/vigil.v1.IngestService/IngestUri": INGEST,
    "/vigil.v1.IngestService/GetJob": INGEST,
    "/vigil.v1.IngestService/WatchJob": INGEST,
    # Scoped like GetJob: only jobs of cameras the caller sees are listed.
    "/vigil.v1.IngestService/ListJobs": INGEST,
    "/vigil.v1.AdminService/PlaceHold": INVESTIGATE,
    "/vigil.v1.AdminService/ListHolds": INVESTIGATE,
    "/vigil.v1.AdminService/ReleaseHold": ADMIN,
    "/vigil.v1.AdminService/RunRetention": ADMIN,
    "/vigil.v1.AdminService/CreateToken": ADMIN,
    "/vigil.v1.AdminService/RevokeToken": ADMIN,
    "/vigil.v1.AdminService/ListTokens": ADMIN,
    "/vigil.v1.AdminService/VerifyAudit": ADMIN,
    "/vigil.v1.AdminService/GetAuditHead": ADMIN,
    "/vigil.v1.AdminService/GetStats": ADMIN,
    "/vigil.v1.AdminService/SwitchModel": ADMIN,
    "/vigil.v1.AdminService/GetModelStatus": ADMIN,
    # Watchlists: investigators create them (inside their groups); viewers follow the alerts of
    # cameras they see.
    "/vigil.v1.WatchService/AddWatch": INVESTIGATE,
    "/vigil.v1.WatchService/ListWatches": VIEW,
    "/vigil.v1.WatchService/RemoveWatch": INVESTIGATE,
    "/vigil.v1.WatchService/WatchAlerts": VIEW,
}
# Node-wide RPCs act on or report about every group at once: besides the role they need a
# token for all groups ('*'). A ward admin (groups limited) manages only its own groups.
NODE_WIDE = frozenset({
    "/vigil.v1.AdminService/RunRetention",
    "/vigil.v1.AdminService/VerifyAudit",
    "/vigil.v1.AdminService/GetAuditHead",
    "/vigil.v1.AdminService/GetStats",
    "/vigil.v1.AdminService/SwitchModel",
    "/vigil.v1.AdminService/GetModelStatus",
})
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
Refusal = tuple[grpc.StatusCode, str]
Admit = Callable[[RpcRecord], Awaitable[Principal | Refusal]]


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Limits, authenticates, authorises and audits every RPC of Vigil's services.

    In order, inside the handler: a per-peer rate limit (before the token is even looked at, so
    unauthenticated and refused calls are limited too), the token (a cache miss reads the bucket
    in a worker thread), the role, the per-token rate limit, the request's parse; then the
    servicer. Every call, allowed or refused, leaves exactly one audit record (`rpc_audit`),
    durable before its answer is sent; a stream's is written when it ends. With `tokens=None`
    (auth disabled) every caller is ANONYMOUS. Health and reflection (`OPEN_PREFIXES`) are open
    and not audited; unknown methods (UNIMPLEMENTED from gRPC itself) are not audited either.
    """

    def __init__(self, tokens: TokenStore | None, limiter: RateLimiter, audit: AuditLog | None = None,
                 peers: RateLimiter | None = None) -> None:
        self._tokens, self._limiter, self._audit, self._peers = tokens, limiter, audit, peers

    async def intercept_service(
            self,
            continuation: Callable[[grpc.HandlerCallDetails],
                                   Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        token = _bearer(details.invocation_metadata)

        def admit(record: RpcRecord) -> Awaitable[Principal | Refusal]:
            return self._admit(record, token)

        return _guarded(handler, method, self._audit, admit)

    async def _admit(self, record: RpcRecord, token: str | None) -> Principal | Refusal:
        """The caller, or why the call is refused; fills in the record's token id and caller."""
        record.token_id = UNKNOWN_TOKEN if token else NO_TOKEN  # until the token is looked up
        if self._peers is not None and not self._peers.allow(peer_address(record.peer)):
            return (grpc.StatusCode.RESOURCE_EXHAUSTED,
                    "request rate limit reached for this client address; retry shortly")
        if self._tokens is None:
            principal: Principal | None = ANONYMOUS
        else:
            try:
                principal = await _authenticate(self._tokens, token) if token else None
            except VigilError as exc:  # an expired token: UNAUTHENTICATED, saying so
                record.token_id = hash_token(token or "")  # a real token's id: nothing secret
                return status_for(exc)
        if principal is None:
            return (grpc.StatusCode.UNAUTHENTICATED,
                    "a valid bearer token is required (metadata 'authorization: Bearer …')")
        record.principal, record.token_id = principal, principal.token_id or NO_TOKEN
        if principal.role not in PERMISSIONS.get(record.method, frozenset()):
            return (grpc.StatusCode.PERMISSION_DENIED,
                    f"role {principal.role.value!r} may not call {record.method.rsplit('/', 1)[-1]}")
        if record.method in NODE_WIDE and not principal.all_cameras:
            return (grpc.StatusCode.PERMISSION_DENIED,
                    f"{record.method.rsplit('/', 1)[-1]} acts on every group: it needs a token for all "
                    "groups ('*')")
        if not self._limiter.allow(principal.token_id or principal.subject):
            return (grpc.StatusCode.RESOURCE_EXHAUSTED,
                    "request rate limit reached for this token; retry shortly")
        return principal


async def _authenticate(tokens: TokenStore, token: str) -> Principal | None:
    """The token's caller; a cache miss reads the bucket in a worker thread, off the event loop."""
    if tokens.cached(token):
        return tokens.authenticate(token)
    return await asyncio.to_thread(tokens.authenticate, token)


def peer_address(peer: str) -> str:
    """The client's address without its port ("ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7")."""
    if peer.startswith(("ipv4:", "ipv6:")):
        return peer.rsplit(":", 1)[0]
    return peer


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

# A grpc.aio server's handlers hold the servicer's coroutine (and async generator) functions;
# grpc's stubs type them as the sync API's callables. `_guarded` calls them with its context.
AsyncUnary = Callable[[Any, AuditedContext], Awaitable[Any]]
AsyncStreamUnary = Callable[[AsyncIterator[Any], AuditedContext], Awaitable[Any]]
AsyncUnaryStream = Callable[[Any, AuditedContext], AsyncIterator[Any]]


async def _checked(requests: AsyncIterator[Any], record: RpcRecord) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Malformed):
            raise InvalidArgumentError(MALFORMED)
        if not record.request:
            record.request = request_ids(request)  # a stream's header names the camera
        yield request


async def _enter(record: RpcRecord, context: grpc.aio.ServicerContext[Any, Any], admit: Admit,
                 request: Any = None) -> AuditedContext:
    """Admit the call (or write its record and abort); the servicer's context."""
    audited = AuditedContext(context, record.open())
    verdict = await admit(record)
    if isinstance(verdict, tuple):
        await audited.abort(*verdict)
    if isinstance(request, _Malformed):
        await audited.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)
    assert isinstance(verdict, Principal)
    _principal.set(verdict)
    return audited


async def _fail(exc: Exception, method: str, context: AuditedContext) -> None:
    """Abort with the status `exc` maps to (the record is written first); an abort passes through."""
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        logger.error("%s failed", method, exc_info=exc)
    await context.abort(code, message)


async def _answer(rec: RpcRecord, context: grpc.aio.ServicerContext[Any, Any], admit: Admit,
                  request: Any, call: Callable[[AuditedContext], Awaitable[Any]]) -> Any:
    """One unary answer: admit, call the servicer, map what it raises, record the outcome."""
    try:
        audited = await _enter(rec, context, admit, request)
        try:
            response = await call(audited)
        except Exception as exc:  # mapped to a status right here
            await _fail(exc, rec.method, audited)
            raise  # unreachable: abort raises
    except BaseException as exc:
        await rec.write(outcome_of(exc))
        raise
    await rec.write(grpc.StatusCode.OK)
    return response


def _guarded(handler: grpc.RpcMethodHandler[Any, Any], method: str, log: AuditLog | None,
             admit: Admit) -> grpc.RpcMethodHandler[Any, Any]:
    """Run the servicer behind `admit`, recording the call; malformed messages: INVALID_ARGUMENT;
    what the servicer raises becomes its status (`_fail`)."""
    parse = _tolerant(handler.request_deserializer)

    def record(context: grpc.aio.ServicerContext[Any, Any], request: Any = None) -> RpcRecord:
        return RpcRecord(method, context.peer(), log, request=request_ids(request))

    if handler.unary_unary:
        inner = cast(AsyncUnary, handler.unary_unary)

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            rec = record(context, request)
            return await _answer(rec, context, admit, request, lambda audited: inner(request, audited))

        return grpc.unary_unary_rpc_method_handler(unary, parse, handler.response_serializer)
    if handler.stream_unary:
        inner_s = cast(AsyncStreamUnary, handler.stream_unary)

        async def stream(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            rec = record(context)
            return await _answer(rec, context, admit, None,
                                 lambda audited: inner_s(_checked(requests, rec), audited))

        return grpc.stream_unary_rpc_method_handler(stream, parse, handler.response_serializer)
    if handler.unary_stream:
        inner_us = cast(AsyncUnaryStream, handler.unary_stream)

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            rec = record(context, request)
            try:
                audited = await _enter(rec, context, admit, request)
                try:
                    async for response in inner_us(request, audited):
                        yield response
                except Exception as exc:  # mapped to a status right here
                    await _fail(exc, method, audited)
                    raise  # unreachable: abort raises
            except BaseException as exc:
                await rec.write(outcome_of(exc))
                raise
            await rec.write(grpc.StatusCode.OK)

        return grpc.unary_stream_rpc_method_handler(unary_stream, parse, handler.response_serializer)
    raise TypeError(f"unsupported handler kind for {handler}")
