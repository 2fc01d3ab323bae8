#!/usr/bin/env python3
"""bench.py — imagepipe's processing against its peers, in one run.

Run through `make bench-processor` (scripts/bench/run.sh), which builds
bin/imagepipe, assembles the corpus (scripts/bench/corpus.sh) and installs
the peers (scripts/bench/peers.sh) first. Standard library only, plus
Debian's python3-pil for the output checks and the Pillow peer; run it with
Debian's /usr/bin/python3.

Jobs (each tool runs as ONE process over the whole corpus, so start-up is
amortised, except where noted):
  (a) thumb400  one 400x400 fit-inside JPEG q80 per image, never enlarged,
                metadata stripped, alpha over white
  (b) default   imagepipe's default preset: 64x64 cover PNG, 800 and 1600
                inside WebP q80, never enlarged, metadata stripped
  (c) big       (b) on one ~50 MP JPEG: peak RSS
  (d) service   the real processor (`imagepipe -target=processor`) draining
                a queue of uploaded images with 1 and with 2 workers
CPU seconds are user+sys of the child and its waited-for children
(os.wait4), peak RSS is ru_maxrss; every measurement runs --reps times
(interleaved across tools) and the median is reported.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("IMAGEPIPE_BENCH_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "imagepipe-bench")

SPEC_THUMB400 = json.dumps({"variants": [{"name": "t400", "width": 400, "height": 400, "fit": "FIT_INSIDE",
                                          "format": "FORMAT_JPEG", "quality": 80}]})
# variant name -> (kind, box w, box h, format, extension)
JOBS = {
    "thumb400": {"t400": ("inside", 400, 400, "JPEG", "jpg")},
    "default": {"thumb": ("cover", 64, 64, "PNG", "png"),
                "medium": ("inside", 800, 800, "WEBP", "webp"),
                "large": ("inside", 1600, 1600, "WEBP", "webp")},
}
SHARP = "sharp"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ---------------------------------------------------------------- geometry


def rnd(x):
    return max(1, int(x + 0.5))  # Go's math.Round for positive x


def expected_size(kind, bw, bh, w, h):
    """imagepipe's plan (internal/engine/imaging/plan.go) for a never-enlarged variant."""
    if kind == "inside":
        s = min(bw / w, bh / h, 1.0)
        return min(rnd(w * s), bw), min(rnd(h * s), bh)
    s = max(bw / w, bh / h)
    capped = min(s, 1.0)
    rw, rh = rnd(w * capped), rnd(h * capped)
    if capped == s:
        rw, rh = max(rw, bw), max(rh, bh)
    return min(bw, rw), min(bh, rh)


