/**
 * Watchlists (WatchService): add a text or photo entry scoped to cameras and groups the caller
 * sees, with an expiry and a sensitivity (investigators and admins; the server checks every
 * call), list and remove entries, and follow the alerts of the caller's cameras live over the
 * WatchAlerts server stream (resumed from the last alert's cursor when it drops). An alert
 * shows its thumbnail (through /media, with its box), camera, time and calibrated score; "Play"
 * finds the stored segment at the alert's time (ListSegments) and opens the player there.
 */

import { ApiError, call, msTs, playback, toApiError, tsMs, watch, type Session } from "../api";
import { h, replace, uid } from "../dom";
import type { Alert, WatchEntry } from "../gen/vigil/v1/watch_pb";
import type { Hit } from "../hits";
import { fmtTime, t } from "../i18n";
import { cameraName, store } from "../store";
import { fmtScore, fromLocalInput, groupsOf, loadCameras, section, statusLine, thumbnail, zoneLabel } from "./common";
import { play } from "./player";

const MAX_PHOTO_BYTES = 8 * 1024 * 1024;
const MAX_ALERTS_SHOWN = 100;
const RECONNECT_MS = 3_000;
const SEGMENT_LOOKUP_MS = 60_000; // each side of the alert's time, to find its segment

let stream: AbortController | null = null;
let reconnect = 0;
let cursor = "";
const shown: Alert[] = []; // newest first, kept across re-renders (language switch) until sign-out

/** Ends the WatchAlerts stream (leaving the screen or signing out). */
export function stopAlerts(): void {
  stream?.abort();
  stream = null;
  window.clearTimeout(reconnect);
}

/** Forgets the alerts shown (sign-out). */
export function resetAlerts(): void {
  stopAlerts();
  shown.length = 0;
  cursor = "";
}

const mayEdit = (s: Session): boolean => s.role === "investigator" || s.role === "admin";

export function renderWatch(main: HTMLElement, s: Session): void {
  stopAlerts();
  const entries = entriesPart(s);
  replace(main, h("h1", { tabindex: -1 }, t("watchTitle")), h("p", {}, t("watchIntro")),
    mayEdit(s) ? addPart(entries.reload) : null, entries.el, alertsPart());
}

function addPart(reload: () => void): HTMLElement {
  const status = statusLine("watch-add-status");
  const textId = uid("watch-text");
  const photoId = uid("watch-photo");
  const kindText = h("input", { type: "radio", name: "watch-kind", id: "watch-kind-text", value: "text", checked: true });
  const kindPhoto = h("input", { type: "radio", name: "watch-kind", id: "watch-kind-photo", value: "photo" });
  const text = h("input", { id: textId, name: "text", type: "text", maxlength: 500, autocomplete: "off" });
  const photo = h("input", { id: photoId, name: "photo", type: "file", accept: "image/jpeg,image/png" });
  const textRow = h("div", { class: "field" }, h("label", { for: textId }, t("watchText")), text);
  const photoRow = h("div", { class: "field", hidden: true }, h("label", { for: photoId }, t("watchPhoto")), photo);
  const syncKind = (): void => {
    textRow.hidden = !kindText.checked;
    photoRow.hidden = kindText.checked;
  };
  kindText.addEventListener("change", syncKind);
  kindPhoto.addEventListener("change", syncKind);
  const scope = h("fieldset", { class: "cameras", id: "watch-scope" }, h("legend", {}, t("watchScope")), t("loading"));
  void loadCameras().then(() => {
    const box = (kind: "camera" | "group", value: string, label: string): HTMLElement => {
      const id = uid(`watch-${kind}`);
      return h("span", { class: "check" },
        h("input", { type: "checkbox", id, name: kind, value }), h("label", { for: id }, label));
    };
    replace(scope, h("legend", {}, t("watchScope")),
      ...store.cameras.map((c) => box("camera", c.cameraId, cameraName(c.cameraId))),
      ...groupsOf().map((g) => box("group", g, `${t("group")}: ${g}`)));
  }, (err: unknown) => status.error(err));
  const expires = h("input", { id: "watch-expires", type: "datetime-local", step: 1, "aria-describedby": "watch-expires-hint" });
  const sensitivity = h("input", { id: "watch-sensitivity", type: "number", min: 0, max: 1, step: 0.05, inputmode: "decimal" });
  const submit = h("button", { type: "submit", class: "primary", id: "watch-add" }, t("addWatch"));
  const form = h("form", { class: "watch-form", id: "watch-form" },
    h("fieldset", {}, h("legend", {}, t("watchKind")),
      h("span", { class: "check" }, kindText, h("label", { for: "watch-kind-text" }, t("kindText"))),
      h("span", { class: "check" }, kindPhoto, h("label", { for: "watch-kind-photo" }, t("kindPhoto")))),
    textRow, photoRow, scope,
    h("div", { class: "field" }, h("label", { for: "watch-expires" }, `${t("expires")} (${zoneLabel()})`), expires,
      h("small", { id: "watch-expires-hint" }, t("expiresHint"))),
    h("div", { class: "field" }, h("label", { for: "watch-sensitivity" }, t("sensitivity")), sensitivity),
    submit, status.el);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void (async () => {
      const checked = (name: string): string[] =>
        [...form.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((i) => i.value);
      let query: { case: "text"; value: string } | { case: "image"; value: Uint8Array };
      let imageName = "";
      if (kindText.checked) {
        if (text.value.trim() === "") { status.error(new ApiError("badRequest", t("watchTextEmpty"))); text.focus(); return; }
        query = { case: "text", value: text.value.trim() };
      } else {
        const file = photo.files?.[0];
        if (file === undefined) { status.error(new ApiError("badRequest", t("watchPhotoEmpty"))); photo.focus(); return; }
        if (file.size > MAX_PHOTO_BYTES) { status.error(new ApiError("badRequest", t("photoTooBig"))); photo.focus(); return; }
        query = { case: "image", value: new Uint8Array(await file.arrayBuffer()) };
        imageName = file.name;
      }
      const sens = sensitivity.value === "" ? undefined : Number(sensitivity.value);
      if (sens !== undefined && !(sens >= 0 && sens <= 1)) {
        status.error(new ApiError("badRequest", t("badSensitivity")));
        sensitivity.focus();
        return;
      }
      const until = fromLocalInput(expires.value);
      submit.disabled = true;
      status.busy(t("adding"));
      try {
        await call(() => watch.addWatch({
          query, imageName, cameraIds: checked("camera"), groups: checked("group"),
          expires: until === null ? undefined : msTs(until), sensitivity: sens,
        }));
        status.info(t("added"));
        text.value = "";
        photo.value = "";
        reload();
      } catch (err) {
        status.error(err);
      } finally {
        submit.disabled = false;
      }
    })();
  });
  return section(t("addWatch"), "watch-add-title", form);
}

