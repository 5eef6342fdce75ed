// Entry point: routes, the navigation bar, and the session restored from this tab's earlier page.
import { accountPage } from "./account.js";
import { h, replaceChildren } from "./dom.js";
import {
  confirmEmailPage, forgotPasswordPage, loginPage, notFoundPage, resetPasswordPage, signupPage, verifyEmailPage,
} from "./pages.js";
import { appUrl, currentPath, fallback, interceptLinks, navigate, render, route, setFlash } from "./router.js";
import { isSignedIn, logout, onSessionChange, restoreSession } from "./session.js";

let loggingOut = false;

function drawNav() {
  const nav = document.getElementById("nav");
  const link = (path, text) => h("li", {}, h("a", { href: appUrl(path) }, text));
  if (isSignedIn()) {
    const button = h("button", { type: "button", class: "link-button" }, "Log out");
    button.addEventListener("click", async () => {
      loggingOut = true;
      button.disabled = true;
      button.textContent = "Working…";
      try {
        await logout();
      } catch {
        // The tokens are forgotten either way; the refresh token expires on its own.
      } finally {
        loggingOut = false;
      }
      setFlash("You are logged out.");
      await navigate("login");
    });
    replaceChildren(nav, h("ul", {}, link("account", "Account"), h("li", {}, button)));
  } else {
    replaceChildren(nav, h("ul", {}, link("login", "Log in"), link("signup", "Sign up")));
  }
}

route("", () => (isSignedIn() ? accountPage() : loginPage()));
route("signup", signupPage);
route("login", loginPage);
route("verify-email", verifyEmailPage);
route("forgot-password", forgotPasswordPage);
route("reset-password", resetPasswordPage);
route("confirm-email", confirmEmailPage);
route("account", accountPage);
fallback(notFoundPage);

onSessionChange((signedIn) => {
  drawNav();
  // A refresh refused (session revoked elsewhere, password reset) while on the account page.
  if (!signedIn && !loggingOut && (currentPath() === "account" || currentPath() === "")) {
    setFlash("Your session has ended. Log in again.");
    navigate("login");
  }
});

async function start() {
  interceptLinks(document.body);
  await restoreSession();
  drawNav();
  await render();
}

start();