def jpeg_scale(w, h, tw, th):
    """The 1/2^k scale libjpeg decodes at to cover tw x th (shrink-on-load)."""
    k = 1
    while k < 8 and -(-w // (k * 2)) >= tw and -(-h // (k * 2)) >= th:
        k *= 2
    return k


# ---------------------------------------------------------------- running


def measure(cmds, env=None, stdout=subprocess.DEVNULL):
    """Runs the commands one after the other; returns cpu (s), wall (s),
    maxrss (KiB, the largest of them), rc (the first non-zero).

    CPU is the rusage of the child (os.wait4: user+sys of it and of the
    children it waited for). Peak RSS comes from GNU time, which forks the
    command from its own small process: Linux carries the RSS high-water
    mark of the process that forks or vforks across exec, so a command
    started straight from this Python process could never report less than
    this process' own peak."""
    cpu = wall = 0.0
    rss = 0
    rc = 0
    errs = []
    for argv in cmds:
        with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile(mode="r") as tf:
            t0 = time.monotonic()
            p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", tf.name] + argv, env=env, stdout=stdout,
                                 stderr=err, stdin=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            wall += time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            cpu += ru.ru_utime + ru.ru_stime
            lines = tf.read().split()
            rss = max(rss, int(lines[-1]) if lines and lines[-1].isdigit() else ru.ru_maxrss)
            if p.returncode != 0:
                rc = rc or p.returncode
                err.seek(0)
                errs.append(err.read().decode(errors="replace")[-2000:])
    return {"cpu": cpu, "wall": wall, "rss_kb": rss, "rc": rc, "stderr": "\n".join(errs)}


def env_with(**kw):
    e = dict(os.environ)
    e.update({k: str(v) for k, v in kw.items()})
    return e


class Image:
    def __init__(self, path, w, h, fmt):
        self.path, self.w, self.h, self.fmt = path, w, h, fmt
        self.stem = os.path.splitext(os.path.basename(path))[0]


def probe_corpus(paths):
    from PIL import Image as PILImage
    out = []
    for p in paths:
        with PILImage.open(p) as im:
            out.append(Image(p, im.size[0], im.size[1], im.format))
    return out


# ---------------------------------------------------------------- tools


class Tool:
    name = ""
    note = ""

    def commands(self, job, images, out):
        raise NotImplementedError

    def env(self):
        return None

    def prepare(self, job, images, out):
        for im in images:
            os.makedirs(os.path.join(out, im.stem), exist_ok=True)


class Imagepipe(Tool):
    name = "imagepipe"

    def __init__(self, binary, name="imagepipe"):
        self.binary = binary
        self.name = name
        self.note = "`imagepipe process` (the processor's pipeline: spec.Variants, imaging.Process with the processor's limits)"

    def commands(self, job, images, out):
        spec = ["-spec", SPEC_THUMB400] if job == "thumb400" else ["-preset", "default"]
        return [[self.binary, "process", "-o", out] + spec + [im.path for im in images]]


class Sharp(Tool):
    name = SHARP

    def __init__(self, node_path):
        self.node_path = node_path
        self.note = "sharp 0.35.5 (its own bundled libvips); default preset: one input, three .clone() pipelines at once"

    def env(self):
        return env_with(NODE_PATH=self.node_path)

    def commands(self, job, images, out):
        return [["node", os.path.join(HERE, "peers", "sharp.js"), job, out] + [im.path for im in images]]


class VipsThumbnail(Tool):
    name = "vipsthumbnail"
    note = "libvips CLI (Debian's libvips 8.14), VIPS_CONCURRENCY=1; default preset: three runs over the corpus, one per output"

    def env(self):
        return env_with(VIPS_CONCURRENCY=1)

    def commands(self, job, images, out):
        files = [im.path for im in images]
        if job == "thumb400":
            return [["vipsthumbnail", "-s", "400x400>", "-o",
                     os.path.join(out, "%s", "t400.jpg[Q=80,optimize_coding,strip,background=255]")] + files]
        return [
            ["vipsthumbnail", "-s", "64x64", "--smartcrop", "centre", "-o",
             os.path.join(out, "%s", "thumb.png[strip,compression=6]")] + files,
            ["vipsthumbnail", "-s", "800x800>", "-o", os.path.join(out, "%s", "medium.webp[Q=80,strip]")] + files,
            ["vipsthumbnail", "-s", "1600x1600>", "-o", os.path.join(out, "%s", "large.webp[Q=80,strip]")] + files,
        ]


class Pillow(Tool):
    name = "Pillow"
    note = "Debian python3-pil: Image.draft for JPEG, LANCZOS with reducing_gap=2, smaller outputs derived from larger ones"

    def commands(self, job, images, out):
        return [["/usr/bin/python3", os.path.join(HERE, "peers", "pillow_peer.py"), job, out] + [im.path for im in images]]


class ImageMagick(Tool):
    name = "ImageMagick"
    note = "convert (IM 6, Q16), one process for the corpus, -define jpeg:size= hint, MAGICK_THREAD_LIMIT=1, -thumbnail"

    def env(self):
        return env_with(MAGICK_THREAD_LIMIT=1)

    def commands(self, job, images, out):
        args = ["/usr/bin/convert"]  # Debian's, whatever else PATH has
        for im in images:
            d = os.path.join(out, im.stem)
            if job == "thumb400":
                tw, th = expected_size("inside", 400, 400, im.w, im.h)
                args += ["-define", f"jpeg:size={tw}x{th}", im.path, "-thumbnail", "400x400>",
                         "-background", "white", "-alpha", "remove", "-alpha", "off",
                         "-quality", "80", "-sampling-factor", "2x2", "-define", "jpeg:optimize-coding=true",
                         "-write", os.path.join(d, "t400.jpg"), "+delete"]
            else:
                lw, lh = expected_size("inside", 1600, 1600, im.w, im.h)
                args += ["-define", f"jpeg:size={lw}x{lh}", im.path,
                         "-thumbnail", "1600x1600>", "-quality", "80", "-define", "webp:method=4",
                         "-write", os.path.join(d, "large.webp"),
                         "(", "+clone", "-thumbnail", "800x800>", "-write", os.path.join(d, "medium.webp"),
                         "(", "+clone", "-thumbnail", "64x64^", "-gravity", "center", "-extent", "64x64",
                         "-quality", "65", "-write", os.path.join(d, "thumb.png"), "+delete", ")",
                         "+delete", ")", "+delete"]
        return [args + ["xc:none", "null:"]]  # convert needs an output image


class FFmpeg(Tool):
    name = "ffmpeg"
    note = "ffmpeg 5.1, every input in one process, -threads 1, scale filter (lanczos); JPEG q80 ~ mjpeg -q:v 4; no shrink-on-load"

    def commands(self, job, images, out):
        args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-filter_threads", "1",
                "-filter_complex_threads", "1"]
        for im in images:
            args += ["-threads", "1", "-i", im.path]
        inside = "scale=w='min({b},iw)':h='min({b},ih)':force_original_aspect_ratio=decrease:flags=lanczos"
        if job == "thumb400":
            # The corpus' RGBA images are opaque, so dropping alpha (yuvj420p)
            # is the same as flattening it.
            for i, im in enumerate(images):
                args += ["-map", f"{i}:v", "-vf", inside.format(b=400), "-c:v", "mjpeg", "-q:v", "4",
                         "-pix_fmt", "yuvj420p", "-threads", "1", "-frames:v", "1",
                         os.path.join(out, im.stem, "t400.jpg")]
            return [args]
        graph = []
        for i, im in enumerate(images):
            graph.append(f"[{i}:v]{inside.format(b=1600)},split[l{i}][x{i}];"
                         f"[x{i}]{inside.format(b=800)},split[m{i}][y{i}];"
                         f"[y{i}]scale=w=64:h=64:force_original_aspect_ratio=increase:flags=lanczos,crop=64:64[t{i}]")
        args += ["-filter_complex", ";".join(graph)]
        for i, im in enumerate(images):
            d = os.path.join(out, im.stem)
            args += ["-map", f"[t{i}]", "-c:v", "png", "-compression_level", "6", "-frames:v", "1",
                     os.path.join(d, "thumb.png"),
                     "-map", f"[m{i}]", "-c:v", "libwebp", "-quality", "80", "-compression_level", "4",
                     "-threads", "1", "-frames:v", "1", os.path.join(d, "medium.webp"),
                     "-map", f"[l{i}]", "-c:v", "libwebp", "-quality", "80", "-compression_level", "4",
                     "-threads", "1", "-frames:v", "1", os.path.join(d, "large.webp")]
        return [args]


