/**
 * The player: a hit's stored segment played by the browser's <video> from /media/segment
 * (through Vigil with the session's rights, byte ranges for seeking — never an S3 URL), started
 * at the hit's best frame; a timeline of that camera around the hit with the recorded spans, the
 * gaps and the neighbouring hits of the current results; playback runs on across segments.
 *
 * The timeline comes from PlaybackService.ListSegments: each stored segment's key and wall-clock
 * span, and the holes between them (no URLs are presigned for it).
 */

import { call, mediaError, mediaUrl, msTs, playback, tsMs } from "../api";
import { h, replace } from "../dom";
import { fmtClock, fmtTime, t } from "../i18n";
import { hitId, type Hit } from "../hits";
import { cameraName, store } from "../store";
import { fmtScore, section, statusLine } from "./common";

const WINDOWS_MIN = [1, 2, 5, 15, 30]; // the timeline's choices, each side of the hit
let windowMin = 2;
const JOIN_MS = 100; // segments closer than this are one recorded span (as the server's gaps)

export interface Segment { key: string; startMs: number; endMs: number }

let active: { video: HTMLVideoElement; teardown: () => void } | null = null;

/**
 * The player's address for a hit: `#/player?camera=…&frame=…&key=…&from=…&to=…&start=…&end=…&score=…`
 * (times in ms), so a reload, the browser's Back and a link passed to a colleague with the same
 * rights open the same footage.
 */
export function playerHash(hit: Hit): string {
  const q = new URLSearchParams({
    camera: hit.cameraId, frame: String(hit.frameMs), key: hit.segmentKey,
    from: String(hit.segmentStartMs), to: String(hit.segmentEndMs),
    start: String(hit.startMs), end: String(hit.endMs), score: String(hit.score),
  });
  return `#/player?${q.toString()}`;
}

/** Opens the player on a hit. */
export function play(hit: Hit): void {
  store.playing = hit;
  location.hash = playerHash(hit);
}

/** The hit the address names (the one in the store when it is that one: it keeps its thumbnail). */
function hitFromHash(): Hit | null {
  const at = location.hash.indexOf("?");
  if (at < 0) return store.playing;
  const q = new URLSearchParams(location.hash.slice(at + 1));
  const num = (name: string): number => Number(q.get(name) ?? "0") || 0;
  const camera = q.get("camera") ?? "";
  const key = q.get("key") ?? "";
  if (camera === "" || key === "" || num("frame") === 0) return store.playing;
  const current = store.playing;
  if (current && current.cameraId === camera && current.frameMs === num("frame")) return current;
  return {
    cameraId: camera, frameMs: num("frame"), segmentKey: key, segmentStartMs: num("from"),
    segmentEndMs: num("to"), startMs: num("start") || num("frame"), endMs: num("end") || num("frame"),
    score: num("score"), thumbnailKey: "", frames: 1, box: null,
  };
}

/** Stops the video (leaving the player screen or signing out). */
export function stopPlayer(): void {
  if (active) {
    active.teardown();
    active = null;
  }
}

