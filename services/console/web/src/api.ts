/**
 * The console's one way to the server: the session endpoints (`/session`), Vigil's own API over
 * the Connect protocol (`/api/vigil.v1.<Service>/<Method>`, unary JSON, clients generated from
 * protos/vigil/v1, every call carrying the session's CSRF token) and media URLs (`/media/…`,
 * cookie-authenticated GETs). The bearer token is sent once, to POST /session, and never kept.
 *
 * Errors become `ApiError`s with a translated lead-in and the server's own message. A 401 from
 * anywhere means the session is gone: the app is told (`onSessionLost`) and goes back to sign-in.
 */

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { DescMessage, DescMethod, DescService, JsonValue } from "@bufbuild/protobuf";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";

import { AdminService } from "./gen/vigil/v1/admin_pb";
import { CameraService } from "./gen/vigil/v1/cameras_pb";
import { IngestService } from "./gen/vigil/v1/ingest_pb";
import { PlaybackService } from "./gen/vigil/v1/playback_pb";
import { SearchService } from "./gen/vigil/v1/search_pb";
import { WatchService } from "./gen/vigil/v1/watch_pb";
import { t, type Key } from "./i18n";

export interface Session {
  csrf: string;
  principal: string;
  role: string;
  groups: string[];
  expiresAt: number; // ms since the epoch
}

export type ErrorKind = "unauthenticated" | "permission" | "notFound" | "tooMany" | "badRequest"
  | "unavailable" | "server" | "network";

const LEAD: Record<ErrorKind, Key> = {
  unauthenticated: "sessionExpired", permission: "noPermission", notFound: "notFound",
  tooMany: "tooMany", badRequest: "badRequest", unavailable: "unavailable", server: "serverError",
  network: "networkError",
};

/** A failed call, as the user should read it: `kind` picks the lead-in, `detail` is the server's. */
export class ApiError extends Error {
  constructor(readonly kind: ErrorKind, readonly detail: string, readonly status = 0) {
    super(detail);
  }

  /** "<lead-in>: <server message>" in the current language. */
  get text(): string {
    const lead = t(LEAD[this.kind]);
    return this.detail && this.detail !== lead ? `${lead}: ${this.detail}` : lead;
  }
}

let session: Session | null = null;
let sessionLost: (reason: ApiError) => void = () => undefined;

export function currentSession(): Session | null {
  return session;
}

export function onSessionLost(handler: (reason: ApiError) => void): void {
  sessionLost = handler;
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return "unauthenticated";
  if (status === 403) return "permission";
  if (status === 404) return "notFound";
  if (status === 429) return "tooMany";
  if (status === 503 || status === 502 || status === 504) return "unavailable";
  if (status >= 500) return "server";
  return "badRequest";
}

function kindOfCode(code: Code): ErrorKind {
  switch (code) {
    case Code.Unauthenticated: return "unauthenticated";
    case Code.PermissionDenied: return "permission";
    case Code.NotFound: return "notFound";
    case Code.ResourceExhausted: return "tooMany";
    case Code.InvalidArgument: case Code.FailedPrecondition: case Code.OutOfRange:
    case Code.AlreadyExists: case Code.Aborted: case Code.Canceled:
      return "badRequest";
    case Code.Unavailable: case Code.DeadlineExceeded: return "unavailable";
    default: return "server";
  }
}

/** Any thrown value as an ApiError; a 401 also ends the session in the app. */
export function toApiError(err: unknown): ApiError {
  let out: ApiError;
  if (err instanceof ApiError) {
    out = err;
  } else if (err instanceof ConnectError) {
    // connect-web reports a failed fetch (server gone) as Unknown/Unavailable with the
    // browser's TypeError message: name it as a network failure.
    const network = err.cause instanceof TypeError;
    out = new ApiError(network ? "network" : kindOfCode(err.code), network ? "" : err.rawMessage);
  } else if (err instanceof TypeError) {
    out = new ApiError("network", "");
  } else {
    out = new ApiError("server", err instanceof Error ? err.message : String(err));
  }
  if (out.kind === "unauthenticated" && session !== null) {
    session = null;
    sessionLost(out);
  }
  return out;
}

async function errorFromResponse(res: Response): Promise<ApiError> {
  let detail = "";
  try {
    const body = (await res.json()) as { message?: unknown };
    if (typeof body.message === "string") detail = body.message;
  } catch {
    detail = res.statusText;
  }
  return new ApiError(kindOfStatus(res.status), detail, res.status);
}

interface SessionJson {
  csrf: string; principal: string; role: string; groups?: string[]; expires_at: string;
}

