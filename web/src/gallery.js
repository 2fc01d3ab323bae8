// The gallery: the tenant's images, newest first, a page at a time,
// filtered by state.
import { api, query } from "./api.js";
import { h, notice, stateName, errorText, preview, tileImage } from "./ui.js";

const pageSize = 24;
const states = ["", "IMAGE_STATE_READY", "IMAGE_STATE_PROCESSING", "IMAGE_STATE_QUEUED", "IMAGE_STATE_FAILED"];

export function galleryView(main, params) {
  const state = params.get("state") || "";
  const filter = h("select", { id: "state-filter", name: "state" },
    states.map((s) => h("option", { value: s, selected: s === state }, s ? stateName(s) : "all")));
  filter.addEventListener("change", () => {
    location.hash = "#/gallery" + (filter.value ? "?state=" + filter.value : "");
  });
  const list = h("ul", { id: "gallery", className: "tiles", "aria-label": "Images" });
  const more = h("button", { type: "button", id: "more", hidden: true }, "Load more");
  const empty = h("p", { id: "gallery-empty", hidden: true }, "No images yet.");
  main.replaceChildren(
    h("h1", {}, "Gallery"),
    h("div", { className: "row" }, h("label", { for: "state-filter" }, "State "), filter),
    list, empty, more);

  let token = "";
  const load = async () => {
    more.disabled = true;
    try {
      const resp = await api("GET", "/v1/images" + query({ state, page_size: pageSize, page_token: token }));
      // A deleted image may be listed as its tombstone: not shown.
      for (const img of resp.images || []) if (img.state !== "IMAGE_STATE_DELETED") list.append(galleryTile(img));
      token = resp.next_page_token || "";
      more.hidden = !token;
      empty.hidden = list.children.length > 0;
    } catch (e) {
      notice(`Gallery: ${e.message}`, true);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", load);
  load();
}

function galleryTile(img) {
  const name = (img.original && img.original.file_name) || img.id;
  const box = h("div", { className: "preview" });
  preview(box, img);
  if (img.state === "IMAGE_STATE_READY") tileImage(box, img, name);
  return h("li", { className: "tile", "data-image-id": img.id, "data-state": stateName(img.state) },
    h("a", { href: `#/image/${encodeURIComponent(img.id)}`, className: "tile-link" },
      box,
      h("div", { className: "meta" },
        h("span", { className: "name", title: name }, name),
        h("span", { className: "state" }, stateName(img.state), img.visibility === "VISIBILITY_PRIVATE" ? " · private" : ""),
        img.state === "IMAGE_STATE_FAILED" ? h("p", { className: "reason" }, errorText(img)) : null)));
}
