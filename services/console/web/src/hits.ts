/**
 * A hit as the console shows it, whichever RPC produced it (Search, SearchByImage,
 * SearchSimilar, a Follow step): read from the message's proto3 JSON, so fields a newer proto
 * adds (e.g. a hit's `box`) are picked up without this app's types knowing them.
 */

import type { JsonValue } from "@bufbuild/protobuf";

/** A region of the frame, each edge a fraction of the width or height (0..1). */
export interface Box { x0: number; y0: number; x1: number; y1: number }

export interface Hit {
  cameraId: string;
  startMs: number;
  endMs: number;
  frameMs: number;
  score: number;
  segmentKey: string;
  thumbnailKey: string;
  frames: number;
  segmentStartMs: number;
  segmentEndMs: number;
  box: Box | null;
}

type Obj = { [key: string]: JsonValue };

function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(v: JsonValue | undefined): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v !== "" && !Number.isNaN(Number(v))) return Number(v);
  return 0;
}

function str(v: JsonValue | undefined): string {
  return typeof v === "string" ? v : "";
}

function time(v: JsonValue | undefined): number {
  return typeof v === "string" ? Date.parse(v) : 0;
}

/** The box of a JSON message, under whichever of the usual edge names it uses; null if none. */
export function boxOf(v: JsonValue | undefined): Box | null {
  if (!isObj(v)) return null;
  const pick = (...names: string[]): number | undefined => {
    for (const n of names) if (n in v) return num(v[n]);
    return undefined;
  };
  const x0 = pick("x0", "left", "xMin") ?? 0;
  const y0 = pick("y0", "top", "yMin") ?? 0;
  const x1 = pick("x1", "right", "xMax");
  const y1 = pick("y1", "bottom", "yMax");
  if (x1 === undefined || y1 === undefined) return null;
  const clamp = (n: number): number => Math.min(1, Math.max(0, n));
  const box = { x0: clamp(x0), y0: clamp(y0), x1: clamp(x1), y1: clamp(y1) };
  if (box.x1 <= box.x0 || box.y1 <= box.y0) return null;
  // The whole frame is no region worth drawing.
  if (box.x0 === 0 && box.y0 === 0 && box.x1 === 1 && box.y1 === 1) return null;
  return box;
}

/** A hit from a SearchHit's (or a similar step's) proto3 JSON. */
export function hitOf(j: JsonValue): Hit {
  const o: Obj = isObj(j) ? j : {};
  const frameMs = time(o.frameTime);
  const startMs = time(o.startTime) || frameMs;
  return {
    cameraId: str(o.cameraId),
    startMs,
    endMs: time(o.endTime) || startMs,
    frameMs: frameMs || startMs,
    score: num(o.score),
    segmentKey: str(o.segmentKey),
    thumbnailKey: str(o.thumbnailKey),
    frames: num(o.frames) || 1,
    segmentStartMs: time(o.segmentStartTime),
    segmentEndMs: time(o.segmentEndTime),
    box: boxOf(o.box),
  };
}

/** The hits of a response: the first repeated message field of hit-like objects it holds. */
export function hitsOf(response: Obj): Hit[] {
  for (const value of Object.values(response)) {
    if (Array.isArray(value) && value.length > 0 && isObj(value[0]) && "cameraId" in value[0]) {
      return value.map(hitOf);
    }
  }
  return [];
}

/** A stable identity of a hit (camera + best frame), for the export basket and markers. */
export function hitId(hit: Hit): string {
  return `${hit.cameraId}@${hit.frameMs}`;
}