function sessionOf(body: SessionJson): Session {
  return {
    csrf: body.csrf, principal: body.principal, role: body.role, groups: body.groups ?? [],
    expiresAt: Date.parse(body.expires_at),
  };
}

/** POST /session: exchange a bearer token for a session cookie (the token is not kept). */
export async function signIn(token: string): Promise<Session> {
  let res: Response;
  try {
    res = await fetch("/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    });
  } catch {
    throw new ApiError("network", "");
  }
  if (!res.ok) {
    const err = await errorFromResponse(res);
    // A refused token is not an expired session: say so in the sign-in form's own words.
    throw err.kind === "unauthenticated" ? new ApiError("unauthenticated", err.detail || t("badToken"), 401) : err;
  }
  session = sessionOf((await res.json()) as SessionJson);
  return session;
}

/** GET /session: the session this browser already has, or null (401). */
export async function resumeSession(): Promise<Session | null> {
  let res: Response;
  try {
    res = await fetch("/session", { credentials: "same-origin" });
  } catch {
    throw new ApiError("network", "");
  }
  if (res.status === 401) return null;
  if (!res.ok) throw await errorFromResponse(res);
  session = sessionOf((await res.json()) as SessionJson);
  return session;
}

/** DELETE /session (CSRF-checked): sign out; the cookie is cleared by the server. */
export async function signOut(): Promise<void> {
  const csrf = session?.csrf ?? "";
  session = null;
  try {
    await fetch("/session", { method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
  } catch {
    /* signed out here either way */
  }
}

const csrfHeader: Interceptor = (next) => async (req) => {
  if (session !== null) req.header.set("X-CSRF-Token", session.csrf);
  return next(req);
};

const transport = createConnectTransport({
  baseUrl: "/api",
  useBinaryFormat: false,
  interceptors: [csrfHeader],
  fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: "same-origin" }),
});

export const search: Client<typeof SearchService> = createClient(SearchService, transport);
export const playback: Client<typeof PlaybackService> = createClient(PlaybackService, transport);
export const cameras: Client<typeof CameraService> = createClient(CameraService, transport);
export const admin: Client<typeof AdminService> = createClient(AdminService, transport);
export const ingest: Client<typeof IngestService> = createClient(IngestService, transport);
export const watch: Client<typeof WatchService> = createClient(WatchService, transport);

/** Runs an API call, turning whatever it throws into an ApiError. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApiError(err);
  }
}

/**
 * RPCs that may or may not be in the protos this app was built from (e.g. SearchSimilar and
 * Follow): looked up by name in the generated service descriptor, called with a proto3-JSON
 * request, answered as proto3 JSON. `hasMethod` is false when the build's protos lack it.
 */
export function hasMethod(service: DescService, name: string): boolean {
  return service.methods.some((m) => m.name === name);
}

export type Json = { [key: string]: JsonValue };

export async function callByName(service: DescService, name: string, request: Json): Promise<Json> {
  const method: DescMethod | undefined = service.methods.find((m) => m.name === name);
  if (method === undefined || method.methodKind !== "unary") {
    throw new ApiError("badRequest", `${service.name}.${name} is not available on this server`);
  }
  const client = createClient(service, transport) as unknown as Record<string, (req: unknown) => Promise<unknown>>;
  const input = fromJson(method.input, request);
  const output = await call(() => client[method.localName](input));
  return toJson(method.output as DescMessage, output as never) as Json;
}

export { SearchService, PlaybackService };

export function tsMs(ts: Timestamp | undefined): number {
  return ts === undefined ? 0 : timestampDate(ts).getTime();
}

export function msTs(ms: number): Timestamp {
  return timestampFromMs(ms);
}

/** The /media URL of a stored object (segment or thumbnail), fetched with the session cookie. */
export function mediaUrl(kind: "segment" | "thumbnail", key: string): string {
  return `/media/${kind}?key=${encodeURIComponent(key)}`;
}

/** Why a media URL failed, asked again with a one-byte range (the video element does not say). */
export async function mediaError(url: string): Promise<ApiError> {
  try {
    const res = await fetch(url, { credentials: "same-origin", headers: { Range: "bytes=0-0" } });
    if (res.ok) return new ApiError("server", t("videoError"));
    return toApiError(await errorFromResponse(res));
  } catch {
    return new ApiError("network", "");
  }
}

/** Download URL of an export's file: its MP4 (`video_key`) or its manifest (`manifest_key`). */
export function exportUrl(key: string): string {
  return `/media/export?key=${encodeURIComponent(key)}`;
}
