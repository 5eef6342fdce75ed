// The frame every page is drawn in: one h1 per page (focused after navigation so screen readers
// and keyboard users start at the new content), and the flash message of the previous page.
import { h, replaceChildren } from "./dom.js";
import { appUrl, takeFlash } from "./router.js";

export const PASSWORD_HINT = "Use a long password that you do not use elsewhere; the service checks "
  + "its length, its character classes and whether it is too common.";

export function showPage(title, ...children) {
  document.title = `${title} · Accounts`;
  const main = document.getElementById("main");
  const heading = h("h1", { tabindex: "-1" }, title);
  const flash = takeFlash();
  replaceChildren(main, heading, flash ? h("div", { role: "status", class: "notice" }, h("p", {}, flash)) : null,
    ...children);
  heading.focus();
  return main;
}

export function link(path, text, attrs = {}) {
  return h("a", { href: appUrl(path), ...attrs }, text);
}

/** "Working…" shown while a page loads what it needs (e.g. a link's token being checked). */
export function progress(text) {
  return h("p", { class: "progress", role: "status", "aria-busy": "true" }, text);
}
