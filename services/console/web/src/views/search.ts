/**
 * Search: text (English or Vietnamese) or a photo (dropped or chosen), filtered by cameras, group
 * and time; results as clip cards (thumbnail with the hit's box, camera, time, score) with
 * Play, Add to export and — when this build's protos have them — Find similar and Follow.
 * "No good match" is shown as such, distinct from "nothing found".
 */

import { create, fromJson, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";

import { ApiError, call, callByName, hasMethod, msTs, search, SearchService, type Json } from "../api";
import { h, replace, uid } from "../dom";
import { fmtTime, t } from "../i18n";
import { hitsOf, type Hit } from "../hits";
import { SearchFilterSchema, SearchResponseSchema, type SearchFilter } from "../gen/vigil/v1/search_pb";
import { inBasket, store, toggleBasket, type ResultSet } from "../store";
import { play } from "./player";
import { fromLocalInput, groupsOf, hitMeta, loadCameras, section, statusLine, thumbnail, toLocalInput, zoneLabel } from "./common";

const TOP_K = 12;
const MAX_PHOTO_BYTES = 8 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];

/** What the form holds across re-renders (language switch, coming back from the player). */
const form = { query: "", group: "", cameraIds: new Set<string>(), fromMs: null as number | null, toMs: null as number | null };

/** Forgets the form (on sign-out: the next user starts from an empty search). */
export function resetSearch(): void {
  form.query = "";
  form.group = "";
  form.cameraIds.clear();
  form.fromMs = null;
  form.toMs = null;
}

function filterMessage(): SearchFilter {
  let ids = [...form.cameraIds];
  if (ids.length === 0 && form.group !== "") {
    ids = store.cameras.filter((c) => c.group === form.group).map((c) => c.cameraId);
  }
  const ranged = form.fromMs !== null || form.toMs !== null;
  return create(SearchFilterSchema, {
    cameraIds: ids,
    timeRange: ranged ? {
      start: form.fromMs !== null ? msTs(form.fromMs) : undefined,
      end: form.toMs !== null ? msTs(form.toMs) : undefined,
    } : undefined,
  });
}

function rangeError(): string | null {
  return form.fromMs !== null && form.toMs !== null && form.toMs <= form.fromMs ? t("invalidRange") : null;
}

export function renderSearch(main: HTMLElement): void {
  const status = statusLine("search-status");
  const results = h("div", { id: "results", class: "results-area" });
  const queryId = uid("q");
  const input = h("input", {
    id: queryId, name: "q", type: "search", value: form.query, placeholder: t("queryPlaceholder"),
    autocomplete: "off", required: true,
  });
  input.addEventListener("input", () => { form.query = input.value; });
  const go = h("button", { type: "submit", class: "primary", id: "search-button" }, t("search"));
  const textForm = h("form", { role: "search", class: "query", "aria-label": t("searchTitle") },
    h("label", { for: queryId }, t("query")), h("div", { class: "row" }, input, go));
  const filters = filtersPanel(status);

  textForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text === "") {
      input.focus();
      return;
    }
    const bad = rangeError();
    if (bad) {
      status.error(new ApiError("badRequest", bad));
      return;
    }
    void runSearch(`“${text}”`, status, results, (token) =>
      call(() => search.search({ text, topK: TOP_K, filter: filterMessage(), pageToken: token })));
  });

  const fileId = uid("photo");
  const file = h("input", { id: fileId, type: "file", accept: PHOTO_TYPES.join(","), class: "visually-hidden" });
  const preview = h("div", { class: "preview" });
  // The drop zone is a plain region; the keyboard reaches the (visually hidden) file input, whose
  // focus outlines the zone, and Enter or Space opens the picker.
  const drop = h("div", { class: "drop", id: "photo-drop" },
    h("span", { id: `${fileId}-hint` }, t("dropPhoto")), " ",
    h("label", { for: fileId, class: "button" }, t("choosePhoto")), file, preview);
  file.setAttribute("aria-describedby", `${fileId}-hint`);
  const photoSearch = (f: File): void => {
    if (!PHOTO_TYPES.includes(f.type)) {
      status.error(new ApiError("badRequest", t("photoType")));
      return;
    }
    if (f.size > MAX_PHOTO_BYTES) {
      status.error(new ApiError("badRequest", t("photoTooBig")));
      return;
    }
    const url = URL.createObjectURL(f);
    replace(preview, h("img", { src: url, alt: f.name }));
    void f.arrayBuffer().then((buf) => {
      const image = new Uint8Array(buf);
      return runSearch(`${t("photo")} ${f.name}`, status, results, (token) =>
        call(() => search.searchByImage({ image, topK: TOP_K, filter: filterMessage(), pageToken: token })), t("searchingPhoto"),
      { image, name: f.name });
    });
  };
  file.addEventListener("change", () => { if (file.files?.[0]) photoSearch(file.files[0]); });
  file.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      file.click();
    }
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const f = event.dataTransfer?.files[0];
    if (f) photoSearch(f);
  });

  replace(main,
    h("h1", { tabindex: -1 }, t("searchTitle")),
    h("div", { class: "search-top" }, textForm,
      h("section", { class: "photo", "aria-label": t("photoSearch") }, h("h2", {}, t("photoSearch")), drop)),
    filters, status.el, results);
  if (store.results) showResults(results, store.results, status);
}

