// Client-side routing under the app base. The base is found from this file's own URL (js/ is one
// level below it), so the app works wherever it is hosted: /app/ locally, / or /accounts/ elsewhere.
const BASE = new URL("..", import.meta.url);

const routes = new Map();
let notFound = null;
let flash = null;

export function appUrl(path = "") {
  return new URL(path, BASE).href;
}

/** The app path of the current location: "" for the base, else its one segment ("login"). */
export function currentPath() {
  const path = window.location.pathname;
  return path.startsWith(BASE.pathname) ? decodeURIComponent(path.slice(BASE.pathname.length)) : path;
}

/**
 * The emailed link's `token`, taken out of the address bar as it is read: it then stays out of
 * the tab's history, bookmarks and screenshots, and a reload does not present a used link again.
 */
export function takeToken() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token !== null) {
    url.searchParams.delete("token");
    window.history.replaceState(window.history.state, "", url.href);
  }
  return token;
}

export function route(path, render) {
  routes.set(path, render);
}

export function fallback(render) {
  notFound = render;
}

/** A message for the next page (e.g. "You are signed out"), shown once. */
export function setFlash(message) {
  flash = message;
}

export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}

export async function render() {
  const handler = routes.get(currentPath().replace(/\/$/, "")) || notFound;
  await handler();
}

/** Go to an app path ("login", "account", "" for home) without reloading the page. */
export async function navigate(path, { replace = false } = {}) {
  const url = appUrl(path);
  if (replace) window.history.replaceState({}, "", url);
  else window.history.pushState({}, "", url);
  await render();
}

/**
 * Clicks on links to app paths (also Enter on a focused link, which fires click) are routed
 * in the page; modified clicks (new tab, etc.) are left to the browser.
 */
export function interceptLinks(root) {
  root.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(BASE.pathname)) return;
    if (url.hash && url.pathname === window.location.pathname) return; // in-page anchors (skip link)
    event.preventDefault();
    window.history.pushState({}, "", url.href);
    render();
  });
  window.addEventListener("popstate", () => render());
}
