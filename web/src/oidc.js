// Redirect sign-in through the configured OpenID Connect provider: the
// authorization code flow with PKCE (S256), state and nonce, the page a
// public client (it holds no secret; the code verifier proves that the
// code comes back to the tab that asked for it). The settings come from
// /config.json; the endpoints from the issuer's discovery document.
//
// The token kept is the one the server verifies as a bearer JWT: the
// access token when it is a JWT (the provider minted it for the API, its
// aud the server's jwt.audience), else the ID token (its aud is the
// client id, so jwt.audience must then be the client id). Either must
// carry the tenant and scope claims the server reads.

const pendingName = "imagepipe.oidc";

// SignInError is a failed sign-in, its message fit to show.
export class SignInError extends Error {}

let configPromise = null;

// oidcConfig is /config.json's oidc: {issuer, client_id, scopes,
// audience} or null when redirect sign-in is off.
export function oidcConfig() {
  if (!configPromise) {
    configPromise = fetch("/config.json", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : {}))
      .then((j) => j.oidc || null)
      .catch(() => null);
  }
  return configPromise;
}

// providerName is what the sign-in button calls the provider: its host.
export function providerName(cfg) {
  try {
    return new URL(cfg.issuer).host;
  } catch {
    return "your identity provider";
  }
}

function redirectURI() {
  return location.origin + "/";
}

function base64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

// discover reads the issuer's discovery document; its issuer must be the
// configured one.
async function discover(issuer) {
  let doc;
  try {
    const resp = await fetch(issuer + "/.well-known/openid-configuration", { headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    doc = await resp.json();
  } catch (e) {
    throw new SignInError(`The identity provider ${issuer} cannot be reached (${e.message}).`);
  }
  if (doc.issuer !== issuer || !doc.authorization_endpoint || !doc.token_endpoint) {
    throw new SignInError(`The identity provider's discovery document does not describe ${issuer}.`);
  }
  return doc;
}

// startSignIn sends the browser to the provider's authorization endpoint,
// keeping state, nonce and the code verifier in session storage for the
// way back.
export async function startSignIn(cfg) {
  const doc = await discover(cfg.issuer);
  const pending = { state: randomString(), nonce: randomString(), verifier: randomString(), token_endpoint: doc.token_endpoint };
  const params = new URLSearchParams({
    response_type: "code",
    client_id: cfg.client_id,
    redirect_uri: redirectURI(),
    scope: cfg.scopes,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: "S256",
  });
  if (cfg.audience) params.set("audience", cfg.audience);
  sessionStorage.setItem(pendingName, JSON.stringify(pending));
  const u = new URL(doc.authorization_endpoint);
  for (const [k, v] of params) u.searchParams.set(k, v);
  location.assign(u.toString());
}

// isReturn reports whether the address is the provider's answer.
export function isReturn() {
  const q = new URLSearchParams(location.search);
  return q.has("state") && (q.has("code") || q.has("error"));
}

// finishSignIn takes the provider's answer out of the address bar, checks
// it and exchanges the code for tokens; it returns the token to keep.
export async function finishSignIn(cfg) {
  const q = new URLSearchParams(location.search);
  history.replaceState(null, "", location.pathname + "#/upload");
  const pending = JSON.parse(sessionStorage.getItem(pendingName) || "null");
  sessionStorage.removeItem(pendingName);
  if (!pending || q.get("state") !== pending.state) {
    throw new SignInError("The sign-in answer does not belong to a sign-in started here (state mismatch). Sign in again.");
  }
  if (q.get("error")) {
    const why = q.get("error_description") || q.get("error");
    throw new SignInError(`The identity provider refused the sign-in: ${why}`);
  }
  if (!cfg) throw new SignInError("Sign-in through an identity provider is not configured here.");
  const tokens = await exchange(cfg, pending, q.get("code"));
  return chooseToken(cfg, pending, tokens);
}

async function exchange(cfg, pending, code) {
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: code || "",
    redirect_uri: redirectURI(),
    client_id: cfg.client_id,
    code_verifier: pending.verifier,
  });
  let resp;
  let j = {};
  try {
    resp = await fetch(pending.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body,
    });
    j = await resp.json().catch(() => ({}));
  } catch (e) {
    throw new SignInError(`The identity provider's token endpoint cannot be reached (${e.message}).`);
  }
  if (!resp.ok) {
    const why = j.error_description || j.error || `HTTP ${resp.status}`;
    throw new SignInError(`The identity provider did not exchange the sign-in code: ${why}`);
  }
  return j;
}

function isJWT(s) {
  return typeof s === "string" && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s);
}

function claimsOf(jwt) {
  try {
    const p = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(p), (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

// chooseToken checks the ID token (issued to this client, for this
// sign-in: iss, aud, nonce; it came straight from the token endpoint, so
// its signature is left to the server when it is the token kept) and
// picks the token to keep.
function chooseToken(cfg, pending, tokens) {
  if (tokens.id_token) {
    const c = claimsOf(tokens.id_token);
    const aud = c && (Array.isArray(c.aud) ? c.aud : [c.aud]);
    if (!c || c.iss !== cfg.issuer || !aud.includes(cfg.client_id) || c.nonce !== pending.nonce) {
      throw new SignInError("The identity provider's ID token is not for this sign-in (iss, aud or nonce).");
    }
  }
  if (isJWT(tokens.access_token)) return tokens.access_token;
  if (isJWT(tokens.id_token)) return tokens.id_token;
  throw new SignInError("The identity provider returned no JWT to sign in with.");
}
