// The API as the page uses it: fetch with the signed-in credential, JSON
// errors turned into ApiError, and watch streams read as server-sent
// events through fetch (EventSource cannot send an Authorization header).

const keyName = "imagepipe.key";

export function credential() {
  return sessionStorage.getItem(keyName) || "";
}

export function setCredential(key) {
  if (key) sessionStorage.setItem(keyName, key);
  else sessionStorage.removeItem(keyName);
}

export function authHeaders(extra = {}) {
  const h = { ...extra };
  const key = credential();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// refused handles a 401 that refuses the credential the page holds
// (WWW-Authenticate: Bearer error="invalid_token": an expired token, a
// revoked key): the credential is dropped and the page told, so it goes
// back to the sign-in view.
export function refused(status, challenge) {
  if (status !== 401 || !credential()) return;
  if (!/invalid_token/.test(challenge || "")) return;
  setCredential("");
  window.dispatchEvent(new Event("imagepipe:signedout"));
}

function expired(resp) {
  refused(resp.status, resp.headers.get("WWW-Authenticate"));
}

// ApiError is an error answer: its HTTP status and the server's message
// (and the field at fault, when it names one).
export class ApiError extends Error {
  constructor(status, message, field, reason) {
    super(message);
    this.status = status;
    this.field = field || "";
    this.reason = reason || "";
  }
}

// errorFrom reads an error answer: imagepipe's {"error": {...}}, the tus
// route's {"code", "message", "details"}, or plain text.
export async function errorFrom(status, text) {
  let message = text.trim() || `HTTP ${status}`;
  let field = "";
  let reason = "";
  try {
    const j = JSON.parse(text);
    const e = j.error && typeof j.error === "object" ? j.error : j;
    if (typeof e.message === "string" && e.message) message = e.message;
    field = e.field || fieldOf(e.details) || "";
    reason = e.reason || (typeof e.code === "string" ? e.code : "") || "";
  } catch {
    // not JSON: the text is the message
  }
  if (field && !message.includes(field)) message = `${field}: ${message}`;
  return new ApiError(status, message, field, reason);
}

function fieldOf(details) {
  if (!Array.isArray(details)) return "";
  for (const d of details) {
    if (d && d.field) return d.field;
    if (d && Array.isArray(d.fieldViolations) && d.fieldViolations[0]) return d.fieldViolations[0].field;
    if (d && Array.isArray(d.field_violations) && d.field_violations[0]) return d.field_violations[0].field;
  }
  return "";
}

// api calls method path with an optional JSON body and returns the JSON
// answer (null for an empty one).
export async function api(method, path, body) {
  const init = { method, headers: authHeaders({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  expired(resp);
  if (!resp.ok) throw await errorFrom(resp.status, text);
  return text ? JSON.parse(text) : null;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// watch reads the server-sent events of path (an image's or a batch's
// :watch route) and calls onEvent(name, data) for each, until the stream
// ends, signal aborts, or an error event arrives (thrown as ApiError).
export async function watch(path, onEvent, signal) {
  const resp = await fetch(path, { headers: authHeaders({ Accept: "text/event-stream" }), signal });
  expired(resp);
  if (!resp.ok) throw await errorFrom(resp.status, await resp.text());
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
      const ev = parseEvent(block);
      if (!ev) continue;
      if (ev.name === "end") return;
      if (ev.name === "error") {
        const e = ev.data && ev.data.error ? ev.data.error : ev.data || {};
        throw new ApiError(e.code || 500, e.message || "watch failed", e.field, e.reason);
      }
      onEvent(ev.name, ev.data);
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const c = line.indexOf(":");
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  try {
    return { name, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}
