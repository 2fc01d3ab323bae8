// The upload view: files dropped or chosen are sent with tus (resumable:
// a dropped connection or a restarted server resumes from the last
// acknowledged offset), each with its bytes' progress; then the batch's
// watch stream moves every tile through the image's states to READY (the
// thumbnail) or FAILED (the reason).
import * as tus from "tus-js-client";
import { api, authHeaders, errorFrom, refused, watch } from "./api.js";
import { h, notice, formatBytes, stateName, isTerminal, errorText, preview, tileImage } from "./ui.js";

const parallel = 3; // uploads at once: leaves connections for the watch and the page
const retryDelays = [0, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 10000, 10000];

let presets = null;

export async function loadPresets() {
  if (!presets) presets = (await api("GET", "/v1/presets")).presets || [];
  return presets;
}

export function uploadView(main) {
  const presetSel = h("select", { id: "preset", name: "preset", "aria-describedby": "preset-desc" });
  const desc = h("p", { id: "preset-desc", className: "hint" });
  const input = h("input", { type: "file", id: "files", multiple: true, accept: "image/*", className: "visually-hidden", tabIndex: -1, "aria-label": "Image files" });
  const choose = h("button", { type: "button", id: "choose", onclick: () => input.click() }, "Choose files");
  const drop = h("div", { id: "drop", className: "drop", role: "group", "aria-label": "Drop images here" },
    h("p", {}, "Drop images here, or ", choose), input);
  const batches = h("div", { id: "batches" });
  const form = h("form", { id: "upload-form", onsubmit: (e) => e.preventDefault() },
    h("div", { className: "row" },
      h("label", { for: "preset" }, "Preset "), presetSel),
    desc,
    h("fieldset", { className: "row" },
      h("legend", {}, "Visibility"),
      h("label", {}, h("input", { type: "radio", name: "visibility", value: "public", checked: true }), " Public"),
      h("label", {}, h("input", { type: "radio", name: "visibility", value: "private" }), " Private (signed links only)")),
    drop);
  main.replaceChildren(h("h1", {}, "Upload"), form, batches);

  loadPresets().then((list) => {
    presetSel.replaceChildren(...list.map((p) => h("option", { value: p.name }, p.name)));
    const show = () => {
      const p = list.find((x) => x.name === presetSel.value);
      desc.textContent = p ? p.description || "" : "";
    };
    presetSel.addEventListener("change", show);
    show();
  }).catch((e) => notice(`Presets: ${e.message}`, true));

  const start = (files) => {
    if (!files.length) return;
    const opts = { preset: presetSel.value, visibility: form.elements.visibility.value };
    batches.prepend(startBatch([...files], opts));
  };
  input.addEventListener("change", () => {
    start(input.files);
    input.value = "";
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    start(e.dataTransfer ? e.dataTransfer.files : []);
  });
}

// startBatch uploads files as one batch and returns its section.
function startBatch(files, opts) {
  const batch = {
    id: "web-" + crypto.randomUUID(),
    items: files.map((f) => newItem(f)),
    byImage: new Map(),
    watching: false,
    abort: new AbortController(),
  };
  batch.summary = h("p", { className: "summary", role: "status", "aria-live": "polite" });
  const section = h("section", { className: "batch", "aria-label": `Batch of ${files.length}`, "data-batch-id": batch.id },
    h("h2", {}, `Batch of ${files.length} file${files.length === 1 ? "" : "s"}`),
    batch.summary,
    h("ul", { className: "tiles", "aria-label": "Uploads" }, batch.items.map((it) => it.el)));
  summarize(batch);
  let next = 0;
  const runOne = () => {
    if (next >= batch.items.length) return;
    const it = batch.items[next++];
    upload(batch, it, opts).finally(runOne);
  };
  for (let i = 0; i < parallel; i++) runOne();
  return section;
}

function newItem(file) {
  const it = { file, imageId: "", state: "uploading", sent: 0 };
  it.progress = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  it.pct = h("span", { className: "pct" }, "0 %");
  it.stateEl = h("span", { className: "state" }, "waiting");
  it.reason = h("p", { className: "reason" });
  it.box = h("div", { className: "preview" });
  it.link = h("a", { className: "details", hidden: true }, "Details");
  it.el = h("li", { className: "tile", "data-file": file.name, "data-state": "uploading", "data-progress": "0" },
    it.box,
    h("div", { className: "meta" },
      h("span", { className: "name", title: file.name }, file.name),
      h("span", { className: "size" }, formatBytes(file.size)),
      h("div", { className: "bar" }, it.progress, it.pct),
      it.stateEl, it.reason, it.link));
  return it;
}

// The URLs of resumable uploads are kept for this tab only
// (sessionStorage), where tus-js-client keeps them in localStorage by
// default: file names and batch ids there would outlive sign-out and be
// read by the next person at this browser. Same records and keys as
// tus-js-client's own storage.
const resumePrefix = "tus::";
const sessionUrls = {
  findAllUploads: () => Promise.resolve(storedUploads(resumePrefix)),
  findUploadsByFingerprint: (fp) => Promise.resolve(storedUploads(`${resumePrefix}${fp}::`)),
  removeUpload(key) {
    sessionStorage.removeItem(key);
    return Promise.resolve();
  },
  addUpload(fp, upload) {
    const key = `${resumePrefix}${fp}::${Math.round(Math.random() * 1e12)}`;
    sessionStorage.setItem(key, JSON.stringify(upload));
    return Promise.resolve(key);
  },
};

function storedUploads(prefix) {
  const found = [];
  for (let i = 0; i < sessionStorage.length; i++) {
    const key = sessionStorage.key(i);
    if (!key || !key.startsWith(prefix)) continue;
    try {
      const up = JSON.parse(sessionStorage.getItem(key));
      up.urlStorageKey = key;
      found.push(up);
    } catch {
      // not one of ours
    }
  }
  return found;
}

