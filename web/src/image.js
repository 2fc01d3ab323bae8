// An image's page: its variants (size, format, URL), a ready-to-paste
// <img srcset> snippet, signed links for a private image, reprocessing
// with another preset, and delete.
import { api, watch } from "./api.js";
import { h, notice, confirmAction, formatBytes, formatName, stateName, isTerminal, errorText, preview, tileImage } from "./ui.js";
import { loadPresets } from "./upload.js";

export async function imageView(main, id) {
  main.replaceChildren(h("h1", {}, "Image"), h("p", {}, "Loading…"));
  let img;
  try {
    img = await api("GET", `/v1/images/${encodeURIComponent(id)}`);
  } catch (e) {
    main.replaceChildren(h("h1", {}, "Image"), h("p", { className: "error", role: "alert" }, e.message));
    return;
  }
  render(main, img);
  if (!isTerminal(img.state)) follow(main, img);
}

// follow re-renders the page as the image changes, until it is READY or
// FAILED or the person leaves the page.
async function follow(main, img) {
  const stop = new AbortController();
  const leave = () => stop.abort();
  window.addEventListener("hashchange", leave, { once: true });
  try {
    await watch(`/v1/images/${encodeURIComponent(img.id)}:watch`, (_name, next) => {
      if (next && next.id === img.id && next.state !== img.state) {
        img = next;
        render(main, img);
      }
    }, stop.signal);
  } catch {
    // the page shows the last state it had; a reload reads it again
  } finally {
    window.removeEventListener("hashchange", leave);
  }
}

function render(main, img) {
  const o = img.original || {};
  const name = o.file_name || img.id;
  const box = h("div", { className: "preview large" });
  preview(box, img);
  if (img.state === "IMAGE_STATE_READY") tileImage(box, img, name);
  const facts = h("dl", { className: "facts" },
    fact("Id", img.id),
    fact("State", stateName(img.state)),
    img.error ? fact("Reason", errorText(img)) : null,
    fact("Preset", img.preset || "(spec)"),
    fact("Visibility", img.visibility === "VISIBILITY_PRIVATE" ? "private" : "public"),
    o.width ? fact("Original", `${o.width}×${o.height} ${formatName(o.format)}, ${formatBytes(o.bytes)}`) : null,
    img.batch_id ? fact("Batch", img.batch_id) : null,
    img.create_time ? fact("Uploaded", new Date(img.create_time).toLocaleString()) : null);
  main.replaceChildren(...[
    h("h1", {}, name),
    h("div", { className: "image-head" }, box, facts),
    variantsTable(img),
    srcsetSnippet(img),
    img.visibility === "VISIBILITY_PRIVATE" ? signSection(img) : null,
    actions(main, img),
  ].filter(Boolean));
}

function fact(k, v) {
  return [h("dt", {}, k), h("dd", {}, v)];
}

