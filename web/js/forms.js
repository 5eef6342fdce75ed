// Forms with labelled inputs, a progress state while the request runs, and problem documents
// shown as they come: `detail` in an alert region, each errors[] entry next to its field.
import { ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";

let counter = 0;

function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** An alert region (role=alert) that is in the page before anything is written into it. */
export function alertRegion() {
  return h("div", { role: "alert", class: "alert", tabindex: "-1" });
}

/** A polite status region for confirmations. */
export function statusRegion() {
  return h("div", { role: "status", class: "notice" });
}

/**
 * One labelled input: {name, label, type, autocomplete, required, hint, inputmode, value}.
 * The hint and the error message are tied to the input by aria-describedby.
 */
export function field(spec) {
  const id = uid(`f-${spec.name}`);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const input = h("input", {
    id,
    name: spec.name,
    type: spec.type || "text",
    autocomplete: spec.autocomplete || "off",
    required: spec.required !== false,
    inputmode: spec.inputmode,
    pattern: spec.pattern,
    maxlength: spec.maxlength,
    spellcheck: spec.type === "email" || spec.type === "password" ? "false" : null,
    autocapitalize: spec.type === "email" ? "none" : null,
    value: spec.value,
    "aria-describedby": spec.hint ? `${hintId} ${errorId}` : errorId,
  });
  const error = h("div", { id: errorId, class: "field-error" });
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id }, spec.label, spec.required === false ? h("span", { class: "optional" }, " (optional)") : null),
    spec.hint ? h("p", { id: hintId, class: "hint" }, spec.hint) : null,
    input,
    error,
  );
  return { wrapper, input, error };
}

function clearFieldErrors(fields) {
  for (const { input, error } of Object.values(fields)) {
    input.removeAttribute("aria-invalid");
    replaceChildren(error);
  }
}

/** The sentence(s) an error shows in the alert region. */
export function problemText(error) {
  if (!(error instanceof ApiError)) return "Something went wrong in this page. Reload it and try again.";
  const problem = error.problem;
  let text = problem.detail || problem.title || `The request failed (HTTP ${error.status}).`;
  if ((error.status === 429 || error.status === 503) && error.retryAfter) {
    text += ` Try again in ${error.retryAfter} seconds.`;
  }
  return text;
}

/**
 * Show an error: its detail in `alert`, and its field errors next to the matching inputs
 * (`aliases` maps an API field name to an input name, e.g. password -> new_password); errors
 * for fields that have no input are listed in the alert. Focus goes to the first invalid input,
 * else to the alert, so keyboard and screen-reader users land on the problem.
 */
export function showError(alert, error, fields = {}, aliases = {}) {
  clearFieldErrors(fields);
  const unmatched = [];
  let first = null;
  const fieldErrors = error instanceof ApiError ? error.fieldErrors : [];
  for (const item of fieldErrors) {
    const name = aliases[item.field] || item.field;
    const target = fields[name];
    if (!target) {
      unmatched.push(item);
      continue;
    }
    target.input.setAttribute("aria-invalid", "true");
    target.error.append(h("p", {}, item.message));
    first = first || target.input;
  }
  replaceChildren(
    alert,
    h("p", { class: "alert-detail" }, problemText(error)),
    unmatched.length
      ? h("ul", {}, unmatched.map((item) => h("li", {}, `${item.field}: ${item.message}`)))
      : null,
  );
  if (!(error instanceof ApiError)) console.error(error); // a bug in the page, not an API answer
  (first || alert).focus();
}

/**
 * Run `work` with `control` (a button, or a form's submit button) showing progress: disabled,
 * aria-busy on `busyTarget`, and a visible "Working…" label. Errors are shown in `alert`.
 */
export async function withProgress({ button, busyTarget, alert, fields, aliases }, work) {
  const label = button.textContent;
  button.disabled = true;
  button.classList.add("working");
  button.textContent = "Working…";
  (busyTarget || button).setAttribute("aria-busy", "true");
  if (alert) replaceChildren(alert);
  try {
    return await work();
  } catch (error) {
    if (alert) showError(alert, error, fields || {}, aliases || {});
    else throw error;
    return undefined;
  } finally {
    button.disabled = false;
    button.classList.remove("working");
    button.textContent = label;
    (busyTarget || button).removeAttribute("aria-busy");
  }
}

/**
 * A form: createForm({fields: [spec...], submitLabel, onSubmit(values, form), aliases, intro}).
 * onSubmit may return a string (shown in the form's status region) or nothing.
 */
export function createForm({ fields: specs, submitLabel, onSubmit, aliases = {}, intro, label }) {
  const fields = {};
  for (const spec of specs) fields[spec.name] = field(spec);
  const alert = alertRegion();
  const status = statusRegion();
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h(
    "form",
    { novalidate: true, "aria-label": label },
    intro ? h("p", { class: "intro" }, intro) : null,
    alert,
    Object.values(fields).map((f) => f.wrapper),
    h("div", { class: "actions" }, submit),
    status,
  );
  const api = { form, fields, alert, status, submit };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    replaceChildren(status);
    clearFieldErrors(fields);
    const values = {};
    for (const [name, { input }] of Object.entries(fields)) values[name] = input.value;
    const message = await withProgress({ button: submit, busyTarget: form, alert, fields, aliases },
      () => onSubmit(values, api));
    if (typeof message === "string") replaceChildren(status, h("p", {}, message));
  });
  return api;
}
