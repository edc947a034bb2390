/**
 * Administration, each part shown to the roles that may use it (the server checks every call):
 * cameras and their live recording status (admin, ingest), the node's figures (admin), ingest
 * jobs with progress by id (admin, ingest), legal holds (investigator, admin; release: admin)
 * and the audit trail's verification (admin).
 */

import { ApiError, admin, call, cameras, ingest, msTs, toApiError, tsMs, type Session } from "../api";
import { h, replace, uid } from "../dom";
import { fmtTime, t } from "../i18n";
import { JobState, type Job } from "../gen/vigil/v1/ingest_pb";
import { store } from "../store";
import { fromLocalInput, loadCameras, section, statusLine, zoneLabel } from "./common";

const LIVE_REFRESH_MS = 15_000; // the cameras' live status, while the screen is shown
const JOBS_REFRESH_MS = 2_000; // the job list, while any job in it is pending or running
const JOBS_PAGE = 50;

let watches: AbortController[] = [];
let timers: number[] = [];

/** Ends the WatchJob streams and refresh timers of the last render (leaving or re-rendering). */
export function stopWatching(): void {
  for (const ac of watches) ac.abort();
  for (const id of timers) window.clearInterval(id);
  watches = [];
  timers = [];
}

export function renderAdmin(main: HTMLElement, s: Session): void {
  stopWatching();
  const parts: HTMLElement[] = [];
  if (s.role === "admin" || s.role === "ingest") parts.push(camerasPart());
  if (s.role === "admin") parts.push(statsPart());
  if (s.role === "admin" || s.role === "ingest") parts.push(jobsPart());
  if (s.role === "admin" || s.role === "investigator") parts.push(holdsPart(s));
  if (s.role === "admin") parts.push(auditPart());
  replace(main, h("h1", { tabindex: -1 }, t("adminTitle")), ...parts);
}

function table(headers: string[], rows: HTMLElement[], id: string): HTMLElement {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows)));
}

function refreshButton(run: () => void): HTMLElement {
  return h("button", { type: "button", class: "refresh", onclick: run }, t("refresh"));
}

function camerasPart(): HTMLElement {
  const status = statusLine("cameras-status");
  const body = h("div", {});
  const run = (): void => {
    if (body.childElementCount === 0) status.busy(t("loading"));
    loadCameras(true).then(async () => {
      const statuses = await Promise.all(store.cameras.map((c) =>
        call(() => cameras.getCameraStatus({ cameraId: c.cameraId })).catch((err: unknown) => err as ApiError)));
      const rows = store.cameras.map((c, i) => {
        const st = statuses[i];
        const live = st instanceof ApiError ? null : st;
        return h("tr", { "data-camera": c.cameraId },
          h("td", {}, c.cameraId), h("td", {}, c.name), h("td", {}, c.group), h("td", {}, c.location),
          h("td", { class: live?.recording ? "ok" : "" }, live === null ? (st as ApiError).text : live.recording ? t("recording") : t("notRecording")),
          h("td", {}, live ? String(live.segmentsStored) : ""),
          h("td", {}, live?.lastSegmentEnd ? fmtTime(tsMs(live.lastSegmentEnd)) : ""),
          h("td", {}, live ? String(live.reconnects) : ""),
          h("td", {}, live ? String(live.queueDepth) : ""),
          h("td", { class: "err" }, live?.lastError
            ? (live.lastErrorAt ? `${fmtTime(tsMs(live.lastErrorAt))}: ` : "") + live.lastError : ""));
      });
      replace(body, table([t("camera"), t("name"), t("group"), t("location"), t("state"), t("segmentsStored"),
        t("lastSegment"), t("reconnects"), t("queue"), t("lastError")], rows, "cameras-table"));
      status.clear();
    }).catch((err: unknown) => status.error(err));
  };
  run();
  timers.push(window.setInterval(run, LIVE_REFRESH_MS));
  return section(t("liveStatus"), "cameras-title", refreshButton(run), status.el, body);
}

