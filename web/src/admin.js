// The operator's view (callers with the admin scope): queue depth from
// /metrics, dead letters (redrive, purge), FAILED images (retry) and
// webhook deliveries (replay).
import { api, query } from "./api.js";
import { h, notice, confirmAction, stateName, errorText } from "./ui.js";

export function adminView(main) {
  const queues = h("section", { id: "queues", "aria-labelledby": "queues-h" }, h("h2", { id: "queues-h" }, "Queues"));
  const dlq = h("section", { id: "dead-letters", "aria-labelledby": "dlq-h" }, h("h2", { id: "dlq-h" }, "Dead letters"));
  const failed = h("section", { id: "failed", "aria-labelledby": "failed-h" }, h("h2", { id: "failed-h" }, "Failed images"));
  const hooks = h("section", { id: "deliveries", "aria-labelledby": "deliveries-h" }, h("h2", { id: "deliveries-h" }, "Webhook deliveries"));
  const refresh = h("button", { type: "button", id: "admin-refresh", onclick: () => adminView(main) }, "Refresh");
  main.replaceChildren(h("h1", {}, "Admin"), refresh, queues, dlq, failed, hooks);
  loadQueues(queues);
  loadDeadLetters(dlq, main);
  loadFailed(failed, main);
  loadDeliveries(hooks);
}

// queueDepth reads imagepipe_queue_messages from the Prometheus text of
// /metrics: {queue: {kind: count}}.
export function queueDepth(text) {
  const out = {};
  const re = /^imagepipe_queue_messages\{([^}]*)\}\s+([0-9.eE+-]+)/gm;
  let m;
  while ((m = re.exec(text))) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    (out[labels.queue] = out[labels.queue] || {})[labels.kind] = Number(m[2]);
  }
  return out;
}

