// Talking to Confab: the authenticated JSON routes (agents, memory) and the /v1/realtime WebSocket.

const KEY_PROTOCOL = "openai-insecure-api-key.";

/** A failure the page explains to the person: `kind` is "bad_key", "unreachable", "server" or "session_url". */
export class ConnectError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

function unreachable(error) {
  return new ConnectError("unreachable", `Cannot reach the Confab server at ${location.host}: is it running? (${error.message})`);
}

/**
 * GET one of the JSON routes with the key. A browser WebSocket cannot see the 401 that refuses a bad key
 * (it only reports close code 1006), so the page asks this route first: 401 here means the key is wrong,
 * a network failure means the server is unreachable.
 */
export async function getJSON(path, key) {
  let response;
  try {
    response = await fetch(path, { headers: key ? { Authorization: `Bearer ${key}` } : {}, cache: "no-store" });
  } catch (error) {
    throw unreachable(error);
  }
  if (response.status === 401) {
    throw new ConnectError("bad_key", key
      ? "The API key was refused (HTTP 401). Check the key and connect again."
      : "This server needs an API key: enter it above and connect again.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body.error && body.error.message ? body.error.message : response.statusText;
    throw new ConnectError("server", `The server answered ${response.status}: ${message}`);
  }
  return body;
}

/**
 * Why a WebSocket that presented a client secret did not open (a browser hides the 401): the server
 * refused the secret, or it cannot be reached (asked of `/healthz`, which needs no key).
 */
export async function secretRefusal() {
  try {
    await fetch("/healthz", { cache: "no-store" });
  } catch (error) {
    return unreachable(error);
  }
  return new ConnectError("bad_key", "The Confab server refused this session's client secret (expired, already used or unknown). Connect again for a new one.");
}

/** The caller's agents, by name (`default` always offered: the server creates it on first use). */
export async function listAgents(key) {
  const { agents } = await getJSON("/v1/agents", key);
  const names = agents.map((agent) => agent.name);
  return names.includes("default") ? names : ["default", ...names];
}

const CALLER_KEY = "confab.caller";

/** Who this browser is to the agents: a caller id kept in localStorage (made on first visit), so a returning visitor is remembered. */
export function callerId() {
  let caller = localStorage.getItem(CALLER_KEY);
  if (!caller) {
    caller = `web-${crypto.randomUUID()}`;
    localStorage.setItem(CALLER_KEY, caller);
  }
  return caller;
}

function memoryPath(agent, caller) {
  return `/v1/agents/${encodeURIComponent(agent)}/memory?caller=${encodeURIComponent(caller)}`;
}

/** The memory blocks this caller's conversation with the agent sees: [{label, value, limit}]. */
export async function memoryBlocks(agent, key, caller) {
  const { blocks } = await getJSON(memoryPath(agent, caller), key);
  return blocks;
}

/** Erase everything the agent remembers of this caller, then become a new caller (a new id). */
export async function forgetMe(agent, key, caller) {
  const response = await fetch(memoryPath(agent, caller), { method: "DELETE", headers: key ? { Authorization: `Bearer ${key}` } : {} });
  const body = await response.json().catch(() => ({}));
  if (!response.ok && response.status !== 404) {
    throw new ConnectError("server", `Forgetting failed (${response.status}): ${body.error ? body.error.message : response.statusText}`);
  }
  localStorage.removeItem(CALLER_KEY);
  return body.erased || null;
}

/**
 * One Realtime session over a WebSocket; events arrive parsed through `onEvent`. `agent` and `caller`
 * are left out of the URL when null (a client secret names both).
 */
export class RealtimeConnection {
  constructor({ agent, key, caller }, { onOpen, onEvent, onClose }) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ ...(agent ? { model: agent } : {}), ...(caller ? { caller } : {}), latency: "1" });
    const url = `${scheme}://${location.host}/v1/realtime?${query}`;
    this.opened = false;
    this.socket = new WebSocket(url, key ? ["realtime", KEY_PROTOCOL + key] : ["realtime"]);
    this.socket.onopen = () => { this.opened = true; onOpen(); };
    this.socket.onmessage = (message) => onEvent(JSON.parse(message.data));
    this.socket.onclose = (event) => onClose(event, this.opened);
  }

  /** Send one client event (dropped once the socket is closing). */
  send(event) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
  }

  close() {
    this.socket.close(1000, "bye");
  }
}