class DecodeFloor(Tool):
    name = "djpeg (decode floor)"
    note = "libjpeg-turbo djpeg -scale 1/N to /dev/null at the scale shrink-on-load needs; JPEGs only, one process per file"

    def commands(self, job, images, out):
        script = []
        for im in images:
            if im.fmt != "JPEG":
                continue
            if job == "thumb400":
                tw, th = expected_size("inside", 400, 400, im.w, im.h)
            else:
                tw, th = expected_size("inside", 1600, 1600, im.w, im.h)
            k = jpeg_scale(im.w, im.h, tw, th)
            script.append(f"djpeg -scale 1/{k} -outfile /dev/null '{im.path}' || exit 1")
        return [["sh", "-c", "\n".join(script)]]

    def prepare(self, job, images, out):
        pass


# ---------------------------------------------------------------- checks


def check_outputs(tool, job, images, out):
    """Every expected output exists with the expected format and size."""
    from PIL import Image as PILImage
    problems = []
    for im in images:
        for variant, (kind, bw, bh, fmt, ext) in JOBS[job].items():
            path = os.path.join(out, im.stem, f"{variant}.{ext}")
            want = expected_size(kind, bw, bh, im.w, im.h)
            try:
                with PILImage.open(path) as o:
                    got, gfmt = o.size, o.format
            except Exception as e:  # missing or unreadable
                problems.append(f"{im.stem}/{variant}.{ext}: {type(e).__name__}")
                continue
            if gfmt != fmt or got != want:
                problems.append(f"{im.stem}/{variant}.{ext}: {gfmt} {got[0]}x{got[1]}, want {fmt} {want[0]}x{want[1]}")
    return problems


