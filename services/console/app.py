"""The console's ASGI app: sessions, the Connect proxy, media and the built web app.

URLs (the contract with the browser app in services/console/web, /work/briefs/console-contract.md):

  POST   /session            JSON {"token": "<bearer>"} → 200 {"csrf", "principal", "role", "groups",
                             "expires_at"} and cookie `vigil_session` (HttpOnly; SameSite=Strict;
                             Secure under TLS; Path=/); a bad, expired or revoked token → 401
                             {"code": "unauthenticated", "message"}; 429 when signing in too often.
  GET    /session            the same JSON (csrf included), or 401 (no session, or it expired).
  DELETE /session            signs out (header X-CSRF-Token) → 204, cookie cleared.
  POST   /api/vigil.v1.<Service>/<Method>
                             Connect unary JSON (Content-Type: application/json), header
                             X-CSRF-Token, cookie; any method of any vigil.v1 service. Answers the
                             response message as proto3 JSON, or {"code", "message"} with Connect's
                             HTTP status (400, 401, 403, 404, 409, 429, 500, 501, 503, 504).
                             Server-streaming methods (IngestService/WatchJob, and any added later):
                             Content-Type application/connect+json with Connect's envelopes.
  GET    /media/segment?key=segments/…/….mp4
  GET    /media/thumbnail?key=thumbnails/…/….jpg
  GET    /media/export?key=exports/<export_id>/<camera_id>.mp4   (or .json: the clip's manifest)
  GET    /media/playlist.m3u8?camera=<id>&start=<RFC 3339>&end=<RFC 3339>
                             HLS (v7, fMP4 byte ranges) of the camera's footage in the range, its
                             segment URLs this console's /media/segment (GetPlaylist url_prefix).
                             The object's bytes through PlaybackService.ReadMedia with the session's
                             rights; Range → 206 with Content-Range; an export comes as an
                             attachment. No CSRF header (GET); errors as {"code", "message"}.
                             The keys are the ones the API answers: SearchHit.segment_key /
                             thumbnail_key, ExportedClip.video_key / manifest_key.
  GET    /  and /assets/…    the built app (services/console/web/dist); a page saying how to build
                             it when dist is missing.

Every response carries a strict Content-Security-Policy (self only: no CDN, no inline script),
nosniff, no-referrer and frame-ancestors 'none'. Every state-changing request needs the CSRF
header of its session (sign-in needs JSON and, when the browser sends one, a same-origin Origin).
Bodies are capped at `console.max_body_kb` (413). 401 answers clear the cookie.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console import media
from services.console.connect import (
    END_STREAM,
    ConnectError,
    Method,
    Upstream,
    envelope,
    parse_request,
    timeout_of,
    to_json,
    unenvelope,
    vigil_methods,
)
from services.console.sessions import Session, SessionStore
from services.security.auth import Principal
from vigil.v1 import playback_pb2

logger = logging.getLogger(__name__)
COOKIE = "vigil_session"
CSRF_HEADER = "x-csrf-token"
READ_MEDIA = "vigil.v1.PlaybackService/ReadMedia"
GET_PLAYLIST = "vigil.v1.PlaybackService/GetPlaylist"
SEGMENT_URL = "/media/segment?key="
MAX_TOKEN_CHARS = 512  # Vigil's tokens are 43; anything much longer is not one
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml",
         ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2", ".wasm": "application/wasm",
         ".txt": "text/plain; charset=utf-8", ".webmanifest": "application/manifest+json"}
NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Vigil console</title>
<h1>The console's web app is not built</h1>
<p>Run <code>make install</code> (it runs <code>npm ci &amp;&amp; npm run build</code> in
<code>services/console/web</code>), then reload this page.</p>
<p lang="vi">Giao diện web chưa được build: chạy <code>make install</code> rồi tải lại trang.</p></html>
"""


@dataclass(frozen=True)
class Identity:
    """Who a bearer token is (`services.security.auth`), and when it expires (unix s; None: never)."""
    principal: Principal
    expires: float | None


