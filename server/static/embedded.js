// Embedded mode: the page holds no API key. The operator's own backend (the "session URL", given as
// `?session_url=`) mints a short-lived client secret with its key and hands it over, one per session.

import { ConnectError } from "./realtime.js";

const PARAMETER = "session_url";

/**
 * The operator's session URL from `?session_url=` (absolute, or relative to this page), or null when the
 * page runs with a key. Throws ConnectError when it is not an http(s) URL.
 */
export function sessionUrl() {
  const value = new URLSearchParams(location.search).get(PARAMETER);
  if (value === null) return null;
  let url;
  try {
    url = new URL(value, location.href);
  } catch {
    throw new ConnectError("session_url", `The session URL ${JSON.stringify(value)} is not a URL: the site that embeds this page must fix ?${PARAMETER}=.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConnectError("session_url", `The session URL must be http(s), not ${url.protocol}: the site that embeds this page must fix ?${PARAMETER}=.`);
  }
  return url;
}

function refusal(body) {
  const error = body && body.error;
  if (typeof error === "string") return error;
  return error && typeof error.message === "string" ? error.message : "";
}

/**
 * POST `{"caller", "agent"}` to the session URL and return the client secret it answers with
 * (`{"value": "ek_...", "expires_at", "session"}`, Confab's own `client_secrets` answer relayed).
 * Throws ConnectError saying what went wrong: unreachable (or not allowed by CORS), refused, or no secret.
 */
export async function fetchClientSecret(url, caller, agent) {
  const site = url.origin;
  let response;
  try {
    response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, cache: "no-store",
      body: JSON.stringify({ caller, agent }),
    });
  } catch (error) {
    throw new ConnectError("session_url", `Cannot get a session from ${site}: it is unreachable or does not allow this page's origin (CORS). (${error.message})`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: said below, with the status
  }
  if (!response.ok) {
    const why = refusal(body);
    throw new ConnectError("session_url", `${site} refused to start a session (HTTP ${response.status})${why ? `: ${why}` : "."}`);
  }
  if (!body || typeof body.value !== "string" || !body.value) {
    throw new ConnectError("session_url", `${site} did not answer with a client secret (JSON with a "value"), so the session cannot start.`);
  }
  return body;
}
