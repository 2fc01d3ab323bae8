"""Pillow peer of `make bench-processor` (scripts/bench/bench.py runs it).

    python3 pillow_peer.py JOB OUTDIR FILE...      JOB: thumb400 | default

One process for the whole corpus, one image at a time; writes
OUTDIR/<file stem>/<variant>.<ext>. Pillow's fast path: Image.draft() makes
libjpeg decode JPEGs at the smallest 1/2^k scale that still covers the
largest output (like libvips' shrink-on-load), resize() with LANCZOS and
reducing_gap=2.0 (box-reduce by an integer factor first, as libvips does),
and every smaller variant is derived from the larger one already made.
Sizes are rounded like imagepipe's plan (round half away from zero).
"""

import os
import sys

from PIL import Image

WHITE = (255, 255, 255)


def rnd(x):
    return max(1, int(x + 0.5))


def inside(w, h, bw, bh):
    s = min(bw / w, bh / h, 1.0)
    return min(rnd(w * s), bw), min(rnd(h * s), bh)


def open_for(path, need):
    im = Image.open(path)
    if im.format == "JPEG":
        im.draft("RGB", need)
    im.load()
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    return im


def flatten(im):
    if im.mode != "RGBA":
        return im
    bg = Image.new("RGB", im.size, WHITE)
    bg.paste(im, mask=im.getchannel("A"))
    return bg


def resize(im, size):
    if im.size == size:
        return im
    return im.resize(size, Image.LANCZOS, reducing_gap=2.0)


def thumb400(path, out):
    with Image.open(path) as probe:
        w, h = probe.size
    size = inside(w, h, 400, 400)
    im = open_for(path, size)
    im = flatten(resize(im, size))
    im.save(os.path.join(out, "t400.jpg"), "JPEG", quality=80, optimize=True)


def default_preset(path, out):
    with Image.open(path) as probe:
        w, h = probe.size
    large_size = inside(w, h, 1600, 1600)
    medium_size = inside(w, h, 800, 800)
    im = open_for(path, large_size)
    large = resize(im, large_size)
    medium = resize(large, medium_size)
    # 64x64 cover, centred, never enlarged.
    s = max(64 / w, 64 / h)
    if s > 1:
        s = 1.0
    cw, ch = max(rnd(w * s), min(64, w)), max(rnd(h * s), min(64, h))
    cover = resize(medium, (cw, ch))
    tw, th = min(64, cw), min(64, ch)
    x, y = (cw - tw) // 2, (ch - th) // 2
    thumb = cover.crop((x, y, x + tw, y + th))
    thumb.save(os.path.join(out, "thumb.png"), "PNG", compress_level=6)
    medium.save(os.path.join(out, "medium.webp"), "WEBP", quality=80, method=4)
    large.save(os.path.join(out, "large.webp"), "WEBP", quality=80, method=4)


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("thumb400", "default"):
        print("usage: pillow_peer.py thumb400|default OUTDIR FILE...", file=sys.stderr)
        return 2
    run = thumb400 if sys.argv[1] == "thumb400" else default_preset
    failed = 0
    for path in sys.argv[3:]:
        out = os.path.join(sys.argv[2], os.path.splitext(os.path.basename(path))[0])
        os.makedirs(out, exist_ok=True)
        try:
            run(path, out)
        except Exception as e:  # report and go on, like the other peers
            failed += 1
            print(f"pillow: {path}: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