function variantsTable(img) {
  const vs = img.variants || [];
  if (!vs.length) return h("p", {}, "No variants yet.");
  return h("table", { id: "variants" },
    h("caption", {}, "Variants"),
    h("thead", {}, h("tr", {}, ["Name", "Size", "Format", "Bytes", "URL"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, vs.map((v) => h("tr", { "data-variant": v.name },
      h("th", { scope: "row" }, v.name),
      h("td", {}, `${v.width}×${v.height}`),
      h("td", {}, formatName(v.format)),
      h("td", {}, formatBytes(v.bytes)),
      h("td", { className: "url" }, h("a", { href: v.url, rel: "noreferrer", title: v.url }, v.url))))));
}

// srcsetSnippet is an <img> for the variants of the most common format:
// every width in srcset, the widest as src.
export function snippet(img) {
  const vs = (img.variants || []).filter((v) => v.url && v.width);
  if (!vs.length) return "";
  const byFormat = {};
  for (const v of vs) (byFormat[v.format] = byFormat[v.format] || []).push(v);
  const group = Object.values(byFormat).sort((a, b) => b.length - a.length)[0];
  const widths = new Map();
  for (const v of group) if (!widths.has(v.width)) widths.set(v.width, v);
  const list = [...widths.values()].sort((a, b) => a.width - b.width);
  const widest = list[list.length - 1];
  const alt = ((img.original && img.original.file_name) || "").replace(/"/g, "&quot;");
  return `<img src="${widest.url}" srcset="${list.map((v) => `${v.url} ${v.width}w`).join(", ")}" ` +
    `sizes="(max-width: ${widest.width}px) 100vw, ${widest.width}px" width="${widest.width}" height="${widest.height}" alt="${alt}" loading="lazy">`;
}

function srcsetSnippet(img) {
  const text = snippet(img);
  if (!text) return null;
  const area = h("textarea", { id: "snippet", readOnly: true, rows: 4, value: text });
  const copy = h("button", { type: "button", onclick: async () => {
    area.select();
    try {
      await navigator.clipboard.writeText(text);
      notice("Snippet copied.");
    } catch {
      notice("Select the snippet and copy it.");
    }
  } }, "Copy");
  return h("section", { "aria-labelledby": "snippet-label" },
    h("h2", { id: "snippet-label" }, h("label", { for: "snippet" }, "<img srcset> snippet")), area, copy);
}

function signSection(img) {
  const ttl = h("select", { id: "sign-ttl" },
    [["3600s", "1 hour"], ["86400s", "1 day"], ["604800s", "7 days"]].map(([v, l]) => h("option", { value: v }, l)));
  const out = h("ul", { id: "signed" });
  const btn = h("button", { type: "button", id: "sign", onclick: async () => {
    try {
      const resp = await api("POST", `/v1/images/${encodeURIComponent(img.id)}:signUrl`, { expires_in: ttl.value });
      out.replaceChildren(...(resp.variants || []).map((v) =>
        h("li", {}, `${v.name}: `, h("a", { href: v.url, rel: "noreferrer" }, v.url))));
    } catch (e) {
      notice(`Signed link: ${e.message}`, true);
    }
  } }, "Make signed links");
  return h("section", { "aria-labelledby": "sign-h" },
    h("h2", { id: "sign-h" }, "Signed links"),
    h("div", { className: "row" }, h("label", { for: "sign-ttl" }, "Valid for "), ttl, btn), out);
}

function actions(main, img) {
  const presetSel = h("select", { id: "reprocess-preset" });
  loadPresets().then((list) => presetSel.replaceChildren(...list.map((p) => h("option", { value: p.name }, p.name))))
    .catch(() => {});
  const reprocess = h("button", { type: "button", id: "reprocess", onclick: async () => {
    try {
      const out = await api("POST", `/v1/images/${encodeURIComponent(img.id)}:reprocess`, { preset: presetSel.value });
      notice(`Reprocessing as ${out.id}.`);
      location.hash = `#/image/${encodeURIComponent(out.id)}`;
    } catch (e) {
      notice(`Reprocess: ${e.message}`, true);
    }
  } }, "Reprocess");
  const del = h("button", { type: "button", id: "delete", className: "danger", onclick: async () => {
    const name = (img.original && img.original.file_name) || img.id;
    if (!(await confirmAction("Delete this image?", `${name} and all its variants will be removed.`, "Delete"))) return;
    try {
      await api("DELETE", `/v1/images/${encodeURIComponent(img.id)}`);
      notice(`Deleted ${name}.`);
      location.hash = "#/gallery";
    } catch (e) {
      notice(`Delete: ${e.message}`, true);
    }
  } }, "Delete");
  return h("section", { "aria-labelledby": "actions-h" },
    h("h2", { id: "actions-h" }, "Actions"),
    h("div", { className: "row" }, h("label", { for: "reprocess-preset" }, "Preset "), presetSel, reprocess),
    h("div", { className: "row" }, del));
}