# Raises ConnectError('unauthenticated', …) for a bad, expired or revoked token.
Identify = Callable[[str], Awaitable[Identity]]
Audit = Callable[[str, str, dict[str, object]], Awaitable[None]]  # subject, action, details


@dataclass(frozen=True)
class ConsoleConfig:
    dist: Path
    secure: bool  # served over TLS: the cookie is Secure
    max_body: int  # bytes
    sessions: SessionStore
    upstream: Upstream
    identify: Identify
    audit: Audit
    allow_sign_in: Callable[[str], bool]  # per client address (a rate limiter)


class _SecurityHeaders:
    """Adds the CSP and its companions to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)
        await self._app(scope, receive, with_headers if scope["type"] == "http" else send)


def error(err: ConnectError, streaming: bool = False) -> Response:
    if streaming:  # Connect streams always answer 200; the error ends the stream
        return Response(envelope(json.dumps({"error": err.body()}).encode(), END_STREAM),
                        media_type="application/connect+json")
    response = JSONResponse(err.body(), status_code=err.http_status)
    if err.code == "unauthenticated":
        response.delete_cookie(COOKIE, path="/")
    return response


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past `limit` bytes whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ConnectError("resource_exhausted", f"the request body ({declared} bytes) is larger than "
                           f"the console's limit of {limit} bytes (console.max_body_kb)", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ConnectError("resource_exhausted", f"the request body is larger than the console's "
                               f"limit of {limit} bytes (console.max_body_kb)", 413)
    return bytes(body)


class Console:
    """The routes over one `ConsoleConfig`."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self.methods = vigil_methods()

    # -- sessions ---------------------------------------------------------------------------------

    def session(self, request: Request) -> Session:
        cookie = request.cookies.get(COOKIE)
        session = self.config.sessions.get(cookie)
        if session is None:
            raise ConnectError("unauthenticated", "your console session has expired or was signed out; "
                               "sign in again" if cookie else "sign in with a bearer token first")
        return session

    def checked(self, request: Request) -> Session:
        """The session of a state-changing request, whose CSRF header must match it."""
        session = self.session(request)
        if not session.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise ConnectError("permission_denied", "missing or wrong X-CSRF-Token header: send the csrf "
                               "value that POST /session or GET /session answered")
        return session

    async def sign_in(self, request: Request) -> Response:
        c = self.config
        client = request.client.host if request.client else "unknown"
        try:
            token = await self._sign_in_token(request, client)
        except ConnectError as refused:  # a refusal `identify` does not see is audited here
            await c.audit("", "console_sign_in_refused", {"client": client, "reason": refused.message})
            raise
        who = await c.identify(token)
        if previous := request.cookies.get(COOKIE):  # signing in again replaces the session
            c.sessions.end(previous)
        session = c.sessions.create(token, who.principal, who.expires)
        await c.audit(who.principal.subject, "console_sign_in",
                      {"client": client, "token_id": who.principal.token_id,
                       "expires_at": session.expires_iso()})
        response = JSONResponse(session.public())
        # A browser-session cookie: the expiry is the server's (an expired id is answered "expired").
        response.set_cookie(COOKIE, session.session_id, path="/", secure=c.secure, httponly=True,
                            samesite="strict")
        return response

    async def _sign_in_token(self, request: Request, client: str) -> str:
        """The token a sign-in request carries, once the request passed every check but the token's."""
        c = self.config
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ConnectError("invalid_argument", 'POST /session takes JSON: {"token": "<bearer token>"}')
        origin = request.headers.get("origin")  # its host must be ours (a TLS proxy may change the scheme)
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise ConnectError("permission_denied", f"sign-in from another origin ({origin[:80]}) refused")
        if not c.allow_sign_in(client):
            raise ConnectError("resource_exhausted", "too many sign-in attempts from this address; "
                               "retry shortly")
        try:
            token = json.loads(await read_body(request, c.max_body))["token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token.strip():
            raise ConnectError("invalid_argument", 'POST /session takes JSON: {"token": "<bearer token>"}')
        if len(token) > MAX_TOKEN_CHARS:
            raise ConnectError("unauthenticated", f"this is not a Vigil token (longer than {MAX_TOKEN_CHARS} "
                               "characters)")
        return token.strip()

    async def session_route(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                return await self.sign_in(request)
            if request.method == "GET":
                return JSONResponse(self.session(request).public())
            session = self.checked(request)
            self.config.sessions.end(session.session_id)
            await self.config.audit(session.principal.subject, "console_sign_out", {})
            response = Response(status_code=204)
            response.delete_cookie(COOKIE, path="/")
            return response
        except ConnectError as err:
            return error(err)

    # -- the Connect proxy ------------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        name = f"{request.path_params['service']}/{request.path_params['method']}"
        method = self.methods.get(name)
        content_type = request.headers.get("content-type", "")
        streaming = content_type.startswith("application/connect+json")
        try:
            if not streaming and not content_type.startswith("application/json"):
                raise ConnectError("unimplemented", f"Content-Type {content_type[:60]!r} is not spoken here: "
                                   "send application/json (unary) or application/connect+json (streams)", 415)
            if method is None:
                raise ConnectError("unimplemented", f"no method {name[:120]!r} in Vigil's API")
            if method.client_streaming:
                raise ConnectError("unimplemented", f"{name} streams from the client, which a browser "
                                   "cannot do over Connect; use the gRPC API")
            session = self.checked(request)
            if method.server_streaming != streaming:
                want = "application/connect+json" if method.server_streaming else "application/json"
                raise ConnectError("invalid_argument", f"{name} takes Content-Type {want}")
            body = await read_body(request, self.config.max_body)
            timeout = timeout_of(request.headers.get("connect-timeout-ms"))
            if streaming:
                message = parse_request(method, unenvelope(body))
                return self._stream(method, message, session, timeout)
            answer = await self.config.upstream.unary(method, parse_request(method, body), session.token,
                                                      timeout)
            return Response(to_json(answer), media_type="application/json")
        except ConnectError as err:
            self._forget_if_revoked(err, request)
            return error(err, streaming and method is not None and method.server_streaming)

    def _stream(self, method: Method, message: object, session: Session,
                timeout: float | None) -> Response:
        async def body() -> AsyncIterator[bytes]:
            end: dict[str, object] = {}
            try:
                async for answer in self.config.upstream.stream(method, message, session.token,  # type: ignore[arg-type]
                                                                timeout):
                    yield envelope(to_json(answer))
            except ConnectError as err:
                end = {"error": err.body()}
            yield envelope(json.dumps(end).encode(), END_STREAM)
        return StreamingResponse(body(), media_type="application/connect+json")

    def _forget_if_revoked(self, err: ConnectError, request: Request) -> None:
        """The node no longer takes the session's token (revoked, expired): end the session."""
        if err.code == "unauthenticated" and (cookie := request.cookies.get(COOKIE)):
            self.config.sessions.end(cookie)

    # -- media ------------------------------------------------------------------------------------

    async def media_route(self, request: Request) -> Response:
        kind, key = request.path_params["kind"], request.query_params.get("key", "")
        try:
            media.check_kind(kind, key)
            session = self.session(request)
            wanted = media.parse_range(request.headers.get("range"))
            byte_range = wanted or media.ByteRange()
            if byte_range.suffix:  # bytes=-n: the object's size first
                size = (await self._first(key, session, 0, 1))[0].total_size
                byte_range = media.ByteRange(max(0, size - byte_range.suffix), 0)
            head, first, rest = await self._open(key, session, byte_range)
        except ConnectError as err:
            self._forget_if_revoked(err, request)
            if err.code == "out_of_range":
                return JSONResponse(err.body(), status_code=416)
            return error(err)
        return StreamingResponse(media.prepend(first, rest), status_code=206 if wanted else 200,
                                 media_type=head.content_type,
                                 headers=media.headers(head, wanted is not None, kind, key))

    async def _first(self, key: str, session: Session, offset: int, length: int,
                     ) -> tuple[playback_pb2.MediaChunk, AsyncIterator[playback_pb2.MediaChunk]]:
        request = playback_pb2.ReadMediaRequest(key=key, offset=offset, length=length)
        chunks = self.config.upstream.stream(self.methods[READ_MEDIA], request, session.token)
        first = await anext(aiter(chunks))  # the node's refusal, if any, comes here
        assert isinstance(first, playback_pb2.MediaChunk)
        return first, chunks  # type: ignore[return-value]

    async def _open(self, key: str, session: Session, r: media.ByteRange,
                    ) -> tuple[media.MediaHead, bytes, AsyncIterator[bytes]]:
        first, chunks = await self._first(key, session, r.offset, r.length)
        end = min(first.total_size, r.offset + r.length) if r.length else first.total_size
        head = media.MediaHead(first.content_type, first.total_size, r.offset, end)

        async def rest() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk.data
        return head, first.data, rest()

    async def playlist(self, request: Request) -> Response:
        """An HLS playlist whose segment URLs are this console's /media/segment (GetPlaylist with
        url_prefix): byte ranges of each segment, played with the session's rights."""
        q = request.query_params
        try:
            session = self.session(request)
            message = playback_pb2.GetPlaylistRequest(camera_id=q.get("camera", ""), url_prefix=SEGMENT_URL)
            try:
                message.time_range.start.FromJsonString(q.get("start", ""))
                message.time_range.end.FromJsonString(q.get("end", ""))
            except ValueError:
                raise ConnectError("invalid_argument", "start and end must be RFC 3339 times, e.g. "
                                   "2026-12-03T10:00:00Z") from None
            answer = await self.config.upstream.unary(self.methods[GET_PLAYLIST], message, session.token)
        except ConnectError as err:
            self._forget_if_revoked(err, request)
            return error(err)
        assert isinstance(answer, playback_pb2.GetPlaylistResponse)
        return Response(answer.m3u8, media_type="application/vnd.apple.mpegurl",
                        headers={"Cache-Control": "no-store"})

    # -- the web app ------------------------------------------------------------------------------

    async def static(self, request: Request) -> Response:
        path = request.path_params.get("path", "") or "index.html"
        dist = self.config.dist.resolve()
        if not (dist / "index.html").is_file():
            return HTMLResponse(NOT_BUILT, status_code=503)
        file = (dist / path).resolve()
        if not file.is_relative_to(dist) or not file.is_file():
            return JSONResponse({"code": "not_found", "message": f"no such page {path[:80]!r}"},
                                status_code=404)
        media_type = (TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
                      or "application/octet-stream")
        cache = "no-cache" if file.name == "index.html" else "public, max-age=3600"
        return FileResponse(file, media_type=media_type, headers={"Cache-Control": cache})


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Anything no route mapped: logged with its traceback, answered as Connect's `internal`."""
    logger.error("console: %s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"code": "internal", "message": "console error (see the server log)"},
                        status_code=500)


def create_app(config: ConsoleConfig) -> ASGIApp:
    """The console as an ASGI app (served by `services.console.server`)."""
    console = Console(config)
    app = Starlette(exception_handlers={Exception: _unexpected}, routes=[
        Route("/session", console.session_route, methods=["GET", "POST", "DELETE"]),
        Route("/api/{service}/{method}", console.api, methods=["POST"]),
        Route("/media/playlist.m3u8", console.playlist, methods=["GET"]),
        Route("/media/{kind}", console.media_route, methods=["GET"]),
        Route("/{path:path}", console.static, methods=["GET", "HEAD"]),
    ])
    return _SecurityHeaders(app)
