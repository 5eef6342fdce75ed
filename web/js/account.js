// The account page: profile, password, email, sessions, two-factor, security events, deletion.
import { h, formatTime, replaceChildren } from "./dom.js";
import { alertRegion, createForm, showError } from "./forms.js";
import { PASSWORD_HINT, progress, showPage } from "./layout.js";
import { navigate, setFlash } from "./router.js";
import { eventsSection, mfaSection, sessionsSection } from "./security.js";
import { authRequest, forgetSession, isSignedIn } from "./session.js";

function section(id, title, ...children) {
  return h("section", { "aria-labelledby": id, class: "card" }, h("h2", { id }, title), ...children);
}

function profileList(profile) {
  const item = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  return h("dl", { class: "profile" },
    item("Email", profile.email),
    item("Email verified", profile.email_verified ? "Yes" : "No"),
    item("Name", profile.name || "(none)"),
    item("Two-factor authentication", profile.mfa_enabled ? "On" : "Off"),
    item("Member since", formatTime(profile.created_at)));
}

function profileSection(profile) {
  const summary = h("div", {}, profileList(profile));
  const form = createForm({
    label: "Change your name",
    fields: [{ name: "name", label: "Name", autocomplete: "name", maxlength: 100, value: profile.name || "" }],
    submitLabel: "Save name",
    onSubmit: async (values) => {
      Object.assign(profile, await authRequest("PATCH", "/v1/auth/me", { body: { name: values.name } }));
      replaceChildren(summary, profileList(profile));
      return "Your name is saved.";
    },
  });
  const refresh = () => replaceChildren(summary, profileList(profile));
  return { element: section("profile-heading", "Profile", summary, form.form), refresh };
}

function passwordSection(onChanged) {
  const form = createForm({
    label: "Change your password",
    fields: [
      { name: "current_password", label: "Current password", type: "password", autocomplete: "current-password" },
      { name: "new_password", label: "New password", type: "password", autocomplete: "new-password", hint: PASSWORD_HINT },
    ],
    // The password policy reports its rules under "password": they belong to the new password.
    aliases: { password: "new_password" },
    submitLabel: "Change password",
    onSubmit: async (values, { fields }) => {
      await authRequest("POST", "/v1/auth/password", { body: values });
      for (const { input } of Object.values(fields)) input.value = "";
      await onChanged();
      return "Your password is changed. Every other session was signed out; this one stays signed in.";
    },
  });
  return section("password-heading", "Password", form.form);
}

function emailSection() {
  const form = createForm({
    label: "Change your email address",
    intro: "We send a link to the new address; the change happens when you open it.",
    fields: [
      { name: "new_email", label: "New email address", type: "email", autocomplete: "email" },
      { name: "password", label: "Password", type: "password", autocomplete: "current-password" },
    ],
    submitLabel: "Send the confirmation link",
    onSubmit: async (values, { fields }) => {
      await authRequest("POST", "/v1/auth/email", { body: values });
      fields.password.input.value = "";
      return `A confirmation link is on its way to ${values.new_email}. Open it to finish the change.`;
    },
  });
  return section("email-heading", "Email address", form.form);
}

function deleteSection() {
  const form = createForm({
    label: "Delete your account",
    intro: "This deletes your account, its sessions and its history at once. It cannot be undone.",
    fields: [{ name: "password", label: "Password", type: "password", autocomplete: "current-password" }],
    submitLabel: "Delete my account",
    onSubmit: async (values) => {
      await authRequest("DELETE", "/v1/auth/me", { body: { password: values.password } });
      forgetSession();
      setFlash("Your account was deleted.");
      await navigate("signup");
    },
  });
  form.submit.classList.add("danger");
  return section("delete-heading", "Delete account", form.form);
}

export async function accountPage() {
  if (!isSignedIn()) {
    setFlash("Log in to see your account.");
    await navigate("login", { replace: true });
    return;
  }
  const alert = alertRegion();
  const content = h("div", { class: "sections" }, progress("Working… loading your account."));
  showPage("Your account", alert, content);
  let profile;
  try {
    profile = await authRequest("GET", "/v1/auth/me");
  } catch (error) {
    replaceChildren(content);
    if (isSignedIn()) showError(alert, error); // else the session ended and the app shows log in
    return;
  }
  const profilePart = profileSection(profile);
  const sessions = sessionsSection();
  const events = eventsSection();
  const mfa = mfaSection(profile, (enabled) => {
    profile.mfa_enabled = enabled;
    profilePart.refresh();
  });
  replaceChildren(content,
    h("nav", { "aria-label": "Account sections", class: "toc" }, h("ul", {},
      [["profile-heading", "Profile"], ["password-heading", "Password"], ["email-heading", "Email address"],
        ["sessions-heading", "Sessions"], ["mfa-heading", "Two-factor authentication"],
        ["events-heading", "Security events"], ["delete-heading", "Delete account"]]
        .map(([id, text]) => h("li", {}, h("a", { href: `#${id}` }, text))))),
    profilePart.element,
    passwordSection(sessions.reload),
    emailSection(),
    sessions.element,
    mfa.element,
    events.element,
    deleteSection());
  await Promise.all([
    sessions.reload().catch((error) => showError(sessions.alert, error)),
    events.load().catch((error) => showError(events.alert, error)),
  ]);
}