function scopeText(e: WatchEntry): string {
  const parts = [...e.cameraIds.map(cameraName), ...e.groups.map((g) => `${t("group")}: ${g}`)];
  return parts.length ? parts.join(", ") : t("allVisible");
}

function entriesPart(s: Session): { el: HTMLElement; reload: () => void } {
  const status = statusLine("watch-list-status");
  const body = h("div", {});
  const reload = (): void => {
    call(() => watch.listWatches({})).then((res) => {
      if (res.entries.length === 0) {
        replace(body, h("p", { id: "no-watches" }, t("noEntries")));
        return;
      }
      const heads = [t("kind"), t("query"), t("scope"), t("expires"), t("sensitivity"), t("calibrated"), t("createdBy"), ""];
      replace(body, h("div", { class: "table-wrap" }, h("table", { id: "watch-table" },
        h("thead", {}, h("tr", {}, ...heads.map((x, i) => h("th", { scope: "col" }, i === 4 ? x.split(" (")[0] : x)))),
        h("tbody", {}, ...res.entries.map((e) => h("tr", { "data-entry": e.entryId },
          h("td", {}, e.kind === "image" ? t("kindPhoto") : t("kindText")),
          h("td", { class: "watch-query" }, e.text),
          h("td", {}, scopeText(e)),
          h("td", {}, e.expires ? fmtTime(tsMs(e.expires)) : t("never")),
          h("td", {}, e.sensitivity.toFixed(2)),
          h("td", {}, e.calibrated ? t("yes") : t("no")),
          h("td", {}, e.createdBy),
          h("td", {}, mayEdit(s) ? h("button", {
            type: "button", class: "remove-watch", "aria-label": `${t("remove")}: ${e.text}`,
            onclick: () => {
              call(() => watch.removeWatch({ entryId: e.entryId })).then(() => {
                status.info(t("removed"));
                reload();
              }, (err: unknown) => status.error(err));
            },
          }, t("remove")) : "")))))));
    }, (err: unknown) => status.error(err));
  };
  reload();
  const refresh = h("button", { type: "button", class: "refresh", onclick: reload }, t("refresh"));
  return { el: section(t("entries"), "watch-list-title", refresh, status.el, body), reload };
}

