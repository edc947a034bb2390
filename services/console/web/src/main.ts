/**
 * The console's shell: sign-in, the header (navigation, language, who is signed in, sign-out),
 * hash routes (#/search, #/player, #/export, #/watch, #/admin) and the session's end (sign-out, a 401
 * from any call, or the session's expiry time passing → back to sign-in with a message).
 */

import "./styles.css";
import { ApiError, currentSession, onSessionLost, resumeSession, signIn, signOut, type Session } from "./api";
import { h, replace } from "./dom";
import { lang, onLangChange, setLang, t, type Key } from "./i18n";
import { resetStore, store } from "./store";
import { renderAdmin, stopWatching } from "./views/admin";
import { renderExport } from "./views/export";
import { renderPlayer, stopPlayer } from "./views/player";
import { renderSearch, resetSearch } from "./views/search";
import { renderWatch, resetAlerts, stopAlerts } from "./views/watch";

const app = document.getElementById("app") as HTMLElement;
let expiryTimer = 0;
let signInNotice: { text: string; error: boolean } | null = null;

type Route = "search" | "player" | "export" | "watch" | "admin";
const ROUTES: Route[] = ["search", "player", "export", "watch", "admin"];

function route(): Route {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0] as Route;
  return ROUTES.includes(name) ? name : "search";
}

/** Whether the signed-in role may see a screen at all (the server decides each call anyway). */
function allowed(r: Route, s: Session): boolean {
  if (r === "export") return s.role === "investigator" || s.role === "admin";
  if (r === "admin") return s.role !== "viewer";
  if (r === "search" || r === "player" || r === "watch") return s.role !== "ingest";
  return true;
}

function langButton(): HTMLElement {
  return h("button", {
    type: "button", class: "lang", lang: lang() === "en" ? "vi" : "en",
    "aria-label": `${t("language")}: ${t("langName")}`,
    onclick: () => setLang(lang() === "en" ? "vi" : "en"),
  }, t("langName"));
}

function renderSignIn(): void {
  stopPlayer();
  stopWatching();
  stopAlerts();
  document.title = `${t("signInTitle")} — ${t("appName")}`;
  const message = h("p", { class: "notice", role: "alert", id: "signin-message" });
  if (signInNotice) {
    message.textContent = signInNotice.text;
    message.classList.add(signInNotice.error ? "error" : "info");
  }
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false",
    required: true, "aria-describedby": "signin-message",
  });
  const button = h("button", { type: "submit", class: "primary" }, t("signIn"));
  const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: -1 }, t("signInTitle")),
    h("p", {}, t("signInIntro")),
    h("label", { for: "token" }, t("token")), input, button, message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === "") {
      message.textContent = t("tokenEmpty");
      message.className = "notice error";
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = t("signingIn");
    message.textContent = "";
    signIn(token).then(
      (s) => {
        input.value = "";
        signInNotice = null;
        started(s);
      },
      (err: unknown) => {
        const e = err instanceof ApiError ? err : new ApiError("server", String(err));
        message.textContent = e.kind === "unauthenticated" ? `${t("badToken")}: ${e.detail}` : e.text;
        message.className = "notice error";
        button.disabled = false;
        button.textContent = t("signIn");
        input.select();
        input.focus();
      });
  });
  replace(app, h("header", { class: "top" }, h("span", { class: "brand" }, t("appName")), langButton()),
    h("main", { id: "main" }, form));
  input.focus();
}

function nav(s: Session, current: Route): HTMLElement {
  const items: Array<[Route, Key]> = [["search", "navSearch"], ["export", "navExport"], ["watch", "navWatch"], ["admin", "navAdmin"]];
  return h("nav", { "aria-label": t("appName") },
    h("ul", {}, ...items.filter(([r]) => allowed(r, s)).map(([r, key]) => {
      const count = r === "export" && store.basket.size > 0 ? ` (${store.basket.size})` : "";
      return h("li", {}, h("a", {
        href: `#/${r}`, id: `nav-${r}`,
        "aria-current": current === r || (r === "search" && current === "player") ? "page" : null,
      }, t(key) + count));
    })));
}

function renderApp(): void {
  const s = currentSession();
  if (s === null) {
    renderSignIn();
    return;
  }
  let r = route();
  if (!allowed(r, s)) r = allowed("search", s) ? "search" : "admin";
  if (r !== "player") stopPlayer();
  if (r !== "admin") stopWatching();
  if (r !== "watch") stopAlerts();
  const main = h("main", { id: "main", tabindex: -1 });
  const who = h("span", { class: "who" }, `${t("signedInAs")} `, h("strong", {}, s.principal),
    ` · ${s.role}`, s.groups.length ? ` · ${s.groups.join(", ")}` : "");
  const out = h("button", { type: "button", id: "signout", onclick: () => void doSignOut() }, t("signOut"));
  replace(app,
    h("a", { href: "#main", class: "skip" }, t("skip")),
    h("header", { class: "top" }, h("span", { class: "brand" }, t("appName")), nav(s, r),
      h("div", { class: "account" }, who, langButton(), out)),
    main);
  const titles: Record<Route, Key> = { search: "searchTitle", player: "playerTitle", export: "exportTitle", watch: "watchTitle", admin: "adminTitle" };
  document.title = `${t(titles[r])} — ${t("appName")}`;
  if (r === "search") renderSearch(main);
  else if (r === "player") renderPlayer(main);
  else if (r === "export") renderExport(main);
  else if (r === "watch") renderWatch(main, s);
  else renderAdmin(main, s);
}

// The export count in the navigation follows the basket without re-rendering the screen.
window.addEventListener("vigil:basket", () => {
  const s = currentSession();
  const old = app.querySelector("nav");
  if (s && old) old.replaceWith(nav(s, route()));
});

function started(s: Session): void {
  window.clearTimeout(expiryTimer);
  const left = s.expiresAt - Date.now();
  if (Number.isFinite(left)) {
    // setTimeout holds at most ~24.8 days; a longer session is re-checked then.
    expiryTimer = window.setTimeout(() => void checkExpiry(), Math.max(0, Math.min(left + 500, 2 ** 31 - 1)));
  }
  if (location.hash === "" || location.hash === "#/") location.hash = "#/search";
  renderApp();
  (app.querySelector("main h1") as HTMLElement | null)?.focus();
}

async function checkExpiry(): Promise<void> {
  if (currentSession() === null) return;
  try {
    const s = await resumeSession();
    if (s === null) ended(t("sessionExpired"), true);
    else started(s);
  } catch {
    ended(t("sessionExpired"), true);
  }
}

function ended(text: string, error: boolean): void {
  window.clearTimeout(expiryTimer);
  resetStore();
  resetSearch();
  resetAlerts();
  signInNotice = { text, error };
  renderSignIn();
}

async function doSignOut(): Promise<void> {
  await signOut();
  ended(t("signedOut"), false);
}

onSessionLost((reason) => {
  const detail = reason.detail && reason.detail !== t("sessionExpired") ? ` (${reason.detail})` : "";
  ended(`${t("sessionExpired")}${detail}`, true);
});
onLangChange(() => {
  if (currentSession() === null) renderSignIn();
  else renderApp();
});
window.addEventListener("hashchange", () => {
  if (currentSession() !== null) {
    renderApp();
    (app.querySelector("main h1") as HTMLElement | null)?.focus();
  }
});

document.documentElement.lang = lang();
resumeSession().then(
  (s) => (s === null ? renderSignIn() : started(s)),
  (err: unknown) => {
    signInNotice = { text: err instanceof ApiError ? err.text : String(err), error: true };
    renderSignIn();
  });