async function loadQueues(sec) {
  const body = h("div", {}, "Loading…");
  sec.append(body);
  try {
    const resp = await fetch("/metrics");
    const depth = resp.ok ? queueDepth(await resp.text()) : {};
    const names = Object.keys(depth).sort();
    if (!names.length) {
      body.replaceChildren("This process does not report queue depth (it runs no queue); see the processor's /metrics.");
      return;
    }
    const kinds = ["visible", "in_flight", "delayed"];
    body.replaceChildren(h("table", { id: "queue-depth" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Queue"), kinds.map((k) => h("th", { scope: "col" }, k.replace("_", " "))))),
      h("tbody", {}, names.map((n) => h("tr", { "data-queue": n }, h("th", { scope: "row" }, n),
        kinds.map((k) => h("td", {}, String(depth[n][k] ?? "–"))))))));
  } catch (e) {
    body.replaceChildren(`Queue depth: ${e.message}`);
  }
}

async function loadDeadLetters(sec, main) {
  const body = h("div", {}, "Loading…");
  sec.append(body);
  let resp;
  try {
    resp = await api("GET", "/v1/admin/dead-letters" + query({ max_messages: 100 }));
  } catch (e) {
    body.replaceChildren(e.message);
    return;
  }
  const list = resp.dead_letters || [];
  const count = h("p", { id: "dlq-count" }, `About ${resp.approximate_count || 0} message(s) in the dead-letter queue.`);
  if (!list.length) {
    body.replaceChildren(count);
    return;
  }
  const boxes = [];
  const rows = list.map((d) => {
    const cb = h("input", { type: "checkbox", value: d.message_id, "aria-label": `Select ${d.image_id || d.message_id}` });
    boxes.push(cb);
    return h("tr", { "data-message-id": d.message_id, "data-image-id": d.image_id || "" },
      h("td", {}, cb),
      h("td", {}, d.image_id ? h("a", { href: `#/image/${encodeURIComponent(d.image_id)}` }, d.image_id) : "(no image)"),
      h("td", {}, d.image ? stateName(d.image.state) : ""),
      h("td", {}, String(d.receive_count || 0)),
      h("td", {}, d.sent_time ? new Date(d.sent_time).toLocaleString() : ""));
  });
  const chosen = () => boxes.filter((b) => b.checked).map((b) => b.value);
  const act = async (verb, all) => {
    const ids = all ? [] : chosen();
    if (!all && !ids.length) {
      notice("Select dead letters first.", true);
      return;
    }
    const what = all ? "every dead letter" : `${ids.length} dead letter(s)`;
    if (verb === "purge" && !(await confirmAction("Purge dead letters?", `This deletes ${what} for good.`, "Purge"))) return;
    try {
      const out = await api("POST", `/v1/admin/dead-letters:${verb}`, all ? { all: true } : { message_ids: ids });
      notice(`${verb === "redrive" ? "Redrove" : "Purged"} ${(out.message_ids || []).length} dead letter(s).`);
      adminView(main);
    } catch (e) {
      notice(`${verb}: ${e.message}`, true);
    }
  };
  body.replaceChildren(count,
    h("table", { id: "dlq-table" },
      h("thead", {}, h("tr", {}, ["", "Image", "State", "Receives", "Sent"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    h("div", { className: "row" },
      h("button", { type: "button", id: "dlq-redrive", onclick: () => act("redrive", false) }, "Redrive selected"),
      h("button", { type: "button", id: "dlq-redrive-all", onclick: () => act("redrive", true) }, "Redrive all"),
      h("button", { type: "button", id: "dlq-purge", className: "danger", onclick: () => act("purge", false) }, "Purge selected"),
      h("button", { type: "button", id: "dlq-purge-all", className: "danger", onclick: () => act("purge", true) }, "Purge all")));
}

async function loadFailed(sec, main) {
  const body = h("div", {}, "Loading…");
  sec.append(body);
  try {
    const resp = await api("GET", "/v1/images" + query({ state: "IMAGE_STATE_FAILED", page_size: 100 }));
    const list = resp.images || [];
    if (!list.length) {
      body.replaceChildren("No failed images.");
      return;
    }
    body.replaceChildren(h("ul", { id: "failed-list", className: "plain" }, list.map((img) => h("li", { "data-image-id": img.id },
      h("a", { href: `#/image/${encodeURIComponent(img.id)}` }, (img.original && img.original.file_name) || img.id),
      ` — ${errorText(img)} `,
      h("button", { type: "button", "aria-label": `Retry ${img.id}`, onclick: () => retry(main, [img.id]) }, "Retry")))),
    h("button", { type: "button", id: "retry-all", onclick: () => retry(main, list.map((i) => i.id)) }, "Retry all shown"));
  } catch (e) {
    body.replaceChildren(e.message);
  }
}

async function retry(main, ids) {
  try {
    const out = await api("POST", "/v1/admin/images:retry", { image_ids: ids });
    const skipped = out.skipped || [];
    notice(`Retrying ${(out.images || []).length} image(s)` + (skipped.length ? `; skipped ${skipped.map((s) => `${s.image_id} (${s.reason})`).join(", ")}` : "."));
    adminView(main);
  } catch (e) {
    notice(`Retry: ${e.message}`, true);
  }
}

async function loadDeliveries(sec) {
  const body = h("div", {}, "Loading…");
  sec.append(body);
  try {
    const resp = await api("GET", "/v1/admin/webhook-deliveries" + query({ page_size: 50 }));
    const list = resp.deliveries || [];
    if (!list.length) {
      body.replaceChildren("No webhook deliveries.");
      return;
    }
    body.replaceChildren(h("table", { id: "deliveries-table" },
      h("thead", {}, h("tr", {}, ["Event", "Image", "State", "Attempts", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((d) => h("tr", { "data-delivery-id": d.id },
        h("td", {}, d.event_type || d.type || ""),
        h("td", {}, d.image_id || ""),
        h("td", {}, String(d.state || "").replace(/^WEBHOOK_DELIVERY_STATE_/, "").toLowerCase()),
        h("td", {}, String((d.attempts || []).length)),
        h("td", {}, h("button", { type: "button", "aria-label": `Replay delivery ${d.id}`, onclick: async () => {
          try {
            await api("POST", `/v1/admin/webhook-deliveries/${encodeURIComponent(d.id)}:replay`);
            notice("Delivery queued again.");
            loadDeliveriesAgain(sec);
          } catch (e) {
            notice(`Replay: ${e.message}`, true);
          }
        } }, "Replay")))))));
  } catch (e) {
    body.replaceChildren(e.message);
  }
}

function loadDeliveriesAgain(sec) {
  sec.replaceChildren(sec.firstChild);
  loadDeliveries(sec);
}