function statsPart(): HTMLElement {
  const status = statusLine("stats-status");
  const body = h("dl", { class: "stats", id: "stats" });
  const run = (): void => {
    call(() => admin.getStats({})).then((st) => {
      replace(body,
        h("dt", {}, t("cameras")), h("dd", {}, String(st.cameras)),
        h("dt", {}, t("segmentsLabel")), h("dd", {}, `${st.segments}${st.segments >= st.segmentsCap ? "+" : ""}`),
        h("dt", {}, t("vectors")), h("dd", {}, String(st.vectors)),
        h("dt", {}, t("backlog")), h("dd", {}, String(st.backlogJobs)),
        h("dt", {}, t("model")), h("dd", {}, st.modelId));
      status.clear();
    }, (err: unknown) => status.error(err));
  };
  run();
  return section(t("stats"), "stats-title", refreshButton(run), status.el, body);
}

const STATE_NAMES: Record<number, string> = {
  [JobState.UNSPECIFIED]: "unspecified", [JobState.PENDING]: "pending", [JobState.RUNNING]: "running",
  [JobState.SUCCEEDED]: "succeeded", [JobState.FAILED]: "failed",
};

function jobRow(job: Job): HTMLElement {
  const p = job.progress;
  const progress = p ? `${p.bytes} ${t("bytes")} · ${p.segments} ${t("segments")} (+${p.segmentsSkipped}) · ${p.keyframes} ${t("keyframes")} · ${p.vectors} ${t("vectors")}` : "";
  const done = job.state === JobState.SUCCEEDED || job.state === JobState.FAILED;
  return h("tr", { "data-job": job.jobId },
    h("td", {}, h("code", {}, job.jobId)), h("td", {}, job.cameraId),
    h("td", { class: job.state === JobState.FAILED ? "err" : job.state === JobState.SUCCEEDED ? "ok" : "" },
      STATE_NAMES[job.state] ?? String(job.state), done ? "" : " …"),
    h("td", {}, progress), h("td", {}, job.createdTime ? fmtTime(tsMs(job.createdTime)) : ""),
    h("td", {}, job.finishedTime ? fmtTime(tsMs(job.finishedTime)) : ""),
    h("td", { class: "err" }, job.error));
}

function jobsPart(): HTMLElement {
  const status = statusLine("jobs-status");
  const rows = h("tbody", {});
  const empty = h("p", { id: "no-jobs", hidden: true }, t("noJobs"));
  // ListJobs: the newest jobs of the caller's cameras, refreshed while any is pending or running.
  let running = false;
  const list = (): void => {
    call(() => ingest.listJobs({ pageSize: JOBS_PAGE })).then((res) => {
      running = res.jobs.some((j) => j.state === JobState.PENDING || j.state === JobState.RUNNING);
      for (const job of res.jobs) {
        const old = rows.querySelector(`tr[data-job="${CSS.escape(job.jobId)}"]`);
        if (old) old.replaceWith(jobRow(job));
        else rows.append(jobRow(job));
      }
      empty.hidden = rows.childElementCount > 0;
    }, (err: unknown) => status.error(err));
  };
  list();
  timers.push(window.setInterval(() => { if (running) list(); }, JOBS_REFRESH_MS));
  const id = uid("job");
  const input = h("input", { id, name: "job", type: "text", autocomplete: "off", spellcheck: "false", required: true });
  const form = h("form", { class: "row" }, h("label", { for: id }, t("jobId")), input,
    h("button", { type: "submit" }, t("watch")));
  // WatchJob streams the job now and at every change until it ends (server-streaming Connect).
  const watch = async (jobId: string): Promise<void> => {
    const ac = new AbortController();
    watches.push(ac);
    try {
      for await (const job of ingest.watchJob({ jobId }, { signal: ac.signal })) {
        const row = jobRow(job);
        const old = rows.querySelector(`tr[data-job="${CSS.escape(jobId)}"]`);
        if (old) old.replaceWith(row);
        else rows.prepend(row);
      }
    } catch (err) {
      if (!ac.signal.aborted) status.error(toApiError(err));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const jobId = input.value.trim();
    if (jobId === "") return;
    status.clear();
    store.jobIds = [jobId, ...store.jobIds.filter((j) => j !== jobId)];
    void watch(jobId);
  });
  for (const jobId of store.jobIds) void watch(jobId);
  return section(t("jobs"), "jobs-title", refreshButton(list), h("p", {}, t("jobsIntro")), form, status.el, empty,
    h("div", { class: "table-wrap" }, h("table", { id: "jobs-table" },
      h("thead", {}, h("tr", {}, ...[t("jobId"), t("camera"), t("state"), t("progress"), t("created"), t("finished"), t("error")]
        .map((x) => h("th", { scope: "col" }, x)))), rows)));
}

