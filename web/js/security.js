// Account page sections about access: sessions, two-factor authentication, security events.
import { h, formatTime, replaceChildren } from "./dom.js";
import { alertRegion, createForm, statusRegion, withProgress } from "./forms.js";
import { qrCode } from "./qr.js";
import { authRequest } from "./session.js";

const EVENTS_PAGE_SIZE = 10;

const EVENT_LABELS = {
  login: "Logged in",
  login_failed: "Failed log in",
  mfa_failed: "Wrong two-factor code",
  locked_out: "Log in locked for a while",
  password_changed: "Password changed",
  password_reset: "Password reset",
  email_changed: "Email address changed",
  mfa_enabled: "Two-factor authentication turned on",
  mfa_disabled: "Two-factor authentication turned off",
  session_revoked: "Session revoked",
  refresh_reuse_detected: "Stolen session token detected",
  disabled: "Account disabled",
  enabled: "Account enabled",
};

function section(id, title, ...children) {
  return h("section", { "aria-labelledby": id, class: "card" }, h("h2", { id }, title), ...children);
}

/** Sessions: each active session, with a button to revoke the others. Returns {element, reload}. */
export function sessionsSection() {
  const alert = alertRegion();
  const status = statusRegion();
  const list = h("div", { class: "table-wrap" });
  const reload = async () => {
    const { sessions } = await authRequest("GET", "/v1/auth/sessions");
    const rows = sessions.map((s) => {
      const started = formatTime(s.created_at);
      let action;
      if (s.current) {
        action = h("span", { class: "badge" }, "This session");
      } else {
        action = h("button", { type: "button", class: "secondary", "aria-label": `Revoke the session started ${started}` },
          "Revoke");
        action.addEventListener("click", () => withProgress({ button: action, alert }, async () => {
          await authRequest("DELETE", `/v1/auth/sessions/${encodeURIComponent(s.session_id)}`);
          await reload();
          replaceChildren(status, h("p", {}, "The session was revoked."));
          list.querySelector("tbody th")?.focus(); // the revoked row is gone: keep focus in the list
        }));
      }
      return h("tr", {}, h("th", { scope: "row", tabindex: "-1" }, started), h("td", {}, formatTime(s.last_used_at)),
        h("td", {}, s.ip || "unknown"), h("td", { class: "agent" }, s.user_agent || "unknown"), h("td", {}, action));
    });
    replaceChildren(list, h("table", {},
      h("caption", {}, `${sessions.length} active session${sessions.length === 1 ? "" : "s"}`),
      h("thead", {}, h("tr", {}, ["Started", "Last used", "IP address", "Browser", "Action"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
  };
  const element = section("sessions-heading", "Sessions",
    h("p", {}, "Where your account is signed in. Revoke a session you do not recognise."), alert, list, status);
  return { element, reload, alert };
}

/** Two-factor authentication: enrolment with a QR code and recovery codes, or removal. */
export function mfaSection(profile, onChange) {
  const body = h("div");
  const element = section("mfa-heading", "Two-factor authentication", body);

  const showEnabled = () => {
    const form = createForm({
      label: "Turn off two-factor authentication",
      intro: "Two-factor authentication is on: logging in needs a code from your authenticator app.",
      fields: [
        { name: "password", label: "Password", type: "password", autocomplete: "current-password" },
        { name: "code", label: "Code from the app, or a recovery code", autocomplete: "one-time-code" },
      ],
      aliases: { recovery_code: "code" },
      submitLabel: "Turn off two-factor authentication",
      onSubmit: async (values) => {
        const code = values.code.trim();
        const body = { password: values.password };
        if (/^[0-9]{6}$/.test(code)) body.code = code;
        else body.recovery_code = code;
        await authRequest("DELETE", "/v1/auth/mfa/totp", { body });
        onChange(false);
        showDisabled("Two-factor authentication is off.");
      },
    });
    replaceChildren(body, form.form);
  };

  const showCodes = (codes) => {
    const done = h("button", { type: "button", class: "primary" }, "I have saved the codes");
    done.addEventListener("click", () => showEnabled());
    replaceChildren(body,
      h("div", { role: "status", class: "notice" }, h("p", {}, "Two-factor authentication is on.")),
      h("h3", { id: "codes-heading", tabindex: "-1" }, "Your recovery codes"),
      h("p", {}, "Each code logs you in once if you lose your authenticator. Save them somewhere safe now: "
        + "they are shown only this once."),
      h("ol", { class: "recovery-codes", "aria-labelledby": "codes-heading" }, codes.map((c) => h("li", {}, h("code", {}, c)))),
      done);
    body.querySelector("#codes-heading").focus();
  };

  const showEnrolment = (enrolment) => {
    const form = createForm({
      label: "Confirm two-factor authentication",
      fields: [{ name: "code", label: "6-digit code from the app", autocomplete: "one-time-code", inputmode: "numeric", maxlength: 6 }],
      submitLabel: "Turn on two-factor authentication",
      onSubmit: async (values) => {
        const answer = await authRequest("POST", "/v1/auth/mfa/totp/confirm", { body: { code: values.code.trim() } });
        onChange(true);
        showCodes(answer.recovery_codes);
      },
    });
    replaceChildren(body,
      h("h3", { id: "enrol-heading", tabindex: "-1" }, "Scan the QR code"),
      h("ol", { class: "steps" },
        h("li", {}, "Open an authenticator app (any TOTP app) and scan this code."),
        h("li", {}, "Then enter the 6-digit code the app shows.")),
      h("figure", { class: "qr-figure" },
        qrCode(enrolment.otpauth_uri, "QR code to add this account to an authenticator app"),
        h("figcaption", {}, "Cannot scan it? Enter this key in the app: ",
          h("code", { class: "secret", "data-testid": "totp-secret" }, enrolment.secret))),
      form.form);
    body.querySelector("#enrol-heading").focus();
  };

  const showDisabled = (message) => {
    const alert = alertRegion();
    const start = h("button", { type: "button", class: "primary" }, "Set up two-factor authentication");
    start.addEventListener("click", () => withProgress({ button: start, alert }, async () => {
      showEnrolment(await authRequest("POST", "/v1/auth/mfa/totp", { body: {} }));
    }));
    replaceChildren(body,
      message ? h("div", { role: "status", class: "notice" }, h("p", {}, message)) : null,
      h("p", {}, "Two-factor authentication is off. Turn it on so that a stolen password alone cannot log in."),
      alert, start);
  };

  if (profile.mfa_enabled) showEnabled();
  else showDisabled();
  return { element };
}

/** Security events, newest first, a page at a time ("Show more"). */
export function eventsSection() {
  const alert = alertRegion();
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary" }, "Show more events");
  const moreHolder = h("div", { class: "actions" });
  let cursor = null;
  const load = async () => {
    const page = await authRequest("GET", "/v1/auth/me/events", { query: { limit: EVENTS_PAGE_SIZE, cursor } });
    const rows = page.events.map((e) => h("tr", {},
      h("th", { scope: "row", tabindex: "-1" }, EVENT_LABELS[e.type] || e.type),
      h("td", {}, formatTime(e.at)), h("td", {}, e.ip || ""), h("td", { class: "agent" }, e.user_agent || "")));
    tbody.append(...rows);
    cursor = page.next;
    replaceChildren(moreHolder, cursor ? more : h("p", { class: "hint" }, "No older events."));
    return rows;
  };
  more.addEventListener("click", async () => {
    const rows = await withProgress({ button: more, alert }, load);
    // The new rows get focus, so a keyboard user continues from the first event just loaded.
    if (rows && rows.length) rows[0].querySelector("th").focus();
  });
  const element = section("events-heading", "Security events",
    h("p", {}, "Recent activity on your account (90 days)."), alert,
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", {}, "Security events, newest first"),
      h("thead", {}, h("tr", {}, ["Event", "When", "IP address", "Browser"].map((t) => h("th", { scope: "col" }, t)))),
      tbody)),
    moreHolder);
  return { element, load, alert };
}