/** Opens the player on the stored segment holding the alert's frame. */
async function openAlert(alert: Alert, status: ReturnType<typeof statusLine>): Promise<void> {
  const frameMs = tsMs(alert.frameTime);
  try {
    const res = await call(() => playback.listSegments({
      cameraId: alert.cameraId,
      timeRange: { start: msTs(frameMs - SEGMENT_LOOKUP_MS), end: msTs(frameMs + SEGMENT_LOOKUP_MS) },
    }));
    const segs = res.segments.map((g) => ({ key: g.segmentKey, startMs: tsMs(g.timeRange?.start), endMs: tsMs(g.timeRange?.end) }));
    const seg = segs.find((g) => g.startMs <= frameMs && frameMs < g.endMs)
      ?? segs.sort((a, b) => Math.abs(a.startMs - frameMs) - Math.abs(b.startMs - frameMs))[0];
    if (seg === undefined) {
      status.info(t("noSegmentAt"));
      return;
    }
    play(alertHit(alert, seg.key, seg.startMs, seg.endMs));
  } catch (err) {
    status.error(err);
  }
}

function alertHit(alert: Alert, segmentKey = "", segmentStartMs = 0, segmentEndMs = 0): Hit {
  const frameMs = tsMs(alert.frameTime);
  const b = alert.box;
  return {
    cameraId: alert.cameraId, startMs: frameMs, endMs: frameMs, frameMs, score: alert.score,
    segmentKey, thumbnailKey: alert.thumbnailKey, frames: 1 + alert.folded, segmentStartMs, segmentEndMs,
    box: b && b.x1 > b.x0 && b.y1 > b.y0 ? { x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 } : null,
  };
}

function alertCard(alert: Alert, status: ReturnType<typeof statusLine>): HTMLElement {
  const hit = alertHit(alert);
  const frameMs = tsMs(alert.frameTime);
  const b = hit.box;
  const open = h("button", {
    type: "button", class: "open-alert", "aria-label": `${t("openAlert")}: ${cameraName(alert.cameraId)}, ${fmtTime(frameMs)}`,
    onclick: () => void openAlert(alert, status),
  }, t("openAlert"));
  const thumb = alert.thumbnailKey ? thumbnail(hit) : h("div", { class: "thumb missing" });
  thumb.addEventListener("click", () => void openAlert(alert, status));
  return h("li", { class: "hit alert", "data-alert": alert.alertId, "data-entry": alert.entryId },
    thumb,
    h("dl", { class: "meta" },
      h("dt", {}, t("camera")), h("dd", { class: "camera" }, cameraName(alert.cameraId)),
      h("dt", {}, t("time")), h("dd", { class: "time" }, h("time", { datetime: new Date(frameMs).toISOString() }, fmtTime(frameMs))),
      h("dt", {}, t("score")), h("dd", { class: "score" }, `${fmtScore(alert.score)}${alert.folded ? ` · +${alert.folded} ${t("folded")}` : ""}`),
      h("dt", {}, t("boxLabel")), h("dd", { class: "box-text" },
        b ? `${b.x0.toFixed(2)}, ${b.y0.toFixed(2)} – ${b.x1.toFixed(2)}, ${b.y1.toFixed(2)}` : t("wholeFrame"))),
    h("div", { class: "actions" }, open));
}

function alertsPart(): HTMLElement {
  const status = statusLine("alerts-status");
  const list = h("ul", { class: "hits alerts", id: "alerts", "aria-live": "polite" });
  const empty = h("p", { id: "no-alerts" }, t("noAlerts"));
  const show = (): void => {
    empty.hidden = shown.length > 0;
    replace(list, ...shown.map((a) => alertCard(a, status)));
  };
  const follow = async (): Promise<void> => {
    const ac = new AbortController();
    stream = ac;
    status.busy(t("following"));
    try {
      for await (const alert of watch.watchAlerts({ cursor }, { signal: ac.signal })) {
        cursor = alert.cursor || cursor;
        if (shown.some((a) => a.alertId === alert.alertId)) continue;
        shown.unshift(alert);
        shown.length = Math.min(shown.length, MAX_ALERTS_SHOWN);
        empty.hidden = true;
        list.prepend(alertCard(alert, status));
        list.querySelectorAll(`li.alert:nth-child(n+${MAX_ALERTS_SHOWN + 1})`).forEach((li) => li.remove());
      }
    } catch (err) {
      if (ac.signal.aborted) return;
      const e = toApiError(err);
      if (e.kind === "unauthenticated") return; // the app goes back to sign-in
      status.error(new ApiError(e.kind, `${t("alertsLost")} (${e.detail || e.kind})`));
    }
    if (stream === ac) reconnect = window.setTimeout(() => void follow(), RECONNECT_MS);
  };
  show();
  void follow();
  return section(t("alerts"), "alerts-title", h("p", {}, t("alertsLive")), status.el, empty, list);
}
