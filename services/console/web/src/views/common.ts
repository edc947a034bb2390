/** Pieces several screens share: the camera list, status lines, a hit's card and its thumbnail. */

import { ApiError, call, cameras, mediaUrl, toApiError } from "../api";
import { h, type Child } from "../dom";
import { fmtTime, t } from "../i18n";
import type { Hit } from "../hits";
import { cameraName, store } from "../store";

/** The caller's cameras (ListCameras answers only those the session may see), loaded once. */
export async function loadCameras(force = false): Promise<void> {
  if (store.camerasLoaded && !force) return;
  const res = await call(() => cameras.listCameras({}));
  store.cameras = [...res.cameras].sort((a, b) => a.cameraId.localeCompare(b.cameraId));
  store.camerasLoaded = true;
}

export function groupsOf(): string[] {
  return [...new Set(store.cameras.map((c) => c.group).filter((g) => g !== ""))].sort();
}

/** A live region for progress and errors: `busy`, `error`, `info` or clear. */
export function statusLine(id: string): {
  el: HTMLElement; busy(text: string): void; info(text: string): void; error(err: unknown): void; clear(): void;
} {
  const el = h("p", { id, class: "notice", role: "status", "aria-live": "polite" });
  const set = (text: string, cls: string, role: string): void => {
    el.textContent = text;
    el.className = `notice ${cls}`;
    el.setAttribute("role", role);
  };
  return {
    el,
    busy: (text) => set(text, "busy", "status"),
    info: (text) => set(text, "info", "status"),
    error: (err) => set((err instanceof ApiError ? err : toApiError(err)).text, "error", "alert"),
    clear: () => set("", "", "status"),
  };
}

/** A thumbnail with the hit's box drawn over it (positioned in % of the image). */
export function thumbnail(hit: Hit): HTMLElement {
  const alt = `${cameraName(hit.cameraId)} — ${fmtTime(hit.frameMs)}`;
  const img = h("img", { src: mediaUrl("thumbnail", hit.thumbnailKey), alt, loading: "lazy", decoding: "async" });
  const wrap = h("div", { class: "thumb" }, img);
  img.addEventListener("error", () => wrap.classList.add("missing"), { once: true });
  if (hit.box) {
    const box = h("div", { class: "box", "aria-hidden": "true" });
    box.style.left = `${hit.box.x0 * 100}%`;
    box.style.top = `${hit.box.y0 * 100}%`;
    box.style.width = `${(hit.box.x1 - hit.box.x0) * 100}%`;
    box.style.height = `${(hit.box.y1 - hit.box.y0) * 100}%`;
    wrap.append(box);
  }
  return wrap;
}

export function fmtScore(score: number): string {
  return score.toFixed(3);
}

export function hitMeta(hit: Hit): HTMLElement {
  return h("dl", { class: "meta" },
    h("dt", {}, t("camera")), h("dd", { class: "camera" }, cameraName(hit.cameraId)),
    h("dt", {}, t("time")), h("dd", { class: "time" }, h("time", { datetime: new Date(hit.frameMs).toISOString() }, fmtTime(hit.frameMs))),
    h("dt", {}, t("score")), h("dd", { class: "score" }, `${fmtScore(hit.score)}${hit.frames > 1 ? ` · ${hit.frames} ${t("frames")}` : ""}`));
}

export function section(title: string, id: string, ...children: Child[]): HTMLElement {
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** datetime-local input value ("YYYY-MM-DDTHH:MM:SS", local time) of a time, and back. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fromLocalInput(value: string): number | null {
  if (value === "") return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** The browser's time zone as "UTC+07:00", for labels of local-time inputs. */
export function zoneLabel(): string {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}