# ---------------------------------------------------------------- service (d)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ingest(url, timeout=20):
    """Waits until the gateway at url reports the ingest service SERVING
    (/healthz answers 503 meanwhile: status and processor are not running)."""
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
        except Exception:
            body = b""
        try:
            if json.loads(body)["services"]["imagepipe.v1.IngestService"] == "SERVING":
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}: the ingest service did not come up")


def service_run(binary, images, copies, workers, tmp, job_threads=1):
    """Uploads copies x images through ingest+gateway (not measured), then
    starts `imagepipe -target=processor` with `workers` workers and times it
    until it has logged "image ready" for every image."""
    data = tempfile.mkdtemp(prefix="svc.", dir=tmp)
    grpc_ingest, http = free_port(), free_port()
    common = ["-data-dir", data, "-log-level", "warn"]
    env = env_with(IMAGEPIPE_PROCESSOR_WORKERS=workers, IMAGEPIPE_PROCESSOR_JOB_THREADS=job_threads)
    procs = []
    try:
        procs.append(subprocess.Popen([binary, "-target", "ingest", "-grpc-addr", f"127.0.0.1:{grpc_ingest}"] + common,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        procs.append(subprocess.Popen([binary, "-target", "gateway", "-http-addr", f"127.0.0.1:{http}",
                                       "-ingest-addr", f"127.0.0.1:{grpc_ingest}", "-status-addr", f"127.0.0.1:{grpc_ingest}",
                                       "-processor-addr", f"127.0.0.1:{grpc_ingest}"] + common,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        wait_ingest(f"http://127.0.0.1:{http}")
        total = 0
        for c in range(copies):
            argv = ["curl", "-sS", "--fail-with-body", "-o", "/dev/null", "-w", "%{http_code}"]
            for im in images:
                argv += ["-F", f"file=@{im.path}"]
            argv.append(f"http://127.0.0.1:{http}/v1/images?preset=default&batch_id=bench-{c}")
            code = subprocess.run(argv, capture_output=True, text=True)
            if code.returncode != 0 or code.stdout.strip() != "202":
                raise RuntimeError(f"upload failed: {code.stdout} {code.stderr}")
            total += len(images)

        grpc_proc = free_port()
        argv = [binary, "-target", "processor", "-grpc-addr", f"127.0.0.1:{grpc_proc}", "-data-dir", data,
                "-log-level", "info"]
        ready = []
        failed = []
        done = threading.Event()
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)

        def reader():
            for line in p.stderr:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "image ready":
                    ready.append(time.monotonic())
                elif "failed" in rec.get("msg", ""):
                    failed.append(rec)
                if len(ready) + len(failed) >= total:
                    done.set()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        finished = done.wait(timeout=60 + 10 * total)
        p.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        th.join(timeout=5)
        if not finished or failed:
            raise RuntimeError(f"processor: {len(ready)} ready, {len(failed)} failed of {total}: {failed[:2]}")
        wall = ready[-1] - t0
        return {"images": total, "wall": wall, "ips": total / wall, "cpu": ru.ru_utime + ru.ru_stime,
                "rss_kb": ru.ru_maxrss}
    finally:
        for q in procs:
            q.terminate()
        for q in procs:
            try:
                q.wait(timeout=10)
            except subprocess.TimeoutExpired:
                q.kill()
        shutil.rmtree(data, ignore_errors=True)


# ---------------------------------------------------------------- report


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def versions(binary, node_path):
    def cmd(argv, env=None):
        try:
            return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30).stdout.strip()
        except Exception as e:
            return f"? ({e})"

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    sharp_v = cmd(["node", "-e", "const s=require('sharp');const v=s.versions;"
                   "console.log(`sharp ${v.sharp}, its libvips ${v.vips}, libwebp ${v.webp}, libpng ${v.png}, mozjpeg ${v.mozjpeg} "
                   "(concurrency ${s.concurrency()})`)"], env=env_with(NODE_PATH=node_path))
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "os": cmd(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "libvips": "imagepipe: libvips " + cmd(["pkg-config", "--modversion", "vips"]) +
                   " (sharp-libvips build, scripts/libvips.sh), govips v2.16.0; vipsthumbnail and the "
                   "'Debian libvips' row: Debian's " + cmd(["dpkg-query", "-W", "-f", "${Version}", "libvips42"]),
        "sharp": sharp_v,
        "node": cmd(["node", "--version"]),
        "pillow": "Pillow " + cmd(["/usr/bin/python3", "-c", "import PIL; print(PIL.__version__)"]),
        "imagemagick": (cmd(["/usr/bin/convert", "-version"]).splitlines() or ["?"])[0],
        "ffmpeg": cmd(["ffmpeg", "-version"]).splitlines()[0],
        "libjpeg-turbo": "libjpeg-turbo " + cmd(["dpkg-query", "-W", "-f", "${Version}", "libjpeg62-turbo"]),
        "go": cmd(["go", "version"]),
        "imagepipe": cmd(["git", "-C", REPO, "describe", "--always", "--dirty"]),
    }


def ratio(x, ref):
    if not ref or x != x or ref != ref:
        return "–"
    return f"{x / ref:.2f}×"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imagepipe", default=os.path.join(REPO, "bin", "imagepipe"))
    ap.add_argument("--corpus", default=os.path.join(CACHE, "corpus"))
    ap.add_argument("--node-path", default=os.path.join(CACHE, "sharp", "node_modules"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--copies", type=int, default=2, help="copies of the corpus queued for (d)")
    ap.add_argument("--max-load", type=float, default=0.7, help="wait until the 1-minute load average is below this")
    ap.add_argument("--max-wait", type=float, default=900, help="seconds to wait for --max-load, then run anyway")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=BINARY",
                    help="another imagepipe binary measured next to bin/imagepipe (e.g. one built against another libvips, "
                         "LIBVIPS=system, see scripts/bench/run.sh)")
    ap.add_argument("--only", default="", help="comma-separated subset of jobs: a,b,c,d")
    ap.add_argument("--doc", default="", help="Markdown file whose generated section to rewrite (docs/BENCHMARKS.md)")
    ap.add_argument("--json", default=os.path.join(CACHE, "results.json"))
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {"a", "b", "c", "d"}

    binary = os.path.abspath(args.imagepipe)
    names = sorted(os.listdir(args.corpus))
    paths = [os.path.join(args.corpus, n) for n in names if n.endswith((".jpg", ".png", ".webp"))]
    images = probe_corpus(paths)
    jpegs = [im for im in images if im.fmt == "JPEG"]
    big = probe_corpus([os.path.join(args.corpus, "big", "volna-50mp.jpg")])
    tmp = tempfile.mkdtemp(prefix="imagepipe-bench.")
    tiny_path = os.path.join(tmp, "tiny.jpg")
    subprocess.run(["vips", "black", tiny_path, "16", "16", "--bands", "3"], check=True)
    tiny = probe_corpus([tiny_path])

    also = []
    for a in args.also:
        label, _, path = a.partition("=")
        if not path or not os.access(path, os.X_OK):
            ap.error(f"--also {a}: want LABEL=BINARY")
        also.append(Imagepipe(os.path.abspath(path), label))
    tools = [Imagepipe(binary)] + also + [Sharp(args.node_path), VipsThumbnail(), Pillow(), ImageMagick(), FFmpeg()]
    ip = ["imagepipe"] + [t.name for t in also]
    floor = DecodeFloor()
    by_name = {t.name: t for t in tools}

    # (section, job, tool names, images)
    plan = []
    if "a" in only:
        plan.append(("a", "thumb400", [t.name for t in tools], images))
        plan.append(("a-jpeg", "thumb400", ip + [SHARP, floor.name], jpegs))
    if "b" in only:
        plan.append(("b", "default", [t.name for t in tools], images))
        plan.append(("b-jpeg", "default", ip + [SHARP, floor.name], jpegs))
    if "c" in only:
        plan.append(("c", "default", [t.name for t in tools], big))
        plan.append(("c-idle", "default", [t.name for t in tools], tiny))
    by_name[floor.name] = floor

    # Measurement hygiene: other work on the machine distorts wall time.
    t_wait = time.monotonic()
    load_before = loadavg()
    while loadavg()[0] >= args.max_load and time.monotonic() - t_wait < args.max_wait:
        log(f"bench: waiting for the 1-minute load average ({loadavg()[0]:.2f}) to drop below {args.max_load} ...")
        time.sleep(20)
    waited = time.monotonic() - t_wait
    load_start = loadavg()
    log(f"bench: starting at load average {load_start} (waited {waited:.0f} s)")
    started = datetime.datetime.now(datetime.timezone.utc)
    loads = [load_start[0]]

    results = {}  # (section, tool) -> list of runs
    warnings = {}
    for rep in range(args.reps):
        for section, job, names_, imgs in plan:
            for name in names_:
                tool = by_name[name]
                out = os.path.join(tmp, f"{section}-{re.sub(r'[^a-z]', '', name.lower())}-{rep}")
                tool.prepare(job, imgs, out)
                loads.append(loadavg()[0])
                r = measure(tool.commands(job, imgs, out), env=tool.env())
                if r["rc"] != 0:
                    log(f"bench: {section} {name}: exit {r['rc']}: {r['stderr'][-800:]}")
                results.setdefault((section, name), []).append(r)
                if rep == 0 and not isinstance(tool, DecodeFloor) and section != "c-idle":
                    problems = check_outputs(tool, job, imgs, out)
                    if problems:
                        warnings[(section, name)] = problems
                shutil.rmtree(out, ignore_errors=True)
                log(f"bench: rep {rep + 1}/{args.reps} {section:7} {name:22} cpu {r['cpu']:7.2f} s  wall {r['wall']:7.2f} s  "
                    f"rss {r['rss_kb'] / 1024:7.1f} MiB")

    service = {}
    if "d" in only:
        for rep in range(args.reps):
            for workers in (1, 2):
                loads.append(loadavg()[0])
                r = service_run(binary, images, args.copies, workers, tmp)
                service.setdefault(("service", workers), []).append(r)
                log(f"bench: rep {rep + 1}/{args.reps} service workers={workers} {r['images']} images "
                    f"{r['wall']:.2f} s  {r['ips']:.2f} img/s  cpu {r['cpu']:.2f} s  rss {r['rss_kb'] / 1024:.1f} MiB")
            # One worker given both cores (IMAGEPIPE_JOB_THREADS=2): the
            # latency setting, for comparison.
            loads.append(loadavg()[0])
            r = service_run(binary, images, args.copies, 1, tmp, job_threads=2)
            service.setdefault(("service-threads", 1), []).append(r)
            log(f"bench: rep {rep + 1}/{args.reps} service workers=1 job-threads=2 {r['images']} images "
                f"{r['wall']:.2f} s  {r['ips']:.2f} img/s  cpu {r['cpu']:.2f} s  rss {r['rss_kb'] / 1024:.1f} MiB")
            for workers in (1, 2):
                out = os.path.join(tmp, f"proc-{workers}")
                files = [im.path for im in images] * 1
                r = measure([[binary, "process", "-workers", str(workers), "-repeat", str(args.copies), "-o", out,
                              "-preset", "default"] + files])
                r["images"] = len(files) * args.copies
                r["ips"] = r["images"] / r["wall"]
                service.setdefault(("process", workers), []).append(r)
                shutil.rmtree(out, ignore_errors=True)
                log(f"bench: rep {rep + 1}/{args.reps} process --workers {workers} {r['images']} images "
                    f"{r['wall']:.2f} s  {r['ips']:.2f} img/s")
    load_end = loadavg()
    loads.append(load_end[0])
    shutil.rmtree(tmp, ignore_errors=True)

    report = render(args, versions(binary, args.node_path), plan, by_name, results, warnings, service,
                    {"before": load_before, "start": load_start, "end": load_end, "max_1min": max(loads),
                     "waited_s": round(waited), "threshold": args.max_load},
                    started, len(images), len(jpegs))
    print(report)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"results": {f"{k[0]}/{k[1]}": v for k, v in results.items()},
                   "service": {f"{k[0]}/{k[1]}": v for k, v in service.items()},
                   "warnings": {f"{k[0]}/{k[1]}": v for k, v in warnings.items()}}, f, indent=1)
    if args.doc:
        write_doc(args.doc, report)


def render(args, ver, plan, by_name, results, warnings, service, load, started, n_images, n_jpegs):
    also = [t.name for t in by_name.values() if isinstance(t, Imagepipe) and t.name != "imagepipe"]
    L = []
    L.append(f"Run {started:%Y-%m-%d %H:%M} UTC, {args.reps} runs of every measurement, medians shown.")
    L.append("")
    L.append("| machine | |\n|---|---|")
    L.append(f"| CPU | {ver['cpu']}, {ver['cores']} cores |")
    L.append(f"| RAM | {ver['ram_gib']} GiB |")
    L.append(f"| OS, kernel | {ver['os']}, Linux {ver['kernel']} |")
    for k in ("libvips", "sharp", "pillow", "imagemagick", "ffmpeg", "libjpeg-turbo", "go"):
        L.append(f"| {k} | {ver[k]} |")
    L.append(f"| node | {ver['node']} |")
    L.append(f"| imagepipe | {ver['imagepipe']} |")
    L.append(f"| load average | {load['start'][0]:.2f} at start (threshold {load['threshold']}, waited "
             f"{load['waited_s']} s; {load['before'][0]:.2f} before waiting), highest 1-minute value sampled during the "
             f"run {load['max_1min']:.2f}, {load['end'][0]:.2f} at the end |")
    L.append("")

    titles = {
        "a": f"(a) 400×400 fit-inside JPEG q80, {n_images} images",
        "a-jpeg": f"(a) on the {n_jpegs} JPEGs only, with the decode floor",
        "b": f"(b) default preset (64×64 cover PNG, 800 and 1600 inside WebP q80), {n_images} images",
        "b-jpeg": f"(b) on the {n_jpegs} JPEGs only, with the decode floor",
        "c": "(c) default preset on one 9400×5288 (49.7 MP) JPEG",
        "c-idle": "(c′) default preset on a 16×16 JPEG: each tool's idle footprint",
    }
    summary = {}
    for section, job, names, imgs in plan:
        n = len(imgs) if section not in ("c", "c-idle") else 1
        ref = {k: med([r[k] for r in results.get((section, SHARP), [])]) for k in ("cpu", "wall", "rss_kb")}
        per = "" if n == 1 else "/image"
        L.append(f"#### {titles[section]}")
        L.append("")
        L.append(f"| tool | CPU s{per} | × sharp | wall s{per} | × sharp | peak RSS MiB | × sharp | outputs |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for name in names:
            runs = results.get((section, name), [])
            cpu = med([r["cpu"] for r in runs])
            wall = med([r["wall"] for r in runs])
            rss = med([r["rss_kb"] for r in runs])
            njobs = n
            if isinstance(by_name[name], DecodeFloor):
                njobs = len([im for im in imgs if im.fmt == "JPEG"])
            ok = "ok"
            if any(r["rc"] for r in runs):
                ok = "**exit " + ",".join(str(r["rc"]) for r in runs) + "**"
            if (section, name) in warnings:
                ok = f"**⚠ {len(warnings[(section, name)])} differ**"
            if isinstance(by_name[name], DecodeFloor) or section == "c-idle":
                ok = "–"
            L.append(f"| {name} | {cpu / njobs:.3f} | {ratio(cpu, ref['cpu'])} | {wall / njobs:.3f} | "
                     f"{ratio(wall, ref['wall'])} | {rss / 1024:.1f} | {ratio(rss, ref['rss_kb'])} | {ok} |")
            summary[(section, name)] = {"cpu": cpu, "wall": wall, "rss": rss}
        L.append("")
    for (section, name), problems in sorted(warnings.items()):
        L.append(f"⚠ **{section} {name}**: {len(problems)} output(s) differ from imagepipe's geometry: "
                 + "; ".join(problems[:4]) + (" …" if len(problems) > 4 else ""))
        L.append("")

    if service:
        L.append(f"#### (d) processor throughput, default preset, {args.copies} × {n_images} images")
        L.append("")
        L.append("| how | workers | wall s | images/s | × 1 worker | CPU s/image | peak RSS MiB |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        for kind, label in (("service", "`imagepipe -target=processor` (queue, stores)"),
                            ("service-threads", "the same, `IMAGEPIPE_JOB_THREADS=2`"),
                            ("process", "`imagepipe process --workers`")):
            base = med([r["ips"] for r in service.get(("service" if kind == "service-threads" else kind, 1), [])])
            for w in (1, 2):
                runs = service.get((kind, w), [])
                if not runs:
                    continue
                ips = med([r["ips"] for r in runs])
                L.append(f"| {label} | {w} | {med([r['wall'] for r in runs]):.2f} | {ips:.2f} | {ips / base:.2f}× | "
                         f"{med([r['cpu'] / r['images'] for r in runs]):.3f} | {med([r['rss_kb'] for r in runs]) / 1024:.1f} |")
                summary[(kind, w)] = {"ips": ips}
        L.append("")

    L.append("#### Targets")
    L.append("")
    L.append("| target | required | measured | met |")
    L.append("|---|---|---|---|")

    def target(label, req, key_a, key_b, field, limit, higher=False):
        a, b = summary.get(key_a), summary.get(key_b)
        if not a or not b:
            return
        r = a[field] / b[field]
        met = r >= limit if higher else r <= limit
        extra = ""
        for name in also:
            x = summary.get((key_a[0], name))
            if x:
                extra += f" ({name}: {x[field] / b[field]:.2f}×)"
        L.append(f"| {label} | {req} | {r:.2f}×{extra} | {'**met**' if met else '**not met**'} |")

    target("(a) imagepipe CPU vs sharp, 400×400 JPEG", "≤ 0.85×", ("a", "imagepipe"), ("a", SHARP), "cpu", 0.85)
    target("(b) imagepipe CPU vs sharp, default preset", "≤ 0.60×", ("b", "imagepipe"), ("b", SHARP), "cpu", 0.60)
    target("(c) imagepipe peak RSS vs sharp, 49.7 MP JPEG", "≤ 0.50×", ("c", "imagepipe"), ("c", SHARP), "rss", 0.50)
    target("(d) processor throughput, 2 workers vs 1", "≥ 1.80×", ("service", 2), ("service", 1), "ips", 1.80, higher=True)
    L.append("")
    return "\n".join(L)


BEGIN = "<!-- bench-processor:begin (generated by scripts/bench/bench.py; edit outside these markers) -->"
END = "<!-- bench-processor:end -->"


def write_doc(path, report):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    block = f"{BEGIN}\n{report}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = (text or "# Benchmarks\n\n") + "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    log(f"bench: wrote {path}")


if __name__ == "__main__":
    main()
