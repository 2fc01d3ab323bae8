// Small DOM helpers shared by the views. Text goes in as text nodes, never
// as HTML, so nothing a server or a file name says can become markup.
import { decode } from "blurhash";

// h builds an element: attrs are properties (on*, className, hidden, ...)
// or, for names with a dash (aria-*, data-*) and "for", attributes.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k.includes("-") || k === "for" || k === "role") el.setAttribute(k, v === true ? "" : String(v));
    else el[k] = v;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// notice says msg in the live region (screen readers read it out).
export function notice(msg, isError = false) {
  const n = document.getElementById("notice");
  n.textContent = msg;
  n.classList.toggle("error", isError);
}

// confirmAction shows the confirmation dialog and resolves true when the
// person confirms.
export function confirmAction(title, text, ok = "Confirm") {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = ok;
  d.returnValue = "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

export function formatBytes(n) {
  n = Number(n || 0);
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let i = -1;
  do {
    n /= 1024;
    i++;
  } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

// stateName is IMAGE_STATE_READY → "ready".
export function stateName(s) {
  return String(s || "IMAGE_STATE_UNSPECIFIED").replace(/^IMAGE_STATE_/, "").toLowerCase();
}

export function isTerminal(state) {
  return state === "IMAGE_STATE_READY" || state === "IMAGE_STATE_FAILED" || state === "IMAGE_STATE_DELETED";
}

export function formatName(f) {
  return String(f || "").replace(/^FORMAT_/, "").toLowerCase();
}

// errorText is an image's failure reason for people.
export function errorText(img) {
  const e = img && img.error;
  if (!e) return "";
  return e.message ? `${e.message}${e.code ? ` (${e.code})` : ""}` : e.code || "";
}

// thumbnail picks the variant to show in a tile: the smallest at least
// minWidth wide, else the widest.
export function thumbnail(img, minWidth = 150) {
  const vs = (img && img.variants) || [];
  if (vs.length === 0) return null;
  const fit = vs.filter((v) => (v.width || 0) >= minWidth).sort((a, b) => (a.width || 0) - (b.width || 0));
  if (fit.length) return fit[0];
  return [...vs].sort((a, b) => (b.width || 0) - (a.width || 0))[0];
}

// preview fills box with the image's BlurHash (decoded into a canvas) on
// its dominant colour; nothing when the record has neither yet.
export function preview(box, img) {
  const o = (img && img.original) || {};
  if (o.dominant_color) box.style.backgroundColor = o.dominant_color;
  if (!o.blurhash || box.querySelector("canvas.blurhash")) return;
  try {
    const w = 32;
    const hgt = o.width && o.height ? Math.max(1, Math.round((w * o.height) / o.width)) : 32;
    const pixels = decode(o.blurhash, w, hgt);
    const c = h("canvas", { className: "blurhash", width: w, height: hgt, "aria-hidden": "true" });
    const ctx = c.getContext("2d");
    const data = ctx.createImageData(w, hgt);
    data.data.set(pixels);
    ctx.putImageData(data, 0, 0);
    box.prepend(c);
  } catch {
    // a hash the decoder refuses: the dominant colour stays
  }
}

// tileImage shows img's thumbnail in box once it is READY (replacing the
// preview when it has loaded).
export function tileImage(box, img, alt) {
  const v = thumbnail(img);
  if (!v || !v.url) return;
  let el = box.querySelector("img.thumb");
  if (el && el.dataset.src === v.url) return;
  if (!el) {
    el = h("img", { className: "thumb", alt: alt || "", decoding: "async" });
    el.addEventListener("load", () => box.classList.add("loaded"));
    box.append(el);
  }
  el.dataset.src = v.url;
  el.src = v.url;
  if (v.width && v.height) {
    el.width = v.width;
    el.height = v.height;
  }
}
