// Builds dist/ from src/: esbuild bundles app.js (with tus-js-client and
// blurhash) and app.css under content-hashed names in dist/assets/, and
// index.html is written with those names. The output depends only on the
// sources and the pinned packages, so `make check-web` can compare it with
// the committed dist/.
import * as esbuild from "esbuild";
import { readFileSync, writeFileSync, rmSync, copyFileSync } from "node:fs";
import { basename } from "node:path";

const out = "dist";
rmSync(out, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: ["src/app.js", "src/app.css"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  platform: "browser",
  outdir: out,
  entryNames: "assets/[name]-[hash]",
  legalComments: "eof",
  metafile: true,
  logLevel: "warning",
});

const names = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint) names[basename(meta.entryPoint)] = basename(file);
}
let html = readFileSync("src/index.html", "utf8");
html = html.replace(/\{\{(app\.(?:js|css))\}\}/g, (_, n) => {
  if (!names[n]) throw new Error(`no output for ${n}`);
  return names[n];
});
writeFileSync(`${out}/index.html`, html);
// The icon keeps its fixed name: browsers ask for it on their own.
copyFileSync("src/icon.svg", `${out}/assets/icon.svg`);
