// HTTP calls to the accounts API. Every failure becomes an ApiError that carries the problem
// document (RFC 9457: title, detail, code, errors[]) so pages can show `detail` and field errors.
import { API_BASE_URL } from "../config.js";

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || null;
    this.retryAfter = retryAfter;
  }

  get fieldErrors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

/**
 * request("POST", "/v1/auth/login", {body, token, query}) -> parsed JSON body, or null for 204.
 * Throws ApiError for any answer that is not 2xx, and for a network failure (status 0), which
 * is also what a browser reports when CORS refuses the app's origin.
 */
export async function request(method, path, { body, token, query } = {}) {
  const url = new URL(API_BASE_URL + path, API_BASE_URL ? undefined : window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", // the API uses bearer tokens, never cookies
    });
  } catch {
    throw new ApiError(0, {
      title: "Network error",
      detail: "The service could not be reached. Check your connection; if this persists, the "
        + "service may not allow this site's origin (CORS).",
    });
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === "object"
      ? data
      : { title: response.statusText || "Error", detail: `The service answered HTTP ${response.status}.` };
    const retryAfter = response.headers.get("Retry-After");
    throw new ApiError(response.status, problem, retryAfter);
  }
  return data;
}