// forgetUploads removes every resumable upload's record: at sign-out.
export function forgetUploads() {
  for (const up of storedUploads(resumePrefix)) sessionStorage.removeItem(up.urlStorageKey);
}

// upload sends one file with tus; it resolves when the upload is over,
// whichever way.
function upload(batch, it, opts) {
  return new Promise((resolve) => {
    const up = new tus.Upload(it.file, {
      endpoint: "/v1/tus/",
      retryDelays,
      headers: authHeaders(),
      metadata: {
        filename: it.file.name,
        filetype: it.file.type || "application/octet-stream",
        preset: opts.preset || "",
        batch_id: batch.id,
        batch_size: String(batch.items.length),
        visibility: opts.visibility,
      },
      removeFingerprintOnSuccess: true,
      urlStorage: sessionUrls,
      onProgress(sent, total) {
        const pct = total ? Math.floor((sent / total) * 100) : 0;
        it.progress.value = pct;
        it.pct.textContent = `${pct} %`;
        it.el.dataset.progress = String(pct);
        if (it.stateEl.textContent === "waiting") it.stateEl.textContent = "uploading";
      },
      onAfterResponse(_req, res) {
        const id = res.getHeader("Imagepipe-Image-Id");
        if (id) it.imageId = id;
      },
      onShouldRetry(err) {
        const s = err.originalResponse ? err.originalResponse.getStatus() : 0;
        return !(s >= 400 && s < 500 && s !== 408 && s !== 409 && s !== 423 && s !== 429);
      },
      onSuccess() {
        it.progress.value = 100;
        it.pct.textContent = "100 %";
        it.el.dataset.progress = "100";
        if (!it.imageId) fail(batch, it, "the server did not name the uploaded image");
        else uploaded(batch, it);
        resolve();
      },
      onError(err) {
        uploadFailed(batch, it, err).finally(resolve);
      },
    });
    up.findPreviousUploads().then((prev) => {
      if (prev.length) up.resumeFromPreviousUpload(prev[0]);
      up.start();
    });
  });
}

async function uploadFailed(batch, it, err) {
  const res = err.originalResponse;
  if (res && res.getStatus() >= 400) {
    refused(res.getStatus(), res.getHeader("WWW-Authenticate"));
    const e = await errorFrom(res.getStatus(), res.getBody() || "");
    fail(batch, it, e.message);
  } else {
    fail(batch, it, "upload failed: " + (err.message || String(err)).split("\n")[0]);
  }
}

function fail(batch, it, message) {
  setState(batch, it, "IMAGE_STATE_FAILED");
  it.reason.textContent = message;
  summarize(batch);
  finishIfDone(batch);
}

// uploaded: the image exists; show its record and follow the batch.
function uploaded(batch, it) {
  batch.byImage.set(it.imageId, it);
  it.el.dataset.imageId = it.imageId;
  it.link.href = `#/image/${encodeURIComponent(it.imageId)}`;
  it.link.hidden = false;
  setState(batch, it, "IMAGE_STATE_RECEIVED");
  api("GET", `/v1/images/${encodeURIComponent(it.imageId)}`).then((img) => update(batch, img)).catch(() => {});
  if (!batch.watching) follow(batch);
}

// follow reads the batch's watch stream until every tile is READY or
// FAILED; a stream that ends early (a restarted server) is opened again.
async function follow(batch) {
  batch.watching = true;
  for (let attempt = 0; !done(batch) && attempt < 30; attempt++) {
    try {
      await watch(`/v1/batches/${encodeURIComponent(batch.id)}:watch`, (name, data) => {
        if (data.image) update(batch, data.image);
        if (data.batch) batch.server = data.batch;
        summarize(batch);
        finishIfDone(batch);
      }, batch.abort.signal);
    } catch (e) {
      if (batch.abort.signal.aborted) break;
    }
    if (!done(batch)) {
      await refresh(batch);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  batch.watching = false;
}

// refresh reads the records of the tiles still in progress.
async function refresh(batch) {
  for (const it of batch.items) {
    if (!it.imageId || isTerminal(it.state)) continue;
    try {
      update(batch, await api("GET", `/v1/images/${encodeURIComponent(it.imageId)}`));
    } catch {
      // the next watch or refresh tries again
    }
  }
  summarize(batch);
  finishIfDone(batch);
}

function update(batch, img) {
  const it = batch.byImage.get(img.id);
  if (!it || !img.state) return;
  if (isTerminal(it.state) && !isTerminal(img.state)) return; // a stale event
  setState(batch, it, img.state);
  preview(it.box, img);
  if (img.state === "IMAGE_STATE_READY") tileImage(it.box, img, it.file.name);
  it.reason.textContent = img.state === "IMAGE_STATE_FAILED" ? errorText(img) || "failed" : "";
}

function setState(batch, it, state) {
  it.state = state;
  it.el.dataset.state = stateName(state);
  it.stateEl.textContent = stateName(state);
}

function done(batch) {
  return batch.items.every((it) => isTerminal(it.state));
}

function finishIfDone(batch) {
  if (done(batch)) batch.abort.abort();
}

function summarize(batch) {
  const counts = {};
  for (const it of batch.items) {
    const s = it.state.startsWith("IMAGE_STATE_") ? stateName(it.state) : it.state;
    counts[s] = (counts[s] || 0) + 1;
  }
  const order = ["uploading", "received", "queued", "processing", "ready", "failed", "deleted"];
  const parts = order.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
  batch.summary.textContent = `${batch.items.length} file${batch.items.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
  for (const s of order) batch.summary.dataset[s] = String(counts[s] || 0);
}