function filtersPanel(status: ReturnType<typeof statusLine>): HTMLElement {
  const groupSel = h("select", { id: "filter-group", name: "group" });
  const camBox = h("fieldset", { class: "cameras", id: "filter-cameras" }, h("legend", {}, t("cameras")));
  const fromIn = h("input", { id: "filter-from", type: "datetime-local", step: 1, value: form.fromMs !== null ? toLocalInput(form.fromMs) : "" });
  const toIn = h("input", { id: "filter-to", type: "datetime-local", step: 1, value: form.toMs !== null ? toLocalInput(form.toMs) : "" });
  fromIn.addEventListener("change", () => { form.fromMs = fromLocalInput(fromIn.value); });
  toIn.addEventListener("change", () => { form.toMs = fromLocalInput(toIn.value); });
  const fillCameras = (): void => {
    const shown = store.cameras.filter((c) => form.group === "" || c.group === form.group);
    replace(camBox, h("legend", {}, t("cameras")),
      ...shown.map((c) => {
        const id = `cam-${c.cameraId}`;
        const box = h("input", { type: "checkbox", id, value: c.cameraId, checked: form.cameraIds.has(c.cameraId) });
        box.addEventListener("change", () => {
          if (box.checked) form.cameraIds.add(c.cameraId);
          else form.cameraIds.delete(c.cameraId);
        });
        return h("div", { class: "check" }, box, h("label", { for: id }, c.name && c.name !== c.cameraId ? `${c.name} (${c.cameraId})` : c.cameraId));
      }));
  };
  const fillGroups = (): void => {
    replace(groupSel, h("option", { value: "" }, t("allGroups")),
      ...groupsOf().map((g) => h("option", { value: g, selected: g === form.group }, g)));
  };
  groupSel.addEventListener("change", () => {
    form.group = groupSel.value;
    // Cameras of another group no longer apply.
    for (const id of [...form.cameraIds]) {
      const cam = store.cameras.find((c) => c.cameraId === id);
      if (form.group !== "" && cam?.group !== form.group) form.cameraIds.delete(id);
    }
    fillCameras();
  });
  const clear = h("button", { type: "button", id: "filter-clear", onclick: () => {
    form.group = ""; form.cameraIds.clear(); form.fromMs = null; form.toMs = null;
    fromIn.value = ""; toIn.value = ""; fillGroups(); fillCameras();
  } }, t("clearFilters"));
  fillGroups();
  fillCameras();
  loadCameras().then(() => { fillGroups(); fillCameras(); }, (err: unknown) => status.error(err));
  return h("details", { class: "filters", open: form.cameraIds.size > 0 || form.group !== "" || form.fromMs !== null || form.toMs !== null },
    h("summary", {}, t("filters")),
    h("div", { class: "filter-grid" },
      h("div", {}, h("label", { for: "filter-group" }, t("group")), groupSel),
      h("div", {}, h("label", { for: "filter-from" }, `${t("from")} (${zoneLabel()})`), fromIn),
      h("div", {}, h("label", { for: "filter-to" }, `${t("to")} (${zoneLabel()})`), toIn),
      camBox, h("div", {}, clear)));
}

type Page = (token: string) => Promise<unknown>;
type Photo = NonNullable<ResultSet["photo"]>;

async function runSearch(title: string, status: ReturnType<typeof statusLine>, area: HTMLElement, page: Page,
  busyText = t("searching"), photo: Photo | null = null): Promise<void> {
  status.busy(busyText);
  area.setAttribute("aria-busy", "true");
  try {
    await loadCameras();
    const res = (await page("")) as Parameters<typeof toJson<typeof SearchResponseSchema>>[1];
    const json = toJson(SearchResponseSchema, res) as Json;
    const set: ResultSet = {
      title, hits: hitsOf(json), noGoodMatch: json.noGoodMatch === true,
      nextPageToken: typeof json.nextPageToken === "string" ? json.nextPageToken : "", more: null,
      photo,
    };
    set.more = async (token) => {
      const next = toJson(SearchResponseSchema, (await page(token)) as typeof res) as Json;
      set.hits.push(...hitsOf(next));
      set.nextPageToken = typeof next.nextPageToken === "string" ? next.nextPageToken : "";
    };
    store.results = set;
    status.clear();
    showResults(area, set, status);
  } catch (err) {
    status.error(err);
  } finally {
    area.removeAttribute("aria-busy");
  }
}

