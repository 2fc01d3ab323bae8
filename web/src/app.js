// imagepipe's web page: sign in with an API key or a token, or through
// the configured identity provider (oidc.js), upload, gallery, an image's
// page and the operator's view. Routes are URL fragments (#/upload,
// #/gallery, #/image/ID, #/admin); a key given as #key=... is kept in
// session storage and taken out of the address bar. A call refused with
// invalid_token (an expired token) returns to the sign-in view.
import { api, credential, setCredential } from "./api.js";
import { oidcConfig, providerName, startSignIn, isReturn, finishSignIn } from "./oidc.js";
import { h, notice } from "./ui.js";
import { uploadView, forgetUploads } from "./upload.js";
import { galleryView } from "./gallery.js";
import { imageView } from "./image.js";
import { adminView } from "./admin.js";

// keyFromFragment moves #key=... into session storage.
function keyFromFragment() {
  const frag = location.hash.replace(/^#/, "");
  if (!/^key=/.test(frag)) return;
  const key = new URLSearchParams(frag).get("key");
  if (key) setCredential(key);
  history.replaceState(null, "", location.pathname + location.search + "#/upload");
}

let isAdmin = null;
// signingIn is set while the sign-in form tries a key: its refusal is
// the form's to show.
let signingIn = false;

async function checkAdmin() {
  try {
    await api("GET", "/v1/admin/dead-letters?max_messages=1");
    isAdmin = true;
  } catch {
    isAdmin = false;
  }
  document.getElementById("nav-admin").hidden = !isAdmin;
}

function signInView(main, message) {
  const input = h("input", { type: "password", id: "key", name: "key", autocomplete: "off", required: true, spellcheck: false, "aria-describedby": "key-help" });
  const err = h("p", { id: "signin-error", className: "error", role: "alert" }, message || "");
  const form = h("form", { id: "signin", onsubmit: async (e) => {
    e.preventDefault();
    setCredential(input.value.trim());
    signingIn = true;
    try {
      await api("GET", "/v1/presets");
    } catch (x) {
      setCredential("");
      err.textContent = x.status === 401 ? "That key or token was refused." : x.message;
      return;
    } finally {
      signingIn = false;
    }
    isAdmin = null;
    location.hash = "#/upload";
    route();
  } },
    h("label", { for: "key" }, "API key or token"),
    h("p", { id: "key-help", className: "hint" },
      "An API key (ipk_…) or a JWT from your identity provider. It is kept in this tab only. ",
      "After make run, the operator's key is in data/admin.key."),
    input, h("button", { type: "submit" }, "Sign in"), err);
  main.replaceChildren(h("h1", {}, "Sign in"), form);
  input.focus();
  oidcConfig().then((cfg) => {
    if (cfg && form.isConnected) form.before(providerButton(cfg, err));
  });
}

// providerButton starts the redirect sign-in; a failure to start it (the
// provider unreachable) is shown in err.
function providerButton(cfg, err) {
  const button = h("button", { type: "button", id: "signin-oidc", onclick: async () => {
    button.disabled = true;
    err.textContent = "";
    try {
      await startSignIn(cfg);
    } catch (x) {
      err.textContent = x.message;
      button.disabled = false;
    }
  } }, "Sign in with " + providerName(cfg));
  return h("p", { className: "row" }, button);
}

// finishRedirect completes a sign-in the provider sent the browser back
// from; a failure is shown on the sign-in view.
async function finishRedirect() {
  try {
    setCredential(await finishSignIn(await oidcConfig()));
    isAdmin = null;
    route();
  } catch (x) {
    setCredential("");
    document.getElementById("nav").hidden = true;
    document.getElementById("signout").hidden = true;
    signInView(document.getElementById("main"), x.message);
  }
}

async function route() {
  const main = document.getElementById("main");
  const signedIn = !!credential();
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  if (!signedIn) {
    signInView(main);
    return;
  }
  if (isAdmin === null) checkAdmin();
  const frag = location.hash.replace(/^#/, "");
  if (!frag.startsWith("/")) {
    if (frag === "" || !document.getElementById(frag)) location.replace("#/upload");
    return;
  }
  const [path, q] = frag.split("?");
  const params = new URLSearchParams(q || "");
  const parts = path.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#/" + parts[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  notice("");
  switch (parts[0]) {
    case "gallery":
      galleryView(main, params);
      break;
    case "image":
      await imageView(main, decodeURIComponent(parts[1] || ""));
      break;
    case "admin":
      adminView(main);
      break;
    default:
      uploadView(main);
  }
  main.focus({ preventScroll: true });
}

function start() {
  keyFromFragment();
  document.getElementById("signout").addEventListener("click", () => {
    setCredential("");
    forgetUploads();
    isAdmin = null;
    location.hash = "";
    route();
  });
  window.addEventListener("hashchange", () => {
    keyFromFragment();
    route();
  });
  window.addEventListener("imagepipe:signedout", () => {
    if (signingIn) return;
    isAdmin = null;
    document.getElementById("nav").hidden = true;
    document.getElementById("signout").hidden = true;
    signInView(document.getElementById("main"), "Your sign-in has expired or was refused: sign in again.");
  });
  window.addEventListener("unhandledrejection", (e) => {
    notice(String((e.reason && e.reason.message) || e.reason), true);
  });
  if (isReturn()) finishRedirect();
  else route();
}

start();