function holdsPart(s: Session): HTMLElement {
  const status = statusLine("holds-status");
  const body = h("div", {});
  const run = (): void => {
    call(() => admin.listHolds({})).then((res) => {
      if (res.holds.length === 0) {
        replace(body, h("p", { id: "no-holds" }, t("noHolds")));
      } else {
        replace(body, table([t("camera"), t("from"), t("to"), t("reason"), t("createdBy"), ""], res.holds.map((hold) =>
          h("tr", { "data-hold": hold.holdId },
            h("td", {}, hold.cameraId),
            h("td", {}, hold.timeRange?.start ? fmtTime(tsMs(hold.timeRange.start)) : ""),
            h("td", {}, hold.timeRange?.end ? fmtTime(tsMs(hold.timeRange.end)) : ""),
            h("td", {}, hold.reason), h("td", {}, hold.createdBy),
            h("td", {}, s.role === "admin" ? h("button", { type: "button", class: "release", "aria-label": `${t("release")} ${hold.holdId}`,
              onclick: () => {
                call(() => admin.releaseHold({ holdId: hold.holdId })).then(run, (err: unknown) => status.error(err));
              } }, t("release")) : ""))), "holds-table"));
      }
      status.clear();
    }, (err: unknown) => status.error(err));
  };
  const cam = h("select", { id: "hold-camera", required: true });
  const from = h("input", { id: "hold-from", type: "datetime-local", step: 1, required: true });
  const to = h("input", { id: "hold-to", type: "datetime-local", step: 1, required: true });
  const reason = h("input", { id: "hold-reason", type: "text", required: true, maxlength: 500 });
  void loadCameras().then(() => replace(cam, ...store.cameras.map((c) => h("option", { value: c.cameraId }, c.cameraId))),
    (err: unknown) => status.error(err));
  const form = h("form", { class: "hold-form" },
    h("fieldset", {}, h("legend", {}, `${t("placeHold")} (${zoneLabel()})`),
      h("label", { for: "hold-camera" }, t("camera")), cam,
      h("label", { for: "hold-from" }, t("from")), from,
      h("label", { for: "hold-to" }, t("to")), to,
      h("label", { for: "hold-reason" }, t("reason")), reason,
      h("button", { type: "submit" }, t("placeHold"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const start = fromLocalInput(from.value);
    const end = fromLocalInput(to.value);
    if (start === null || end === null || end <= start) {
      status.error(new ApiError("badRequest", t("invalidRange")));
      return;
    }
    call(() => admin.placeHold({ cameraId: cam.value, reason: reason.value, timeRange: { start: msTs(start), end: msTs(end) } }))
      .then(() => { reason.value = ""; run(); }, (err: unknown) => status.error(err));
  });
  run();
  return section(t("holds"), "holds-title", refreshButton(run), status.el, body, form);
}

function auditPart(): HTMLElement {
  const status = statusLine("audit-status");
  const body = h("div", { id: "audit-result" });
  const button = h("button", { type: "button", id: "verify-audit", class: "primary" }, t("verifyAudit"));
  button.addEventListener("click", () => {
    button.disabled = true;
    status.busy(t("verifying"));
    call(() => admin.verifyAudit({})).then((res) => {
      status.clear();
      const head = res.head ? `${res.head.node} #${res.head.seq} ${res.head.hash.slice(0, 16)}… ${res.head.time}` : t("none");
      replace(body,
        h("p", { class: res.ok ? "notice ok" : "notice error", role: "status" },
          `${res.ok ? t("auditOk") : t("auditBroken")} (${res.records} ${t("records")})`),
        h("dl", { class: "stats" },
          !res.ok ? h("dt", {}, t("firstBroken")) : null, !res.ok ? h("dd", {}, `#${res.firstBrokenSeq}: ${res.reason}`) : null,
          h("dt", {}, t("head")), h("dd", {}, h("code", {}, head)),
          h("dt", {}, t("unverifiedNodes")), h("dd", {}, res.unverifiedNodes.join(", ") || t("none")),
          h("dt", {}, t("unkeyedNodes")), h("dd", {}, res.unkeyedNodes.map((n) => n || "(legacy)").join(", ") || t("none"))));
    }, (err: unknown) => status.error(err)).finally(() => { button.disabled = false; });
  });
  return section(t("audit"), "audit-title", button, status.el, body);
}