/** Results of SearchSimilar or Follow (built from the method's own descriptor), from a hit or a photo. */
async function runDerived(kind: "SearchSimilar" | "Follow", seed: Hit | Photo, status: ReturnType<typeof statusLine>,
  area: HTMLElement): Promise<void> {
  status.busy(t("searching"));
  try {
    const json = await callByName(SearchService, kind, derivedRequest(kind, seed));
    const hits = hitsOf(json);
    const from = "image" in seed ? `${t("photo")} ${seed.name}` : `${seed.cameraId} ${fmtTime(seed.frameMs)}`;
    const title = `${t(kind === "Follow" ? "followTitle" : "similarTitle")}: ${from}`;
    store.results = { title, hits, noGoodMatch: json.noGoodMatch === true, nextPageToken: "", more: null };
    if (kind === "Follow") store.results.trail = true;
    status.clear();
    showResults(area, store.results, status);
  } catch (err) {
    status.error(err);
  }
}

/**
 * The request of SearchSimilar/Follow, built from the method's own descriptor. From a hit:
 * whichever message field holds a hit reference (a message with camera_id and frame_time) gets
 * the hit's camera, best frame time and box. From a photo: the bytes field named `image`.
 * A SearchFilter field gets the form's filter; top_k / max_steps are set where the request has
 * them. Any other field keeps its default.
 */
export function derivedRequest(kind: string, seed: Hit | Photo): Json {
  const method = SearchService.methods.find((m) => m.name === kind);
  if (method === undefined) return {};
  const input: DescMessage = method.input;
  const req: Json = {};
  for (const field of input.fields) {
    if (field.fieldKind === "message") {
      const names = field.message.fields.map((f) => f.localName);
      if (names.includes("cameraId") && names.includes("frameTime") && !("image" in seed)) {
        const ref: Json = { cameraId: seed.cameraId, frameTime: new Date(seed.frameMs).toISOString() };
        if (seed.box && names.includes("box")) ref.box = { ...seed.box } as unknown as JsonValue;
        req[field.jsonName] = ref;
      } else if (field.message.typeName === SearchFilterSchema.typeName) {
        req[field.jsonName] = toJson(SearchFilterSchema, filterMessage());
      }
    } else if (field.fieldKind === "scalar" && field.localName === "image" && "image" in seed) {
      req[field.jsonName] = base64Encode(seed.image);
    } else if (field.localName === "topK" || field.localName === "maxSteps") {
      req[field.jsonName] = TOP_K;
    }
  }
  // Check the shape here, so a mismatch names the field rather than failing on the server.
  fromJson(input, req);
  return req;
}

/** Whether a method can start from a photo (its request has a bytes field `image`). */
function takesPhoto(kind: string): boolean {
  const method = SearchService.methods.find((m) => m.name === kind);
  return method !== undefined && method.input.fields.some((f) => f.localName === "image");
}

function showResults(area: HTMLElement, set: ResultSet, status: ReturnType<typeof statusLine>): void {
  const headingId = "results-title";
  const list = h("ol", { class: set.trail ? "hits trail" : "hits", id: "hits" });
  const nodes: HTMLElement[] = [];
  if (set.noGoodMatch) {
    nodes.push(h("p", { class: "notice nomatch", id: "no-good-match", role: "status" }, t("noGoodMatch")));
  } else if (set.hits.length === 0) {
    nodes.push(h("p", { class: "notice", id: "no-results", role: "status" }, t("noResults")));
  }
  for (const hit of set.hits) list.append(card(hit, area, status));
  const more = set.nextPageToken && set.more
    ? h("button", { type: "button", id: "more-results", onclick: () => {
      const more = set.more;
      if (!more) return;
      status.busy(t("searching"));
      more(set.nextPageToken).then(() => { status.clear(); showResults(area, set, status); }, (err: unknown) => status.error(err));
    } }, t("moreResults"))
    : null;
  const followPhoto = set.photo && hasMethod(SearchService, "Follow") && takesPhoto("Follow")
    ? h("button", { type: "button", id: "follow-photo", class: "follow", onclick: () => {
      if (set.photo) void runDerived("Follow", set.photo, status, area);
    } }, t("followPhoto"))
    : null;
  replace(area, section(`${t("results")} — ${set.title}`, headingId, followPhoto, ...nodes, list, more));
}

function card(hit: Hit, area: HTMLElement, status: ReturnType<typeof statusLine>): HTMLElement {
  const playButton = h("button", { type: "button", class: "primary play", onclick: () => play(hit) }, t("play"));
  const basket = h("button", { type: "button", class: "basket", "aria-pressed": inBasket(hit) ? "true" : "false" },
    inBasket(hit) ? t("inExport") : t("addToExport"));
  basket.addEventListener("click", () => {
    const added = toggleBasket(hit);
    basket.setAttribute("aria-pressed", added ? "true" : "false");
    basket.textContent = added ? t("inExport") : t("addToExport");
  });
  const actions = h("div", { class: "actions" }, playButton, basket);
  if (hasMethod(SearchService, "SearchSimilar")) {
    actions.append(h("button", { type: "button", class: "similar", onclick: () => void runDerived("SearchSimilar", hit, status, area) }, t("similar")));
  }
  if (hasMethod(SearchService, "Follow")) {
    actions.append(h("button", { type: "button", class: "follow", onclick: () => void runDerived("Follow", hit, status, area) }, t("follow")));
  }
  return h("li", { class: "hit", "data-camera": hit.cameraId }, thumbnail(hit), hitMeta(hit), actions);
}