export function renderPlayer(main: HTMLElement): void {
  stopPlayer();
  const hit = hitFromHash();
  store.playing = hit;
  const back = h("a", { href: "#/search", class: "back" }, t("back"));
  if (hit === null) {
    replace(main, h("h1", { tabindex: -1 }, t("playerTitle")), h("p", {}, t("noHitSelected")), back);
    return;
  }
  const status = statusLine("player-status");
  const video = h("video", {
    id: "player-video", controls: true, muted: true, playsinline: true, preload: "auto",
    "aria-label": `${t("playerTitle")}: ${cameraName(hit.cameraId)}, ${fmtTime(hit.frameMs)}`,
  });
  video.muted = true; // autoplay is allowed muted; the controls unmute
  const now = h("p", { class: "now", id: "now-playing", "aria-live": "off" });
  const prev = h("button", { type: "button", id: "prev-segment", disabled: true }, t("prevSegment"));
  const next = h("button", { type: "button", id: "next-segment", disabled: true }, t("nextSegment"));
  const timeline = h("div", { class: "timeline-area", id: "timeline" }, h("p", {}, t("loading")));
  const span = h("select", { id: "timeline-window" }, ...WINDOWS_MIN.map((m) =>
    h("option", { value: m, selected: m === windowMin }, `± ${m} ${t("minutes")}`)));
  span.addEventListener("change", () => {
    windowMin = Number(span.value);
    renderPlayer(main);
    (main.querySelector("#timeline-window") as HTMLElement | null)?.focus();
  });
  replace(main,
    h("h1", { tabindex: -1 }, `${t("playerTitle")} — ${cameraName(hit.cameraId)}`), back,
    h("div", { class: "player" },
      h("div", { class: "video-wrap" }, video),
      h("div", { class: "player-side" },
        h("dl", { class: "meta" },
          h("dt", {}, t("camera")), h("dd", {}, cameraName(hit.cameraId)),
          h("dt", {}, t("time")), h("dd", {}, `${fmtTime(hit.startMs)} – ${fmtClock(hit.endMs)}`),
          h("dt", {}, t("score")), h("dd", {}, fmtScore(hit.score))),
        now, h("div", { class: "row" }, prev, next), status.el)),
    section(t("timeline"), "timeline-title",
      h("div", { class: "row" }, h("label", { for: "timeline-window" }, t("timelineWindow")), span), timeline));

  let segments: Segment[] = [{ key: hit.segmentKey, startMs: hit.segmentStartMs || hit.frameMs, endMs: hit.segmentEndMs || hit.endMs }];
  let index = 0;
  let seekTo = Math.max(0, hit.frameMs - segments[0].startMs) / 1000;
  let cursor: HTMLElement | null = null;
  const windowStart = hit.frameMs - windowMin * 60_000;
  const windowEnd = hit.frameMs + windowMin * 60_000;

  const load = (i: number, offsetS: number, autoplay = true): void => {
    index = i;
    seekTo = offsetS;
    prev.disabled = index <= 0;
    next.disabled = index >= segments.length - 1;
    video.src = mediaUrl("segment", segments[index].key);
    if (autoplay) video.autoplay = true;
  };
  const onMeta = (): void => {
    if (seekTo > 0 && seekTo < video.duration) video.currentTime = seekTo;
    seekTo = 0;
    void video.play().catch(() => undefined); // refused autoplay: the controls remain
  };
  const onTime = (): void => {
    const seg = segments[index];
    const wall = seg.startMs + video.currentTime * 1000;
    now.textContent = `${t("nowPlaying")}: ${fmtTime(wall)}`;
    now.dataset.wallMs = String(Math.round(wall));
    if (cursor) cursor.style.left = `${pct(wall)}%`;
  };
  const onEnded = (): void => {
    if (index < segments.length - 1) load(index + 1, 0);
  };
  const onError = (): void => {
    const src = video.currentSrc || video.src;
    if (src) void mediaError(src).then((err) => status.error(err));
  };
  video.addEventListener("loadedmetadata", onMeta);
  video.addEventListener("timeupdate", onTime);
  video.addEventListener("ended", onEnded);
  video.addEventListener("error", onError);
  prev.addEventListener("click", () => { if (index > 0) load(index - 1, 0); });
  next.addEventListener("click", () => { if (index < segments.length - 1) load(index + 1, 0); });
  active = {
    video,
    teardown: () => {
      video.removeEventListener("error", onError);
      video.pause();
      video.removeAttribute("src");
      video.load();
    },
  };
  const pct = (ms: number): number => Math.min(100, Math.max(0, ((ms - windowStart) / (windowEnd - windowStart)) * 100));
  load(0, seekTo);

  const playAt = (ms: number): void => {
    const i = segments.findIndex((s) => s.startMs <= ms && ms < s.endMs);
    if (i >= 0) load(i, (ms - segments[i].startMs) / 1000);
  };

  call(() => playback.listSegments({ cameraId: hit.cameraId, timeRange: { start: msTs(windowStart), end: msTs(windowEnd) } })).then(
    (res) => {
      const listed = res.segments.map((g) => ({ key: g.segmentKey, startMs: tsMs(g.timeRange?.start), endMs: tsMs(g.timeRange?.end) }));
      if (listed.length === 0) {
        replace(timeline, h("p", { class: "notice", id: "no-footage" }, t("noFootage")));
        return;
      }
      const playingKey = segments[index].key;
      const offset = video.currentTime;
      segments = listed;
      const i = segments.findIndex((s) => s.key === playingKey);
      if (i >= 0) {
        index = i;
        prev.disabled = index <= 0;
        next.disabled = index >= segments.length - 1;
      } else {
        load(0, offset);
      }
      const gaps = res.gaps.map((g) => ({ startMs: tsMs(g.start), endMs: tsMs(g.end) }));
      cursor = drawTimeline(timeline, hit, segments, gaps, windowStart, windowEnd, pct, playAt);
    },
    (err: unknown) => {
      replace(timeline, h("p", { class: "notice" }, t("noFootage")));
      status.error(err);
    });
}

