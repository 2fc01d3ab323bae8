// Verifies a webhook request saved by a test with svix's Webhook.verify
// (svix is a Standard Webhooks implementation), as a Node receiver would.
//
//   node svix-verify.js NODE_MODULES REQUEST_JSON SECRET...
//
// NODE_MODULES holds svix (scripts/deps.sh --test installs it);
// REQUEST_JSON is {"headers": {"name": "value"}, "body_base64": "..."}.
// Prints one JSON line: the svix version and, per secret, {"ok": true,
// "id": the verified payload's id} or {"ok": false, "error": "..."}.
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, requestFile, ...secrets] = process.argv.slice(2);
if (!modules || !requestFile || secrets.length === 0) {
  console.error("usage: node svix-verify.js NODE_MODULES REQUEST_JSON SECRET...");
  process.exit(2);
}
const { Webhook } = require(path.join(modules, "svix"));
const version = require(path.join(modules, "svix", "package.json")).version;
const req = JSON.parse(fs.readFileSync(requestFile, "utf8"));
const body = Buffer.from(req.body_base64, "base64");

const results = secrets.map((secret) => {
  try {
    const payload = new Webhook(secret).verify(body, req.headers);
    return { ok: true, id: payload.id };
  } catch (e) {
    return { ok: false, error: String((e && e.message) || e) };
  }
});
console.log(JSON.stringify({ svix: version, results }));
