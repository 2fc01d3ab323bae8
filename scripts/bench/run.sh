#!/usr/bin/env bash
# run.sh — what `make bench-processor` runs (after building bin/imagepipe):
# install the peers, assemble the corpus, build the libvips experiment
# (imagepipe against sharp's newer libvips, scripts/bench/libvips-next.sh;
# BENCH_LIBVIPS_NEXT=0 skips it), then scripts/bench/bench.py, which waits
# for a quiet machine, measures every tool 3 times, prints the tables and
# rewrites the generated section of docs/BENCHMARKS.md. Extra arguments go
# to bench.py (e.g. --reps 1 --max-load 100 --only a,b for a quick look;
# bench.py --help lists them).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
node_path="$(scripts/bench/peers.sh)"
corpus="$(scripts/bench/corpus.sh)"
also=()
if [[ "${BENCH_LIBVIPS_NEXT:-1}" != 0 ]]; then
	next="$(scripts/bench/libvips-next.sh "$node_path")"
	v="${next##*-libvips-}"
	also=(--also "imagepipe, libvips $v=$next")
fi
exec /usr/bin/python3 scripts/bench/bench.py --imagepipe bin/imagepipe --corpus "$corpus" --node-path "$node_path" \
	"${also[@]}" --doc docs/BENCHMARKS.md "$@"