function drawTimeline(area: HTMLElement, hit: Hit, segments: Segment[], gaps: Array<{ startMs: number; endMs: number }>,
  start: number, end: number, pct: (ms: number) => number, playAt: (ms: number) => void): HTMLElement {
  const bar = h("div", { class: "timeline", role: "group", "aria-label": t("timeline") });
  const place = (el: HTMLElement, from: number, to: number): HTMLElement => {
    el.style.left = `${pct(from)}%`;
    el.style.width = `${Math.max(0.4, pct(to) - pct(from))}%`;
    return el;
  };
  // Recorded spans: consecutive segments joined; before the first and after the last is no footage.
  const spans: Array<{ startMs: number; endMs: number }> = [];
  for (const s of segments) {
    const last = spans[spans.length - 1];
    if (last && s.startMs - last.endMs <= JOIN_MS) last.endMs = Math.max(last.endMs, s.endMs);
    else spans.push({ startMs: s.startMs, endMs: s.endMs });
  }
  const holes = [...gaps];
  if (spans.length > 0) {
    if (spans[0].startMs > start) holes.push({ startMs: start, endMs: spans[0].startMs });
    if (spans[spans.length - 1].endMs < end) holes.push({ startMs: spans[spans.length - 1].endMs, endMs: end });
  }
  for (const g of holes) {
    if (g.endMs <= start || g.startMs >= end) continue;
    const label = `${t("gap")}: ${fmtClock(g.startMs)} – ${fmtClock(g.endMs)}`;
    bar.append(place(h("div", { class: "gap", title: label, role: "img", "aria-label": label }), g.startMs, g.endMs));
  }
  for (const s of spans) {
    const label = `${t("recorded")}: ${fmtClock(s.startMs)} – ${fmtClock(s.endMs)}`;
    const span = place(h("button", { type: "button", class: "span", title: label, "aria-label": label }), s.startMs, s.endMs);
    span.addEventListener("click", (event) => {
      const rect = span.getBoundingClientRect();
      const frac = event instanceof MouseEvent && event.detail > 0 && rect.width > 0 ? (event.clientX - rect.left) / rect.width : 0;
      playAt(Math.min(s.endMs - 1, s.startMs + frac * (s.endMs - s.startMs)));
    });
    bar.append(span);
  }
  const neighbours = (store.results?.hits ?? []).filter((o) => o.cameraId === hit.cameraId && o.frameMs >= start && o.frameMs <= end);
  if (!neighbours.some((o) => hitId(o) === hitId(hit))) neighbours.push(hit);
  for (const o of neighbours) {
    const mine = hitId(o) === hitId(hit);
    const label = `${mine ? t("thisHit") : t("otherHits")}: ${fmtClock(o.frameMs)} (${t("score")} ${fmtScore(o.score)})`;
    const marker = h("button", { type: "button", class: mine ? "marker current" : "marker", title: label, "aria-label": label });
    marker.style.left = `${pct(o.frameMs)}%`;
    marker.addEventListener("click", () => {
      if (mine) {
        playAt(o.frameMs);
      } else {
        play(o);
      }
    });
    bar.append(marker);
  }
  const cursor = h("div", { class: "cursor", "aria-hidden": "true" });
  bar.append(cursor);
  const ticks = h("div", { class: "ticks", "aria-hidden": "true" });
  for (let i = 0; i <= 4; i++) {
    const ms = start + ((end - start) * i) / 4;
    const tick = h("span", {}, fmtClock(ms));
    tick.style.left = `${i * 25}%`;
    ticks.append(tick);
  }
  const legend = h("ul", { class: "legend" },
    h("li", {}, h("span", { class: "key span" }), t("recorded")),
    h("li", {}, h("span", { class: "key gap" }), t("gap")),
    h("li", {}, h("span", { class: "key marker current" }), t("thisHit")),
    h("li", {}, h("span", { class: "key marker" }), t("otherHits")));
  replace(area, bar, ticks, legend);
  return cursor;
}
