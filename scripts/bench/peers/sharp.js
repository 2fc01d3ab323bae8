// sharp peer of `make bench-processor` (scripts/bench/bench.py runs it).
//
//   node sharp.js JOB OUTDIR FILE...     JOB: thumb400 | default
//
// One process for the whole corpus, one image at a time (like one processor
// worker); writes OUTDIR/<file stem>/<variant>.<ext>. Settings are sharp's
// recommended ones for a server: cache off (every upload is different),
// default concurrency (1 libvips thread per pipeline on glibc Linux), and
// for several outputs of one image one input pipeline with .clone(), the
// clones running at once on libuv's thread pool.
'use strict';
const path = require('path');
const fs = require('fs');
const sharp = require('sharp');

sharp.cache(false);

const [job, outDir, ...files] = process.argv.slice(2);
const white = { r: 255, g: 255, b: 255 };

function stem(f) {
  return path.basename(f, path.extname(f));
}

async function thumb400(file, dir) {
  // 400x400 inside, never enlarged, JPEG q80 (sharp's defaults: 4:2:0,
  // optimised Huffman coding, metadata stripped); alpha over white.
  await sharp(file)
    .resize(400, 400, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: white })
    .jpeg({ quality: 80 })
    .toFile(path.join(dir, 't400.jpg'));
}

async function defaultPreset(file, dir) {
  // imagepipe's default preset: 64x64 cover PNG, 800 and 1600 inside WebP
  // q80, never enlarged, metadata stripped.
  const input = sharp(file);
  await Promise.all([
    input.clone()
      .resize(64, 64, { fit: 'cover', position: 'centre', withoutEnlargement: true })
      .png({ compressionLevel: 6 })
      .toFile(path.join(dir, 'thumb.png')),
    input.clone()
      .resize(800, 800, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80, effort: 4 })
      .toFile(path.join(dir, 'medium.webp')),
    input.clone()
      .resize(1600, 1600, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80, effort: 4 })
      .toFile(path.join(dir, 'large.webp')),
  ]);
}

async function main() {
  const run = { thumb400, default: defaultPreset }[job];
  if (!run || !outDir || files.length === 0) {
    console.error('usage: node sharp.js thumb400|default OUTDIR FILE...');
    process.exit(2);
  }
  let failed = 0;
  for (const f of files) {
    const dir = path.join(outDir, stem(f));
    fs.mkdirSync(dir, { recursive: true });
    try {
      await run(f, dir);
    } catch (e) {
      failed++;
      console.error(`sharp: ${f}: ${e.message}`);
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
