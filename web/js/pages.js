// The pages of a signed-out user and the pages emailed links open.
import { ApiError, request } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { alertRegion, createForm, showError } from "./forms.js";
import { link, PASSWORD_HINT, progress, showPage } from "./layout.js";
import { navigate, setFlash, takeToken } from "./router.js";
import { forgetSession, isSignedIn, startSession } from "./session.js";

const EMAIL = { name: "email", label: "Email address", type: "email", autocomplete: "email" };

function resendForm(email = "") {
  const form = createForm({
    label: "Send the verification link again",
    fields: [{ ...EMAIL, value: email }],
    submitLabel: "Send the link again",
    onSubmit: async (values) => {
      await request("POST", "/v1/auth/verify-email/resend", { body: { email: values.email } });
      return `If ${values.email} has an account that is not verified yet, a new link is on its way.`;
    },
  });
  return h("section", { "aria-labelledby": "resend-heading" },
    h("h2", { id: "resend-heading" }, "Did not get the email?"), form.form);
}

export function signupPage() {
  const form = createForm({
    label: "Sign up",
    fields: [
      EMAIL,
      { name: "name", label: "Name", autocomplete: "name", required: false, maxlength: 100 },
      { name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: PASSWORD_HINT },
    ],
    submitLabel: "Create account",
    onSubmit: async (values) => {
      const body = { email: values.email, password: values.password };
      if (values.name.trim()) body.name = values.name.trim();
      await request("POST", "/v1/auth/register", { body });
      showPage("Check your email",
        h("p", {}, `We sent a verification link to ${values.email}. Open it to activate your account, then log in.`),
        resendForm(values.email),
        h("p", {}, link("login", "Log in")));
    },
  });
  showPage("Create an account", form.form,
    h("p", {}, "Already have an account? ", link("login", "Log in")));
}

function mfaStep(mfaToken, email) {
  let useRecovery = false;
  const holder = h("div");
  const toggle = h("button", { type: "button", class: "link-button" });
  const draw = () => {
    const spec = useRecovery
      ? { name: "recovery_code", label: "Recovery code", autocomplete: "off", hint: "One of the codes you saved when you turned on two-factor authentication; each works once." }
      : { name: "code", label: "6-digit code", autocomplete: "one-time-code", inputmode: "numeric", maxlength: 6, hint: "The code your authenticator app shows now." };
    const form = createForm({
      label: "Second step",
      fields: [spec],
      submitLabel: "Verify and log in",
      onSubmit: async (values) => {
        const body = { mfa_token: mfaToken };
        body[spec.name] = values[spec.name].trim();
        startSession(await request("POST", "/v1/auth/login/mfa", { body }));
        setFlash(`Signed in as ${email}.`);
        await navigate("account");
      },
    });
    toggle.textContent = useRecovery ? "Use a code from the app instead" : "Use a recovery code instead";
    replaceChildren(holder, form.form);
    form.fields[spec.name].input.focus();
  };
  toggle.addEventListener("click", () => {
    useRecovery = !useRecovery;
    draw();
  });
  showPage("Two-factor authentication",
    h("p", {}, "Your password was right. Enter a code from your authenticator app to finish logging in."),
    holder, h("p", {}, toggle), h("p", {}, link("login", "Start over")));
  draw();
}

export function loginPage() {
  const extra = h("div");
  const form = createForm({
    label: "Log in",
    fields: [EMAIL, { name: "password", label: "Password", type: "password", autocomplete: "current-password" }],
    submitLabel: "Log in",
    onSubmit: async (values) => {
      replaceChildren(extra);
      try {
        startSession(await request("POST", "/v1/auth/login", { body: values }));
      } catch (error) {
        if (error instanceof ApiError && error.code === "mfa_required" && error.problem.mfa_token) {
          mfaStep(error.problem.mfa_token, values.email);
          return;
        }
        if (error instanceof ApiError && error.code === "email_not_verified") replaceChildren(extra, resendForm(values.email));
        throw error;
      }
      setFlash(`Signed in as ${values.email}.`);
      await navigate("account");
    },
  });
  showPage("Log in", form.form, extra,
    h("ul", { class: "links" },
      h("li", {}, link("forgot-password", "Forgot your password?")),
      h("li", {}, "New here? ", link("signup", "Create an account"))));
}

/** A page that consumes an emailed token at once, showing progress, then the outcome. */
async function tokenPage(title, run) {
  const alert = alertRegion();
  const outcome = h("div");
  const token = takeToken();
  showPage(title, alert, outcome);
  if (!token) {
    showError(alert, new ApiError(400, { detail: "This link has no token. Open the link from the email again." }));
    return { ok: false, alert, outcome };
  }
  replaceChildren(outcome, progress("Working… checking the link."));
  try {
    const result = await run(token);
    replaceChildren(outcome, ...result);
    return { ok: true, alert, outcome };
  } catch (error) {
    replaceChildren(outcome);
    showError(alert, error);
    return { ok: false, alert, outcome };
  }
}

export async function verifyEmailPage() {
  const { ok, outcome } = await tokenPage("Verify your email", async (token) => {
    await request("POST", "/v1/auth/verify-email", { body: { token } });
    return [h("p", { class: "success" }, "Your email address is verified. You can log in now."),
      h("p", {}, link("login", "Log in"))];
  });
  if (!ok) outcome.append(resendForm());
}

export async function confirmEmailPage() {
  await tokenPage("Confirm your new email", async (token) => {
    const profile = await request("POST", "/v1/auth/email/confirm", { body: { token } });
    return [h("p", { class: "success" }, `Your email address is now ${profile.email}.`),
      h("p", {}, isSignedIn() ? link("account", "Back to your account") : link("login", "Log in"))];
  });
}

export function forgotPasswordPage() {
  const form = createForm({
    label: "Reset your password",
    intro: "Enter the address of your account; we will email you a link to choose a new password.",
    fields: [EMAIL],
    submitLabel: "Send the reset link",
    onSubmit: async (values) => {
      await request("POST", "/v1/auth/password-reset", { body: { email: values.email } });
      return `If ${values.email} has an account, a link to reset its password is on its way.`;
    },
  });
  showPage("Forgot your password?", form.form, h("p", {}, link("login", "Back to log in")));
}

export function resetPasswordPage() {
  const token = takeToken();
  const form = createForm({
    label: "Choose a new password",
    fields: [{ name: "password", label: "New password", type: "password", autocomplete: "new-password", hint: PASSWORD_HINT }],
    submitLabel: "Set the new password",
    onSubmit: async (values) => {
      if (!token) throw new ApiError(400, { detail: "This link has no token. Open the link from the email again." });
      await request("POST", "/v1/auth/password-reset/confirm", { body: { token, password: values.password } });
      forgetSession(); // a reset ends every session, this tab's included
      setFlash("Your password is changed, and every session was signed out. Log in with the new password.");
      await navigate("login");
    },
  });
  showPage("Choose a new password", form.form, h("p", {}, link("forgot-password", "Need a new link?")));
}

export function notFoundPage() {
  showPage("Page not found", h("p", {}, "There is no page at this address. "), h("p", {}, link("", "Go to the start page")));
}
