/**
 * Evidence export: the clips chosen from the results (any cameras), one time range covering them
 * (editable), ExportClip → one verified MP4 per camera; each file's SHA-256 shown and the MP4 and
 * its manifest downloadable (through /media/export, with the session's rights).
 */

import { ApiError, call, exportUrl, msTs, playback, tsMs } from "../api";
import { h, replace } from "../dom";
import { fmtClock, fmtTime, t } from "../i18n";
import { hitId } from "../hits";
import { cameraName, store, toggleBasket } from "../store";
import { fromLocalInput, loadCameras, section, statusLine, toLocalInput, zoneLabel } from "./common";

const PAD_MS = 2000; // a little before the first clip and after the last

export function renderExport(main: HTMLElement): void {
  const status = statusLine("export-status");
  const clips = [...store.basket.values()].sort((a, b) => a.startMs - b.startMs);
  const list = h("ul", { class: "basket", id: "basket" });
  const outcome = h("div", { id: "export-result" });
  if (store.exportResult) outcome.append(store.exportResult);
  replace(main, h("h1", { tabindex: -1 }, t("exportTitle")), h("p", {}, t("exportIntro")), list, status.el, outcome);
  void loadCameras().catch(() => undefined);
  if (clips.length === 0) {
    list.replaceWith(h("p", { class: "notice", id: "basket-empty" }, t("noClipsChosen")));
    return;
  }
  for (const hit of clips) {
    const remove = h("button", { type: "button", class: "remove", "aria-label": `${t("remove")}: ${hit.cameraId} ${fmtTime(hit.startMs)}` }, t("remove"));
    remove.addEventListener("click", () => {
      toggleBasket(hit);
      renderExport(main);
    });
    list.append(h("li", { "data-hit": hitId(hit) },
      h("span", { class: "camera" }, cameraName(hit.cameraId)), " ",
      h("span", { class: "time" }, `${fmtTime(hit.startMs)} – ${fmtClock(hit.endMs)}`), " ", remove));
  }
  const fromMs = Math.min(...clips.map((c) => c.startMs)) - PAD_MS;
  const toMs = Math.max(...clips.map((c) => c.endMs)) + PAD_MS;
  const fromIn = h("input", { id: "export-from", type: "datetime-local", step: 1, value: toLocalInput(fromMs), required: true });
  const toIn = h("input", { id: "export-to", type: "datetime-local", step: 1, value: toLocalInput(Math.ceil(toMs / 1000) * 1000), required: true });
  const cams = [...new Set(clips.map((c) => c.cameraId))];
  const go = h("button", { type: "submit", class: "primary", id: "export-button" }, t("exportNow"));
  const form = h("form", { class: "export-form" },
    h("fieldset", {}, h("legend", {}, `${t("exportRange")} (${zoneLabel()})`),
      h("label", { for: "export-from" }, t("from")), fromIn,
      h("label", { for: "export-to" }, t("to")), toIn),
    h("p", {}, `${t("cameras")}: `, cams.map(cameraName).join(", ")), go);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const start = fromLocalInput(fromIn.value);
    const end = fromLocalInput(toIn.value);
    if (start === null || end === null || end <= start) {
      status.error(new ApiError("badRequest", t("invalidRange")));
      return;
    }
    go.disabled = true;
    status.busy(t("exporting"));
    call(() => playback.exportClip({ cameraIds: cams, timeRange: { start: msTs(start), end: msTs(end) } })).then(
      (res) => {
        status.info(`${t("exportDone")}: ${res.exportId}`);
        const rows = section(`${t("exportId")} ${res.exportId}`, "export-files",
          h("table", { class: "files" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("camera")), h("th", { scope: "col" }, t("delivered")),
              h("th", { scope: "col" }, t("sha256")), h("th", { scope: "col" }, ""))),
            h("tbody", {}, ...res.clips.map((c) => h("tr", { "data-camera": c.cameraId },
              h("td", {}, cameraName(c.cameraId)),
              h("td", {}, c.delivered ? `${fmtTime(tsMs(c.delivered.start))} – ${fmtClock(tsMs(c.delivered.end))}` : "",
                ` (${c.sourceSegments} ${t("segments")})`),
              h("td", {}, h("code", { class: "sha256" }, c.sha256)),
              h("td", { class: "downloads" },
                h("a", { href: exportUrl(c.videoKey), download: `${res.exportId}-${c.cameraId}.mp4`, class: "button download-video" }, t("downloadVideo")),
                " ",
                h("a", { href: exportUrl(c.manifestKey), download: `${res.exportId}-${c.cameraId}.json`, class: "button download-manifest" }, t("downloadManifest"))))))));
        store.exportResult = rows;
        replace(outcome, rows);
        (rows.querySelector("h2") as HTMLElement | null)?.focus();
      },
      (err: unknown) => status.error(err)).finally(() => { go.disabled = false; });
  });
  list.after(form);
}
