// The signed-in session: the access token lives only in this module's memory (never in storage,
// so a script injected later or a copied profile cannot read it from disk); it is refreshed about
// a minute before it expires. The refresh token is kept in sessionStorage, not memory alone, so
// that a reload in the same tab keeps the user signed in; sessionStorage is per tab and cleared
// when the tab closes, unlike localStorage.
import { ApiError, request } from "./api.js";

const REFRESH_KEY = "accounts.refresh_token";
const REFRESH_MARGIN_SECONDS = 60;

let accessToken = null;
let refreshTimer = null;
let refreshing = null; // one refresh at a time: a second use of a rotated token would revoke the family
const listeners = new Set();

function storedRefreshToken() {
  try {
    return window.sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function storeRefreshToken(value) {
  try {
    if (value) window.sessionStorage.setItem(REFRESH_KEY, value);
    else window.sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // Storage disabled: the session then lasts as long as the page.
  }
}

/** Called with true/false when the user signs in or out (also when a refresh fails). */
export function onSessionChange(listener) {
  listeners.add(listener);
}

function notify() {
  for (const listener of listeners) listener(isSignedIn());
}

export function isSignedIn() {
  return accessToken !== null;
}

/** Keep a token response from login, login/mfa or refresh, and plan the next refresh. */
export function startSession(tokens) {
  const wasSignedIn = isSignedIn();
  accessToken = tokens.access_token;
  storeRefreshToken(tokens.refresh_token);
  clearTimeout(refreshTimer);
  const seconds = Math.max(0, Number(tokens.expires_in || 0) - REFRESH_MARGIN_SECONDS);
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {}); // a failed refresh ends the session (listeners are told)
  }, seconds * 1000);
  if (!wasSignedIn) notify();
}

function endSession() {
  const wasSignedIn = isSignedIn();
  accessToken = null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
  storeRefreshToken(null);
  if (wasSignedIn) notify();
}

/** Rotate the refresh token for a new access token; ends the session when the token is refused. */
export function refresh() {
  if (refreshing) return refreshing;
  const token = storedRefreshToken();
  if (!token) {
    endSession();
    return Promise.reject(new ApiError(401, { code: "invalid_grant", detail: "Not signed in." }));
  }
  refreshing = request("POST", "/v1/auth/refresh", { body: { refresh_token: token } })
    .then((tokens) => {
      startSession(tokens);
      return tokens;
    })
    .catch((error) => {
      // Only a refused token ends the session; a network failure leaves it for a later try.
      if (error.status === 400 || error.status === 401) endSession();
      throw error;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** On load: a refresh token from this tab's earlier page gives a new access token. */
export async function restoreSession() {
  if (!storedRefreshToken()) return false;
  try {
    await refresh();
    return true;
  } catch {
    return false;
  }
}

function isExpiredTokenError(error) {
  return error instanceof ApiError && error.status === 401
    && (error.code === "unauthorized" || error.code === "invalid_token");
}

/**
 * A call to a route that needs the access token. A 401 for the token (expired, or revoked with
 * its session) gets one refresh and one retry before the error is passed on.
 */
export async function authRequest(method, path, options = {}) {
  if (!accessToken) await refresh();
  try {
    return await request(method, path, { ...options, token: accessToken });
  } catch (error) {
    if (!isExpiredTokenError(error)) throw error;
    await refresh();
    return request(method, path, { ...options, token: accessToken });
  }
}

/** Log out: revoke the refresh token's session at the API, and forget both tokens either way. */
export async function logout() {
  const token = storedRefreshToken();
  try {
    if (token) await request("POST", "/v1/auth/logout", { body: { refresh_token: token } });
  } finally {
    endSession();
  }
}

/** Forget the tokens without calling the API (the account was deleted, the session is gone). */
export function forgetSession() {
  endSession();
}
